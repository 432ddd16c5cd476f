"""The one line reader of every text artifact: encodings, gzip, caps, and the Issues they owe."""

from __future__ import annotations

import codecs
import gzip

from triage.parsers.base import input_from_file
from triage.parsers.linux.text import lines
from triage.parsers.textlines import LineStats, bounded_lines, cut_issues, read_lines, stat_issues


def _item(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return input_from_file(path, f"files/C/x/{name}")


def test_utf16_with_and_without_bom_and_utf8(tmp_path):
    text = "first line\r\nzweite Zeile \u00fc\nthird"
    for name, data in (("bom16.log", codecs.BOM_UTF16_LE + text.encode("utf-16-le")),
                       ("nobom16.log", text.encode("utf-16-le")), ("u8.log", text.encode("utf-8")),
                       ("u8bom.log", codecs.BOM_UTF8 + text.encode("utf-8"))):
        stats = LineStats()
        got = list(read_lines(_item(tmp_path, name, data), stats, max_lines=10, max_chars=100))
        assert got == [(1, "first line"), (2, "zweite Zeile \u00fc"), (3, "third")], name
        assert stats == LineStats()


def test_caps_cut_and_say_so(tmp_path):
    data = b"short\n" + b"A" * 5000 + b"\nafter\n" + b"x\n" * 50
    stats, issues = LineStats(), []
    item = _item(tmp_path, "big.log", data)
    got = list(bounded_lines(item, 100, 3, stats, issues))
    assert [n for n, _ in got] == [1, 2, 3] and got[1][1] == "A" * 100 and got[2][1] == "after"
    assert stats.long_lines == 1 and stats.more_lines and issues == []
    assert [i.severity for i in cut_issues(item, stats, 100, 3)] == ["warning", "warning"]


def test_gzip_is_inflated_up_to_its_cap_and_only_when_asked(tmp_path):
    body = "".join(f"line {i}\n" for i in range(2000)).encode()
    item = _item(tmp_path, "syslog.2.gz", gzip.compress(body))
    stats = LineStats()
    assert [t for _, t in lines(item, stats)][-1] == "line 1999" and stats == LineStats()
    capped = LineStats()
    got = list(read_lines(item, capped, max_lines=10_000, max_chars=100, detect=False, gunzip=True, max_inflated=100))
    assert got[0] == (1, "line 0") and len(got) < 20 and capped.inflate_cut
    assert any("inflated size cap" in i.message for i in stat_issues(item, capped, "syslog.2.gz"))
    raw = LineStats()
    list(read_lines(item, raw, max_lines=10, max_chars=100))  # a Windows text artifact is never gunzipped
    assert not raw.inflate_cut


def test_missing_and_broken_files_are_issues(tmp_path):
    item = _item(tmp_path, "gone.log", b"x")
    (tmp_path / "gone.log").unlink()
    stats, issues = LineStats(), []
    assert list(bounded_lines(item, 10, 10, stats, issues)) == [] and "cannot open" in issues[0].message
    whole = gzip.compress("".join(f"line {i} {i * 7919 % 10007}\n" for i in range(5000)).encode())
    broken = _item(tmp_path, "cut.gz", whole[: len(whole) // 2])
    bstats = LineStats()
    list(lines(broken, bstats))
    assert bstats.error and "unreadable past this point" in bstats.error
