"""End to end: make-host-tree host -> real `triage collect` -> analyze_bundle -> outputs."""

from __future__ import annotations

import csv
import json
import os
import tempfile
import zipfile
from datetime import datetime
from pathlib import Path

import pytest
from _analyze_host import PLANT, analyzed_once, collected_bundle, flip_byte

from triage.analyze.host import analyze_bundle, safe_basename, safe_hostname
from triage.analyze.summary import validate

HOSTILE_NAME = "<script>alert(1)</script>"
HOSTILE_PLANT = f'0:{HOSTILE_NAME}=C:\\Users\\Public\\"><img src=x onerror=alert(2)>\\naïve ü.exe'


@pytest.fixture(scope="session")
def bundle(make_hosts, tmp_path_factory) -> Path:
    return collected_bundle(make_hosts, tmp_path_factory.mktemp("bundles"), plant=(PLANT,))


@pytest.fixture(scope="session")
def analyzed(bundle, tmp_path_factory):
    return analyzed_once(bundle, tmp_path_factory.mktemp("analysis"), strict=True)


def test_planted_run_key_is_a_finding(analyzed):
    s = analyzed.summary
    hits = [f for f in s["findings"] if f["rule"] == "autorun_user_writable" and "Updater" in f["title"]]
    assert len(hits) == 1
    f = hits[0]
    assert f["severity"] == "high"
    assert "C:\\Users\\Public\\u.exe" in f["reason"]
    ev = f["evidence"][0]
    assert ev["bundle_path"].lower().endswith("/ntuser.dat") and "Run" in ev["locator"]
    run = [a for a in s["autoruns"] if a["name"] == "Updater"]
    assert run and "user_writable" in run[0]["flags"]


def test_outputs_and_summary(analyzed, bundle):
    out = analyzed.out_dir
    for name in ("summary.json", "timeline.jsonl", "timeline.csv", "report.html"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    s = json.loads((out / "summary.json").read_text("utf-8"))
    validate(s)
    assert s["bundle"]["verified"] is True and s["bundle"]["verify_problems"] == []
    assert s["bundle"]["sha256"] == analyzed.summary["bundle"]["sha256"]
    assert out.parent.name == "hosts"
    assert out.name == f"{safe_hostname(s['host']['hostname'])}_{s['bundle']['sha256'][:12]}"
    # the host name comes from the registry (SYSTEM ComputerName), not the folder name
    assert s["host"]["hostname"] and s["host"]["hostname"] != "host-000"
    # parsers ran on what the collection held and coverage says so
    cov = {c["artifact"]: c for c in s["coverage"]}
    assert cov["WindowsEventLogs"]["parsed"] and cov["WindowsEventLogs"]["collected"] > 0
    assert s["stats"]["records"] > 100 and s["event_logs"] and s["executions"]
    assert analyzed.counts["findings"] == len(s["findings"])
    # YARA ran over the bundle (integration, not rule quality: that is tests/scan)
    assert s["stats"]["yara_enabled"] and not any("YARA scan failed" in i["message"] for i in s["issues"])


def test_off_network_flags_follow_the_windows(analyzed):
    """Every corpus network is Public (never domain, never VPN): the host is off-network from its
    first NetworkProfile event to the end of its logs, and each finding's flag agrees with that."""
    s = analyzed.summary
    wins = s["network"]["off_network_windows"]
    assert s["network"]["computed"] and wins and s["network"]["connectivity_events"] > 0

    def t(x):
        return datetime.fromisoformat(x.replace("Z", "+00:00")) if x else None

    log_end = max(t(x["last"]) for x in s["event_logs"] if x["last"])
    for f in s["findings"]:
        when = t(f["when"])
        if when is None:
            assert f["off_network"] is None
            continue
        inside = any(t(w["start"]) <= when and (w["end"] is None or when < t(w["end"])) for w in wins)
        open_after_logs = any(w["end"] is None and t(w["start"]) <= when for w in wins) and when > log_end
        expected = None if open_after_logs and not any(
            w["end"] and t(w["start"]) <= when < t(w["end"]) for w in wins) else inside
        assert f["off_network"] is expected, f
    assert any(f["off_network"] is True for f in s["findings"])


def test_timeline_sorted_utc(analyzed):
    out = analyzed.out_dir
    times = []
    with open(out / "timeline.jsonl", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            assert row["datetime"].endswith("Z") and row["timestamp_desc"] and row["bundle_path"]
            times.append(datetime.fromisoformat(row["datetime"].replace("Z", "+00:00")))
    assert len(times) == analyzed.counts["timeline_rows"] > 100
    assert times == sorted(times)
    with open(out / "timeline.csv", encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        assert header[:3] == ["datetime", "timestamp_desc", "message"]
        assert sum(1 for _ in reader) == len(times)


def test_tampered_bundle_refused_unless_forced(bundle, tmp_path):
    bad = flip_byte(bundle, tmp_path / bundle.name)
    (tmp_path / (bundle.name + ".sha256")).write_text((bundle.parent / (bundle.name + ".sha256")).read_text())
    refused = analyze_bundle(bad, tmp_path / "out1")
    assert refused.refused
    s = refused.summary
    validate(s)
    assert s["bundle"]["verified"] is False and s["bundle"]["refused"] is True
    assert s["bundle"]["verify_problems"]
    assert s["findings"] == [] and s["stats"]["records"] == 0
    assert any("refused" in i["message"] for i in s["issues"])
    assert (refused.out_dir / "report.html").is_file()

    forced = analyze_bundle(bad, tmp_path / "out2", force=True)
    s = forced.summary
    validate(s)
    assert not forced.refused
    assert s["bundle"]["verified"] is False and s["bundle"]["forced"] is True
    assert any(f["rule"] == "autorun_user_writable" and "Updater" in f["title"] for f in s["findings"])


def _hostile_copy(src: Path, dest: Path) -> Path:
    """Same bundle plus members whose names climb out ('../'), and manifest entries pointing at them
    (one of them a companion of a user hive, so it gets materialized next to it)."""
    with zipfile.ZipFile(src) as zin:
        manifest = [json.loads(x) for x in zin.read("meta/manifest.jsonl").decode().splitlines() if x.strip()]
        ntuser = next(m for m in manifest if m["bundle_path"] and m["bundle_path"].lower().endswith("/ntuser.dat")
                      and "/default/" not in m["bundle_path"].lower())
        evil = [
            ("files/C/Windows/Prefetch/../../../../../tmp/escape<b>.pf", "C:\\Windows\\Prefetch\\..\\..\\x.pf", None),
            ("files/C/Users/x/../../../../evil.LOG1", "C:\\Users\\x\\..\\..\\..\\..\\<script>.LOG1",
             ntuser["bundle_path"]),
            ("/abs/evil.pf", "..", None),
        ]
        with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zout:
            for info in zin.infolist():
                if info.filename == "meta/manifest.jsonl":
                    continue
                zout.writestr(info, zin.read(info.filename))
            for bp, path, comp in evil:
                zout.writestr(bp, b"<script>alert(3)</script>" * 40)
                manifest.append({**ntuser, "bundle_path": bp, "path": path, "artifact": "Hostile\u202e<i>",
                                 "role": "companion" if comp else "primary", "companion_of": comp,
                                 "sha256": None, "size": 1000})
            zout.writestr("meta/manifest.jsonl", "\n".join(json.dumps(m) for m in manifest) + "\n")
    return dest


def test_hostile_bundle(make_hosts, tmp_path_factory, tmp_path, monkeypatch):
    src = collected_bundle(make_hosts, tmp_path_factory.mktemp("hostile"), plant=(HOSTILE_PLANT,))
    (tmp_path / "in").mkdir()
    bad = _hostile_copy(src, tmp_path / "in" / src.name)
    out = tmp_path / "box" / "out"
    out.mkdir(parents=True)
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))  # temp copies land here, and must go
    res = analyze_bundle(bad, out, force=True)
    s = res.summary
    validate(s)
    # nothing written outside out_dir (the sandbox parent holds only out/), no temp copies left behind
    assert sorted(p.name for p in (tmp_path / "box").iterdir()) == ["out"]
    assert not list(tmp_path.rglob("escape*")) and not list(tmp_path.rglob("evil*"))
    assert not [n for n in os.listdir(private_tmp) if n.startswith("triage-mat-")]
    for p in out.rglob("*"):
        assert p.resolve().is_relative_to(out.resolve())
    # the hostile Run value is a finding and is escaped in the report
    assert any(HOSTILE_NAME in f["title"] for f in s["findings"] if f["rule"] == "autorun_user_writable")
    html_text = (res.out_dir / "report.html").read_text("utf-8")
    assert HOSTILE_NAME not in html_text and "<img src=x" not in html_text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html_text
    assert html_text.count("<script") == 2  # our data island and our script, nothing else
    # the hostile members were handled as data: issues, not crashes
    assert any("escape" in (i["bundle_path"] or "") for i in s["issues"])


def test_safe_names():
    assert safe_basename("../../etc/passwd") == "passwd"
    assert safe_basename("C:\\x\\..") == "file"
    assert safe_basename("a/<script>.LOG1") == "_script_.LOG1"
    assert safe_basename("NTUSER.DAT.LOG1") == "NTUSER.DAT.LOG1"
    assert safe_hostname("../../<b>evil</b>") == "b_evil__b"
    assert safe_hostname("") == "host"
    assert "/" not in safe_hostname("a/b\\c") and ".." not in safe_hostname("..")


def test_materialize_brings_companions_and_cleans_up(bundle, tmp_path, monkeypatch):
    """A hive with .LOG1/.LOG2 companions is materialized with them beside it under their original
    base names, read-only, in a private temp dir that cleanup removes; open() streams the same bytes."""
    from triage.analyze.materialize import Materializer
    from triage.bundle.reader import BundleReader

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with BundleReader(bundle) as reader:
        comps = {}
        for e in reader.entries:
            if e.companion_of:
                comps.setdefault(e.companion_of, []).append(e)
        primary_bp, companions = next((bp, c) for bp, c in comps.items() if bp.lower().endswith("ntuser.dat"))
        primary = next(e for e in reader.entries if e.bundle_path == primary_bp)
        mat = Materializer(reader, primary, companions)
        path = mat()
        assert path.parent.parent == tmp_path and path.name == primary.path.replace("\\", "/").split("/")[-1]
        names = sorted(p.name for p in path.parent.iterdir())
        assert names == sorted([path.name] + [c.path.replace("\\", "/").split("/")[-1] for c in companions])
        assert not os.access(path, os.W_OK) or os.geteuid() == 0
        assert (path.stat().st_mode & 0o222) == 0
        with mat.open() as a, reader.open(primary_bp) as b:
            assert a.read() == b.read()
        mat.cleanup()
        assert not path.parent.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("hostile", ["..\\..\\..\\..\\etc\\x", "C:\\a\\..", "/", "", "a/../../b<script>.LOG1",
                                     "C:\\Users\\x\\NTUSER.DAT\x00.LOG1", "\u202e\u202egnp.exe"])
def test_materialize_hostile_names_stay_inside(bundle, tmp_path, monkeypatch, hostile):
    from triage.analyze.materialize import Materializer
    from triage.bundle.manifest import ManifestEntry
    from triage.bundle.reader import BundleReader

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "t"))
    (tmp_path / "t").mkdir()
    with BundleReader(bundle) as reader:
        real = next(e for e in reader.entries if e.bundle_path and e.outcome == "collected")
        fake = ManifestEntry(path=hostile, volume="C", bundle_path=real.bundle_path, artifact="x", priority=0,
                             outcome="collected")
        comp = ManifestEntry(path=hostile + ".LOG1", volume="C", bundle_path=real.bundle_path, artifact="x",
                             priority=0, outcome="collected", role="companion", companion_of=real.bundle_path)
        mat = Materializer(reader, fake, [comp, comp])
        path = mat()
        made = list((tmp_path / "t").rglob("*"))
        assert all(p.resolve().is_relative_to((tmp_path / "t").resolve()) for p in made)
        assert len([p for p in made if p.is_file()]) == 3 and path.is_file()
        mat.cleanup()
        assert list((tmp_path / "t").iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t"]


def test_interrupted_bundle(bundle, tmp_path):
    """A bundle cut short (no central directory, no manifest) is refused; forced, it is analyzed
    from the journal and says so."""
    cut = tmp_path / bundle.name
    data = bundle.read_bytes()
    cut.write_bytes(data[: len(data) * 2 // 3])
    refused = analyze_bundle(cut, tmp_path / "a")
    assert refused.refused and refused.summary["bundle"]["incomplete"] is True
    forced = analyze_bundle(cut, tmp_path / "b", force=True)
    s = forced.summary
    validate(s)
    assert not forced.refused and s["stats"]["records"] > 0
    assert any("journal" in i["message"] for i in s["issues"])


def test_missing_bundle_is_an_issue_not_an_exception(tmp_path):
    res = analyze_bundle(tmp_path / "nope.zip", tmp_path / "out")
    assert res.refused and res.summary["bundle"]["verified"] is False
    validate(res.summary)
    assert (res.out_dir / "summary.json").is_file() and res.out_dir.is_relative_to(tmp_path / "out")


def test_per_file_caps_stop_a_runaway_parser(tmp_path):
    """A parser that never stops yielding loses its file (an Issue), not the host."""
    import itertools

    from triage.analyze.runner import AnalysisData, run_parser
    from triage.model import HostFact
    from triage.parsers.base import input_from_file

    class Endless:
        name = "endless"
        signatures = ()

        def parse(self, item):
            for i in itertools.count():
                yield HostFact(source=item.source(f"n{i}"), key="k", value=i)

    f = tmp_path / "x.bin"
    f.write_bytes(b"x")
    item = input_from_file(f)
    item.options["max_records_per_file"] = 1000
    data = AnalysisData(bundle_path=tmp_path / "b.zip")
    run_parser(Endless(), item, data, strict=True)
    assert len(data.records) == 1000 and data.records_per_parser["endless"] == 1000
    assert any("per-file cap" in i.message for i in data.issues)


def test_spilled_and_streamed_members_give_the_same_analysis(bundle, tmp_path, monkeypatch):
    """Big deflated members are inflated to private temp files (prefetched in a thread); the result
    must equal streaming every member from the zip, and no temp copy may outlive the analysis."""
    import triage.analyze.materialize as host_mod
    import triage.bundle.member_cache as cache_mod

    monkeypatch.setattr(cache_mod, "DEFAULT_BUDGET", 0)  # members verified into memory are never spilled
    (tmp_path / "t").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "t"))
    monkeypatch.setattr(host_mod, "SPILL_MIN_BYTES", 1 << 40)
    streamed = analyze_bundle(bundle, tmp_path / "a", yara=False, strict=True).summary
    monkeypatch.setattr(host_mod, "SPILL_MIN_BYTES", 1024)
    spilled = analyze_bundle(bundle, tmp_path / "b", yara=False, strict=True).summary
    assert list((tmp_path / "t").iterdir()) == []
    for key in ("records_by_type", "records_per_parser", "files_per_parser"):
        assert spilled["stats"][key] == streamed["stats"][key], key
    assert [f["title"] for f in spilled["findings"]] == [f["title"] for f in streamed["findings"]]


def _comparable(summary: dict) -> dict:
    """A summary without what legitimately differs between two runs (timings, output paths)."""
    s = json.loads(json.dumps(summary, default=str))
    for key in ("timings", "seconds_per_parser"):
        s.get("stats", {}).pop(key, None)
    s.pop("analysis", None)
    s.pop("generated", None)
    return s


@pytest.mark.parametrize("compression", ["deflate", "store"])
def test_event_logs_in_worker_windows_give_the_same_analysis(make_hosts, bundle, tmp_path, monkeypatch,
                                                             compression):
    """One bundle on several cores: event logs are cut into windows of chunks and parsed by worker
    processes (deflated logs from a private inflated copy, stored ones in place in the bundle). The
    summary must be the sequential one, and no temporary copy may outlive the analysis."""
    import contextlib
    import io

    from triage.cli import main

    if compression == "store":
        out = tmp_path / "stored"
        out.mkdir()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            assert main(["collect", "--target", str(make_hosts(plant=(PLANT,)) / "host-000"), "--output",
                         str(out), "--quiet", "--compression", "store"]) == 0
        bundle = next(out.glob("*.zip"))
        with zipfile.ZipFile(bundle) as zf:
            assert all(i.compress_type == zipfile.ZIP_STORED for i in zf.infolist() if i.filename.endswith(".evtx"))
    (tmp_path / "t").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "t"))
    seq = analyze_bundle(bundle, tmp_path / "a", yara=False, strict=True, options={"evtx_workers": 0})
    par = analyze_bundle(bundle, tmp_path / "b", yara=False, strict=True,
                         options={"evtx_workers": 2, "evtx_window_chunks": 2})
    # pymp-*: multiprocessing's own directory for the forkserver socket, kept for the process' life
    assert [p for p in (tmp_path / "t").iterdir() if not p.name.startswith("pymp-")] == []
    assert sum(x["records"] for x in seq.summary["event_logs"]) > 5_000
    assert _comparable(par.summary) == _comparable(seq.summary)
    for name in ("timeline.jsonl", "timeline.csv"):
        assert (par.out_dir / name).read_bytes() == (seq.out_dir / name).read_bytes(), name


@pytest.mark.parametrize("member", ["files/C/Windows/Prefetch/", "files/C/Windows/System32/winevt/Logs/"])
def test_tampered_bundle_refused_the_same_with_worker_windows(bundle, tmp_path, member):
    """With a worker pool the verification runs beside the parsing (and copies the event logs for
    the workers from the same inflate): a bundle that fails it must still be refused, with nothing
    parsed from it kept, exactly as when verification runs first; --force still analyzes it. The
    damage is put in a prefetch file (verified after the logs) and in an event log (whose private
    copy the workers are already parsing when the hash mismatch is found)."""
    bad = flip_byte(bundle, tmp_path / bundle.name, member)
    (tmp_path / (bundle.name + ".sha256")).write_text((bundle.parent / (bundle.name + ".sha256")).read_text())
    seq = analyze_bundle(bad, tmp_path / "seq", options={"evtx_workers": 0})
    par = analyze_bundle(bad, tmp_path / "par", options={"evtx_workers": 2, "evtx_window_chunks": 2})
    assert seq.refused and par.refused
    assert par.summary["stats"]["records"] == 0 and par.summary["findings"] == []
    assert _comparable(par.summary) == _comparable(seq.summary)
    forced = analyze_bundle(bad, tmp_path / "forced", force=True,
                            options={"evtx_workers": 2, "evtx_window_chunks": 2})
    assert not forced.refused and forced.summary["bundle"]["forced"] is True
    assert forced.summary["stats"]["records"] > 0


def test_worker_windows_with_yara_scan_the_logs_private_copies(bundle, tmp_path, monkeypatch):
    """YARA reads the event logs from the workers' private copies (no second inflate): the hits and
    the whole summary must be those of the sequential analysis, and every copy is deleted."""
    (tmp_path / "t").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "t"))
    import triage.scan.yara as yscan

    scanned_files: list[str] = []
    real = yscan._scan_member

    def spy(rules, data, cap, timeout, source, filepath=None, decode_prefetch=True):
        if filepath:
            scanned_files.append(source.bundle_path)
        return real(rules, data, cap, timeout, source, filepath, decode_prefetch)

    monkeypatch.setattr(yscan, "_scan_member", spy)
    seq = analyze_bundle(bundle, tmp_path / "a", strict=True, options={"evtx_workers": 0})
    assert scanned_files == []
    par = analyze_bundle(bundle, tmp_path / "b", strict=True, options={"evtx_workers": 2, "evtx_window_chunks": 2})
    assert scanned_files and all(p.lower().endswith(".evtx") for p in scanned_files)
    assert [p for p in (tmp_path / "t").iterdir() if not p.name.startswith("pymp-")] == []
    assert _comparable(par.summary) == _comparable(seq.summary)
