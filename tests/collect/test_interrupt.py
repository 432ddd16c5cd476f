"""Interrupted collections: kill -9 at several points, Ctrl-C, a full disk. Every file finished before
the interruption must be recoverable and checked against the hash recorded while collecting."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from triage.bundle.manifest import COLLECTED
from triage.bundle.reader import BundleReader
from triage.bundle.recover import recover_bundle
from triage.bundle.verify import verify_bundle


@pytest.fixture(scope="module")
def big_host(make_hosts):
    """~90 MB of artifacts (event logs scaled 8x) so a collection lasts long enough to be cut."""
    return make_hosts(hosts=1, seed=3, scale=8, filler_mb=1) / "host-000"


def _start(host: Path, out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "triage", "collect", "--target", str(host), "--output", str(out),
                             "--quiet", *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for_bytes(out: Path, proc: subprocess.Popen, threshold: int) -> Path:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for p in out.glob("*.zip"):
            if p.stat().st_size >= threshold:
                return p
        if proc.poll() is not None:
            pytest.fail(f"collection finished before reaching {threshold} bytes: {proc.stderr.read()!r}")
        time.sleep(0.001)
    pytest.fail("collection did not start")


def _source_sha(host: Path, original: str) -> str:
    return hashlib.sha256((host / original[3:].replace("\\", "/")).read_bytes()).hexdigest()


@pytest.mark.parametrize("threshold", [200_000, 20_000_000, 60_000_000])
def test_kill9_then_recover(big_host, tmp_path, threshold):
    out = tmp_path / "out"
    proc = _start(big_host, out, "--compression", "store")
    bundle = _wait_for_bytes(out, proc, threshold)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    report = verify_bundle(bundle)
    assert not report.ok and report.incomplete
    assert any("triage recover" in p for p in report.problems)
    dest, record = recover_bundle(bundle, tmp_path / "rec")
    assert verify_bundle(dest).ok
    assert record["recovery"]["source_sha256"] == report.sha256
    with BundleReader(dest) as b:
        got = [e for e in b.entries if e.outcome == COLLECTED]
        assert b.collection["status"] == "recovered" and b.collection["hostname"] == "host-000"
        for e in got:
            assert e.sha256 == _source_sha(big_host, e.path)
    assert report.recoverable == len(got)
    # the further the collection got, the more it recovers; even the earliest cut keeps whole files only
    assert len(got) >= (1 if threshold > 1_000_000 else 0)


def test_kill9_deflate_recovers(big_host, tmp_path):
    out = tmp_path / "out"
    proc = _start(big_host, out)
    bundle = _wait_for_bytes(out, proc, 3_000_000)
    proc.kill()
    proc.wait()
    dest, _ = recover_bundle(bundle, tmp_path / "rec")
    assert verify_bundle(dest).ok
    with BundleReader(dest) as b:
        assert sum(1 for e in b.entries if e.outcome == COLLECTED) >= 1


def test_ctrl_c_finishes_bundle_marked_interrupted(big_host, tmp_path):
    out = tmp_path / "out"
    proc = _start(big_host, out, "--compression", "store")
    bundle = _wait_for_bytes(out, proc, 10_000_000)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 4
    report = verify_bundle(bundle)
    assert report.incomplete and not report.ok
    assert any("interrupted" in p for p in report.problems)
    # only the interruption is wrong: every hash that is there checks out
    assert all("interrupted" in p for p in report.problems), report.problems
    with BundleReader(bundle) as b:
        assert b.collection["status"] == "interrupted"
        assert any(e.outcome == "skipped_interrupted" for e in b.entries)
    dest, _ = recover_bundle(bundle, tmp_path / "rec")
    assert verify_bundle(dest).ok


def test_sigterm_is_a_clean_interruption(big_host, tmp_path):
    out = tmp_path / "out"
    proc = _start(big_host, out, "--compression", "store")
    bundle = _wait_for_bytes(out, proc, 10_000_000)
    proc.terminate()
    assert proc.wait(timeout=60) == 4
    with BundleReader(bundle) as b:
        assert b.collection["status"] == "interrupted"


def test_full_disk(big_host, tmp_path):
    mnt = tmp_path / "stick"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mnt)]).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root) to fill a disk for real")
    try:
        proc = _start(big_host, mnt, "--compression", "store")
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 1  # exit_codes.EVIDENCE: the bundle could not be written
        assert b"No space left" in err and b"triage recover" in err
        assert b"Traceback" not in err
        bundle = next(mnt.glob("*.zip"))
        assert verify_bundle(bundle).incomplete
        dest, _ = recover_bundle(bundle, tmp_path / "rec")
        assert verify_bundle(dest).ok
        with BundleReader(dest) as b:
            for e in b.entries:
                if e.outcome == COLLECTED:
                    assert e.sha256 == _source_sha(big_host, e.path)
    finally:
        subprocess.run(["umount", str(mnt)])
