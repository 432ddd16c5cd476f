"""Shared fixtures: the read-only corpus in ../shared and host trees made from it once per run."""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# TRIAGE_SHARED points elsewhere (or at nothing, to check that the suite runs without it).
SHARED = Path(os.environ.get("TRIAGE_SHARED") or (REPO / ".." / "shared")).resolve()
CORPUS = SHARED / "corpus"
MAKE_HOST_TREE = SHARED / "tools" / "make-host-tree"

# Test helper modules (tests/_*.py, e.g. _chromium.py) are importable from every test directory.
sys.path.insert(0, str(Path(__file__).resolve().parent))


def pytest_report_header(config) -> str:
    if CORPUS.is_dir():
        return f"shared corpus: {CORPUS}"
    return f"shared corpus: MISSING at {CORPUS}: the tests that need it are skipped, the others run"


def pytest_collection_modifyitems(config, items) -> None:
    """Without ../shared, every test that asks for the corpus, its truth or a host tree is skipped
    (not errored), and all the others run."""
    if CORPUS.is_dir():
        return
    skip = pytest.mark.skip(reason=f"needs the shared corpus at {CORPUS}")
    needs = {"corpus", "truth", "make_hosts", "sigmahq"}
    for item in items:
        if needs & set(getattr(item, "fixturenames", ())) or _names_shared(getattr(item, "function", None)):
            item.add_marker(skip)


def _names_shared(function) -> bool:
    """Whether a test's own source reads ../shared through this module's paths (CORPUS, SHARED...)."""
    if function is None:
        return False
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        return False
    return any(name in source for name in ("CORPUS", "SHARED", "MAKE_HOST_TREE"))


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"needs the shared corpus at {CORPUS}")
    return CORPUS


@pytest.fixture(scope="session")
def truth(corpus: Path) -> dict:
    """truth.json's per-file facts, keyed by path relative to the corpus."""
    return json.loads((corpus / "truth.json").read_text())["files"]


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
    if not MAKE_HOST_TREE.is_file():
        pytest.skip(f"needs make-host-tree at {MAKE_HOST_TREE}")
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
