"""Parquet export of the session fleet, queried with DuckDB as an analyst would."""

from __future__ import annotations

import json
import shutil

import pytest
from _fleet_helpers import HOSTS, copy_store, triage

pytest.importorskip("pyarrow")
duckdb = pytest.importorskip("duckdb")

from triage.fleet.export import TABLES, export_parquet  # noqa: E402


@pytest.fixture(scope="module")
def exported(fleet, tmp_path_factory):
    dest = tmp_path_factory.mktemp("parquet")
    return export_parquet(fleet.out, dest), dest


def test_every_table_is_exported_row_for_row(fleet, exported):
    result, dest = exported
    db = duckdb.connect()
    with fleet.db() as conn:
        for table in TABLES:
            n = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            assert result.tables[table] == n, table
            assert db.execute(f"SELECT COUNT(*) FROM '{dest / table}.parquet'").fetchone()[0] == n, table


def test_duckdb_answers_fleet_questions(fleet, exported):
    _, dest = exported
    db = duckdb.connect()
    rare = {r[0] for r in db.execute(
        f"SELECT DISTINCT h.name FROM '{dest}/findings.parquet' f JOIN '{dest}/hosts.parquet' h ON h.id = f.host_id"
        " WHERE f.rule = 'fleet.rare.autorun' ORDER BY 1").fetchall()}
    assert rare == fleet.planted_hosts()
    # the same question as the store answers, through the text columns of the views
    with fleet.db() as conn:
        expected = conn.execute("SELECT COUNT(DISTINCT host_id) FROM autoruns WHERE category = 'service'").fetchone()[0]
    got = db.execute(f"SELECT COUNT(DISTINCT host_id) FROM '{dest}/autoruns.parquet' WHERE category = 'service'")
    assert got.fetchone()[0] == expected == HOSTS


def test_timelines_of_every_host(fleet, exported):
    result, dest = exported
    db = duckdb.connect()
    rows = dict(db.execute(f"SELECT host, COUNT(*) FROM read_parquet('{dest}/timeline/*/*.parquet',"
                           " hive_partitioning = false) GROUP BY host").fetchall())
    assert result.timeline_hosts == HOSTS and len(rows) == HOSTS
    with fleet.db() as conn:
        for name, host_dir in conn.execute("SELECT h.name, b.host_dir FROM bundles b JOIN hosts h ON h.id = b.host_id"
                                           " WHERE b.status = 'ok'"):
            lines = (fleet.out / host_dir / "timeline.jsonl").read_text().splitlines()
            assert rows[name] == len([x for x in lines if x.strip()])
    first = db.execute(f"SELECT datetime, message, bundle_path, locator FROM read_parquet('{dest}/timeline/*/*.parquet')"
                       " WHERE bundle_path IS NOT NULL ORDER BY datetime LIMIT 1").fetchone()
    assert first[0].endswith("Z") and first[2].startswith("files/")


def test_cli_export_and_a_hostile_timeline(fleet, tmp_path):
    out = copy_store(fleet, tmp_path / "fleet")
    with fleet.db() as conn:
        host_dir = conn.execute("SELECT host_dir FROM bundles WHERE status = 'ok' ORDER BY id LIMIT 1").fetchone()[0]
    (out / host_dir).mkdir(parents=True)
    lines = (fleet.out / host_dir / "timeline.jsonl").read_text().splitlines()
    (out / host_dir / "timeline.jsonl").write_text("\n".join([lines[0], "[1, 2]", "{not json", lines[-1]]) + "\n")
    proc = triage("fleet", "export", str(out), "--parquet", str(tmp_path / "pq"))
    assert "timeline" in proc.stdout and "1 host(s)" in proc.stdout
    assert proc.stdout.count("not a JSON object") == 2  # errors are data
    hosts = duckdb.connect().execute(f"SELECT COUNT(*) FROM '{tmp_path}/pq/hosts.parquet'").fetchone()[0]
    assert hosts == HOSTS
    assert json.loads(lines[0])["message"] in {r[0] for r in duckdb.connect().execute(
        f"SELECT message FROM read_parquet('{tmp_path}/pq/timeline/*/*.parquet')").fetchall()}
    shutil.rmtree(tmp_path / "pq")
