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
