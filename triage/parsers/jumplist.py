"""JumpLists (``*.automaticDestinations-ms``, ``*.customDestinations-ms``) -> :class:`JumpListEntry`
(artifact ``jumplists``).

Why: the taskbar/Start jump list of an application keeps the files and folders the user opened with it,
when each was last used and how often, even after the Recent .lnk is gone; the file name is the
application's AppID (see jumplist_appids.py).

Formats (facts from the libyal/dtformats "Jump lists" notes and Zimmerman's JLECmd documentation):

- AutomaticDestinations: an OLE compound file (read with ``olefile``) with one Shell Link stream per
  entry, named by the entry number in hex, and a ``DestList`` stream: a 32-byte header (version u32,
  entry count u32, pinned count u32, a float, last entry number u32, unknown u32, revision u64) then
  entries. Entry layout: checksum u64 @0, four object-id GUIDs @8..@72 (volume, file, birth volume,
  birth file), NetBIOS host name 16 bytes @72, entry number u32 @88, last-used FILETIME u64 @100,
  pin position i32 @108 (-1: not pinned). Version 1 (Windows 7/8): access count float32 @96, path
  length u16 @112, UTF-16 path @114. Version 3/4 (Windows 10/11): access count u32 @116, path length
  u16 @128, path @130, then 4 more bytes.
- CustomDestinations: a header, then categories of Shell Links written one after another; the links
  are found by their 20-byte header signature and each is read with the project's LNK reader.

Every count and length comes from a hostile file: entries, streams and paths are bounded.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

import olefile

from triage.model import ArtifactRecord, Issue, Record
from triage.parsers.base import ParseInput, Parser
from triage.parsers.jumplist_appids import app_name
from triage.parsers.lnk import LNK_HEADER, MAX_LNK_BYTES, LinkFacts, LnkError, read_capped, read_link
from triage.parsers.tasks import windows_path
from triage.parsers.wintime import filetime_utc

MAX_JUMPLIST_BYTES = 32 << 20
MAX_ENTRIES = 5000
MAX_PATH_CHARS = 32_767
_HEADER = struct.Struct("<IIIfIIQ")
_APPID = re.compile(r"([0-9a-f]{12,16})\.(?:automatic|custom)destinations-ms$", re.IGNORECASE)
_USER = re.compile(r"^(?:users|documents and settings)/([^/]+)/", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class DestListEntry:
    entry_number: int
    hostname: str
    path: str
    last_used: datetime | None
    pin_position: int | None
    access_count: int | float


def parse_destlist(data: bytes, max_entries: int = MAX_ENTRIES) -> tuple[int, list[DestListEntry], list[str]]:
    """(version, entries, problems) of a DestList stream; never raises, keeps what it could read."""
    if len(data) < _HEADER.size:
        return 0, [], ([f"DestList of {len(data)} bytes has no header"] if data else [])
    version, count, _pinned, _f, _last, _u, _rev = _HEADER.unpack_from(data)
    if version not in (1, 2, 3, 4, 5, 6):
        return version, [], [f"unknown DestList version {version}"]
    fixed, len_at = (114, 112) if version == 1 else (130, 128)
    entries: list[DestListEntry] = []
    problems: list[str] = []
    pos = _HEADER.size
    while pos < len(data) and len(entries) < min(count, max_entries):
        if pos + fixed > len(data):
            problems.append(f"DestList entry at offset {pos} cut short")
            break
        chars = struct.unpack_from("<H", data, pos + len_at)[0]
        end = pos + fixed + 2 * chars
        if chars > MAX_PATH_CHARS or end > len(data):
            problems.append(f"DestList entry at offset {pos}: path of {chars} characters runs past the stream")
            break
        host = data[pos + 72:pos + 88].split(b"\x00", 1)[0].decode("latin-1")
        number = struct.unpack_from("<I", data, pos + 88)[0]
        last = struct.unpack_from("<Q", data, pos + 100)[0]
        pin = struct.unpack_from("<i", data, pos + 108)[0]
        access: int | float = (round(struct.unpack_from("<f", data, pos + 96)[0], 3) if version == 1
                               else struct.unpack_from("<I", data, pos + 116)[0])
        path = data[pos + fixed:end].decode("utf-16-le", errors="replace")
        entries.append(DestListEntry(number, host, path, filetime_utc(last), None if pin < 0 else pin, access))
        pos = end + (4 if version >= 3 else 0)
    if count > max_entries:
        problems.append(f"DestList declares {count} entries; the first {max_entries} are read")
    return version, entries, problems


def custom_links(data: bytes, max_entries: int = MAX_ENTRIES) -> Iterator[tuple[int, bytes]]:
    """(offset, bytes up to the next link) of every Shell Link header in a CustomDestinations file."""
    starts: list[int] = []
    pos = data.find(LNK_HEADER)
    while pos >= 0 and len(starts) < max_entries:
        starts.append(pos)
        pos = data.find(LNK_HEADER, pos + len(LNK_HEADER))
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(data)
        yield start, data[start:min(end, start + MAX_LNK_BYTES)]


@dataclass(frozen=True, slots=True, kw_only=True)
class JumpListEntry(ArtifactRecord):
    """One item of an application's jump list. ``last_used`` (DestList, automatic lists only) is when the
    user last opened the item with that application; ``target_*`` times come from the embedded link's
    header and describe the target file, not a use of it."""

    record_type: ClassVar[str] = "windows/jumplist"
    artifact: ClassVar[str] = "jumplists"
    title: ClassVar[str] = "JumpLists"
    description: ClassVar[str] = (
        "Files and folders a user opened through an application (its taskbar/Start jump list): last use, use "
        "count and pinning per item (automatic lists), tasks and custom items (custom lists). Proves use by that "
        "profile; the target may have been on another volume or machine.")
    columns: ClassVar[tuple[tuple[str, str], ...]] = (
        ("app_id", "AppID"), ("app_name", "Application"), ("kind", "List"), ("path", "Item"),
        ("target", "Link target"), ("arguments", "Arguments"), ("last_used", "Last used"),
        ("access_count", "Uses"), ("pinned", "Pinned"), ("hostname", "Host"), ("user", "User"))

    jumplist_path: str
    kind: str                     # 'automatic' | 'custom'
    app_id: str | None
    app_name: str | None
    user: str | None
    entry_number: int | None
    destlist_version: int | None
    path: str | None
    hostname: str | None
    last_used: datetime | None
    access_count: int | float | None
    pinned: bool | None
    pin_position: int | None
    target: str | None
    arguments: str | None
    target_created: datetime | None
    target_modified: datetime | None
    target_accessed: datetime | None
    drive_type: str | None
    volume_serial: str | None
    machine_id: str | None

    def times(self) -> list[tuple[datetime, str]]:
        pairs = [(self.last_used, "JumpList item last used (DestList)"),
                 (self.target_created, "JumpList target created (link header)"),
                 (self.target_modified, "JumpList target modified (link header)"),
                 (self.target_accessed, "JumpList target accessed (link header)")]
        return [(t, d) for t, d in pairs if t is not None]

    def activity_times(self) -> list[tuple[datetime, str]]:
        return [(self.last_used, "JumpList item last used (DestList)")] if self.last_used else []

    def message(self) -> str:
        app = self.app_name or self.app_id or "unknown app"
        return f"JumpList {app}: {self.path or self.target or '(no path)'}"


def _entry(item: ParseInput, kind: str, locator: str, link: LinkFacts | None, **fields) -> JumpListEntry:
    m_app, m_user = _APPID.search(item.rel_path), _USER.match(item.rel_path)
    app_id = m_app.group(1).lower() if m_app else None
    base = dict(entry_number=None, destlist_version=None, path=None, hostname=None, last_used=None,
                access_count=None, pinned=None, pin_position=None)
    base.update(fields)
    return JumpListEntry(
        source=item.source(locator), jumplist_path=windows_path(item), kind=kind, app_id=app_id,
        app_name=app_name(app_id) if app_id else None, user=item.user or (m_user.group(1) if m_user else None),
        target=link.target if link else None, arguments=link.arguments if link else None,
        target_created=link.target_created if link else None, target_modified=link.target_modified if link else None,
        target_accessed=link.target_accessed if link else None, drive_type=link.drive_type if link else None,
        volume_serial=link.volume_serial if link else None, machine_id=link.machine_id if link else None, **base)


class JumpListParser(Parser):
    """One JumpListEntry per DestList entry (automatic) or embedded link (custom)."""

    name = "jumplist"
    patterns = (
        "users/*/appdata/roaming/microsoft/windows/recent/automaticdestinations/*.automaticdestinations-ms",
        "users/*/appdata/roaming/microsoft/windows/recent/customdestinations/*.customdestinations-ms",
    )

    def parse(self, item: ParseInput) -> Iterator[Record | Issue]:
        data, problem = read_capped(item, int((item.options or {}).get("max_jumplist_bytes", MAX_JUMPLIST_BYTES)))
        if problem is not None:
            yield problem
            return
        assert data is not None
        if item.rel_path.lower().endswith(".automaticdestinations-ms"):
            yield from self._automatic(item, data)
        else:
            yield from self._custom(item, data)

    def _automatic(self, item: ParseInput, data: bytes) -> Iterator[Record | Issue]:
        if not data.startswith(olefile.MAGIC):
            yield item.issue("not an OLE compound file (automaticDestinations-ms)")
            return
        try:
            ole = olefile.OleFileIO(data)
        except Exception as exc:  # olefile raises many types on hostile input
            yield item.issue(f"unreadable OLE compound file: {type(exc).__name__}: {exc}")
            return
        with ole:
            try:
                destlist = ole.openstream("DestList").read() if ole.exists("DestList") else b""
            except Exception as exc:
                yield item.issue(f"DestList stream unreadable: {exc}")
                return
            version, entries, problems = parse_destlist(destlist)
            for p in problems:
                yield item.issue(p, severity="warning", locator="DestList")
            for e in entries:
                stream = f"{e.entry_number:x}"
                link, why = self._stream_link(ole, stream)
                if why:
                    yield item.issue(f"link stream {stream}: {why}", severity="warning", locator=f"stream {stream}")
                yield _entry(item, "automatic", f"DestList entry {e.entry_number} / stream {stream}", link,
                             entry_number=e.entry_number, destlist_version=version, path=e.path,
                             hostname=e.hostname or None, last_used=e.last_used, access_count=e.access_count,
                             pinned=e.pin_position is not None, pin_position=e.pin_position)

    @staticmethod
    def _stream_link(ole: olefile.OleFileIO, stream: str) -> tuple[LinkFacts | None, str | None]:
        try:
            if not ole.exists(stream):
                return None, "missing"
            if ole.get_size(stream) > MAX_LNK_BYTES:
                return None, f"larger than {MAX_LNK_BYTES} bytes, not read"
            return read_link(ole.openstream(stream).read()), None
        except LnkError as exc:
            return None, str(exc)
        except Exception as exc:
            return None, f"{type(exc).__name__}: {exc}"

    def _custom(self, item: ParseInput, data: bytes) -> Iterator[Record | Issue]:
        if len(data) < 24:
            yield item.issue(f"customDestinations-ms of {len(data)} bytes: no header", severity="warning")
            return
        for offset, blob in custom_links(data):
            try:
                link = read_link(blob)
            except LnkError as exc:
                yield item.issue(f"embedded link at offset {offset}: {exc}", severity="warning",
                                 locator=f"offset {offset}")
                continue
            yield _entry(item, "custom", f"link at offset {offset}", link)
