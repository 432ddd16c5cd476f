"""Defender threats, device installs, BITS URLs and WMI consumer commands stack across hosts.

Real summaries: the make-host-tree ``--extra-artifacts`` host (its Defender MPLog and setupapi.dev.log);
a six-machine fleet is loaded from it where five machines lack one threat and one device, which must
then stack to the one host that has them. BITS and WMI items come from entries added to one machine's
copy (no host tree carries those files)."""

from __future__ import annotations

import copy
import json

import pytest
from _analyze_host import analyzed_once, collected_bundle
from _fleet_items import load_machines

from triage.fleet import stacking
from triage.fleet.artifact_items import artifact_item_rows
from triage.fleet.normalize import normalize_path
from triage.fleet.store import open_store


@pytest.fixture(scope="module")
def summary(make_hosts, tmp_path_factory) -> dict:
    bundle = collected_bundle(make_hosts, tmp_path_factory.mktemp("bundles-extra"), extra_artifacts=True)
    res = analyzed_once(bundle, tmp_path_factory.mktemp("analysis-extra"), strict=True)
    return json.loads(res.summary_path.read_text("utf-8"))


def _without(summary: dict, artifact: str, field: str, value: str) -> dict:
    s = copy.deepcopy(summary)
    s["artifacts"][artifact]["entries"] = [e for e in s["artifacts"][artifact]["entries"] if e.get(field) != value]
    return s


def test_threats_devices_bits_wmi_stack(summary, tmp_path):
    threat = sorted({e["threat"] for e in summary["artifacts"]["defender_mplog"]["entries"] if e["threat"]})[0]
    device = sorted({e["target"] for e in summary["artifacts"]["setupapi_devices"]["entries"] if e["target"]})[0]
    others = _without(_without(summary, "defender_mplog", "threat", threat), "setupapi_devices", "target", device)
    rich = copy.deepcopy(summary)
    src = {"bundle_path": "files/C/x", "locator": "offset 1", "user": None}
    rich["artifacts"]["bits_transfers"] = {"entries": [{**src, "url": "https://198.51.100.7/A.exe"}]}
    rich["artifacts"]["wmi_persistence"] = {"entries": [{**src, "command": "powershell.exe -enc AAAA"},
                                                        {**src, "command": None}]}
    rows = artifact_item_rows(rich["artifacts"])
    assert ("bits_transfers", "https://198.51.100.7/A.exe", "https://198.51.100.7/a.exe", None, "files/C/x",
            "offset 1") in rows
    mplog = [r[2] for r in rows if r[0] == "defender_mplog"]  # one row per threat, compared case-insensitively
    assert sorted(mplog) == sorted({e["threat"].lower() for e in summary["artifacts"]["defender_mplog"]["entries"]
                                    if e["threat"]})
    conn = open_store(tmp_path / "fleet.sqlite")
    load_machines(conn, [rich] + [others] * 5)
    threats = {it.item: it.hosts for it in stacking.stack(conn, "defender_threat")}
    assert threats[threat.lower()] == 1 and max(threats.values()) == 6
    devices = {it.item: it.hosts for it in stacking.stack(conn, "device_install")}
    assert devices[normalize_path(device)] == 1 and max(devices.values()) == 6
    assert {it.item: it.hosts for it in stacking.stack(conn, "bits_url")} == {"https://198.51.100.7/a.exe": 1}
    assert [it.item for it in stacking.stack(conn, "wmi_command")] == [normalize_path("powershell.exe -enc AAAA")]
    rare = stacking.record_rare(conn, 1)
    assert threat.lower() in {it.item for it in rare["defender_threat"]}
    (finding,) = conn.execute("SELECT * FROM findings WHERE rule = 'fleet.rare.wmi_command'").fetchall()
    assert finding["severity"] == "medium"
    conn.close()
