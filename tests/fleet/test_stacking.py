"""Stacking: host counts against what make-host-tree placed and truth.json says the hives hold."""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict

import pytest
from _fleet_helpers import HOSTS, PLANTED

from triage.fleet import stacking
from triage.fleet.normalize import basename, domain_of, normalize_command, normalize_path


def test_run_values_stack_to_the_hosts_that_carry_their_hive(fleet, truth):
    """Every user Run value of a placed NTUSER.DAT (per truth.json) is stacked on exactly the hosts
    whose users got that hive (per hosts.json), across user names ('%user%')."""
    expected: dict[str, set[str]] = defaultdict(set)
    for host in fleet.hosts_json["hosts"]:
        for user in host["users"]:
            for key, facts in (truth.get(user["source"], {}).get("run_keys") or {}).items():
                if key.lower().endswith("\\run"):
                    for command in (facts or {}).get("values", {}).values():
                        expected[normalize_command(command)].add(host["name"])
    assert len(expected) >= 5
    with fleet.db() as conn:
        names = {r[0]: r[1] for r in conn.execute("SELECT id, name FROM hosts")}
        stacked = {it.item: {names[h] for h in it.host_ids} for it in stacking.stack(conn, "autorun")}
    for command, hosts in expected.items():
        assert command in stacked, command
        assert hosts <= stacked[command], command  # (an HKLM value may add hosts, never remove them)
    some_partial = [c for c, h in expected.items() if len(h) < HOSTS]
    assert some_partial and all(stacked[c] == expected[c] for c in some_partial
                                if c not in {normalize_command(v) for v in _hklm_run_values(truth)})


def _hklm_run_values(truth) -> list[str]:
    soft = truth.get("registry/synthetic-software/SOFTWARE", {})
    return [v for facts in (soft.get("run_keys") or {}).values() for v in (facts or {}).get("values", {}).values()]


def test_planted_entries_are_rare_and_become_host_findings(fleet):
    with fleet.db() as conn:
        rare = {r["item"]: r for r in conn.execute("SELECT * FROM rare_items WHERE kind = 'autorun'")}
        for index, (name, command) in PLANTED.items():
            host = f"host-{index:03d}"
            item = rare[normalize_command(command)]
            assert item["hosts"] == 1 and item["total_hosts"] == HOSTS
            assert json.loads(item["host_names"]) == [host]
            finding = conn.execute(
                "SELECT f.* FROM findings f JOIN hosts h ON h.id = f.host_id WHERE h.name = ? AND"
                " f.rule = 'fleet.rare.autorun' AND f.title LIKE ?", (host, f"%{normalize_command(command)}")).fetchone()
            assert finding["reason"].startswith(f"seen on 1 of {HOSTS} hosts")
            evidence = json.loads(finding["evidence"])
            assert evidence[0]["name"] == name and evidence[0]["command"] == command
            assert evidence[0]["bundle_path"].endswith("NTUSER.DAT")  # provenance down to the hive
            assert evidence[0]["locator"]
        # nothing that the hosts.json says is on several hosts is called rare
        assert all(r["hosts"] <= 1 for r in rare.values())


def test_fleet_findings_written_beside_each_summary(fleet):
    with fleet.db() as conn:
        host_dir = conn.execute("SELECT b.host_dir FROM bundles b JOIN hosts h ON h.id = b.host_id"
                                " WHERE h.name = 'host-017'").fetchone()[0]
    data = json.loads((fleet.out / host_dir / "fleet_findings.json").read_text())
    assert any(f["rule"] == "fleet.rare.autorun" and "powershell -w hidden" in f["title"]
               for f in data["fleet_findings"])


@pytest.mark.parametrize("kind", sorted(stacking.STACKS))
def test_every_stack_counts_distinct_hosts(fleet, kind):
    """Each stacking query agrees with a plain Python count over the same table."""
    _, table, expr, where, _, _ = stacking.STACKS[kind]
    with fleet.db() as conn:
        items = stacking.stack(conn, kind)
        rows = conn.execute(f"SELECT s.value AS item, r.host_id FROM {table}_rows r JOIN strings s"
                            f" ON s.id = r.{expr} WHERE {where}").fetchall()
    hosts = defaultdict(set)
    for r in rows:
        hosts[r["item"]].add(r["host_id"])
    assert {it.item: it.hosts for it in items} == {k: len(v) for k, v in hosts.items()}
    assert [it.hosts for it in items] == sorted(it.hosts for it in items)
    if kind in ("autorun", "executable_name", "executable_path", "service", "domain"):
        assert items, f"the fleet has {kind} items"


def test_stacking_queries_use_indexes(fleet):
    with fleet.db() as conn:
        for kind in stacking.STACKS:
            plan = " ".join(str(tuple(r)) for r in conn.execute("EXPLAIN QUERY PLAN " + stacking.stack_sql(kind)))
            assert "USING" in plan and "INDEX" in plan, (kind, plan)


def test_rare_threshold():
    assert stacking.rare_threshold(None, 32) == 1
    assert stacking.rare_threshold(None, 240) == 2
    assert stacking.rare_threshold("5%", 240) == 12
    assert stacking.rare_threshold("3", 240) == 3
    with pytest.raises(ValueError):
        stacking.rare_threshold("0", 10)
    with pytest.raises(ValueError):
        stacking.rare_threshold("lots", 10)


def test_small_fleets_have_no_rare_items(tmp_path):
    from triage.fleet.store import open_store

    conn = open_store(tmp_path / "fleet.sqlite")
    for i in range(stacking.MIN_FLEET_FOR_RARE - 1):
        conn.execute("INSERT INTO hosts (id, name) VALUES (?, ?)", (i + 1, f"h{i}"))
        conn.execute("INSERT INTO bundles (sha256, analyzer_version, path, status, host_id) VALUES (?,?,?,?,?)",
                     (f"{i}", "v", f"/b{i}", "ok", i + 1))
        add_rows(conn, "autoruns", i + 1, i + 1, [{"category": "run", "command_norm": f"c:\\unique{i}.exe",
                                                   "stack_key": f"c:\\unique{i}.exe"}])
    assert stacking.record_rare(conn, 1) == {}
    assert conn.execute("SELECT COUNT(*) FROM findings").fetchone()[0] == 0


def add_rows(conn, table: str, host_id: int, bundle_id: int, rows: list[dict]) -> None:
    """Fact rows through the store's own loader (text interned), missing columns NULL."""
    from triage.fleet.store import ROW_COLUMNS, insert_rows

    insert_rows(conn, table, host_id, bundle_id, [tuple(r.get(c) for c in ROW_COLUMNS[table]) for r in rows])


def test_normalisation():
    assert normalize_command('"%ProgramFiles%\\Spotify\\x.exe" /bg') == "c:\\program files\\spotify\\x.exe /bg"
    assert normalize_command("C:\\Users\\tony\\AppData\\Roaming\\a.exe") == \
        normalize_command("C:\\Users\\joe\\AppData\\Roaming\\a.exe") == "c:\\users\\%user%\\appdata\\roaming\\a.exe"
    assert normalize_command("C:\\Users\\Public\\updater.exe") == "c:\\users\\public\\updater.exe"
    assert normalize_command("\\SystemRoot\\System32\\drivers\\x.sys") == "c:\\windows\\system32\\drivers\\x.sys"
    assert normalize_path("\\VOLUME{01d2a3b4c5d6e7f8-12345678}\\WINDOWS\\SYSTEM32\\CMD.EXE") == \
        "c:\\windows\\system32\\cmd.exe"
    assert normalize_path("\\Device\\HarddiskVolume3\\Windows\\explorer.exe") == "c:\\windows\\explorer.exe"
    assert basename("C:\\x\\EVIL.exe") == "evil.exe"
    assert domain_of("https://www.Example.com:8443/a?b") == "example.com"
    assert domain_of("mail.example.org") == "mail.example.org"


def test_stacking_counts_on_200_hosts(tmp_path):
    """200 hosts x 300 shared executables + one unique each: exactly the unique ones are rare
    (the time of each query on such a store is measured by bench/fleet.py)."""
    from triage.fleet.store import open_store

    conn: sqlite3.Connection = open_store(tmp_path / "fleet.sqlite")
    for h in range(1, 201):
        conn.execute("INSERT INTO hosts (id, name) VALUES (?, ?)", (h, f"h{h}"))
        conn.execute("INSERT INTO bundles (sha256, analyzer_version, path, status, host_id) VALUES (?,?,?,?,?)",
                     (f"{h}", "v", f"/b{h}", "ok", h))
        add_rows(conn, "executions", h, h, [{"executable_lc": f"e{j}.exe", "path_norm": f"c:\\e{j}.exe"}
                                            for j in range(300)] + [{"executable_lc": f"only{h}.exe", "path_norm": ""}])
    conn.commit()
    items = stacking.stack(conn, "executable_name", max_hosts=1)
    assert sorted(it.item for it in items) == sorted(f"only{h}.exe" for h in range(1, 201))
    assert all(it.hosts == 1 for it in items)
    assert {it.hosts for it in stacking.stack(conn, "executable_name") if it.item.startswith("e")} == {200}


def test_an_autostart_on_most_of_a_small_fleet_is_not_rare(make_hosts, tmp_path_factory):
    """Six hosts built here from one real analyzed host's summary: an updater autostart on five of
    them, a planted one on one. Even with --rare-threshold 5 the updater is not rare (rarity is
    relative to the fleet's size), the planted one is."""
    from _analyze_host import PLANT, analyzed_once, collected_bundle

    from triage.fleet.store import open_store, record_bundle

    bundle = collected_bundle(make_hosts, tmp_path_factory.mktemp("bundles"), plant=(PLANT,))
    base = analyzed_once(bundle, tmp_path_factory.mktemp("analysis"), strict=True).summary
    conn = open_store(tmp_path_factory.mktemp("small-fleet") / "fleet.sqlite")
    updater = "C:\\Users\\%user%\\AppData\\Local\\Vendor\\Update\\VendorUpdate.exe /c"
    planted = "C:\\Users\\Public\\dropper.exe"
    for i in range(6):
        name = f"small-{i}"
        extra = [{"category": "run", "location": "HKU\\u\\Software\\Microsoft\\Windows\\CurrentVersion\\Run",
                  "name": "VendorUpdate", "command": updater, "user": "u", "last_write": None, "flags": [],
                  "details": {}, "bundle_path": "files/C/Users/u/NTUSER.DAT", "locator": "Run\\VendorUpdate"}]
        if i == 5:
            extra = [{**extra[0], "name": "Dropper", "command": planted, "locator": "Run\\Dropper"}]
        summary = {**base, "autoruns": list(base["autoruns"]) + extra,
                   "bundle": {**base["bundle"], "collection": {**base["bundle"]["collection"], "hostname": name}}}
        record_bundle(conn, {"path": f"/b/{name}.zip", "sha256": f"{i:064x}", "analyzer_version": "t",
                             "status": "ok", "host_dir": f"hosts/{name}", "host": name}, summary)
    conn.commit()
    assert stacking.fleet_hosts(conn) == 6
    threshold = stacking.rare_threshold("5", 6)
    assert threshold == 2  # capped: fewer than half of six hosts
    stacking.record_rare(conn, 5)  # even a caller passing the raw 5 gets the cap
    rare = {r[0]: r[1] for r in conn.execute("SELECT item, hosts FROM rare_items WHERE kind = 'autorun'")}
    assert rare.get(normalize_command(planted)) == 1
    assert normalize_command(updater) not in rare
    conn.close()
