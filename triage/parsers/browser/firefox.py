"""Firefox history (places.sqlite) and old-style downloads (downloads.sqlite) -> browser records.

Why both files: Firefox kept downloads in downloads.sqlite (moz_downloads) until version 20 and has
since kept them in places.sqlite as page annotations (``downloads/destinationFileURI`` plus a
``downloads/metaData`` JSON). Columns and tables are detected, never assumed from a version, and
rows are streamed from cursors; times are PRTime (µs since 1970) except metaData's endTime (ms).
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

from triage.model import BrowserDownload, BrowserHistoryStats, BrowserVisit, Issue, Record
from triage.parsers.base import ParseInput, Parser
from triage.parsers.browser.chromium import enum_name
from triage.parsers.sqlite_util import (
    MAX_PATH_CHARS,
    MAX_TITLE_CHARS,
    MAX_URL_CHARS,
    SQLITE_MAGIC,
    as_int,
    capped_text,
    columns,
    open_private_copy,
    tables,
)
from triage.parsers.userpath import user_from_path
from triage.timeconv import prtime_utc, unix_utc

BROWSER = "firefox"
# nsINavHistoryService TRANSITION_* values stored in moz_historyvisits.visit_type
VISIT_TYPE = {
    1: "LINK", 2: "TYPED", 3: "BOOKMARK", 4: "EMBED", 5: "REDIRECT_PERMANENT", 6: "REDIRECT_TEMPORARY",
    7: "DOWNLOAD", 8: "FRAMED_LINK", 9: "RELOAD",
}
# nsIDownloadManager DOWNLOAD_* states (moz_downloads.state and downloads/metaData "state")
DOWNLOAD_STATE = {
    -1: "NOTSTARTED", 0: "DOWNLOADING", 1: "FINISHED", 2: "FAILED", 3: "CANCELED", 4: "PAUSED",
    5: "QUEUED", 6: "BLOCKED_PARENTAL", 7: "SCANNING", 8: "DIRTY", 9: "BLOCKED_POLICY",
}
DEST_ANNO = "downloads/destinationFileURI"
META_ANNO = "downloads/metaData"
DEFAULT_MAX_VISITS = 2_000_000
DEFAULT_MAX_DOWNLOADS = 200_000
_DRIVE = re.compile(r"^/[A-Za-z]:/")


def file_uri_to_path(uri: str | None) -> str | None:
    """'file:///C:/Users/a/x.exe' -> 'C:\\Users\\a\\x.exe'; '/home/a/x' stays POSIX; non-URIs unchanged."""
    if not uri:
        return None
    if not uri.lower().startswith("file:"):
        return uri
    parts = urlsplit(uri)
    path = unquote(parts.path)
    if _DRIVE.match(path):
        return path[1:].replace("/", "\\")
    if parts.netloc:  # UNC share: file://server/share/x
        return "\\\\" + parts.netloc + path.replace("/", "\\")
    return path


class FirefoxHistoryParser(Parser):
    """places.sqlite: stats, visits, annotation downloads. downloads.sqlite: its moz_downloads rows."""

    name = "firefox_history"
    patterns = ("*/firefox/*/places.sqlite", "*/firefox/*/downloads.sqlite")
    signatures = ((0, SQLITE_MAGIC),)

    def parse(self, item: ParseInput) -> Iterator[Record | Issue]:
        user = user_from_path(item)
        try:
            db = open_private_copy(Path(item.materialize()), item.options.get("sqlite_deadline_seconds", 300.0))
        except (sqlite3.Error, OSError) as exc:
            yield item.issue(f"unreadable Firefox database: {type(exc).__name__}: {exc}")
            return
        try:
            for note in db.notes:
                yield item.issue(note, severity="warning")
            have = tables(db.conn)
            if "moz_places" in have:
                yield from self._places(item, db.conn, have, user)
            elif "moz_downloads" in have:
                yield from self._old_downloads(item, db.conn, user)
            else:
                yield item.issue("not a Firefox places.sqlite or downloads.sqlite (no moz_places/moz_downloads)")
        except sqlite3.Error as exc:
            yield item.issue(f"Firefox database unreadable past this point: {type(exc).__name__}: {exc}")
        finally:
            db.close()

    def _places(self, item, conn, have, user) -> Iterator[Record | Issue]:
        has_visits = "moz_historyvisits" in have
        has_annos = {"moz_annos", "moz_anno_attributes"} <= have
        urls = conn.execute("SELECT count(*) FROM moz_places").fetchone()[0]
        visits, first, last = (conn.execute(
            "SELECT count(*), min(NULLIF(visit_date, 0)), max(NULLIF(visit_date, 0)) FROM moz_historyvisits"
        ).fetchone() if has_visits else (0, None, None))
        downloads = conn.execute(
            "SELECT count(*) FROM moz_annos a JOIN moz_anno_attributes n ON n.id = a.anno_attribute_id "
            "WHERE n.name = ?", (DEST_ANNO,)).fetchone()[0] if has_annos else 0
        yield BrowserHistoryStats(source=item.source(), browser=BROWSER, user=user, urls=urls, visits=visits,
                                  first_visit=prtime_utc(first), last_visit=prtime_utc(last),
                                  downloads=downloads)
        if has_visits:
            yield from self._visits(item, conn, user)
        if has_annos and downloads:
            yield from self._anno_downloads(item, conn, user)

    def _visits(self, item, conn, user) -> Iterator[Record | Issue]:
        limit = int(item.options.get("max_visits", DEFAULT_MAX_VISITS))
        vcols = columns(conn, "moz_historyvisits")
        vtype = "v.visit_type" if "visit_type" in vcols else "NULL"
        cursor = conn.execute(
            f"SELECT v.id, v.visit_date, {capped_text('p.url', MAX_URL_CHARS)}, "
            f"{capped_text('p.title', MAX_TITLE_CHARS)}, {vtype} FROM moz_historyvisits v "
            "LEFT JOIN moz_places p ON p.id = v.place_id ORDER BY v.id")
        for n, (vid, vdate, url, title, visit_type) in enumerate(cursor):
            if n >= limit:
                yield item.issue(f"more than {limit} visits: the rest are counted, not listed", severity="warning")
                break
            when = prtime_utc(as_int(vdate))
            if when is None:
                yield item.issue(f"visit without a valid time ({vdate!r})", severity="warning",
                                 locator=f"moz_historyvisits.id={vid}")
                continue
            yield BrowserVisit(source=item.source(f"moz_historyvisits.id={vid}"), browser=BROWSER, user=user,
                               timestamp=when, url=url or "", title=title or None,
                               transition=enum_name(VISIT_TYPE, visit_type))

    def _anno_downloads(self, item, conn, user) -> Iterator[Record | Issue]:
        limit = int(item.options.get("max_downloads", DEFAULT_MAX_DOWNLOADS))
        cursor = conn.execute(
            f"SELECT a.id, {capped_text('p.url', MAX_URL_CHARS)}, {capped_text('a.content', MAX_PATH_CHARS)}, "
            "a.dateAdded, (SELECT substr(m.content, 1, 65536) FROM moz_annos m JOIN moz_anno_attributes mn ON mn.id = m.anno_attribute_id "
            "  WHERE mn.name = ? AND m.place_id = a.place_id LIMIT 1) "
            "FROM moz_annos a JOIN moz_anno_attributes n ON n.id = a.anno_attribute_id "
            "LEFT JOIN moz_places p ON p.id = a.place_id WHERE n.name = ? ORDER BY a.id",
            (META_ANNO, DEST_ANNO))
        for n, (aid, url, dest, added, meta_text) in enumerate(cursor):
            if n >= limit:
                yield item.issue(f"more than {limit} downloads: the rest are counted, not listed",
                                 severity="warning")
                break
            meta = {}
            if meta_text:
                try:
                    meta = json.loads(meta_text)
                    if not isinstance(meta, dict):
                        meta = {}
                except ValueError:
                    yield item.issue("downloads/metaData is not JSON", severity="warning",
                                     locator=f"moz_annos.id={aid}")
            end_ms = as_int(meta.get("endTime"))
            yield BrowserDownload(
                source=item.source(f"moz_annos.id={aid}"), browser=BROWSER, user=user,
                start=prtime_utc(as_int(added)),
                end=unix_utc(end_ms // 1000) if end_ms else None, url=url or None,
                target_path=file_uri_to_path(dest), received_bytes=None,
                total_bytes=as_int(meta.get("fileSize")), danger_type=None,
                state=enum_name(DOWNLOAD_STATE, meta.get("state")))

    def _old_downloads(self, item, conn, user) -> Iterator[Record | Issue]:
        limit = int(item.options.get("max_downloads", DEFAULT_MAX_DOWNLOADS))
        cols = columns(conn, "moz_downloads")

        def col(name: str) -> str:
            return name if name in cols else "NULL"

        cursor = conn.execute(
            f"SELECT id, {capped_text(col('source'), MAX_URL_CHARS)}, {capped_text(col('target'), MAX_PATH_CHARS)}, "
            f"{col('startTime')}, {col('endTime')}, "
            f"{col('currBytes')}, {col('maxBytes')}, {col('state')} FROM moz_downloads ORDER BY id")
        for n, (did, src, target, start, end, cur, maxb, state) in enumerate(cursor):
            if n >= limit:
                yield item.issue(f"more than {limit} downloads: the rest are not listed", severity="warning")
                break
            yield BrowserDownload(
                source=item.source(f"moz_downloads.id={did}"), browser=BROWSER, user=user,
                start=prtime_utc(as_int(start)), end=prtime_utc(as_int(end)), url=src or None,
                target_path=file_uri_to_path(target), received_bytes=as_int(cur),
                total_bytes=total if (total := as_int(maxb)) is None or total >= 0 else None,
                danger_type=None, state=enum_name(DOWNLOAD_STATE, state))
