"""The CI run of the fuzz harnesses: every target under atheris for a few seconds (about a minute in
all), seeded from ../shared/corpus. A finding fails the test and names the saved input; longer runs:
tests/fuzz/README.md."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
from targets import TARGETS  # noqa: E402

SECONDS = int(os.environ.get("TRIAGE_FUZZ_SECONDS", "3"))


@pytest.fixture(scope="module", autouse=True)
def _atheris():
    if importlib.util.find_spec("atheris") is None:
        if os.environ.get("CI"):   # CI installs it (setup.cfg [dev]): a skip there would hide the fuzzing
            pytest.fail("atheris is not installed")
        pytest.skip("atheris is not installed (pip install atheris)")


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_fuzz_target_short_run(target, tmp_path):
    r = subprocess.run([sys.executable, str(HERE / "run.py"), target, "--seconds", str(SECONDS), "--out",
                        str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=SECONDS * 10 + 120,
                       env={**os.environ, "PYTHONPATH": str(REPO)})
    found = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(("crash-", "timeout-", "oom-")))
    assert r.returncode == 0 and not found, (
        f"fuzz target {target}: finding(s) {found} in {tmp_path}\n{r.stderr[-4000:]}")
    assert "Done " in r.stderr, r.stderr[-2000:]      # libFuzzer really ran
