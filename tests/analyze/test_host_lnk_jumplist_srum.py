"""A make-host-tree ``--extra-artifacts`` host collected with the windows-triage profile and analyzed: its
LNK files, JumpLists and SRUM database reach summary.json (schema-valid, with provenance), the timeline and
the report, and agree entry for entry with what truth.json says about the corpus files that were placed
(hosts.json maps each placed file back to its corpus path)."""

from __future__ import annotations

import json
import zipfile
from collections import Counter

import pytest
from _analyze_host import analyzed_once, collected_bundle

from triage.analyze.summary import validate


@pytest.fixture(scope="module")
def host(make_hosts, tmp_path_factory):
    bundle = collected_bundle(make_hosts, tmp_path_factory.mktemp("bundles-extra"), extra_artifacts=True)
    res = analyzed_once(bundle, tmp_path_factory.mktemp("analysis-extra"), strict=True)
    placed = json.loads((make_hosts(extra_artifacts=True) / "hosts.json").read_text("utf-8"))["hosts"][0]["files"]
    return res, json.loads(res.summary_path.read_text("utf-8")), placed, bundle


def test_summary_sections_match_the_placed_files(host, truth):
    _res, s, placed, _bundle = host
    validate(s)
    arts = s["artifacts"]
    lnks = [f for f in placed if f.get("kind") == "lnk"]
    assert lnks and arts["lnk_files"]["total"] == len(lnks)
    by_path = {e["bundle_path"].lower(): e for e in arts["lnk_files"]["entries"]}
    for f in lnks:
        e = by_path[f"files/c/{f['path']}".lower()]
        ref = truth[f["source"]]
        assert e["target_path"] == ref["liblnk"]["local_path"] and e["user"] == f["user"]
        assert e["volume_serial"] == ref.get("volume_serial") or ref["liblnk"]["drive_serial_number"] in (0, None)
        assert e["link_modified"] and e["location"] == "recent"
    jls = [f for f in placed if f.get("kind") == "jumplist"]
    assert arts["jumplists"]["total"] == sum(truth[f["source"]]["entry_count"] for f in jls) > 0
    assert {e["app_id"] for e in arts["jumplists"]["entries"]} <= {truth[f["source"]]["app_id"] for f in jls}
    (srudb,) = [f for f in placed if f["path"].lower().endswith("sru/srudb.dat")]
    ref = truth[srudb["source"]]
    net = arts["srum_network"]
    assert sum(e["rows"] for e in net["entries"]) == ref["srum_tables"]["network_usage"] == net["total"]
    assert sum(e["bytes_received"] for e in net["entries"]) == ref["network_usage_totals"]["bytes_received"]
    assert arts["srum_id_map"]["total"] == ref["srum_tables"]["app_id_map"]
    assert all(e["bundle_path"].endswith("sru/SRUDB.dat") and e["locator"] for e in net["entries"])
    assert not [i for i in s["issues"] if "sru" in (i["bundle_path"] or "").lower() and i["severity"] == "error"]


def test_collected_with_the_srum_logs(host):
    *_rest, bundle = host
    with zipfile.ZipFile(bundle) as z:
        names = {n.rsplit("/", 1)[-1].lower() for n in z.namelist() if n.lower().startswith("files/c/windows/system32/sru/")}
    assert {"srudb.dat", "sru.log", "sru.chk"} <= names and any(n.endswith(".jrs") for n in names)


def test_timeline_and_report(host):
    res, s, _placed, _bundle = host
    rows = [json.loads(line) for line in res.timeline_path.read_text("utf-8").splitlines()]
    by_source = Counter(r["source"] for r in rows)
    assert by_source["srum_network"] == s["artifacts"]["srum_network"]["total"]
    dated = sum(1 for e in s["artifacts"]["jumplists"]["entries"] for k in
                ("last_used", "target_created", "target_modified", "target_accessed") if e[k])
    assert by_source["jumplists"] == dated > 0
    descs = {r["timestamp_desc"] for r in rows}
    assert {"LNK file modified (target last opened)", "JumpList item last used (DestList)"} <= descs
    page = res.report_path.read_text("utf-8")
    for name in ("lnk_files", "jumplists", "srum_network", "srum_app_usage"):
        assert f'<table id="t-art-{name}"' in page


@pytest.mark.chromium
def test_report_sections_render_in_chromium(host, tmp_path):
    """The SRUM network table shows every listed entry, and its filter box narrows it to one application."""
    from _chromium import open_page, require_chromium

    require_chromium()
    res, s, _placed, _bundle = host
    net = s["artifacts"]["srum_network"]
    app = next(e["app"] for e in net["entries"] if e["app"] and e["app"].endswith("explorer.exe"))
    with open_page(res.report_path, tmp_path) as page:
        assert page.errors == [] and page.requests == []
        assert len(page.query_selector_all("#t-art-srum_network tbody tr")) == net["listed"]
        assert len(page.query_selector_all("#t-art-jumplists tbody tr")) == s["artifacts"]["jumplists"]["listed"]
        page.click("#artifact-srum_network summary")  # artifact sections open collapsed
        page.fill('input[data-table="t-art-srum_network"]', "explorer.exe")
        visible = page.evaluate("Array.from(document.querySelectorAll('#t-art-srum_network tbody tr'))"
                                ".filter(r => !r.hasAttribute('data-filtered')).map(r => r.textContent)")
        assert visible and all("explorer.exe" in v for v in visible) and any(app in v for v in visible)
