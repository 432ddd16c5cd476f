"""ShimCache (AppCompatCache) from the SYSTEM hive: every format from Windows XP to Windows 11.

Why it matters: Windows records an executable's path and its file modification time (from $STANDARD_
INFORMATION) when the Application Compatibility layer looks at it. An entry proves the file existed
at that path; it does NOT by itself prove execution, and the time is the file's last modification,
not a run time. On Windows 7/8/8.1 (and Vista, XP's last-update time) the format carries an insert
flag that is set when the process was created ("executed"); Windows 10/11 entries have no documented
flag, so ``executed`` is None there rather than a guess. Entries are kept in the order the cache
holds them: position 0 is the most recently inserted or updated; the cache is written only at
shutdown, so a running machine's newest executions are not in it.

Formats (header magic / layout):
  XP 32-bit      0xDEADBEEF, 0x190-byte header, 0x228-byte entries (path inline, mtime, size, update time)
  2003/Vista     0xBADC0FFE, 8-byte header, 0x18 (32-bit) / 0x20 (64-bit) entries, path by offset
  7 / 2008 R2    0xBADC0FEE, 0x80-byte header, 0x20 / 0x30 entries, insert flags (0x2 = executed)
  8 / 2012       header 0x80, entries tagged '00ts'; 8.1 / 2012 R2 tagged '10ts' (package, flags, mtime)
  10 / 11        header 0x30 (before Creators Update) or 0x34, entries tagged '10ts' (path, mtime, data)
A damaged or unknown value is an Issue; entries read before the damage are kept.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar

from triage.model import ArtifactRecord, Issue, Record
from triage.parsers.registry.autoruns import Context
from triage.units import from_filetime

MAX_ENTRIES = 65536  # Windows keeps at most 1024; a hostile count must not make us loop for long
EXECUTED_FLAG = 0x2  # insert flag set by CSRSS when the process was created (Vista to 8.1)

FMT_XP, FMT_NT52, FMT_NT61 = "winxp", "nt5.2", "win7"
FMT_WIN8, FMT_WIN81, FMT_WIN10 = "win8", "win8.1", "win10"


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """One decoded AppCompatCache entry, independent of the hive it came from."""

    position: int
    path: str
    last_modified: datetime | None
    executed: bool | None = None
    file_size: int | None = None
    last_update: datetime | None = None  # XP only: when the entry was last updated
    insert_flags: int | None = None
    data_size: int | None = None


@dataclass
class DecodedCache:
    """What one AppCompatCache value holds: its format, entries in cache order, and problems."""

    format: str
    entries: list[CacheEntry] = field(default_factory=list)
    declared: int | None = None  # entry count in the header, where the format has one
    problems: list[str] = field(default_factory=list)


def _basename(path: str) -> str:
    return path.replace("/", "\\").rstrip("\\").rsplit("\\", 1)[-1]


def _utf16(raw: bytes) -> str:
    return raw.decode("utf-16-le", errors="replace")


def _u16(data: bytes, off: int) -> int:
    return struct.unpack_from("<H", data, off)[0]


def _u32(data: bytes, off: int) -> int:
    return struct.unpack_from("<I", data, off)[0]


def _u64(data: bytes, off: int) -> int:
    return struct.unpack_from("<Q", data, off)[0]


def detect_format(data: bytes) -> str | None:
    if len(data) < 16:
        return None
    magic = _u32(data, 0)
    if magic == 0xDEADBEEF:
        return FMT_XP
    if magic == 0xBADC0FFE:
        return FMT_NT52
    if magic == 0xBADC0FEE:
        return FMT_NT61
    # the first DWORD is the header size: 0x80 for Windows 8/8.1, 0x30/0x34 for Windows 10/11 (so a
    # Windows 10 entry that happens to start at 0x80 is never taken for a Windows 8.1 header)
    if magic in (0x30, 0x34) and len(data) >= magic + 4 and data[magic:magic + 4] == b"10ts":
        return FMT_WIN10
    if len(data) >= 0x84 and data[0x80:0x84] == b"00ts":
        return FMT_WIN8
    if len(data) >= 0x84 and data[0x80:0x84] == b"10ts":
        return FMT_WIN81
    return None


def _is_64bit_unicode_string(data: bytes, off: int) -> bool:
    """A 64-bit entry's UNICODE_STRING (length, max length) is followed by 4 bytes of padding (zero);
    a 32-bit entry has the buffer offset there instead. MaximumLength is Length + 2 (the NUL)."""
    if off + 8 > len(data):
        return False
    length, max_length = struct.unpack_from("<HH", data, off)
    return max_length - length == 2 and _u32(data, off + 4) == 0


def _decode_xp(data: bytes, out: DecodedCache) -> None:
    count = _u32(data, 8)
    out.declared = count
    off = 0x190
    for i in range(min(count, MAX_ENTRIES)):
        if off + 0x228 > len(data):
            out.problems.append(f"value ends inside entry {i} of {count}")
            return
        raw = data[off:off + 528]
        end = 0
        while end + 1 < len(raw) and (raw[end] or raw[end + 1]):
            end += 2
        path = _utf16(raw[:end])
        if path:
            mtime, size, update = struct.unpack_from("<QQQ", data, off + 528)
            out.entries.append(CacheEntry(position=len(out.entries), path=path, last_modified=from_filetime(mtime),
                                          file_size=size or None, last_update=from_filetime(update)))
        off += 0x228


def _decode_nt5(data: bytes, out: DecodedCache) -> None:
    count = _u32(data, 4)
    out.declared = count
    wide = _is_64bit_unicode_string(data, 8)
    size = 0x20 if wide else 0x18
    offs = [8 + i * size for i in range(min(count, MAX_ENTRIES)) if 8 + (i + 1) * size <= len(data)]
    if len(offs) < min(count, MAX_ENTRIES):
        out.problems.append(f"value holds {len(offs)} of the {count} entries its header declares")

    def fields(off: int) -> tuple[int, int, int, int, int]:
        if wide:
            length, _mx, path_off, mtime, a, b = struct.unpack_from("<HH4xQQII", data, off)
        else:
            length, _mx, path_off, mtime, a, b = struct.unpack_from("<HHIQII", data, off)
        return length, path_off, mtime, a, b

    # 2003 stores the file size in the last two DWORDs; Vista/2008 store insert flags there. Flags only
    # use the low bits, so any larger value means sizes (the usual heuristic).
    has_size = any(fields(off)[3] > 3 for off in offs)
    for off in offs:
        length, path_off, mtime, a, b = fields(off)
        path = _utf16(data[path_off:path_off + length]) if path_off + length <= len(data) else ""
        if has_size:
            entry = CacheEntry(position=len(out.entries), path=path, last_modified=from_filetime(mtime),
                               file_size=a | (b << 32))
        else:
            entry = CacheEntry(position=len(out.entries), path=path, last_modified=from_filetime(mtime),
                               executed=bool(a & EXECUTED_FLAG), insert_flags=a)
        out.entries.append(entry)


def _decode_nt6(data: bytes, out: DecodedCache) -> None:
    count = _u32(data, 4)
    out.declared = count
    wide = _is_64bit_unicode_string(data, 0x80)
    size = 0x30 if wide else 0x20
    strings_start = len(data)  # data blobs and path strings follow the entry table: no entry lies among them
    for i in range(min(count, MAX_ENTRIES)):
        off = 0x80 + i * size
        if off + size > strings_start:
            out.problems.append(f"header declares {count} entries; {i} fit before the entries' data and paths")
            return
        if off + size > len(data):
            out.problems.append(f"value ends inside entry {i} of {count}")
            return
        if wide:
            length, _mx, path_off, mtime, iflags, _shim, dsize, doff = struct.unpack_from("<HH4xQQIIQQ", data, off)
        else:
            length, _mx, path_off, mtime, iflags, _shim, dsize, doff = struct.unpack_from("<HHIQIIII", data, off)
        path = _utf16(data[path_off:path_off + length]) if path_off + length <= len(data) else ""
        if not path:
            out.problems.append(f"entry {i}: path outside the value (offset {path_off}, length {length})")
        elif path_off >= off + size:
            strings_start = min(strings_start, path_off)
        if dsize and doff >= off + size:  # the entries' data blobs follow the table too
            strings_start = min(strings_start, doff)
        out.entries.append(CacheEntry(position=len(out.entries), path=path, last_modified=from_filetime(mtime),
                                      executed=bool(iflags & EXECUTED_FLAG), insert_flags=iflags, data_size=dsize))


def _tagged_entries(data: bytes, start: int, tag: bytes, out: DecodedCache) -> Iterator[tuple[int, bytes]]:
    """(index, body) of each 'tag, crc32, length' framed entry from ``start`` until the data or the
    tags end. Trailing zero padding after the last entry is normal (Windows 10 before Creators Update)."""
    off, i = start, 0
    while off + 12 <= len(data) and i < MAX_ENTRIES:
        head, _crc, length = struct.unpack_from("<4sII", data, off)
        if head != tag:
            if data[off:].strip(b"\x00"):
                out.problems.append(f"entry {i} at offset {off}: tag {head!r}, expected {tag!r}; rest not read")
            return
        body = data[off + 12:off + 12 + length]
        if len(body) < length:
            out.problems.append(f"entry {i} at offset {off} is cut short ({len(body)} of {length} bytes)")
            return
        yield i, body
        off += 12 + length
        i += 1
    if off < len(data) and i < MAX_ENTRIES and data[off:].strip(b"\x00"):
        out.problems.append(f"value ends inside the header of entry {i} (offset {off})")


def _decode_win8(data: bytes, out: DecodedCache, tag: bytes) -> None:
    for i, body in _tagged_entries(data, 0x80, tag, out):
        try:
            plen = _u16(body, 0)
            path = _utf16(body[2:2 + plen])
            pos = 2 + plen
            pkg_len = _u16(body, pos)
            pos += 2 + pkg_len
            iflags, _shim, mtime, dsize = struct.unpack_from("<IIQI", body, pos)
        except struct.error:
            out.problems.append(f"entry {i} is too short for its fields")
            continue
        out.entries.append(CacheEntry(position=len(out.entries), path=path, last_modified=from_filetime(mtime),
                                      executed=bool(iflags & EXECUTED_FLAG), insert_flags=iflags, data_size=dsize))


def _decode_win10(data: bytes, out: DecodedCache) -> None:
    header = _u32(data, 0)  # no header field reliably holds the entry count (seen to disagree): none kept
    for i, body in _tagged_entries(data, header, b"10ts", out):
        try:
            plen = _u16(body, 0)
            path = _utf16(body[2:2 + plen])
            mtime, dsize = struct.unpack_from("<QI", body, 2 + plen)
        except struct.error:
            out.problems.append(f"entry {i} is too short for its fields")
            continue
        out.entries.append(CacheEntry(position=len(out.entries), path=path, last_modified=from_filetime(mtime),
                                      data_size=dsize))


def decode_appcompatcache(data: bytes) -> DecodedCache:
    """Decode one AppCompatCache value (never raises: problems are listed in the result)."""
    fmt = detect_format(data)
    if fmt is None:
        head = data[:4].hex() if data else "empty"
        return DecodedCache(format="unknown", problems=[f"unrecognised AppCompatCache format (first bytes {head}, "
                                                        f"{len(data)} bytes)"])
    out = DecodedCache(format=fmt)
    try:
        if fmt == FMT_XP:
            _decode_xp(data, out)
        elif fmt == FMT_NT52:
            _decode_nt5(data, out)
        elif fmt == FMT_NT61:
            _decode_nt6(data, out)
        elif fmt in (FMT_WIN8, FMT_WIN81):
            _decode_win8(data, out, b"00ts" if fmt == FMT_WIN8 else b"10ts")
        else:
            _decode_win10(data, out)
    except struct.error as exc:  # a header field points past the data: keep what was read
        out.problems.append(f"value cut short: {exc}")
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class ShimCacheEntry(ArtifactRecord):
    """One AppCompatCache entry. last_modified is the FILE's modification time as cached, not a run time;
    executed is the insert flag where the format has one (Vista-8.1), else None; position 0 = newest."""

    record_type: ClassVar[str] = "windows/registry/shimcache"
    artifact: ClassVar[str] = "shimcache"
    title: ClassVar[str] = "ShimCache (AppCompatCache)"
    description: ClassVar[str] = (
        "Files the compatibility layer saw, newest first (position 0). The time is the file's last "
        "modification, not a run time; 'executed' is only known on Windows Vista to 8.1.")
    columns: ClassVar[tuple[tuple[str, str], ...]] = (
        ("position", "Position"), ("path", "Path"), ("last_modified", "File modified"),
        ("executed", "Executed flag"), ("control_set", "Control set"), ("format", "Format"))

    position: int
    path: str
    last_modified: datetime | None
    executed: bool | None
    control_set: str
    format: str
    file_size: int | None = None
    last_update: datetime | None = None
    insert_flags: int | None = None
    data_size: int | None = None

    def times(self) -> list[tuple[datetime, str]]:
        out = []
        if self.last_modified:
            out.append((self.last_modified, "ShimCache file last modified"))
        if self.last_update:
            out.append((self.last_update, "ShimCache entry last updated"))
        return out

    def activity_times(self) -> list[tuple[datetime, str]]:
        # the file's modification time dates the file, not anything done on this host; XP's update time does
        return [(self.last_update, "ShimCache entry last updated")] if self.last_update else []

    def execution(self) -> tuple[str, str | None, int | None, tuple[datetime, ...]] | None:
        # only entries whose insert flag says the process was created (Vista to 8.1), and never with a run
        # time: last_modified is the file's. Windows 10/11 entries prove presence only: artifacts.shimcache
        return (_basename(self.path), self.path, None, ()) if self.path and self.executed else None

    def message(self) -> str:
        flags: dict[bool | None, str] = {True: ", executed flag set", False: ", executed flag not set"}
        flag = flags.get(self.executed, "")
        return f"ShimCache #{self.position} {self.path}{flag} ({self.control_set})"


def control_sets(ctx: Context) -> list[str]:
    """ControlSet00N key names present in the hive, current first (Select\\Current), then in order."""
    from triage.parsers.registry.system import current_control_set

    hive = ctx.hive
    root = hive.root()
    names = sorted(k.name() for k in (hive.subkeys(root) if root is not None else [])
                   if k.name().lower().startswith("controlset") and k.name()[10:].isdigit())
    cur = current_control_set(ctx)
    return ([cur] if cur is not None and cur in names else []) + [n for n in names if n != cur]


def parse_shimcache(ctx: Context) -> Iterator[Record | Issue]:
    """Entries of every control set's AppCompatCache; a control set whose value is byte-identical to
    one already read is not repeated (an info Issue says so)."""
    hive = ctx.hive
    seen: dict[str, str] = {}
    for ccs in control_sets(ctx):
        key = None
        for sub in ("AppCompatCache", "AppCompatibility"):  # Vista and later / XP and 2003
            k = hive.key(f"{ccs}\\Control\\Session Manager\\{sub}")
            if k is not None and hive.value(k, "AppCompatCache") is not None:
                key = k
                break
        if key is None:
            continue
        raw = hive.value(key, "AppCompatCache")
        locator = f"{hive.path(key)}\\AppCompatCache"
        if not isinstance(raw, bytes):
            yield ctx.item.issue(f"AppCompatCache is not binary data ({type(raw).__name__})", severity="warning",
                                 locator=locator)
            continue
        digest = hashlib.sha256(raw).hexdigest()
        if digest in seen:
            yield ctx.item.issue(f"{ccs} AppCompatCache is identical to {seen[digest]}'s: entries not repeated",
                                 severity="info", locator=locator)
            continue
        seen[digest] = ccs
        decoded = decode_appcompatcache(raw)
        for problem in decoded.problems:
            yield ctx.item.issue(f"AppCompatCache ({decoded.format}): {problem}", severity="warning", locator=locator)
        for e in decoded.entries:
            yield ShimCacheEntry(source=ctx.item.source(f"{locator} entry {e.position}"), position=e.position,
                                 path=e.path, last_modified=e.last_modified, executed=e.executed, control_set=ccs,
                                 format=decoded.format, file_size=e.file_size, last_update=e.last_update,
                                 insert_flags=e.insert_flags, data_size=e.data_size)
