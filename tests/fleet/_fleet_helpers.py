"""Helpers of the fleet tests (see conftest.py for the session fleet). One fleet for every fleet test: 32 make-host-tree hosts (Run keys planted on two of them), each
collected once with the real collector, plus a garbage .zip and a truncated bundle, analyzed once
with ``triage analyze --jobs 2``. Tests read the store, the outputs and a snapshot of the first run
(later runs write elsewhere, so test order does not matter)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HOSTS = 32
SEED = 7
PLANTED = {3: ("Updater", "C:\\Users\\Public\\updater.exe"),
           17: ("SyncHelper", "powershell -w hidden -enc SQBFAFgA...")}


def triage(*args: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the real CLI in a child process (as an analyst would)."""
    proc = subprocess.run([sys.executable, "-m", "triage", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=900, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"triage {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def collect(host_dir: Path, out: Path, hostname: str | None = None) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    before = set(out.glob("*.zip"))
    extra = ["--hostname", hostname] if hostname else []
    triage("collect", "--target", str(host_dir), "--output", str(out), "--quiet", *extra)
    (bundle,) = set(out.glob("*.zip")) - before
    return bundle


@dataclass
class Fleet:
    trees: Path                 # make-host-tree output (host-000 ... + hosts.json)
    hosts_json: dict
    bundles: Path               # input folder: 32 bundles + garbage.zip + truncated bundle
    bundle_of: dict[str, Path]  # host name -> its bundle
    garbage: Path
    truncated: Path
    out: Path                   # the fleet directory of the first run
    first_run: subprocess.CompletedProcess
    ranking: list[tuple[str, float]]   # (host, score) after the first run, best first
    index_snapshot: Path        # index.html of the first run

    def db(self) -> sqlite3.Connection:
        conn = sqlite3.connect(f"file:{self.out / 'fleet.sqlite'}?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        return conn

    def planted_hosts(self) -> set[str]:
        return {f"host-{i:03d}" for i in PLANTED}

    def attack_trace_hosts(self) -> set[str]:
        """Hosts make-host-tree gave files of the corpus's simulated-attack sets (*aptsimulatorvm*):
        real Mimikatz/PsExec traces the Sigma pack rightly ranks high, so they are not 'clean'."""
        return {h["name"] for h in self.hosts_json.get("hosts", [])
                if "aptsimulatorvm" in json.dumps(h)}


def copy_store(fleet: Fleet, dest: Path) -> Path:
    """A private copy of the first run's fleet.sqlite (sqlite backup API: consistent with its WAL)."""
    dest.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(fleet.out / "fleet.sqlite")
    dst = sqlite3.connect(dest / "fleet.sqlite")
    src.backup(dst)
    src.close()
    dst.close()
    return dest


def big_store(fleet: Fleet, dest: Path, hosts: int, start: int = 0) -> sqlite3.Connection:
    """A store of ``hosts`` hosts made from the session fleet's real summary.json files, each loaded
    under a new name (``fleet-0000``...) with the store's own loader, then stacked and scored: the
    shape of a big fleet without analyzing a thousand bundles in a test. ``start`` adds more hosts
    to an existing store."""
    import json

    from triage.fleet import score, stacking
    from triage.fleet.store import open_store, record_bundle

    with fleet.db() as conn:
        dirs = [r[0] for r in conn.execute("SELECT host_dir FROM bundles WHERE status = 'ok' ORDER BY host_dir")]
    summaries = [json.loads((fleet.out / d / "summary.json").read_text()) for d in dirs]
    dest.mkdir(parents=True, exist_ok=True)
    conn = open_store(dest / "fleet.sqlite")
    for i in range(start, start + hosts):
        name = f"fleet-{i:04d}"
        summary = dict(summaries[i % len(summaries)])
        summary["bundle"] = {**summary["bundle"], "collection": {**summary["bundle"]["collection"], "hostname": name}}
        record_bundle(conn, {"path": f"/bundles/{name}.zip", "sha256": f"{i:064x}", "analyzer_version": "t",
                             "status": "ok", "host_dir": dirs[i % len(dirs)], "host": name}, summary)
    conn.commit()
    total = stacking.fleet_hosts(conn)
    stacking.record_rare(conn, stacking.rare_threshold(None, total))
    score.compute_scores(conn)
    return conn
