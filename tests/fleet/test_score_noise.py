"""The fleet score ignores known-benign background (issue #16 item 4): a host whose only findings
are noise (per-user updaters, installers) scores 0 and is not "suspicious" on the index, even when
a summary (older, or hand-edited) still carries the rule's original severity beside ``noise``;
the same finding without ``noise`` does score. Small hand-made summaries: no ../shared needed."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from triage.fleet import score, stacking
from triage.fleet.index import _host_rows
from triage.fleet.store import open_store, record_bundle

ONEDRIVE = "C:\\Users\\u\\AppData\\Local\\Microsoft\\OneDrive\\OneDrive.exe /background"


def _finding(n: int, severity: str, noise: str | None, count: int = 1) -> dict:
    return {"id": f"F{n:04d}", "rule": "autorun_user_writable", "severity": severity,
            "title": "Autostart from a user-writable location: OneDrive", "reason": f"runs {ONEDRIVE}",
            "noise": noise, "count": count, "when": "2024-01-01T12:00:00Z", "evidence": []}


def _store(tmp_path: Path, findings_by_host: dict[str, list[dict]]) -> sqlite3.Connection:
    conn = open_store(tmp_path / "fleet.sqlite")
    for i, (name, findings) in enumerate(findings_by_host.items()):
        summary = {"host": {"hostname": name, "os": "Windows 10"}, "bundle": {"collection": {"hostname": name}},
                   "autoruns": [], "executions": [], "events": [], "browser": [], "downloads": [], "yara": [],
                   "network": {"off_network_windows": []}, "findings": findings, "issues": []}
        record_bundle(conn, {"path": f"/b/{name}.zip", "sha256": f"{i:064x}", "analyzer_version": "t",
                             "status": "ok", "host_dir": f"hosts/{name}", "host": name}, summary)
    conn.commit()
    stacking.record_rare(conn, 1)
    return conn


def test_noise_does_not_raise_a_hosts_score(tmp_path):
    why = "per-user OneDrive (client, updater and its shell/COM handlers live in the user's profile)"
    conn = _store(tmp_path, {
        "quiet": [_finding(1, "info", why, count=24)],
        "stale": [_finding(2, "high", why)],          # noise that still says high: must not count
        "real": [_finding(3, "high", None)],          # the same finding not called noise: counts
    })
    scores = {h.host: h for h in score.compute_scores(conn)}
    assert scores["quiet"].score == 0 and scores["stale"].score == 0
    assert scores["real"].score > 0
    assert [e["rule"] for e in scores["real"].explained] == ["autorun_user_writable"]
    assert all(e["points"] == 0 for h in ("quiet", "stale") for e in scores[h].explained)
    hosts = conn.execute("SELECT * FROM hosts").fetchall()
    verdicts = {h["name"]: p["verdict"] for h, p in zip(hosts, _host_rows(conn, hosts).values(), strict=True)}
    assert verdicts["quiet"] == verdicts["stale"] != verdicts["real"]
    conn.close()


def test_host_table_shows_counts_and_noise_apart(tmp_path):
    from triage.fleet import index

    conn = _store(tmp_path, {"busy": [_finding(1, "high", None, count=24),
                                      _finding(2, "info", "per-user OneDrive updater")]})
    score.compute_scores(conn)
    page = index.render_index(conn, rare_threshold=1, ioc_files=[], issues=[])
    row = page.split("<tbody id='host-rows'>")[1].split("</tbody>")[0]
    assert "Autostart from a user-writable location: OneDrive ×24" in row
    assert row.count("Autostart from a user-writable location") == 1  # the noise is not a top finding
    assert "1 known-benign (not scored)" in row
    data = page.split("id='fleet-data'>")[1]
    assert ',24]' in data.split('"hosts"')[1]
    conn.close()


def test_a_store_made_before_count_and_noise_gains_them(tmp_path):
    """An older store (findings without count/noise) is opened, gains the columns, keeps its rows."""
    path = tmp_path / "fleet.sqlite"
    conn = open_store(path)
    conn.execute("DROP VIEW findings")
    conn.execute("ALTER TABLE findings_rows DROP COLUMN noise")
    conn.execute("ALTER TABLE findings_rows DROP COLUMN count")
    conn.execute("INSERT INTO findings_rows (host_id, bundle_id, origin) VALUES (1, 1, 'host')")
    conn.execute("CREATE VIEW findings AS SELECT r.id, r.origin FROM findings_rows r")
    conn.commit()
    conn.close()
    conn = open_store(path)
    assert [tuple(r) for r in conn.execute("SELECT origin, count, noise FROM findings")] == [("host", None, None)]
    conn.close()
