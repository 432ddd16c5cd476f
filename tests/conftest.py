"""Shared fixtures: the read-only corpus in ../shared and host trees made from it once per run."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = (REPO / ".." / "shared").resolve()
CORPUS = SHARED / "corpus"
MAKE_HOST_TREE = SHARED / "tools" / "make-host-tree"

# Test helper modules (tests/_*.py, e.g. _chromium.py) are importable from every test directory.
sys.path.insert(0, str(Path(__file__).resolve().parent))


def pytest_configure(config):
    if not CORPUS.is_dir():
        raise pytest.UsageError(f"the shared corpus is missing: expected it at {CORPUS}")


@pytest.fixture(scope="session")
def corpus() -> Path:
    return CORPUS


@pytest.fixture(scope="session")
def truth() -> dict:
    """truth.json's per-file facts, keyed by path relative to the corpus."""
    return json.loads((CORPUS / "truth.json").read_text())["files"]


class HostFactory:
    """Builds make-host-tree fleets once per test session and hands out the same tree to every
    test asking for the same arguments (trees are read-only for tests: collecting never writes)."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.cache: dict[str, Path] = {}

    def __call__(self, hosts: int = 1, seed: int = 0, plant: tuple[str, ...] = (), **options) -> Path:
        args = [f"--hosts={hosts}", f"--seed={seed}"] + [f"--plant-run-key={p}" for p in plant]
        for key, value in sorted(options.items()):
            args.append(f"--{key.replace('_', '-')}" + ("" if value is True else f"={value}"))
        key = hashlib.sha256(json.dumps(args).encode()).hexdigest()[:16]
        if key not in self.cache:
            out = self.base / key
            subprocess.run([sys.executable, str(MAKE_HOST_TREE), "--out", str(out), "--quiet", *args],
                           check=True)
            self.cache[key] = out
        return self.cache[key]


@pytest.fixture(scope="session")
def make_hosts(tmp_path_factory) -> HostFactory:
    """make_hosts(hosts=1, seed=0, plant=('0:Updater=C:\\\\Users\\\\Public\\\\u.exe',), filler_mb=1) -> OUT dir
    holding host-000... and hosts.json."""
    return HostFactory(tmp_path_factory.mktemp("hosts"))


# -- Sigma rule sets compiled once per session (the SigmaHQ set: ~10 s to compile, ~1 s from cache) --

@pytest.fixture(scope="session")
def pack():
    from triage.sigma.engine import Engine
    from triage.sigma.load import load_rules

    rs = load_rules(builtin=True, use_cache=False)
    return rs, Engine(rs)


@pytest.fixture(scope="session")
def sigmahq():
    from _sigma import SIGMA, SIGMAHQ_DIRS

    from triage.sigma.engine import Engine
    from triage.sigma.load import load_rules

    if not SIGMA.is_dir():
        pytest.skip(f"SigmaHQ rules not found at {SIGMA}")
    rs = load_rules([str(d) for d in SIGMAHQ_DIRS], builtin=False)
    return rs, Engine(rs)
