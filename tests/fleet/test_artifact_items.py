"""SRUM applications and LNK/JumpList targets stack across hosts in fleet.sqlite.

The summary is a real one (the make-host-tree ``--extra-artifacts`` host, collected and analyzed once per
session); the fleet is six machines loaded from it, five of which lack one SRUM application and one LNK
target, so those two must stack to the one host that has them and become its rare-item findings."""

from __future__ import annotations

import copy
import json

import pytest
from _analyze_host import analyzed_once, collected_bundle
from _fleet_items import load_machines

from triage.fleet import stacking
from triage.fleet.artifact_items import artifact_item_rows
from triage.fleet.normalize import normalize_path
from triage.fleet.store import open_store, summary_rows


@pytest.fixture(scope="module")
def summary(make_hosts, tmp_path_factory) -> dict:
    bundle = collected_bundle(make_hosts, tmp_path_factory.mktemp("bundles-extra"), extra_artifacts=True)
    res = analyzed_once(bundle, tmp_path_factory.mktemp("analysis-extra"), strict=True)
    return json.loads(res.summary_path.read_text("utf-8"))


def test_rows_one_per_item_and_user(summary):
    rows = artifact_item_rows(summary["artifacts"])
    assert rows == summary_rows(summary)["artifact_items"]
    srum = [r for r in rows if r[0] == "srum_network"]
    apps = {(e["app"], e.get("user")) for e in summary["artifacts"]["srum_network"]["entries"] if e["app"]}
    assert len(srum) == len({(normalize_path(a), u) for a, u in apps}) > 0
    assert all(r[4].endswith("sru/SRUDB.dat") and r[5] for r in srum)
    lnk = [(r[2], r[3]) for r in rows if r[0] == "lnk_files"]
    entries = summary["artifacts"]["lnk_files"]["entries"]
    # '%windir%\\system32\\cmd.exe' and 'C:\\Windows\\System32\\cmd.exe' of one user are one item
    assert sorted(lnk) == sorted({(normalize_path(e["target"]), e["user"]) for e in entries if e["target"]})
    assert len(lnk) < len([e for e in entries if e["target"]])
    assert artifact_item_rows(None) == [] and artifact_item_rows({"lnk_files": {"entries": "x"}}) == []


def _without(summary: dict, artifact: str, field: str, value: str) -> dict:
    s = copy.deepcopy(summary)
    sec = s["artifacts"][artifact]
    sec["entries"] = [e for e in sec["entries"] if e.get(field) != value]
    return s


def test_rare_srum_app_and_lnk_target(summary, tmp_path):
    net = [e for e in summary["artifacts"]["srum_network"]["entries"] if e["app"]]
    app = sorted({e["app"] for e in net})[0]
    target = sorted({e["target"] for e in summary["artifacts"]["lnk_files"]["entries"] if e["target"]})[0]
    others = _without(_without(summary, "srum_network", "app", app), "srum_app_usage", "app", app)
    others = _without(others, "lnk_files", "target", target)
    others = _without(others, "jumplists", "target", target)
    conn = open_store(tmp_path / "fleet.sqlite")
    load_machines(conn, [summary] + [others] * 5)
    apps = {it.item: it.hosts for it in stacking.stack(conn, "srum_app")}
    assert apps[normalize_path(app)] == 1 and max(apps.values()) == 6
    targets = {it.item: it.hosts for it in stacking.stack(conn, "opened_target")}
    assert targets[normalize_path(target)] == 1
    rare = stacking.record_rare(conn, 1)
    assert normalize_path(app) in {it.item for it in rare["srum_app"]}
    (finding,) = conn.execute("SELECT * FROM findings WHERE rule = 'fleet.rare.srum_app' AND title LIKE ?",
                              (f"%{normalize_path(app)}",)).fetchall()
    evidence = json.loads(finding["evidence"])
    assert evidence[0]["item"] == app and evidence[0]["bundle_path"].endswith("SRUDB.dat") and evidence[0]["locator"]
    conn.close()
