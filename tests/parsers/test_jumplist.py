"""JumpList parser against the corpus's 27 real jump lists and truth.json (olefile + an independent DestList
struct walk, embedded links read with LnkParse3), entry for entry.

Deliberate differences from the reference, asserted below: an empty DestList host name is null here, "" there;
where the embedded link has no LinkInfo (the reference's target is null), the target is the link's shell item
list path here (e.g. a Control Panel item).
"""

from __future__ import annotations

import struct
from pathlib import Path

import olefile
import pytest

from triage.model import Issue
from triage.parsers.base import input_from_file
from triage.parsers.jumplist import MAX_PATH_CHARS, JumpListEntry, JumpListParser, parse_destlist

RECENT = "Users/tony/AppData/Roaming/Microsoft/Windows/Recent"


def _rel(path: Path) -> str:
    sub = "AutomaticDestinations" if "automatic" in path.name.lower() else "CustomDestinations"
    return f"{RECENT}/{sub}/{path.name}"


def _parse(path: Path, rel: str | None = None) -> tuple[list[JumpListEntry], list[Issue]]:
    out = list(JumpListParser().parse(input_from_file(path, rel or _rel(path), user="tony")))
    return [o for o in out if isinstance(o, JumpListEntry)], [o for o in out if isinstance(o, Issue)]


def _iso(dt) -> str | None:
    return dt.isoformat(timespec="microseconds").replace("+00:00", "Z") if dt else None


def test_every_corpus_jumplist_matches_truth(corpus, truth):
    files = sorted((corpus / "jumplists").glob("*/*Destinations-ms"))
    assert len(files) == 27
    empty_hosts = from_idlist = 0
    for path in files:
        ref = truth[str(path.relative_to(corpus))]
        recs, _issues = _parse(path)
        assert len(recs) == ref["entry_count"], path
        assert all(r.app_id == ref["app_id"] and r.user == "tony" for r in recs)
        for want in ref["first_entries"]:
            if "entry_number" in want:
                (r,) = [r for r in recs if r.entry_number == want["entry_number"]]
                assert (r.path, _iso(r.last_used), r.access_count) == (
                    want["path"], want["last_modified"], want["access_count"]), path
                if want["lnk_target"] is not None:
                    assert r.target == want["lnk_target"], path
                elif r.target is not None:
                    from_idlist += 1
                assert r.pin_position == (None if want["pin_status"] == -1 else want["pin_status"])
                assert r.pinned is (want["pin_status"] != -1)
                assert r.hostname == (want["hostname"] or None)
                empty_hosts += not want["hostname"]
                assert r.destlist_version == ref["destlist"]["version"]
            else:
                (r,) = [r for r in recs if r.source.locator == f"link at offset {want['offset']}"]
                assert (r.target, r.arguments) == (want["lnk_target"], want.get("arguments")), path
    assert empty_hosts >= 1 and from_idlist >= 1


def test_windows7_destlist_and_app_names(corpus):
    recs, issues = _parse(corpus / "jumplists/plaso/1b4dd67f29cb1962.automaticDestinations-ms")
    assert not issues and len(recs) == 7
    assert {r.app_name for r in recs} == {"Windows Explorer (pinned and recent, Windows 7)"}
    (docs,) = [r for r in recs if r.entry_number == 1]
    assert docs.access_count == 5.0 and docs.destlist_version == 1 and docs.kind == "automatic"
    assert docs.source.locator == "DestList entry 1 / stream 1"
    assert [d for _, d in docs.activity_times()] == ["JumpList item last used (DestList)"]
    unknown, _ = _parse(corpus / "jumplists/artemis/3d2110c4a0cb6d15.automaticDestinations-ms")
    assert unknown and all(r.app_name is None for r in unknown)


def test_stub_custom_destinations_give_an_issue(corpus):
    recs, issues = _parse(corpus / "jumplists/plaso/c98dce577f884ef8.customDestinations-ms")
    assert recs == [] and issues and "12 bytes" in issues[0].message


@pytest.mark.parametrize("cut", [0, 100, 1536, 4096, -512])
def test_truncated_automatic_list(corpus, tmp_path, cut):
    data = (corpus / "jumplists/artemis/3d2110c4a0cb6d15.automaticDestinations-ms").read_bytes()[:cut]
    p = tmp_path / "3d2110c4a0cb6d15.automaticDestinations-ms"
    p.write_bytes(data)
    recs, issues = _parse(p)
    assert recs or issues  # never raises; says what it lost


def test_garbled_destlist_is_bounded():
    header = struct.pack("<IIIfIIQ", 4, 0xFFFFFFFF, 0, 0.0, 1, 0, 1)
    entry = bytearray(130)
    struct.pack_into("<H", entry, 128, MAX_PATH_CHARS + 5)
    version, entries, problems = parse_destlist(header + bytes(entry))
    assert version == 4 and entries == [] and any("runs past" in p for p in problems)
    assert any("declares" in p for p in problems)
    assert parse_destlist(b"\x07" + bytes(40))[2] == ["unknown DestList version 7"]
    assert parse_destlist(b"")[1:] == ([], [])


def test_missing_link_stream_is_an_issue_and_entry_kept(corpus, tmp_path):
    """Rename one LNK stream inside a copy (same length name, so the OLE file stays valid)."""
    src = corpus / "jumplists/plaso/1b4dd67f29cb1962.automaticDestinations-ms"
    data = bytearray(src.read_bytes())
    ole = olefile.OleFileIO(bytes(data))
    assert ole.exists("7")
    pos = data.find("7".encode("utf-16-le") + b"\x00\x00")
    while pos >= 0 and data[pos + 64:pos + 66] != b"\x04\x00":  # the directory entry whose name is '7'
        pos = data.find("7".encode("utf-16-le") + b"\x00\x00", pos + 1)
    assert pos >= 0
    data[pos:pos + 2] = "z".encode("utf-16-le")
    p = tmp_path / src.name
    p.write_bytes(bytes(data))
    recs, issues = _parse(p)
    assert len(recs) == 7
    (seven,) = [r for r in recs if r.entry_number == 7]
    assert seven.target is None and seven.path == "C:\\Users\\bperry\\Downloads"
    assert any(i.message == "link stream 7: missing" for i in issues)
