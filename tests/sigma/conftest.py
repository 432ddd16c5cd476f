"""Rule sets compiled once per test session (the SigmaHQ set takes ~10 s to compile, 1 s from cache)."""

from __future__ import annotations

import pytest
from _sigma import SIGMA, SIGMAHQ_DIRS

from triage.sigma.engine import Engine
from triage.sigma.load import load_rules


@pytest.fixture(scope="session")
def pack():
    rs = load_rules(builtin=True, use_cache=False)
    return rs, Engine(rs)


@pytest.fixture(scope="session")
def sigmahq():
    if not SIGMA.is_dir():
        pytest.skip(f"SigmaHQ rules not found at {SIGMA}")
    rs = load_rules([str(d) for d in SIGMAHQ_DIRS], builtin=False)
    return rs, Engine(rs)
