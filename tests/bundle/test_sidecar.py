"""The .sha256 sidecar's one home: sha256sum's format, a bounded read of a hostile sidecar."""

from __future__ import annotations

import subprocess

import pytest

from triage.bundle import sidecar as S

SHA = "ab" * 32


def test_write_is_sha256sum_format(tmp_path):
    bundle = tmp_path / "host_20260101T000000Z.zip"
    bundle.write_bytes(b"evidence")
    side = S.write_sidecar(bundle, SHA)
    assert side == S.sidecar_path(bundle) == tmp_path / "host_20260101T000000Z.zip.sha256"
    assert side.read_text() == f"{SHA}  host_20260101T000000Z.zip\n"
    assert S.read_sidecar(bundle) == SHA


def test_sha256sum_accepts_it(tmp_path):
    import hashlib
    import shutil

    if shutil.which("sha256sum") is None:
        pytest.skip("no sha256sum")
    bundle = tmp_path / "b.zip"
    bundle.write_bytes(b"evidence")
    S.write_sidecar(bundle, hashlib.sha256(b"evidence").hexdigest())
    assert subprocess.run(["sha256sum", "-c", "b.zip.sha256"], cwd=tmp_path, capture_output=True).returncode == 0


def test_missing_empty_and_huge(tmp_path):
    bundle = tmp_path / "b.zip"
    assert S.read_sidecar(bundle) is None
    with pytest.raises(OSError):
        S.sidecar_words(bundle)
    S.sidecar_path(bundle).write_text("")
    assert S.read_sidecar(bundle) is None
    S.sidecar_path(bundle).write_bytes(SHA.upper().encode() + b"  b.zip " + b"x" * (10 * S.MAX_BYTES))
    words = S.sidecar_words(bundle)
    assert words[0] == SHA.upper() and sum(map(len, words)) + len(words) <= S.MAX_BYTES + 1
    assert S.read_sidecar(bundle) == SHA
