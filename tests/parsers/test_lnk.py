"""LNK parser (liblnk) against the corpus's 39 real links and LnkParse3's independent reading in truth.json.

Deliberate differences from LnkParse3, each asserted below:
- LnkParse3 converts FILETIMEs through a float and can be 1 microsecond off (Hello.doc.lnk's target
  modification time: ...34.000077 there, ...34.000076 exact); we convert the integer exactly.
- For a network target LnkParse3's ``target_path`` is the share only; ours (``network_path``) is the share
  plus the path suffix from the LinkInfo (network_info.lnk).
- An empty TrackerDataBlock machine name is null here, "" there.
- liblnk refuses ``padded_cli_arguments.lnk``; LnkParse3 then reads its strings (``reader`` says so, no times).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from triage.model import Issue
from triage.parsers.base import input_from_file
from triage.parsers.lnk import LnkError, LnkFile, LnkParser, link_location, mac_of_droid, read_link

RECENT = "Users/tony/AppData/Roaming/Microsoft/Windows/Recent"


def _dt(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def _links(corpus: Path) -> list[Path]:
    return sorted((corpus / "lnk").glob("*/*.lnk"))


def test_every_corpus_link_agrees_with_lnkparse3(corpus, truth):
    links = _links(corpus)
    assert len(links) == 39
    off_by_float = 0
    for path in links:
        ref = truth[str(path.relative_to(corpus))]["lnkparse3"]
        facts = read_link(path.read_bytes())
        name = path.name
        for ours, key in ((facts.target_created, "creation_time"), (facts.target_modified, "modification_time"),
                          (facts.target_accessed, "access_time")):
            theirs = _dt(ref[key])
            if facts.reader == "LnkParse3":
                assert ours is None, name           # strings-only fallback: no times
            elif theirs is None or theirs.year < 1971:
                assert ours is None, (name, key)    # zero FILETIME: no time, never 1601
            else:
                assert abs(ours - theirs) <= timedelta(microseconds=1), (name, key, ours, theirs)
                off_by_float += ours != theirs
        if ref["network_share"]:
            assert facts.network_path.startswith(ref["network_share"]) and len(facts.network_path) > len(
                ref["network_share"]), name
        else:
            assert facts.target_path == ref["target_path"], name
        assert (facts.arguments or None) == (ref["arguments"] or None), name
        assert facts.machine_id == (ref["machine_id"] or None), name
        if ref["drive_serial_number"]:
            assert int(facts.volume_serial, 16) == int(ref["drive_serial_number"], 16), name
        assert facts.working_dir == (ref.get("working_dir") or None), name
    assert off_by_float >= 1  # the float rounding above is real, not hypothetical


def test_reference_values_of_a_recent_document_link(corpus, truth):
    facts = read_link((corpus / "lnk/ez-win10/Hello.doc.lnk").read_bytes())
    ref = truth["lnk/ez-win10/Hello.doc.lnk"]
    assert facts.target_path == ref["target_path"] == "C:\\Users\\e\\Desktop\\Hello.doc"
    assert facts.volume_serial == ref["volume_serial"] == "6A228FAA"
    assert facts.machine_id == "sagerez" and facts.drive_type == "fixed"
    assert facts.target_modified == _dt(ref["modification_time"])  # exact, as liblnk's reference
    assert facts.target_size == 28160
    assert facts.droid_mac == "a4:34:d9:43:f3:63"


def test_shell_item_list_names_the_target_of_links_without_linkinfo(corpus, truth):
    """LinkInfo and the LinkTargetIDList are two independent records of the target: where both are there
    and the list starts at a volume, they agree; where LinkInfo is missing (both truth readers give a null
    target_path), the list alone names it — typical of malicious shortcuts."""
    agree = 0
    for path in _links(corpus):
        facts = read_link(path.read_bytes())
        if facts.target_path and facts.idlist_path and facts.idlist_path[1:3] == ":\\":
            assert facts.idlist_path.lower() == facts.target_path.lower(), path.name
            agree += 1
    assert agree >= 15
    bad = read_link((corpus / "lnk/lnkparse3/unknown_block.lnk").read_bytes())
    assert truth["lnk/lnkparse3/unknown_block.lnk"]["target_path"] is None and bad.target_path is None
    assert bad.target == bad.idlist_path == "C:\\Windows\\system32\\cmd.exe"
    assert bad.arguments.startswith("/c ren ")
    broken = read_link((corpus / "lnk/lnkparse3/broken_link_info.lnk").read_bytes())
    assert broken.target == "C:\\Program Files\\xt\\xt.exe"


def test_liblnk_refusal_falls_back_to_lnkparse3_strings(corpus, truth):
    facts = read_link((corpus / "lnk/lnkparse3/padded_cli_arguments.lnk").read_bytes())
    assert facts.reader == "LnkParse3" and facts.warnings
    assert facts.arguments == truth["lnk/lnkparse3/padded_cli_arguments.lnk"]["lnkparse3"]["arguments"]
    assert facts.arguments.startswith("/c \"set PATH=")


def test_parser_record_with_manifest_times_and_timeline(corpus, tmp_path):
    item = input_from_file(corpus / "lnk/ez-win10/Hello.doc.lnk", f"{RECENT}/Hello.doc.lnk", user="tony")
    item.entry.times = {"born": "2016-01-02T03:04:05Z", "modified": "2016-02-03T04:05:06Z"}
    (rec,) = list(LnkParser().parse(item))
    assert isinstance(rec, LnkFile) and rec.location == "recent" and rec.user == "tony"
    assert rec.link_path == "C:\\" + f"{RECENT}/Hello.doc.lnk".replace("/", "\\")
    assert rec.link_created == datetime(2016, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert rec.target == "C:\\Users\\e\\Desktop\\Hello.doc"
    descs = [d for _, d in rec.times()]
    assert descs[0] == "LNK file created (target first opened)" and len(descs) == 5
    assert [d for _, d in rec.activity_times()] == descs[:2]
    assert rec.source.bundle_path.endswith("Recent/Hello.doc.lnk") and rec.source.locator


def test_patterns_and_locations():
    for rel in (f"{RECENT}/a.lnk", f"{RECENT}/sub/b.lnk", "Users/x/Desktop/c.lnk",
                "Users/x/AppData/Roaming/Microsoft/Office/Recent/d.docx.lnk"):
        assert LnkParser.matches(rel), rel
    assert not LnkParser.matches("Users/x/AppData/Roaming/Microsoft/Windows/Start Menu/Programs/Startup/e.lnk")
    assert link_location("Users/x/AppData/Roaming/Microsoft/Office/Recent/d.lnk") == "office_recent"
    assert link_location("Users/x/Desktop/c.lnk") == "desktop"


def test_mac_of_droid():
    assert mac_of_droid("33d1d9f6-c4fc-11e5-b2aa-a434d943f363") == "a4:34:d9:43:f3:63"
    assert mac_of_droid("38648bd4-606f-459b-91e5-d8883d4b70b1") is None  # version 4: no MAC
    assert mac_of_droid("garbage") is None and mac_of_droid(None) is None


@pytest.mark.parametrize("cut", [0, 10, 0x4C, 0x60, 200, 300, -40, -8])
def test_truncated_links_never_raise(corpus, tmp_path, cut):
    data = (corpus / "lnk/ez-win10/Case Report.txt.lnk").read_bytes()[:cut]
    p = tmp_path / "x.lnk"
    p.write_bytes(data)
    out = list(LnkParser().parse(input_from_file(p, f"{RECENT}/x.lnk")))
    assert out and all(isinstance(o, Issue | LnkFile) for o in out)
    if 0 <= cut < 0x4C:  # no whole header: nothing to report but the problem
        assert [type(o) for o in out] == [Issue]


def test_garbled_and_oversized(tmp_path):
    with pytest.raises(LnkError):
        read_link(b"MZ" + bytes(200))
    p = tmp_path / "big.lnk"
    p.write_bytes(b"L" + bytes(2 << 20))
    (issue,) = list(LnkParser().parse(input_from_file(p, f"{RECENT}/big.lnk")))
    assert isinstance(issue, Issue) and "larger than" in issue.message
