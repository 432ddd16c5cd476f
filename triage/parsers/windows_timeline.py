"""Windows Timeline (``ActivitiesCache.db``) -> one :class:`TimelineActivity` per Activity row.

Why: Windows 10/11 record, per user, which applications (and often which documents) were opened and
in focus, with start/end times and the active duration, kept for about 30 days and even when the
program itself is gone. Rows sit in the ``Activity`` table (the -wal usually holds the newest rows,
so the database is opened through ``sqlite_util.open_private_copy``, which applies it). Times are
Unix seconds, UTC. ``AppId`` is a JSON list of {application, platform}; a Win32 application is a
known-folder GUID plus the rest of the path, resolved here for the common folders.

Activity types (as documented by the Timeline research of Costas Katsavounidis and others):
5 = application/document opened, 6 = application in use (focus, with ``activeDurationSeconds``),
10 = clipboard, 11/12 = system, 16 = copy/paste.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from triage.model import ArtifactRecord, Issue, Record
from triage.parsers.base import ParseInput, Parser
from triage.parsers.sqlite_util import SQLITE_MAGIC, as_int, capped_text, columns, open_private_copy, tables
from triage.parsers.userpath import user_from_path
from triage.parsers.wintime import unix_utc

MAX_ROWS = 200_000
MAX_JSON_CHARS = 16_384
ACTIVITY_TYPES = {2: "notification", 3: "backup", 5: "open", 6: "in_use", 10: "clipboard", 11: "system",
                  12: "system", 15: "system", 16: "copy_paste"}
KNOWN_FOLDERS = {
    "{1AC14E77-02E7-4E5D-B744-2EB1AE5198B7}": "C:\\Windows\\System32",
    "{D65231B0-B2F1-4857-A4CE-A8E7C6EA7D27}": "C:\\Windows\\SysWOW64",
    "{F38BF404-1D43-42F2-9305-67DE0B28FC23}": "C:\\Windows",
    "{6D809377-6AF0-444B-8957-A3773F02200E}": "C:\\Program Files",
    "{7C5A40EF-A0FB-4BFC-874A-C0F2E0B9FA8E}": "C:\\Program Files (x86)",
    "{905E63B6-C1BF-494E-B29C-65B732D3D21A}": "C:\\Program Files",
}
_GUID_PREFIX = re.compile(r"^(\{[0-9A-Fa-f-]{36}\})(.*)$")


@dataclass(frozen=True, slots=True, kw_only=True)
class TimelineActivity(ArtifactRecord):
    """One Windows Timeline activity of one user."""

    record_type: ClassVar[str] = "windows/timeline/activity"
    artifact: ClassVar[str] = "timeline_activities"
    title: ClassVar[str] = "Windows Timeline activities"
    description: ClassVar[str] = (
        "Rows of the user's ActivitiesCache.db: applications and documents opened (type 'open') and in "
        "focus (type 'in_use', with active seconds), clipboard and copy/paste records, with start, end "
        "and last-modified times (UTC). Proves the user's session showed that application at that time.")
    columns: ClassVar[tuple[tuple[str, str], ...]] = (
        ("start", "Start (UTC)"), ("end", "End (UTC)"), ("activity_type", "Type"), ("app", "Application"),
        ("display_text", "Display text"), ("content", "Content"), ("active_seconds", "Active s"))

    user: str | None
    activity_id: str
    activity_type: str
    activity_type_id: int | None
    app: str | None
    platform: str | None
    display_text: str | None = None
    app_display_name: str | None = None
    content: str | None = None
    active_seconds: int | None = None
    start: datetime | None = None
    end: datetime | None = None
    last_modified: datetime | None = None
    last_modified_on_client: datetime | None = None
    expires: datetime | None = None

    def times(self) -> list[tuple[datetime, str]]:
        out = []
        if self.start:
            out.append((self.start, f"Timeline activity ({self.activity_type}) started"))
        if self.end and self.end != self.start:
            out.append((self.end, f"Timeline activity ({self.activity_type}) ended"))
        return out

    def message(self) -> str:
        what = self.display_text or self.app_display_name or self.app or "?"
        extra = f" {self.content}" if self.content else ""
        return f"Timeline {self.activity_type}: {what}{extra}" + (f" for {self.user}" if self.user else "")

    def execution(self) -> tuple[str, str | None, int | None, tuple[datetime, ...]] | None:
        if self.activity_type not in ("open", "in_use") or not self.app or self.platform not in (
                "windows_win32", "x_exe_path") or "\\" not in self.app:
            return None
        name = self.app.rsplit("\\", 1)[-1]
        return name, self.app, None, (self.start,) if self.start else ()


def resolve_app(app: str) -> str:
    """'{1AC14E77-...}\\cmd.exe' -> 'C:\\Windows\\System32\\cmd.exe' for the known folders; else unchanged."""
    m = _GUID_PREFIX.match(app)
    if m and m.group(1).upper() in KNOWN_FOLDERS:
        return KNOWN_FOLDERS[m.group(1).upper()] + m.group(2)
    return app


def pick_app(app_id: str | None) -> tuple[str | None, str | None]:
    """(application, platform) from AppId JSON: a Win32 path first, then any non-empty application."""
    try:
        entries = json.loads(app_id or "[]")
    except (ValueError, RecursionError):
        return (app_id[:1024] if app_id else None), None
    if not isinstance(entries, list):
        return None, None
    apps: list[tuple[str, str | None]] = []
    for e in entries[:16]:
        if isinstance(e, dict) and isinstance(e.get("application"), str) and e["application"]:
            platform = e.get("platform")
            apps.append((e["application"], platform if isinstance(platform, str) else None))
    for pref in ("windows_win32", "x_exe_path", "packageId"):
        for a, p in apps:
            if p == pref:
                return resolve_app(a)[:1024], p
    return (apps[0][0][:1024], apps[0][1]) if apps else (None, None)


def _payload(raw: Any) -> dict[str, Any]:
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    if not isinstance(raw, str) or not raw.startswith("{"):
        return {}
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return value[:1024] if isinstance(value, str) and value else None


class WindowsTimelineParser(Parser):
    """Activity rows of ActivitiesCache.db (with its -wal applied), newest schema columns where present."""

    name = "windows_timeline"
    patterns = ("*/connecteddevicesplatform/*/activitiescache.db",)
    signatures = ((0, SQLITE_MAGIC),)

    def parse(self, item: ParseInput) -> Iterator[Record | Issue]:
        try:
            db = open_private_copy(Path(item.materialize()), item.options.get("sqlite_deadline_seconds", 300.0))
        except (sqlite3.Error, OSError) as exc:
            yield item.issue(f"unreadable ActivitiesCache.db: {type(exc).__name__}: {exc}")
            return
        try:
            for note in db.notes:
                yield item.issue(note, severity="warning")
            yield from self._rows(item, db.conn)
        except sqlite3.Error as exc:
            yield item.issue(f"ActivitiesCache.db unreadable past this point: {type(exc).__name__}: {exc}")
        finally:
            db.close()

    def _rows(self, item: ParseInput, conn: sqlite3.Connection) -> Iterator[Record | Issue]:
        if "Activity" not in tables(conn):
            yield item.issue("not a Windows Timeline database (no Activity table)")
            return
        have = columns(conn, "Activity")
        if not {"Id", "AppId", "StartTime"} <= have:
            yield item.issue(f"Activity table lacks Id/AppId/StartTime (has {sorted(have)[:20]})")
            return

        def col(name: str) -> str:
            return name if name in have else "NULL"

        user = user_from_path(item)
        limit = int(item.options.get("max_rows", MAX_ROWS))
        cursor = conn.execute(
            f"SELECT hex(Id), {capped_text('AppId', MAX_JSON_CHARS)}, {col('ActivityType')}, "
            f"{capped_text(col('Payload'), MAX_JSON_CHARS)}, {capped_text(col('AppActivityId'), 2048)}, "
            f"StartTime, {col('EndTime')}, {col('LastModifiedTime')}, {col('LastModifiedOnClient')}, "
            f"{col('ExpirationTime')} FROM Activity ORDER BY StartTime, rowid")
        for n, row in enumerate(cursor):
            if n >= limit:
                yield item.issue(f"more than {limit} activities: the rest were not read", "warning")
                break
            aid, app_id, atype, payload, app_activity, start, end, lmod, lmod_client, expires = row
            app, platform = pick_app(app_id)
            p = _payload(payload)
            type_id = as_int(atype)
            content = _text(p.get("contentUri")) or _text(p.get("description"))
            if not content and type_id == 5 and isinstance(app_activity, str) and ("\\" in app_activity or
                                                                                  "://" in app_activity):
                content = app_activity[:1024]
            seconds = p.get("activeDurationSeconds")
            yield TimelineActivity(
                source=item.source(f"Activity.Id=x'{aid}'"), user=user, activity_id=aid or "",
                activity_type=ACTIVITY_TYPES.get(type_id, f"type {type_id}") if type_id is not None else "unknown",
                activity_type_id=type_id, app=app, platform=platform, display_text=_text(p.get("displayText")),
                app_display_name=_text(p.get("appDisplayName")), content=content,
                active_seconds=seconds if isinstance(seconds, int) and not isinstance(seconds, bool) else None,
                start=unix_utc(as_int(start)), end=unix_utc(as_int(end)), last_modified=unix_utc(as_int(lmod)),
                last_modified_on_client=unix_utc(as_int(lmod_client)), expires=unix_utc(as_int(expires)))
