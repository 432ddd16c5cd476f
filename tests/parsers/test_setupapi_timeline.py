"""setupapi.dev.log and Windows Timeline (ActivitiesCache.db) parsers against the corpus and truth.json.

Reference: truth.json's setupapi facts (section count, first/last section start) come from an
independent line reader; its Timeline facts from sqlite3 on a temporary copy with and without the
-wal file. Deliberate difference: truth.json writes setupapi times with '/' date separators, as the
log does; the parser writes ISO-style '-' (still zone-less local time) — the assertions convert."""

from __future__ import annotations

import shutil
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from _corpus import need

from triage.model import Issue
from triage.parsers.base import input_from_file
from triage.parsers.setupapi import SetupApiParser, SetupApiSection
from triage.parsers.windows_timeline import TimelineActivity, WindowsTimelineParser, pick_app

SETUPAPI = ("setupapi/museum-win10-rathbunvm/setupapi.dev.log", "setupapi/museum-win11-rathbunvm/setupapi.dev.log")
TL_REL = "Users/TestUser/AppData/Local/ConnectedDevicesPlatform/L.TestUser/ActivitiesCache.db"



def _setupapi(path: Path) -> list:
    return list(SetupApiParser().parse(input_from_file(path, "Windows/INF/setupapi.dev.log")))


@pytest.mark.parametrize("rel", SETUPAPI)
def test_setupapi_sections_match_truth(corpus, truth, rel):
    recs = _setupapi(need(corpus / rel))
    assert not [r for r in recs if isinstance(r, Issue)]
    t = truth[rel]
    assert len(recs) == t["section_count"]
    assert recs[0].started_local == t["first_section_start"].replace("/", "-")
    assert recs[-1].started_local == t["last_section_start"].replace("/", "-")
    assert [f"[{r.operation} - {r.target}]" for r in recs[:3]] == t["first_sections"]
    assert all(r.exit_status for r in recs) and not any(r.usb_storage for r in recs)
    assert all(r.times() == [] for r in recs)  # local times stay out of the UTC timeline


def test_setupapi_usb_storage_and_cut_log(corpus, tmp_path):
    src = need(corpus / SETUPAPI[0]).read_text("utf-8")
    usb = (">>>  [Device Install (Hardware initiated) - USBSTOR\\Disk&Ven_SanDisk&Prod_Cruzer&Rev_1.00\\4C530001&0]\r\n"
           ">>>  Section start 2022/02/07 09:15:02.118\r\n     ump: Creating Install Process: DrvInst.exe\r\n")
    p = tmp_path / "setupapi.dev.log"
    p.write_text(src + usb, "utf-8")  # the log ends inside the USB section (copied mid-write)
    recs = _setupapi(p)
    secs = [r for r in recs if isinstance(r, SetupApiSection)]
    assert len(secs) == 26
    last = secs[-1]
    assert last.usb_storage and last.device_install and last.exit_status is None
    assert last.target == "USBSTOR\\Disk&Ven_SanDisk&Prod_Cruzer&Rev_1.00\\4C530001&0"
    assert last.started_local == "2022-02-07 09:15:02.118" and last.source.locator == f"line {len(src.splitlines()) + 1}"
    (issue,) = [r for r in recs if isinstance(r, Issue)]
    assert "no exit status" in issue.message


def _timeline(db: Path) -> list:
    comps = tuple(c for c in (db.with_name(db.name + "-wal"),) if c.exists())
    return list(WindowsTimelineParser().parse(input_from_file(db, TL_REL, companions=comps)))


@pytest.mark.parametrize("name,view", [("museum-win10-aptsimulatorvm", "without_wal"),
                                       ("museum-win10-rathbunvm", "with_wal")])
def test_timeline_matches_truth(corpus, truth, tmp_path, name, view):
    src = need(corpus / "timeline" / name)
    for f in src.iterdir():  # materialize() hands parsers a private copy; do the same here
        shutil.copyfile(f, tmp_path / f.name)
    recs = _timeline(tmp_path / "ActivitiesCache.db")
    assert not [r for r in recs if isinstance(r, Issue)]
    t = truth[f"timeline/{name}/ActivitiesCache.db"][view]
    assert len(recs) == t["tables"]["Activity"]
    assert Counter(str(r.activity_type_id) for r in recs) == Counter(t["activity_types"])
    starts = sorted(r.start for r in recs)
    lo, hi = (datetime.fromisoformat(x.replace("Z", "+00:00")) for x in t["activity_start_time_range"])
    assert (starts[0], starts[-1]) == (lo, hi)
    assert all(r.user == "TestUser" for r in recs)


def test_timeline_entries_rathbun(corpus, tmp_path):
    for f in need(corpus / "timeline" / "museum-win10-rathbunvm").iterdir():
        shutil.copyfile(f, tmp_path / f.name)
    recs = [r for r in _timeline(tmp_path / "ActivitiesCache.db") if isinstance(r, TimelineActivity)]
    notepad = [r for r in recs if r.content and "win10.txt" in r.content]
    assert notepad and notepad[0].app == "C:\\Windows\\System32\\notepad.exe"
    assert notepad[0].display_text == "win10.txt" and notepad[0].activity_type == "open"
    assert notepad[0].execution() == ("notepad.exe", "C:\\Windows\\System32\\notepad.exe", None, (notepad[0].start,))
    focus = [r for r in recs if r.activity_type == "in_use" and r.app and r.app.endswith("powershell.exe")]
    assert focus and focus[0].active_seconds == 203
    assert focus[0].start == datetime(2022, 3, 5, 13, 19, 59, tzinfo=UTC)
    assert focus[0].end == datetime(2022, 3, 5, 13, 23, 32, tzinfo=UTC)


def test_timeline_bad_inputs(tmp_path):
    assert pick_app('[{"application":"{6D809377-6AF0-444B-8957-A3773F02200E}\\\\x\\\\a.exe","platform":"windows_win32"}]') \
        == ("C:\\Program Files\\x\\a.exe", "windows_win32")
    assert pick_app("not json") == ("not json", None) and pick_app("[" * 100_000)[1] is None
    junk = tmp_path / "ActivitiesCache.db"
    junk.write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)
    (issue,) = _timeline(junk)
    assert isinstance(issue, Issue) and issue.severity == "error"
    import sqlite3
    other = tmp_path / "x" / "ActivitiesCache.db"
    other.parent.mkdir()
    with sqlite3.connect(other) as c:
        c.execute("CREATE TABLE Activity (Id BLOB, AppId TEXT, StartTime INTEGER, Payload BLOB)")
        c.execute("INSERT INTO Activity VALUES (x'01', 'garbage', 'not a time', x'ff00')")
        c.execute("INSERT INTO Activity VALUES (x'02', NULL, 99999999999999, '{\"displayText\": 5}')")
    recs = {r.activity_id: r for r in _timeline(other)}
    assert [r.start for r in recs.values()] == [None, None]  # text and an out-of-range number: no time
    assert recs["01"].app == "garbage" and recs["02"].display_text is None
