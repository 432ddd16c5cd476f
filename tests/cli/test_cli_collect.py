"""``triage collect`` as a responder and a script meet it: exit codes, the closing lines, -q, --json,
and the warning when the bundle would land on the file system being collected.

Every test runs the real CLI in a child process on make-host-tree hosts built from ../shared/corpus.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from _cli import triage

from triage.bundle.manifest import SKIPPED_BUDGET
from triage.bundle.reader import BundleReader


@pytest.fixture(scope="module")
def host(make_hosts) -> Path:
    return make_hosts(hosts=1, seed=3, filler_mb=1) / "host-000"


def _budget_skipped(bundle: Path) -> list:
    with BundleReader(bundle) as b:
        return [e for e in b.entries if e.outcome == SKIPPED_BUDGET]


def test_budget_skip_exits_4_and_says_so_in_the_last_lines(host, tmp_path):
    out = tmp_path / "out"
    r = triage("collect", "--target", host, "--output", out, "--max-size", "2MiB")
    assert r.returncode == 4, r.stdout + r.stderr
    (bundle,) = out.glob("*.zip")
    skipped = _budget_skipped(bundle)
    assert skipped, "a 2 MiB budget on this host must leave files out"
    last = r.stdout.rstrip("\n").splitlines()[-2:]
    assert last[0].startswith(f"PARTIAL: {len(skipped)} files (")
    assert "--max-size 2.0 MiB" in last[0] and "skipped_budget" in last[0]
    assert last[1].startswith("exit 4: partial collection")
    assert "status:  partial (" in r.stdout and "status:  complete" not in r.stdout
    assert triage("verify", bundle).returncode == 0   # what it holds still verifies


def test_complete_collection_exits_0(host, tmp_path):
    r = triage("collect", "--target", host, "--output", tmp_path / "out")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.rstrip().splitlines()[-1].startswith("complete:")
    assert "PARTIAL" not in r.stdout


def test_quiet_still_prints_the_bundle_path(host, tmp_path):
    out = tmp_path / "out"
    r = triage("collect", "--target", host, "--output", out, "-q")
    assert r.returncode == 0, r.stderr
    (bundle,) = out.glob("*.zip")
    assert r.stdout == f"{bundle}\n"          # the path and nothing else: $(triage collect -q ...)
    r = triage("collect", "--target", host, "--output", tmp_path / "b", "-q", "--max-time", "0s")
    assert r.returncode == 4
    assert Path(r.stdout.strip()).is_file() and len(r.stdout.splitlines()) == 1
    assert "PARTIAL:" in r.stderr and "exit 4" in r.stderr


def test_json_describes_the_bundle_and_the_exit_code(host, tmp_path):
    r = triage("collect", "--target", host, "--output", tmp_path / "out", "--json", "--max-size", "2MiB")
    doc = json.loads(r.stdout)                 # stdout is the JSON object alone
    assert doc["exit_code"] == r.returncode == 4 and doc["meaning"] == "partial"
    bundle = Path(doc["bundle"])
    assert bundle.is_file()
    side = Path(doc["sidecar"]).read_text().split()
    assert side == [doc["sha256"], bundle.name]
    skipped = _budget_skipped(bundle)
    assert doc["skipped_budget"]["files"] == len(skipped) == doc["totals"]["skipped_budget"]
    assert doc["skipped_budget"]["bytes"] == sum(e.source_size for e in skipped) > 0
    assert doc["status"] == "partial" and doc["budgets"]["max_size"] == 2 * 1024 * 1024
    assert doc["upload"] is None


def test_target_on_the_output_file_system_warns(host, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    if os.stat(host).st_dev != os.stat(out).st_dev:
        pytest.skip("the host tree and tmp_path are on different file systems here")
    r = triage("collect", "--target", host, "--output", out, "--json")
    assert "WARNING" not in r.stdout
    assert "on the volume being collected" in r.stderr
    assert any("on the volume being collected" in w for w in json.loads(r.stdout)["warnings"])
    with BundleReader(Path(json.loads(r.stdout)["bundle"])) as b:   # and the bundle records it
        assert any("on the volume being collected" in w for w in b.collection["warnings"])


def test_output_on_another_file_system_does_not_warn(host):
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(host).st_dev or not os.access(shm, os.W_OK):
        pytest.skip("no writable file system other than the host tree's")
    import tempfile

    with tempfile.TemporaryDirectory(dir=shm) as d:
        r = triage("collect", "--target", host, "--output", d, "--json")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["warnings"] == [] and "volume being collected" not in r.stderr


def test_usage_errors_exit_2(host, tmp_path):
    r = triage("collect", "--target", tmp_path / "nowhere", "--output", tmp_path / "out")
    assert r.returncode == 2 and "is not a directory" in r.stderr and "Traceback" not in r.stderr
    assert triage("collect", "--target", host, "--max-size", "lots").returncode == 2
    assert triage("collect", "--target", host, "--output", tmp_path / "o", "--profile", "no-such").returncode == 2
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").glob("*.zip"))
