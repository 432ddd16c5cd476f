"""A whole host, collected with the real collector and analyzed: the registry artifacts reach summary.json
(schema-valid, with provenance), timeline.jsonl / timeline.csv and report.html, and agree with what the
parsers read from the same hives."""

from __future__ import annotations

import csv
import json
from collections import Counter

import pytest
from _analyze_host import PLANT, analyzed_once, collected_bundle

from triage.analyze.summary import validate


@pytest.fixture(scope="module")
def analyzed(make_hosts, tmp_path_factory):
    bundle = collected_bundle(make_hosts, tmp_path_factory.mktemp("bundles"), plant=(PLANT,))
    return analyzed_once(bundle, tmp_path_factory.mktemp("analysis"), strict=True)


@pytest.fixture(scope="module")
def summary(analyzed) -> dict:
    return json.loads(analyzed.summary_path.read_text("utf-8"))


def test_host_summary_has_registry_artifacts(summary):
    validate(summary)
    arts = summary["artifacts"]
    present = {name for name, sec in arts.items() if sec["total"]}
    # the make-host-tree host carries a Windows 10 or 7 SYSTEM hive and user hives from the corpus
    assert "shimcache" in present and "usb_devices" in present, present
    assert present & {"userassist", "recentdocs", "mountpoints2"}, present
    for name, sec in arts.items():
        assert sec["total"] >= sec["listed"] == len(sec["entries"])
        for x in sec["entries"]:
            assert x["bundle_path"].startswith("files/") and x["locator"], (name, x)
    shim = arts["shimcache"]["entries"]
    assert shim[0]["bundle_path"].lower().endswith("config/system")
    assert [x["position"] for x in shim if x["control_set"] == shim[0]["control_set"]][:3] == [0, 1, 2]


def test_host_timeline_carries_artifact_times(analyzed, summary):
    rows = [json.loads(line) for line in analyzed.timeline_path.read_text("utf-8").splitlines()]
    by_source = Counter(r["source"] for r in rows)
    dated = sum(1 for x in summary["artifacts"]["shimcache"]["entries"] if x["last_modified"])
    assert by_source["shimcache"] == dated > 0
    assert all(r["datetime"].endswith("Z") for r in rows if r["source"] in summary["artifacts"])
    with open(analyzed.timeline_path.with_suffix(".csv"), encoding="utf-8", newline="") as f:
        descs = {r["timestamp_desc"] for r in csv.DictReader(f)}
    assert "ShimCache file last modified" in descs


def test_host_report_shows_artifact_tables(analyzed, summary):
    page = analyzed.report_path.read_text("utf-8")
    for name, sec in summary["artifacts"].items():
        if sec["total"]:
            # a table of more than 5 rows has a filter box, of more than a page (25) the pager
            assert f'<table id="t-art-{name}"' in page
            assert sec["listed"] <= 5 or f'data-table="t-art-{name}"' in page
            assert (sec["listed"] > 25) == (f'<table id="t-art-{name}" data-paged>' in page)


def test_host_with_usrclass_shows_shellbags_muicache_and_user_com_servers(make_hosts, tmp_path_factory):
    """make-host-tree --extra-artifacts places corpus UsrClass.dat hives in the profiles: collected by the
    windows-triage profile (with their logs), they reach the summary as ShellBags, MUICache and HKCU COM
    servers (autoruns category com_hijack)."""
    bundle = collected_bundle(make_hosts, tmp_path_factory.mktemp("bundles-extra"), extra_artifacts=True)
    res = analyzed_once(bundle, tmp_path_factory.mktemp("analysis-extra"), strict=True)
    s = json.loads(res.summary_path.read_text("utf-8"))
    validate(s)
    arts = s["artifacts"]
    assert arts["shellbags"]["total"] > 0 and arts["muicache"]["total"] > 0
    assert any("usrclass" in x["bundle_path"].lower() for x in arts["shellbags"]["entries"])
    assert all(x["bundle_path"].lower().endswith(("usrclass.dat", "ntuser.dat")) for x in arts["shellbags"]["entries"])
    assert all(x["user"] for x in arts["shellbags"]["entries"])
    page = res.report_path.read_text("utf-8")
    assert '<table id="t-art-shellbags"' in page


def test_host_with_extra_artifacts_shows_defender_setupapi_timeline(make_hosts, tmp_path_factory):
    """The same --extra-artifacts host: the windows-triage profile collects its Defender MPLog,
    setupapi.dev.log and users' ActivitiesCache.db (with -wal); they reach summary.json (schema-valid),
    the timeline (UTC rows; setupapi's local times stay out), the report, executions and findings."""
    bundle = collected_bundle(make_hosts, tmp_path_factory.mktemp("bundles-extra"), extra_artifacts=True)
    res = analyzed_once(bundle, tmp_path_factory.mktemp("analysis-extra"), strict=True)
    s = json.loads(res.summary_path.read_text("utf-8"))
    validate(s)
    arts = s["artifacts"]
    assert arts["setupapi_devices"]["total"] in (25, 26)  # the Windows 10 or the Windows 11 log
    assert arts["defender_mplog"]["total"] > 0 and arts["timeline_activities"]["total"] > 0
    tl_users = {x["user"] for x in arts["timeline_activities"]["entries"]}
    assert tl_users and None not in tl_users
    rows = [json.loads(line) for line in res.timeline_path.read_text("utf-8").splitlines()]
    by_source = Counter(r["source"] for r in rows)
    assert by_source["defender_mplog"] == arts["defender_mplog"]["total"]
    assert by_source["timeline_activities"] > 0 and by_source["setupapi_devices"] == 0
    detections = [x for x in arts["defender_mplog"]["entries"] if x["kind"] == "detection"]
    found = {f["title"] for f in s["findings"] if f["rule"] == "defender_detection"}
    assert {f"Defender detection: {x['threat']}" for x in detections} <= found and found
    assert any(e["source"] == "timeline_activities" for e in s["executions"])
    page = res.report_path.read_text("utf-8")
    for name in ("defender_mplog", "setupapi_devices", "timeline_activities"):
        assert f'<table id="t-art-{name}"' in page


@pytest.mark.chromium
def test_extra_artifact_tables_in_chromium(make_hosts, tmp_path_factory, tmp_path):
    """The new sections render in real headless Chromium: no script errors or requests, one row per
    listed entry, and (section opened) the filter box narrows the Defender table to one threat's lines."""
    from _chromium import open_page, require_chromium

    require_chromium()
    bundle = collected_bundle(make_hosts, tmp_path_factory.mktemp("bundles-extra"), extra_artifacts=True)
    res = analyzed_once(bundle, tmp_path_factory.mktemp("analysis-extra"), strict=True)
    s = json.loads(res.summary_path.read_text("utf-8"))
    with open_page(res.report_path, tmp_path) as page:
        assert page.errors == [] and page.requests == []
        for name in ("defender_mplog", "setupapi_devices", "timeline_activities"):
            rows = page.query_selector_all(f"#t-art-{name} tbody tr")
            assert len(rows) == s["artifacts"][name]["listed"] > 0
        threat = next(x["threat"] for x in s["artifacts"]["defender_mplog"]["entries"] if x["kind"] == "detection")
        page.click("#artifact-defender_mplog summary")  # sections start collapsed: open it as an analyst would
        page.fill('input[data-table="t-art-defender_mplog"]', threat)
        visible = page.evaluate("Array.from(document.querySelectorAll('#t-art-defender_mplog tbody tr'))"
                                ".filter(r => r.style.display !== 'none').map(r => r.textContent)")
        assert visible and all(threat in v for v in visible)


def test_host_with_detection_history_collected_and_parsed(make_hosts, tmp_path_factory):
    """A host whose Defender folder holds the Windows 10 APTSimulator set (make-host-tree seed 2 places it):
    every DetectionHistory file is collected under its nested folder, parsed into one entry each, and each
    detected threat is a defender_detection finding with the file as evidence."""
    hosts = make_hosts(seed=2, filler_mb=1, extra_artifacts=True)
    placed = list((hosts / "host-000").glob("ProgramData/Microsoft/Windows Defender/Scans/History/Service/"
                                            "DetectionHistory/*/*"))
    if not placed:
        pytest.skip("make-host-tree placed no DetectionHistory files on this seed")
    bundle = collected_bundle(make_hosts, tmp_path_factory.mktemp("bundles-seed2"), seed=2, extra_artifacts=True)
    res = analyzed_once(bundle, tmp_path_factory.mktemp("analysis-seed2"), strict=True)
    s = json.loads(res.summary_path.read_text("utf-8"))
    validate(s)
    det = s["artifacts"]["defender_detections"]
    assert det["total"] == len(placed)
    assert {x["bundle_path"].rsplit("/", 1)[-1] for x in det["entries"]} == {p.name for p in placed}
    threats = {x["threat"] for x in det["entries"]}
    found = [f for f in s["findings"] if f["rule"] == "defender_detection"]
    assert {f"Defender detection: {t}" for t in threats} <= {f["title"] for f in found}
    assert any("DetectionHistory" in ev["bundle_path"] for f in found for ev in f["evidence"])
