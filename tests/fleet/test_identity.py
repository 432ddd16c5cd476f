"""Host identity (issue 17, fleet part): copies of one host's evidence under made-up names do not
dilute its score, and a second machine claiming a host's name is not merged into it."""

from __future__ import annotations

import json
import sqlite3

import pytest
from _fleet_helpers import HOSTS, PLANTED, collect, copy_store, triage

from triage.fleet.identity import identity_of, machine_sid

VICTIM = next(f"host-{i:03d}" for i, (_, command) in PLANTED.items() if "-enc" in command)
ALIASES = [f"laptop-{n}" for n in range(6)]


@pytest.fixture(scope="module")
def rerun(fleet, tmp_path_factory):
    """The session fleet plus six bundles of the victim's tree under made-up names and one bundle of
    another machine's tree claiming a fleet host's name, analyzed into a copy of the first store."""
    out = copy_store(fleet, tmp_path_factory.mktemp("identity"))
    extra = tmp_path_factory.mktemp("identity-extra")  # outside the fleet directory (never searched)
    for alias in ALIASES:
        collect(fleet.trees / VICTIM, extra / alias, hostname=alias)
    with fleet.db() as conn:
        hosts = {r["name"]: r for r in conn.execute("SELECT name, reported_name, machine_key FROM hosts")}
    claimed = "host-003"
    other = next(n for n, r in sorted(hosts.items())
                 if r["machine_key"] != hosts[claimed]["machine_key"] and n not in (claimed, VICTIM))
    collect(fleet.trees / other, extra / "impostor", hostname=claimed)
    proc = triage("analyze", str(fleet.bundles), str(extra), "--output", str(out), check=False)
    # 4 (partial): the fleet's folder holds a garbage and a truncated bundle on purpose
    assert proc.returncode == 4, proc.stdout + proc.stderr
    conn = sqlite3.connect(out / "fleet.sqlite")
    conn.row_factory = sqlite3.Row
    yield proc, conn, claimed, other
    conn.close()


def test_copies_under_made_up_names_do_not_dilute_the_victim(fleet, rerun):
    proc, conn, *_ = rerun
    assert f"analyzed now: {len(ALIASES) + 1} ok" in proc.stdout
    before = dict(fleet.ranking)[VICTIM]
    rows = {r["name"]: r for r in conn.execute("SELECT * FROM hosts")}
    victim = rows[VICTIM]
    assert victim["score"] == pytest.approx(before)
    for alias in ALIASES:
        assert rows[alias]["machine_id"] == victim["id"]
        assert VICTIM in rows[alias]["identity_note"]
    assert "also submitted under the name" in victim["identity_note"]
    # the planted Run value is still rare: on one machine, though seven host rows hold it
    item = conn.execute("SELECT * FROM rare_items WHERE kind = 'autorun' AND item LIKE '%-w hidden -enc%'").fetchone()
    assert item["hosts"] == 1 and item["total_hosts"] == HOSTS
    assert set(json.loads(item["host_names"])) == {VICTIM, *ALIASES}
    # ranked as before: the victim (or one of its copies, same score) on top
    top = conn.execute("SELECT name, score FROM hosts ORDER BY score DESC LIMIT 1").fetchone()
    assert top["score"] == pytest.approx(before) and top["name"] in {VICTIM, *ALIASES}


def test_a_second_machine_claiming_a_name_is_a_separate_host(rerun):
    _, conn, claimed, other = rerun
    rows = {r["name"]: r for r in conn.execute("SELECT * FROM hosts WHERE declared_name = ?", (claimed,))}
    assert set(rows) == {claimed, f"{claimed} (2)"}
    assert rows[claimed]["machine_key"] != rows[f"{claimed} (2)"]["machine_key"]
    assert all("also claimed by another machine" in r["identity_note"] for r in rows.values())
    # and its evidence is the other host's, so it is counted as that machine
    other_id = conn.execute("SELECT id FROM hosts WHERE name = ?", (other,)).fetchone()[0]
    assert rows[f"{claimed} (2)"]["machine_id"] == other_id


def test_flags_are_on_the_index_page(rerun, fleet):
    _, conn, claimed, _ = rerun
    out = conn.execute("PRAGMA database_list").fetchone()["file"]
    from pathlib import Path

    page = (Path(out).parent / "index.html").read_text()
    assert "a copy under another name" in page and "also claimed by another machine" in page
    assert f"{len(ALIASES) + 1} host(s) hold a copy of another host" in page


def test_machine_sid_comes_from_the_sam_only():
    users = [{"sid": "S-1-5-21-1-2-3-500", "bundle_path": "files/C/Windows/System32/config/SAM"},
             {"sid": "S-1-5-21-1-2-3-1001", "bundle_path": "files/C/Windows/System32/config/SAM"},
             {"sid": "S-1-5-21-9-9-9-1104", "bundle_path": "files/C/Windows/System32/config/SOFTWARE"},
             {"sid": "S-1-5-18", "bundle_path": "files/C/Windows/System32/config/SAM"}, "junk", {"sid": None}]
    assert machine_sid(users) == "S-1-5-21-1-2-3"
    assert machine_sid("not a list") is None
    a = identity_of({"host": {"users": users, "hostname": "PC", "install_date": "2020-01-01T00:00:00Z"}}, "x",
                    [{"sha256": "AB"}, {"sha256": "cd"}])
    b = identity_of({"host": {"users": users, "hostname": "pc", "install_date": "2020-01-01T00:00:00Z"}}, "y",
                    [{"sha256": "cd"}, {"sha256": "ab"}])
    assert a.machine_key == b.machine_key and a.evidence_key == b.evidence_key
    assert identity_of({"host": {}}, "z").machine_key is None
