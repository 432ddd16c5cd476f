"""USB serials, network names, mounted/typed locations, Run-dialog commands, MUICache programs and
Windows Timeline applications stack across hosts, listed in rare_items but never made findings.

Real summary: the make-host-tree ``--extra-artifacts`` host; a six-machine fleet is loaded from it where
five machines lack one item of each kind that the host has, which must then stack to the one host."""

from __future__ import annotations

import copy
import json

import pytest
from _analyze_host import analyzed_once, collected_bundle
from _fleet_items import load_machines

from triage.fleet import stacking
from triage.fleet.artifact_items import NOT_PATHS, STACKED, artifact_item_rows
from triage.fleet.normalize import normalize_path
from triage.fleet.store import open_store

KINDS = {"usb_devices": "usb_serial", "mountpoints2": "user_location", "network_profiles": "network_name",
         "runmru": "run_dialog", "typedpaths": "user_location", "muicache": "muicache_program",
         "timeline_activities": "timeline_app"}


@pytest.fixture(scope="module")
def summary(make_hosts, tmp_path_factory) -> dict:
    bundle = collected_bundle(make_hosts, tmp_path_factory.mktemp("bundles-extra"), extra_artifacts=True)
    res = analyzed_once(bundle, tmp_path_factory.mktemp("analysis-extra"), strict=True)
    return json.loads(res.summary_path.read_text("utf-8"))


def test_registry_items_stack_and_stay_out_of_findings(summary, tmp_path):
    present = {a: sorted({e[STACKED[a]] for e in summary["artifacts"].get(a, {}).get("entries", [])
                          if isinstance(e.get(STACKED[a]), str) and e[STACKED[a]].strip()
                          and (a != "mountpoints2" or e.get("kind") == "network")})
               for a in KINDS}
    present = {a: v for a, v in present.items() if v}
    print({a: len(v) for a, v in present.items()})
    assert len(present) >= 3, f"the extra-artifacts host should carry several of {sorted(KINDS)}: {present}"
    others = copy.deepcopy(summary)
    for a, values in present.items():
        others["artifacts"][a]["entries"] = [e for e in others["artifacts"][a]["entries"]
                                             if e.get(STACKED[a]) != values[0]]
    rows = artifact_item_rows(summary["artifacts"])
    assert {r[0] for r in rows} >= set(present)
    # MountPoints2: a user's network shares stack, the host's own volume GUIDs are not rows
    mounts = summary["artifacts"].get("mountpoints2", {}).get("entries", [])
    assert any(e.get("kind") == "volume" for e in mounts)
    assert {r[1] for r in rows if r[0] == "mountpoints2"} == {e["target"] for e in mounts if e.get("kind") == "network"}
    conn = open_store(tmp_path / "fleet.sqlite")
    load_machines(conn, [summary] + [others] * 5)
    for a, values in present.items():
        norm = NOT_PATHS.get(a, normalize_path)(values[0].strip())
        stacked = {it.item: it.hosts for it in stacking.stack(conn, KINDS[a])}
        assert stacked[norm] == 1, (a, values[0])
        assert max(stacked.values()) == 6 or len(values) == 1
    rare = stacking.record_rare(conn, 1)
    for a in present:
        assert rare[KINDS[a]], a
        listed = conn.execute("SELECT COUNT(*) FROM rare_items WHERE kind = ?", (KINDS[a],)).fetchone()[0]
        assert listed >= 1
    kinds = set(KINDS.values())
    made = {r[0] for r in conn.execute("SELECT rule FROM findings WHERE origin = 'rare'")}
    assert not {m for m in made if m.removeprefix("fleet.rare.") in kinds}
    conn.close()
