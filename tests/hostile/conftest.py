"""Fixtures for hostile-input tests: one real bundle made by ``triage collect`` from a make-host-tree
host, whose honest members the crafted bundles are built around."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def honest_bundle(make_hosts, tmp_path_factory) -> Path:
    hosts = make_hosts(hosts=1, seed=3, filler_mb=1)
    out = tmp_path_factory.mktemp("honest")
    r = subprocess.run([sys.executable, "-m", "triage", "collect", "--target", str(hosts / "host-000"),
                        "--output", str(out), "--quiet"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    (bundle,) = out.glob("*.zip")
    return bundle
