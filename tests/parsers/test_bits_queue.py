"""BITS queue string scan. The corpus has no qmgr file (none under a permissive licence was found), so
the inputs are built here: UTF-16 job strings (name, remote URL, local path, notify command) between
binary record bytes, as the legacy qmgr0.dat keeps them. The chunked scan is compared with a plain
whole-buffer scan of the same bytes (the reference), for strings placed across every chunk boundary."""

from __future__ import annotations

import io
import os
import uuid
from pathlib import Path

from triage.model import Issue
from triage.parsers.base import input_from_file
from triage.parsers.bits_queue import _URL, _UTF16, CHUNK, BitsQueueParser, BitsTransfer, scan_urls

REL = "ProgramData/Microsoft/Network/Downloader/qmgr0.dat"


def _u(s: str) -> bytes:
    return s.encode("utf-16-le") + b"\x00\x00"


def _job(name: str, url: str, local: str) -> bytes:
    return (uuid.uuid4().bytes + b"\x01\x00\x00\x00" + _u(name) + os.urandom(40) + _u(local) + b"\x00" * 12
            + _u(url) + os.urandom(24) + _u("C:\\Windows\\System32\\cmd.exe /c start C:\\Users\\Public\\s.exe"))


def _parse(tmp_path: Path, data: bytes, **options) -> list:
    p = tmp_path / "qmgr0.dat"
    p.write_bytes(data)
    item = input_from_file(p, REL)
    item.options.update(options)
    return list(BitsQueueParser().parse(item))


def test_urls_and_local_paths(tmp_path):
    data = (os.urandom(3000) + _job("Updates", "https://198.51.100.7/p/payload.exe", "C:\\Users\\Public\\svc.exe")
            + os.urandom(CHUNK) + _job("Font", "\\\\files.example\\share\\font.ttf", "C:\\Windows\\Temp\\f.ttf"))
    recs = _parse(tmp_path, data)
    assert not [r for r in recs if isinstance(r, Issue)]
    a, b = recs
    assert isinstance(a, BitsTransfer) and a.url == "https://198.51.100.7/p/payload.exe"
    assert a.local_paths == ("C:\\Users\\Public\\svc.exe",
                             "C:\\Windows\\System32\\cmd.exe /c start C:\\Users\\Public\\s.exe")
    assert data[a.offset:a.offset + 10] == "https".encode("utf-16-le") and a.source.locator == f"offset {a.offset}"
    assert b.url == "\\\\files.example\\share\\font.ttf" and b.local_paths[0] == "C:\\Windows\\Temp\\f.ttf"
    assert b.times() == []


def test_chunked_scan_equals_whole_buffer_scan():
    """URLs found chunk by chunk with needles == URL-shaped strings of one regex pass over the whole buffer."""
    url = "https://198.51.100.7/payload.exe".encode("utf-16-le")
    size = 20_000  # small chunks: the same code path as 1 MiB ones, many boundaries per input
    for shift in range(0, 9000, 97):  # the URL, a path and a 2040-character string across a boundary
        data = (os.urandom(size - shift) + url + b"\x00\x00" + _u("C:\\Temp\\p.exe")
                + ("A" * 2040).encode("utf-16-le") + os.urandom(9000) + _u("ftp://h/x"))
        reference = [(m.start(), m.group().decode("utf-16-le")) for m in _UTF16.finditer(data)]
        ref_urls = [(o, t) for o, t in reference if _URL.match(t)]
        got, cut = scan_urls(io.BytesIO(data).read, chunk_size=size)
        assert [(o, t) for o, t, _ in got] == ref_urls and not cut, shift
        for o, _t, near in got:
            assert near == tuple(t for ro, t in reference if abs(ro - o) <= 2048 + 80 and t.startswith("C:\\")), shift


def test_limits_and_empty(tmp_path):
    assert _parse(tmp_path, b"") == []
    recs = _parse(tmp_path, _job("a", "http://x.example/a", "C:\\a") * 3, max_bits_bytes=100)
    assert [r.severity for r in recs if isinstance(r, Issue)] == ["warning"]
    many = b"".join(_u(f"http://h{i}.example/") for i in range(5003))
    recs = _parse(tmp_path, many)
    assert sum(isinstance(r, BitsTransfer) for r in recs) == 5000
    assert any(isinstance(r, Issue) and "more than 5000" in r.message for r in recs)
