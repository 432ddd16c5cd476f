"""Helpers of the fleet tests (see conftest.py for the session fleet). One fleet for every fleet test: 32 make-host-tree hosts (Run keys planted on two of them), each
collected once with the real collector, plus a garbage .zip and a truncated bundle, analyzed once
with ``triage analyze --jobs 2``. Tests read the store, the outputs and a snapshot of the first run
(later runs write elsewhere, so test order does not matter)."""

from __future__ import annotations

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


def copy_store(fleet: Fleet, dest: Path) -> Path:
    """A private copy of the first run's fleet.sqlite (sqlite backup API: consistent with its WAL)."""
    dest.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(fleet.out / "fleet.sqlite")
    dst = sqlite3.connect(dest / "fleet.sqlite")
    src.backup(dst)
    src.close()
    dst.close()
    return dest
