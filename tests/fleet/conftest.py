"""The session fleet: built, collected and analyzed once for every fleet test (see _fleet_helpers)."""

from __future__ import annotations

import json
import shutil
import sqlite3
from concurrent.futures import ThreadPoolExecutor

import pytest
from _fleet_helpers import HOSTS, PLANTED, SEED, Fleet, collect, triage


@pytest.fixture(scope="session")
def fleet(make_hosts, tmp_path_factory) -> Fleet:
    plant = tuple(f"{i}:{name}={command}" for i, (name, command) in PLANTED.items())
    trees = make_hosts(hosts=HOSTS, seed=SEED, plant=plant, filler_mb=1, no_sparse=True, link="hardlink")
    hosts_json = json.loads((trees / "hosts.json").read_text())
    base = tmp_path_factory.mktemp("fleet")
    bundles = base / "bundles"
    names = [h["name"] for h in hosts_json["hosts"]]
    with ThreadPoolExecutor(2) as pool:  # two collectors at once, like two machines
        paths = list(pool.map(lambda n: collect(trees / n, bundles / n), names))
    bundle_of = dict(zip(names, paths, strict=True))
    garbage = bundles / "garbage.zip"
    garbage.write_bytes(b"PK\x03\x04 this is not a bundle " * 64)
    truncated = bundles / "host-x_20250101T000000Z.zip"
    data = bundle_of[names[1]].read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    out = base / "out"
    first = triage("analyze", str(bundles), "--output", str(out), "--jobs", "2", check=False)
    assert first.returncode == 4, first.stdout + first.stderr  # exit_codes.PARTIAL: garbage.zip, the truncated one
    conn = sqlite3.connect(out / "fleet.sqlite")
    ranking = [(r[0], r[1]) for r in conn.execute(
        "SELECT name, score FROM hosts WHERE id IN (SELECT host_id FROM bundles WHERE status = 'ok')"
        " ORDER BY score DESC, name")]
    conn.close()
    snapshot = out / "index.first-run.html"
    shutil.copyfile(out / "index.html", snapshot)
    return Fleet(trees, hosts_json, bundles, bundle_of, garbage, truncated, out, first, ranking, snapshot)
