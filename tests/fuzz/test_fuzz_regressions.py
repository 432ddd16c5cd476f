"""Every input the fuzzers ever crashed on (``regressions/<target>/*``) replayed through its target:
each must now end as Issues or verification problems, never an exception. Runs without atheris."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from targets import TARGETS  # noqa: E402

CASES = sorted(p for p in (HERE / "regressions").glob("*/*") if p.is_file() and p.parent.name in TARGETS)


def test_every_regression_names_a_target():
    dirs = [p.name for p in (HERE / "regressions").iterdir() if p.is_dir()]
    assert set(dirs) <= set(TARGETS), dirs


@pytest.mark.parametrize("case", CASES, ids=[f"{p.parent.name}/{p.name}" for p in CASES])
def test_regression_input(case):
    TARGETS[case.parent.name].run(case.read_bytes())
