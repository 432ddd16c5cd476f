"""Recycle Bin ``$I`` index files (Vista and later) -> :class:`RecycleBinItem`.

Why by hand: the format is two tiny fixed layouts, and no maintained Python library reads them.
Every ``$I`` file starts with an 8-byte version, the original file size (8 bytes) and the deletion
time (FILETIME). Version 1 (Vista to 8.1) follows with a fixed 520-byte UTF-16LE path field (544 bytes
in all); version 2 (Windows 10+) with a 4-byte character count and the path itself. The folder that
holds it is the deleting user's SID. The matching ``$R`` file holds the content and is not read.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator

from triage.model import Issue, Record, RecycleBinItem
from triage.parsers.base import ParseInput, Parser
from triage.timeconv import filetime_utc

_HEADER = struct.Struct("<qQQ")  # version, original size, deletion FILETIME
V1_PATH_BYTES = 520
MAX_PATH_CHARS = 32_767  # longest Windows (\\?\) path
_READ_LIMIT = _HEADER.size + 4 + 2 * (MAX_PATH_CHARS + 1)
_SID = re.compile(r"^S-1-\d+(-\d+)+$", re.IGNORECASE)


def sid_from_path(rel_path: str) -> str | None:
    """The SID folder right under $Recycle.Bin, when it looks like one."""
    parts = rel_path.replace("\\", "/").split("/")
    for i, part in enumerate(parts[:-1]):
        if part.lower() == "$recycle.bin" and i + 1 < len(parts) - 1:
            sid = parts[i + 1]
            return sid.upper() if _SID.match(sid) else None
    return None


def _utf16z(raw: bytes) -> str:
    text = raw.decode("utf-16-le", "replace")
    return text.split("\x00", 1)[0]


def parse_index(data: bytes) -> tuple[int, int, int, str]:
    """(version, size, filetime, path) from a $I file; ValueError says what is wrong."""
    if len(data) < _HEADER.size:
        raise ValueError(f"$I file too short ({len(data)} bytes)")
    version, size, filetime = _HEADER.unpack_from(data)
    if version == 1:
        field = data[_HEADER.size:_HEADER.size + V1_PATH_BYTES]
        if len(field) < 2:
            raise ValueError("version 1 $I file without a path field")
        return version, size, filetime, _utf16z(field)
    if version == 2:
        if len(data) < _HEADER.size + 4:
            raise ValueError("version 2 $I file cut before the path length")
        (chars,) = struct.unpack_from("<I", data, _HEADER.size)
        if chars == 0 or chars > MAX_PATH_CHARS + 1:
            raise ValueError(f"version 2 path length {chars} out of range")
        start = _HEADER.size + 4
        field = data[start:start + 2 * chars]
        if len(field) < 2 * chars:
            raise ValueError(f"version 2 path cut short ({len(field) // 2} of {chars} characters)")
        return version, size, filetime, _utf16z(field)
    raise ValueError(f"unknown $I version {version}")


class RecycleBinParser(Parser):
    """One RecycleBinItem per $I file."""

    name = "recycle_bin"
    patterns = ("$recycle.bin/*/$i*",)

    def parse(self, item: ParseInput) -> Iterator[Record | Issue]:
        try:
            with item.open() as fh:
                data = fh.read(_READ_LIMIT)
        except OSError as exc:
            yield item.issue(f"cannot read $I file: {exc}")
            return
        try:
            version, size, filetime, path = parse_index(data)
        except ValueError as exc:
            yield item.issue(f"unreadable $I file: {exc}")
            return
        if version == 1 and len(data) < _HEADER.size + V1_PATH_BYTES:
            yield item.issue(f"version 1 $I file is {len(data)} bytes, not 544: path field cut short",
                             severity="warning")
        deleted = filetime_utc(filetime)
        if filetime and deleted is None:
            yield item.issue(f"deletion time {filetime} out of range", severity="warning")
        yield RecycleBinItem(source=item.source(f"$I v{version}"), original_path=path, deleted=deleted,
                             size=size, user_sid=sid_from_path(item.rel_path))
