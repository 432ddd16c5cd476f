"""Helpers of the CLI tests: the real ``triage`` in a child process, and bundles collected by it from
make-host-tree hosts (one collection per host and option set per session)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def triage(*args, timeout: float = 600) -> subprocess.CompletedProcess:
    """``python -m triage ARGS`` from this tree, stdout/stderr captured as text (never a terminal)."""
    return subprocess.run([sys.executable, "-m", "triage", *map(str, args)], cwd=REPO, env=ENV,
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def collect(host: Path, out: Path, *extra, expect: int = 0) -> Path:
    """Collect ``host`` into ``out`` (a new folder) with the real CLI; returns the bundle."""
    out.mkdir(parents=True, exist_ok=True)
    before = set(out.glob("*.zip"))
    r = triage("collect", "--target", host, "--output", out, "--quiet", *extra)
    assert r.returncode == expect, r.stdout + r.stderr
    (bundle,) = set(out.glob("*.zip")) - before
    return bundle
