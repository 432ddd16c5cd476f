"""Batch analysis end to end: every bundle recorded, bad ones as data, resume, ranking."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

from _fleet_helpers import HOSTS, collect, triage

from triage.fleet import batch, index


def test_every_bundle_is_recorded_and_bad_ones_do_not_stop_the_batch(fleet):
    assert fleet.first_run.returncode == 4  # exit_codes.PARTIAL: two bundles not analyzed, the rest done
    with fleet.db() as conn:
        rows = {Path(r["path"]).name: r for r in conn.execute("SELECT * FROM bundles")}
        hosts = {r["name"] for r in conn.execute("SELECT name FROM hosts")}
    assert len(rows) == HOSTS + 2
    ok = [r for r in rows.values() if r["status"] == "ok"]
    assert len(ok) == HOSTS
    assert hosts == {h["name"] for h in fleet.hosts_json["hosts"]}
    for bad in (fleet.garbage, fleet.truncated):
        row = rows[bad.name]
        assert row["status"] == "failed"
        assert row["error"], "a failed bundle says why"
        assert row["host_id"] is None
        assert bad.name in fleet.first_run.stdout  # and the closing table lists it
    # each ok bundle's row is its file's real SHA-256 and points at a real host directory
    for name, bundle in fleet.bundle_of.items():
        row = rows[bundle.name]
        assert row["sha256"] == batch.sha256_file(bundle)
        assert (fleet.out / row["host_dir"] / "summary.json").is_file()
        assert (fleet.out / row["host_dir"] / "report.html").is_file()
        summary = json.loads((fleet.out / row["host_dir"] / "summary.json").read_text())
        assert summary["bundle"]["sha256"] == row["sha256"]
        assert summary["bundle"]["collection"]["hostname"] == name


def test_store_rows_match_the_summaries(fleet):
    """What the store holds per bundle is what that bundle's summary.json says."""
    with fleet.db() as conn:
        for r in conn.execute("SELECT id, host_dir FROM bundles WHERE status = 'ok'").fetchall():
            s = json.loads((fleet.out / r["host_dir"] / "summary.json").read_text())
            counts = {t: conn.execute(f"SELECT COUNT(*) FROM {t} WHERE bundle_id = ?", (r["id"],)).fetchone()[0]
                      for t in ("autoruns", "executions", "events", "downloads", "yara_hits")}
            assert counts["autoruns"] == len(s["autoruns"])
            assert counts["executions"] == len(s["executions"])
            assert counts["events"] == len(s["events"])
            assert counts["downloads"] == len(s["downloads"])
            assert counts["yara_hits"] == len(s["yara"])
            host_findings = conn.execute("SELECT COUNT(*) FROM findings WHERE bundle_id = ? AND origin = 'host'",
                                         (r["id"],)).fetchone()[0]
            assert host_findings == len(s["findings"])


def test_manifest_hashes_are_in_the_files_table(fleet, corpus):
    """Every collected file's hashes (from the bundle manifest) are queryable; check one hive
    placed verbatim against the corpus file itself."""
    import hashlib

    host = fleet.hosts_json["hosts"][0]
    placed = next(f for f in host["files"] if f.get("kind") == "hive-ntuser" and f["source"].startswith("registry/")
                  and not f.get("changed") and f.get("user") == "Default")
    digest = hashlib.sha256((corpus / placed["source"]).read_bytes()).hexdigest()
    with fleet.db() as conn:
        rows = conn.execute("SELECT h.name, f.path FROM files f JOIN hosts h ON h.id = f.host_id"
                            " WHERE f.sha256 = ? AND h.name = ?", (digest, host["name"])).fetchall()
    assert rows and rows[0]["path"].replace("\\", "/").endswith(placed["path"])


def test_planted_hosts_rank_above_all_others(fleet):
    """The planted hosts outrank every clean host; hosts carrying the corpus's simulated-attack logs
    are compromised too (the Sigma pack finds Mimikatz and PsExec there) and may rank anywhere above
    the clean ones."""
    attacked = fleet.attack_trace_hosts() - fleet.planted_hosts()
    ranking = [(n, s) for n, s in fleet.ranking if n not in attacked]
    top_two = {name for name, _ in ranking[:2]}
    assert top_two == fleet.planted_hosts(), fleet.ranking[:5]
    lowest_planted = min(score for name, score in ranking if name in fleet.planted_hosts())
    best_other = max(score for name, score in ranking if name not in fleet.planted_hosts())
    assert lowest_planted > best_other
    assert attacked != set(n for n, _ in fleet.ranking)  # there are clean hosts to compare with
    # the score is explained: its rules' points add up to it and the rare autorun is one of them
    with fleet.db() as conn:
        for name in fleet.planted_hosts():
            row = conn.execute("SELECT score, score_explained FROM hosts WHERE name = ?", (name,)).fetchone()
            explained = json.loads(row["score_explained"])
            assert abs(sum(e["points"] for e in explained) - row["score"]) < 0.05
            assert any(e["rule"] == "fleet.rare.autorun" and e["points"] > 0 for e in explained)


def test_rerun_skips_everything_and_picks_up_a_new_bundle(fleet, tmp_path):
    """On a private fleet of two bundles (hard links of fleet bundles): run, run again (nothing to
    do), add one bundle (collected now, with a hostile host name), run: only it is analyzed."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name in ("host-000", "host-002"):
        bundle = fleet.bundle_of[name]
        for f in (bundle, bundle.with_name(bundle.name + ".sha256")):  # the bundle and its sidecar
            os.link(f, inbox / f.name)
    out = tmp_path / "out"
    first = triage("analyze", str(inbox), "--output", str(out), "--jobs", "2")
    assert "analyzed now: 2 ok, 0 failed; skipped (already analyzed): 0" in first.stdout
    again = triage("analyze", str(inbox), "--output", str(out), "--jobs", "2")
    assert "analyzed now: 0 ok, 0 failed; skipped (already analyzed): 2" in again.stdout
    hostile = 'evil"><script>alert(1)</script>'
    new = collect(fleet.trees / "host-005", inbox, hostname=hostile)
    third = triage("analyze", str(inbox), "--output", str(out), "--jobs", "2")
    assert "analyzed now: 1 ok, 0 failed; skipped (already analyzed): 2" in third.stdout
    conn = sqlite3.connect(out / "fleet.sqlite")
    names = {r[0] for r in conn.execute("SELECT h.name FROM bundles b JOIN hosts h ON h.id = b.host_id")}
    assert names == {"host-000", "host-002", hostile}
    assert conn.execute("SELECT COUNT(*) FROM bundles WHERE path = ?", (str(new.resolve()),)).fetchone()[0] == 1
    conn.close()
    page = (out / "index.html").read_text()
    assert page.count("<script") == 2 and f"<script>{index.SCRIPT}</script>" in page  # only the page's own
    assert "evil&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_nothing_analyzable_is_a_failure_exit(tmp_path):
    inbox = tmp_path / "in"
    inbox.mkdir()
    (inbox / "junk.zip").write_bytes(b"not a zip at all")
    enc = inbox / "host_20250101T000000Z.zip.tbe"
    enc.write_bytes(b"TRIAGEBE\x01" + b"\x00" * 64)
    proc = triage("analyze", str(inbox), "--output", str(tmp_path / "out"), "--jobs", "1", check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "encrypted" in proc.stdout and "triage decrypt" in proc.stdout
    assert "junk.zip" in proc.stdout
    empty = tmp_path / "empty"
    empty.mkdir()
    assert triage("analyze", str(empty), "--output", str(tmp_path / "o2"), check=False).returncode == 2


def test_a_worker_that_dies_fails_only_its_bundle(tmp_path):
    """A bundle that kills its worker process (here: a task that calls os._exit, standing in for a
    crashing native parser) is recorded as failed; the bundles in the queue still run."""
    results = []
    items = [batch.BundleInput(str(tmp_path / f"b{i}.zip"), 1, f"{i:064x}") for i in range(5)]
    for it in items:
        Path(it.path).write_bytes(b"x")
    options = {"analyzer_version": "t", "crash_on": items[2].sha256}
    batch.run_local(items, tmp_path / "out", options, 2, results.append, task=_crashing_task)
    by_sha = {r["sha256"]: r for r in results}
    assert len(by_sha) == 5
    assert by_sha[items[2].sha256]["status"] == "failed"
    assert "died" in by_sha[items[2].sha256]["error"]
    assert all(by_sha[it.sha256]["status"] == "ok" for i, it in enumerate(items) if i != 2)


def _crashing_task(bundle_path: str, out_dir: str, options: dict) -> dict:
    if options["sha256"] == options["crash_on"]:
        os._exit(3)
    return {"path": bundle_path, "sha256": options["sha256"], "status": "ok"}
