"""ShimCache, BAM and UserAssist against regipy's plugins (the reference), entry for entry, on the corpus
hives and on the raw AppCompatCache values of ../shared/corpus/shimcache; hostile values; and the way
the records reach summary.json, the timeline and report.html.

Deliberate differences from regipy (each one asserted below, so a change on either side shows):
- times: regipy converts FILETIMEs through a float (it can round up by one microsecond); we truncate the
  100 ns ticks exactly. Compared with a 1 us tolerance. A zero FILETIME is 1601-01-01 in regipy, None here.
- ShimCache on Windows 10/11: regipy drops entries whose FILETIME is zero (packaged apps); we keep them
  with last_modified None. regipy cannot decode the pre-Creators Windows 10 layout when zero padding
  follows the last entry (Win10.bin: "Invalid version magic tag found: 0"); we stop at the padding.
- ShimCache control sets: regipy repeats a control set whose value is byte-identical to another; we read
  it once and say so in an info Issue.
- BAM: regipy reads bam only; we also read dam (moderator 'dam').
- UserAssist: regipy visits a fixed GUID list in which four GUIDs appear twice (their entries come out
  twice); we visit every GUID subkey once. XP run counts: regipy subtracts 5 even below 5 (negative
  counts); we keep such a stored value as is.
"""

from __future__ import annotations

import codecs
import json
import re
import struct
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from regipy.plugins.ntuser.user_assist import GUID_TO_PATH_MAPPINGS, GUIDS, UserAssistPlugin
from regipy.plugins.system.bam import BAMPlugin
from regipy.plugins.system.external.ShimCacheParser import get_shimcache_entries
from regipy.plugins.system.shimcache import ShimCachePlugin
from regipy.registry import RegistryHive

from triage.analyze.state import AnalysisData
from triage.analyze.summary import build_summary, validate
from triage.analyze.timeline import rows
from triage.model import Issue
from triage.parsers.base import input_from_file
from triage.parsers.registry.bam import BamEntry
from triage.parsers.registry.parser import RegistryParser
from triage.parsers.registry.shimcache import ShimCacheEntry, decode_appcompatcache
from triage.parsers.registry.userassist import UserAssistEntry
from triage.report.html import render

CORPUS = (Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus").resolve()
RAW = sorted((CORPUS / "shimcache" / "ez-appcompatcache").glob("*.bin"))
SYSTEM_HIVES = ["registry/win10-dirty-system/SYSTEM", "registry/win7-wks-win732bita/SYSTEM",
                "registry/corrupted/corrupted_system_hive"]
NTUSER_HIVES = sorted(str(p.relative_to(CORPUS)) for p in (CORPUS / "registry").glob("*/NTUSER*")
                      if p.is_file() and ".LOG" not in p.name.upper() and "corrupted" not in p.parts)
US = 1e-6 + 1e-9  # one microsecond: regipy's float FILETIME conversion may round up


def _parse(rel: str, *, replay: bool = False) -> list:
    path = CORPUS / rel
    logs = tuple(sorted(p for p in path.parent.iterdir() if p.name.lower().startswith(path.name.lower() + ".log")))
    item = input_from_file(path, rel, companions=logs)
    item.options = {"replay_logs": replay}
    return list(RegistryParser().parse(item))


def _of(records, cls):
    return [r for r in records if isinstance(r, cls)]


def _close(a: datetime | None, b: datetime | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs((a - b).total_seconds()) <= US


def _ref_time(t: datetime | None) -> datetime | None:
    """regipy's zero FILETIME (1601-01-01) is 'no time' here."""
    return None if t is None or t.year == 1601 else t.astimezone(UTC)


# --- ShimCache ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", [p for p in RAW if p.name != "Win10.bin"], ids=lambda p: p.name)
def test_raw_shimcache_matches_regipy_entry_for_entry(path):
    data = path.read_bytes()
    ours = decode_appcompatcache(data)
    ref = list(get_shimcache_entries(data))
    assert ours.problems == []
    kept = [e for e in ours.entries if e.last_modified is not None]  # regipy drops zero-time Win10 entries
    assert len(kept) == len(ref) > 300
    for mine, theirs in zip(kept, ref, strict=True):
        assert mine.path == theirs["path"]
        assert _close(mine.last_modified, theirs["last_mod_date"]), (mine, theirs)
        if "exec_flag" in theirs:
            assert mine.executed is (theirs["exec_flag"] == "True")
        else:
            assert mine.executed is None
    assert [e.position for e in ours.entries] == list(range(len(ours.entries)))  # insertion order kept


def test_raw_shimcache_formats_and_executed_flags(truth):
    by_name = {p.name: decode_appcompatcache(p.read_bytes()) for p in RAW}
    assert {n: d.format for n, d in by_name.items()} == {
        "Win10.bin": "win10", "Win10Creators.bin": "win10", "Win81.bin": "win8.1", "win7x64.bin": "win7"}
    for name, decoded in by_name.items():
        facts = truth[f"shimcache/ez-appcompatcache/{name}"]
        if "first_paths" in facts:
            assert [e.path for e in decoded.entries if e.last_modified][:5] == facts["first_paths"]
    # the flag exists where the format has it, and both values occur
    assert {e.executed for e in by_name["win7x64.bin"].entries} == {True, False}
    assert {e.executed for e in by_name["Win81.bin"].entries} == {True, False}
    assert {e.executed for e in by_name["Win10Creators.bin"].entries} == {None}


def test_win10_before_creators_is_read_where_regipy_fails(truth):
    """Deliberate difference: Win10.bin ends in zero padding; regipy raises, we stop at the padding."""
    path = CORPUS / "shimcache/ez-appcompatcache/Win10.bin"
    data = path.read_bytes()
    assert "Invalid version magic tag" in truth["shimcache/ez-appcompatcache/Win10.bin"]["reference_parser_error"]
    with pytest.raises(Exception, match="Invalid version magic tag"):
        list(get_shimcache_entries(data))
    ours = decode_appcompatcache(data)
    assert ours.problems == []
    # the header's count field at 0x24 of this layout says 350; every entry is framed by '10ts'
    assert len(ours.entries) == struct.unpack_from("<I", data, 0x24)[0] == 350
    assert data.count(b"10ts") >= 350
    # files (drive paths, with a time) or packaged apps (tab-separated package identity, zero time)
    assert all(re.match(r"^(\\\\\?\\)?[A-Za-z]:\\", e.path) and e.last_modified or "\t" in e.path for e in ours.entries)
    assert ours.entries[0].path == "C:\\WINDOWS\\System32\\vds.exe"


def _regipy_shimcache_per_control_set(rel: str) -> dict[str, list[dict]]:
    hive = RegistryHive(str(CORPUS / rel))
    out = {}
    for cs in ("ControlSet001", "ControlSet002"):
        try:
            key = hive.get_key(f"\\{cs}\\Control\\Session Manager\\AppCompatCache")
        except Exception:
            continue
        value = key.get_value("AppCompatCache")
        if value:
            out[cs] = list(get_shimcache_entries(value))
    return out


@pytest.mark.parametrize("rel", SYSTEM_HIVES[:2])
def test_system_hive_shimcache_matches_regipy_plugin(rel):
    ours = _of(_parse(rel), ShimCacheEntry)
    plugin = ShimCachePlugin(RegistryHive(str(CORPUS / rel)), as_json=False)
    plugin.run()
    per_cs = _regipy_shimcache_per_control_set(rel)
    assert sum(len(v) for v in per_cs.values()) == len(plugin.entries) > 250  # the plugin is this decoder
    issues = _of(_parse(rel), Issue)
    for cs, ref in per_cs.items():
        mine = [e for e in ours if e.control_set == cs and e.last_modified is not None]
        if not mine:  # read once only: identical to another control set, and said so
            assert any(f"{cs} AppCompatCache is identical" in i.message for i in issues)
            mine = [e for e in ours if e.last_modified is not None]
        assert len(mine) == len(ref)
        for a, b in zip(mine, ref, strict=True):
            assert a.path == b["path"] and _close(a.last_modified, b["last_mod_date"])
            assert a.executed is ((b["exec_flag"] == "True") if "exec_flag" in b else None)
            assert a.source.locator.endswith(f"AppCompatCache entry {a.position}")


def test_damaged_system_hive_without_appcompatcache_yields_no_entries():
    recs = _parse("registry/corrupted/corrupted_system_hive")
    assert _of(recs, ShimCacheEntry) == []  # regipy: "No subkey AppCompatCache" (truth: none there)


@pytest.mark.parametrize("path", RAW, ids=lambda p: p.name)
def test_cut_or_garbled_values_never_raise_and_keep_a_prefix(path):
    data = path.read_bytes()
    full = decode_appcompatcache(data).entries
    for cut in (17, 0x81, 0x200, len(data) // 3, len(data) - 7):
        part = decode_appcompatcache(data[:cut])
        assert part.problems or not data[cut:].strip(b"\x00"), cut  # a cut says so, unless only padding went
        assert len(part.entries) <= len(full)
        for mine, whole in zip(part.entries, full, strict=False):
            # Windows 7 paths live at the end of the value, so a cut loses them (path '' and a problem
            # naming the entry); everything that was read is what the whole value holds
            assert mine.last_modified == whole.last_modified and mine.path in (whole.path, "")
    if data[:4] == b"\xee\x0f\xdc\xba":  # Windows 7: a hostile entry count must not loop for long
        hostile = bytearray(data)
        struct.pack_into("<I", hostile, 4, 0xFFFFFFFF)
        out = decode_appcompatcache(bytes(hostile))
        assert out.format == "win7" and len(out.entries) == len(full) and out.problems
    assert decode_appcompatcache(b"").problems and decode_appcompatcache(b"\x00" * 200).problems


def test_win7_entry_with_path_outside_the_value_is_reported():
    data = bytearray((CORPUS / "shimcache/ez-appcompatcache/win7x64.bin").read_bytes())
    struct.pack_into("<Q", data, 0x80 + 8, len(data) + 100)  # first entry's path offset points past the end
    out = decode_appcompatcache(bytes(data))
    assert out.entries[0].path == "" and any("entry 0: path outside" in p for p in out.problems)
    assert len(out.entries) == 304


# --- BAM --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("rel", SYSTEM_HIVES)
def test_bam_matches_regipy_plugin(rel):
    ours = _of(_parse(rel), BamEntry)
    plugin = BAMPlugin(RegistryHive(str(CORPUS / rel)), as_json=False)
    plugin.run()
    ref = Counter((x["sid"], x["executable"], _ref_time(x["timestamp"])) for x in plugin.entries)
    mine = Counter((b.sid, b.executable, b.last_run) for b in ours if b.moderator == "bam")
    assert sum(mine.values()) == sum(ref.values())
    # times within 1 us: match each reference entry to ours
    left = list(mine.elements())
    for sid, exe, t in ref.elements():
        hit = next(i for i, (s, x, u) in enumerate(left) if s == sid and x == exe and _close(u, t))
        left.pop(hit)
    if "win10" in rel:
        assert len(ours) >= 28 and all(b.sid.startswith("S-1-5-") for b in ours)
        assert all(b.source.locator.startswith("HKLM\\SYSTEM\\ControlSet00") for b in ours)


# --- UserAssist -------------------------------------------------------------------------------------

def _value_data(rel: str, u: UserAssistEntry) -> bytes:
    hive = RegistryHive(str(CORPUS / rel))
    key = hive.get_key(f"\\Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\UserAssist\\{u.guid}\\Count")
    raw_name = u.source.locator.split("\\Count\\", 1)[1]
    return next(v.value for v in key.iter_values(trim_values=False) if v.name == raw_name)


def _regipy_name(name: str) -> str:
    for guid, folder in GUID_TO_PATH_MAPPINGS.items():
        if guid in name:
            return name.replace(guid, folder)
    return name


@pytest.mark.parametrize("rel", NTUSER_HIVES)
def test_userassist_matches_regipy_plugin(rel):
    ours = _of(_parse(rel), UserAssistEntry)
    try:
        plugin = UserAssistPlugin(RegistryHive(str(CORPUS / rel)), as_json=False)
        plugin.run()
    except Exception as exc:  # the reference cannot read a cut hive: ours must still not raise
        assert "truncated" in rel, exc
        return
    ref = Counter((x["name"], _ref_time(x["timestamp"]), x["run_counter"], x.get("focus_count"),
                   x.get("total_focus_time_ms")) for x in plugin.entries)
    expected: Counter = Counter()
    for u in ours:
        times = GUIDS.count(u.guid.upper())  # regipy visits its fixed list, some GUIDs twice
        runs = u.run_count
        if u.format == "xp" and runs is None:  # regipy: stored count - 5, negative; here None
            runs = struct.unpack_from("<I", _value_data(rel, u), 4)[0] - 5
        expected[(_regipy_name(u.name), u.last_run, runs, u.focus_count, u.focus_time_ms)] += times
    # exact times: compare with 1 us tolerance by rounding both sides to the second's microsecond
    def norm(c: Counter) -> Counter:
        return Counter({(k[0], k[1].replace(microsecond=0) if k[1] else None, *k[2:]): v for k, v in c.items()})
    assert norm(expected) == norm(+ref)
    assert sum(ref.values()) == sum(expected.values())


def test_userassist_decodes_rot13_focus_and_known_folders():
    ours = _of(_parse("registry/notatin-patrick/NTUSER.DAT"), UserAssistEntry)
    assert len(ours) >= 80 and all(u.user == "Patrick" for u in ours)
    snip = [u for u in ours if u.name.endswith("Snipping Tool.lnk")]
    assert snip and snip[0].path.startswith("%ProgramData%\\Microsoft\\Windows\\Start Menu\\Programs")
    assert any(u.focus_time_ms for u in ours) and any(u.run_count for u in ours)
    raw_name = snip[0].source.locator.split("\\Count\\", 1)[1]
    assert codecs.decode(raw_name, "rot13") == snip[0].name  # provenance holds the value name as stored
    xp = _of(_parse("registry/plaso-xp-joe/NTUSER.DAT"), UserAssistEntry)
    assert xp and {u.format for u in xp} == {"xp"} and all(u.focus_count is None for u in xp)


# --- summary.json, timeline, report -----------------------------------------------------------------

@pytest.fixture(scope="module")
def summary() -> dict:
    recs = _parse(SYSTEM_HIVES[0]) + _parse("registry/notatin-patrick/NTUSER.DAT")
    data = AnalysisData(bundle_path=Path("x.zip"), records=[r for r in recs if not isinstance(r, Issue)],
                        hostname="H", verified=True)
    s = build_summary(data)
    validate(s)
    return s


def test_summary_artifacts_sections(summary):
    arts = summary["artifacts"]
    assert set(arts) >= {"shimcache", "bam", "userassist"}
    shim = arts["shimcache"]
    assert shim["total"] == shim["listed"] == len(shim["entries"]) > 250
    assert [x["position"] for x in shim["entries"]][:5] == [0, 1, 2, 3, 4]
    assert shim["entries"][0]["bundle_path"].endswith("SYSTEM") and "AppCompatCache" in shim["entries"][0]["locator"]
    assert all(x["last_modified"] is None or x["last_modified"].endswith("Z") for x in shim["entries"])
    assert {c["field"] for c in arts["bam"]["columns"]} >= {"last_run", "executable", "sid"}
    json.dumps(summary)


def test_summary_executions_take_bam_userassist_and_flagged_shimcache(summary):
    by_source: dict = {}
    for x in summary["executions"]:
        by_source.setdefault(x["source"], []).append(x)
    assert len(by_source["bam"]) == summary["artifacts"]["bam"]["total"]
    assert all(x["last_runs"] and x["path"].endswith(x["executable"]) for x in by_source["bam"])
    assert by_source["userassist"] and not any(x["executable"].startswith("UEME_") for x in by_source["userassist"])
    assert "shimcache" not in by_source  # Windows 10 entries have no executed flag: presence only
    win7 = [r for r in _parse(SYSTEM_HIVES[1]) if isinstance(r, ShimCacheEntry)]
    flagged = [r.execution() for r in win7 if r.executed]
    assert flagged and all(e[3] == () for e in flagged)  # never a run time
    assert all(r.execution() is None for r in win7 if not r.executed)


def test_activity_chart_leaves_out_file_times(summary):
    """ShimCache times date files (some from 2009 on a 2018 machine), not activity on the host: the chart's
    span comes from BAM runs, UserAssist launches, key writes, not from them."""
    shim_times = sorted(x["last_modified"] for x in summary["artifacts"]["shimcache"]["entries"] if x["last_modified"])
    bam_times = sorted(x["last_run"] for x in summary["artifacts"]["bam"]["entries"] if x["last_run"])
    assert shim_times[0] < summary["activity"]["first"] <= bam_times[0]


def test_summary_schema_rejects_a_bad_artifact_entry(summary):
    import copy

    import jsonschema

    broken = copy.deepcopy(summary)
    broken["artifacts"]["shimcache"]["entries"][0]["last_modified"] = "2020-01-01 00:00:00"
    with pytest.raises(jsonschema.ValidationError):
        validate(broken)
    broken = copy.deepcopy(summary)
    broken["artifacts"]["bam"]["entries"][0].pop("sid")
    with pytest.raises(jsonschema.ValidationError):
        validate(broken)


def test_timeline_rows_say_what_each_time_means():
    recs = [r for r in _parse(SYSTEM_HIVES[0]) + _parse("registry/notatin-patrick/NTUSER.DAT")
            if isinstance(r, ShimCacheEntry | BamEntry | UserAssistEntry)]
    out = list(rows(recs, "H"))
    descs = Counter(r["timestamp_desc"] for r in out)
    assert descs["ShimCache file last modified"] > 250 and descs["BAM last run"] >= 28
    assert descs["UserAssist last run"] > 10
    assert {r["source"] for r in out} == {"shimcache", "bam", "userassist"}
    assert all(r["bundle_path"] and r["locator"] for r in out)


def test_report_has_a_filterable_table_per_artifact(summary):
    page = render(summary)
    for name in ("shimcache", "bam", "userassist"):
        assert f'id="artifact-{name}"' in page
        assert f'data-table="t-art-{name}"' in page and f'<table id="t-art-{name}"' in page
    assert "ShimCache (AppCompatCache)" in page and "File modified" in page


def test_report_escapes_hostile_artifact_values(summary):
    import copy

    s = copy.deepcopy(summary)
    s["artifacts"]["bam"]["entries"][0]["executable"] = "<script>alert(1)</script>\u202egpj.exe"
    s["artifacts"]["<img src=x>"] = {"title": "<b>x</b>", "description": "", "columns": [{"field": "a", "label": "<i>"}],
                                     "total": 1, "listed": 1, "entries": [{"a": "<svg onload=1>"}]}
    page = render(s)
    assert "<script>alert(1)" not in page and "<svg onload" not in page and "<img src=x>" not in page
    assert "[U+202E]" in page


def _win10_entry(path: str, filetime: int, data: bytes) -> bytes:
    p = path.encode("utf-16-le")
    body = struct.pack("<H", len(p)) + p + struct.pack("<QI", filetime, len(data)) + data
    return b"10ts" + struct.pack("<II", 0, len(body)) + body


def test_win10_value_with_an_entry_at_0x80_is_not_taken_for_windows_81():
    """The header size decides the format: a Windows 10 entry that starts at offset 0x80 (where Windows
    8.1 puts its first tag) must not make the value look like a Windows 8.1 cache."""
    first = _win10_entry("C:\\a.exe", 131000000000000000, b"\x00" * 34)
    head = struct.pack("<I", 0x34) + b"\x00" * 0x30
    assert len(head) + len(first) == 0x80
    data = head + first + _win10_entry("C:\\b.exe", 132000000000000000, b"")
    out = decode_appcompatcache(data)
    assert out.format == "win10" and out.problems == []
    assert [e.path for e in out.entries] == ["C:\\a.exe", "C:\\b.exe"]
    assert out.entries[1].last_modified.year == 2019
