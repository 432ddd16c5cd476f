"""Recycle Bin $I parser on files built here byte by byte per the format (no real $I in the corpus).

Layout: int64 version | uint64 original size | FILETIME deleted | v1: 520-byte UTF-16LE path field
(544 bytes in all, Vista-8.1) | v2: uint32 character count (with the NUL) + UTF-16LE path (Windows 10+).
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime
from pathlib import Path

from triage.model import Issue, RecycleBinItem
from triage.parsers.base import input_from_file
from triage.parsers.recyclebin import RecycleBinParser, sid_from_path
from triage.units import iso

SID = "S-1-5-21-3623811015-3361044348-30300820-1013"
# 2024-03-01T12:34:56.789012Z as FILETIME (+ 3 x 100 ns, truncated away)
DELETED = (int(datetime(2024, 3, 1, 12, 34, 56, tzinfo=UTC).timestamp()) * 10_000_000
           + 116444736000000000 + 7_890_123)


def v1(path: str, size: int, filetime: int = DELETED) -> bytes:
    field = path.encode("utf-16-le").ljust(520, b"\x00")
    return struct.pack("<qQQ", 1, size, filetime) + field


def v2(path: str, size: int, filetime: int = DELETED) -> bytes:
    text = path + "\x00"
    return struct.pack("<qQQI", 2, size, filetime, len(text)) + text.encode("utf-16-le")


def _parse(tmp_path: Path, data: bytes, name: str = "$IAB12CD.txt") -> list:
    path = tmp_path / name
    path.write_bytes(data)
    return list(RecycleBinParser().parse(input_from_file(path, f"$Recycle.Bin/{SID}/{name}")))


def test_version_1(tmp_path):
    data = v1("C:\\Users\\ann\\Documents\\plan.docx", 123456)
    assert len(data) == 544
    (rec,) = _parse(tmp_path, data)
    assert isinstance(rec, RecycleBinItem)
    assert (rec.original_path, rec.size, iso(rec.deleted), rec.user_sid) == (
        "C:\\Users\\ann\\Documents\\plan.docx", 123456, "2024-03-01T12:34:56.789012Z", SID)
    assert rec.source.bundle_path == f"files/C/$Recycle.Bin/{SID}/$IAB12CD.txt"


def test_version_2_long_unicode_path(tmp_path):
    path = "D:\\Données\\" + "x" * 300 + "\\évidence.7z"
    (rec,) = _parse(tmp_path, v2(path, 2**40), "$I0Q9ZZ1.7z")
    assert (rec.original_path, rec.size, rec.user_sid) == (path, 2**40, SID)
    assert rec.deleted.tzinfo is UTC


def test_damaged_files_are_issues(tmp_path):
    good2 = v2("C:\\a.txt", 1)
    cases = [b"", b"\x02" + b"\x00" * 10, good2[:26], good2[:30], struct.pack("<qQQ", 3, 1, DELETED) + b"\x00" * 40,
             struct.pack("<qQQI", 2, 1, DELETED, 0xFFFFFFFF) + b"a\x00" * 8, struct.pack("<qQQ", 1, 1, DELETED)]
    for i, data in enumerate(cases):
        out = _parse(tmp_path, data)
        assert len(out) == 1 and isinstance(out[0], Issue) and out[0].severity == "error", (i, out)


def test_zero_time_is_none_and_cut_v1_path_is_kept(tmp_path):
    issue, rec = _parse(tmp_path, v1("C:\\z.bin", 5, filetime=0)[:24 + 20])
    assert (rec.original_path, rec.deleted) == ("C:\\z.bin", None)
    assert issue.severity == "warning" and "not 544" in issue.message


def test_patterns_and_sid():
    assert RecycleBinParser.matches(f"$Recycle.Bin/{SID}/$IAB12CD.txt")
    assert RecycleBinParser.matches(f"$RECYCLE.BIN/{SID}/$I123456")
    assert not RecycleBinParser.matches(f"$Recycle.Bin/{SID}/$RAB12CD.txt")
    assert sid_from_path(f"$Recycle.Bin/{SID.lower()}/$IAB") == SID
    assert sid_from_path("$Recycle.Bin/not-a-sid/$IAB") is None
