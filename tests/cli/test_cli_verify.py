"""``triage verify`` and ``triage recover`` on real bundles, damaged bundles and files that are not
bundles: what they print and how they exit (:mod:`triage.exit_codes`)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from _cli import collect, triage

from triage.bundle.kind import ENCRYPTED_MAGIC, file_kind


@pytest.fixture(scope="module")
def bundle(make_hosts, tmp_path_factory) -> Path:
    return collect(make_hosts(hosts=1, seed=4, filler_mb=1) / "host-000", tmp_path_factory.mktemp("b"))


def test_verify_exit_codes_and_not_a_bundle(bundle, tmp_path):
    text = tmp_path / "photo.zip"
    text.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    r = triage("verify", bundle)
    assert r.returncode == 0 and r.stdout.startswith("OK  ")
    r = triage("verify", bundle, text)
    assert r.returncode == 1
    assert f"NOT A BUNDLE  {text}\n  - not a bundle: it does not start with a ZIP header" in r.stdout
    assert "recover" not in r.stdout                 # not sent off to recover a picture
    r = triage("verify", bundle, tmp_path / "gone.zip")
    assert r.returncode == 2 and "gone.zip: no such file" in r.stderr and r.stdout.startswith("OK  ")
    r = triage("verify", "--json", bundle, text)
    states = [(Path(d["path"]).name, d["state"], d["ok"]) for d in json.loads(r.stdout)]
    assert r.returncode == 1 and states == [(bundle.name, "ok", True), ("photo.zip", "not_a_bundle", False)]


def test_verify_escapes_hostile_names(bundle, tmp_path):
    evil = tmp_path / "x\x1b[31m\u202e.zip"
    shutil.copy(bundle, evil)                       # no sidecar under that name: INCOMPLETE
    r = triage("verify", evil)
    assert r.returncode == 1
    assert "\x1b" not in r.stdout and "\u202e" not in r.stdout and "x\\x1b[31m\\u202e.zip" in r.stdout


def test_recover_exit_codes(bundle, tmp_path):
    cut = tmp_path / bundle.name
    data = bundle.read_bytes()
    cut.write_bytes(data[: len(data) * 2 // 3])       # as after a pulled USB stick
    r = triage("recover", cut, "--output", tmp_path / "rec")
    lost = [ln for ln in r.stdout.splitlines() if ln.startswith("  lost: ")]
    assert r.returncode == (4 if lost else 0), r.stdout + r.stderr
    (recovered,) = (tmp_path / "rec").glob("*.zip")
    assert triage("verify", recovered).returncode in (0, 1)   # it has no sidecar of the original
    junk = tmp_path / "junk.zip"
    junk.write_text("not a bundle\n")
    r = triage("recover", junk, "--output", tmp_path / "rec2")
    assert r.returncode == 1 and "not a bundle" in r.stderr and not (tmp_path / "rec2").exists()
    assert triage("recover", tmp_path / "missing.zip").returncode == 2


def test_file_kind_by_content(bundle, tmp_path):
    assert file_kind(bundle).is_bundle
    enc = tmp_path / "renamed.zip"
    enc.write_bytes(ENCRYPTED_MAGIC + b"\x01rest")
    assert file_kind(enc).kind == "encrypted"
    empty = tmp_path / "e.zip"
    empty.write_bytes(b"")
    assert file_kind(empty).kind == "not_a_bundle" and "empty" in file_kind(empty).reason
    assert file_kind(tmp_path / "nope").kind == "unreadable"
    from triage.ship.crypto import MAGIC

    assert MAGIC == ENCRYPTED_MAGIC       # kind.py keeps its own copy so the collector needs no cryptography
