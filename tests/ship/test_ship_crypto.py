"""Encrypted bundles: round trips on real bundles, tamper and truncation detection, recipients, keys."""

from __future__ import annotations

import os
import stat
import subprocess
import zipfile
from pathlib import Path

import pytest
from shiptools import sha256_file, triage

from triage.bundle.verify import verify_bundle
from triage.commands.verify import verify_path
from triage.ship import crypto, decrypt, encrypt, keys


def _flip(src: Path, dst: Path, offset: int) -> Path:
    data = bytearray(src.read_bytes())
    data[offset] ^= 0x01
    dst.write_bytes(bytes(data))
    return dst


@pytest.fixture(scope="module")
def encrypted_real(real_bundle, analyst_keys, tmp_path_factory) -> Path:
    _, pub, _ = analyst_keys
    return encrypt.encrypt_file(real_bundle, tmp_path_factory.mktemp("enc"), [pub], segment_size=64 << 10)


def test_round_trip_real_bundle(real_bundle, encrypted_real, analyst_keys, tmp_path):
    priv, _, _ = analyst_keys
    assert crypto.is_encrypted(encrypted_real) and not crypto.is_encrypted(real_bundle)
    result = decrypt.decrypt_file(encrypted_real, tmp_path, priv)
    assert result.path == tmp_path / real_bundle.name          # real name restored from inside
    assert sha256_file(result.path) == sha256_file(real_bundle) == result.sha256
    report = verify_bundle(result.path)                          # the decrypted bundle is the collector's
    assert report.ok, report.problems
    assert report.checked > 10


def test_names_hidden(real_bundle, encrypted_real):
    hostname_part = real_bundle.name.split("_")[0].encode()
    data = encrypted_real.read_bytes()
    assert hostname_part not in data and real_bundle.name.encode() not in data
    assert hostname_part.decode() not in encrypted_real.name
    assert b"files/C/Windows" not in data            # member names of the zip are inside the ciphertext


def test_verify_with_and_without_key(encrypted_real, analyst_keys):
    priv, _, _ = analyst_keys
    without = decrypt.verify_encrypted(encrypted_real)
    assert without.ok and without.sidecar == "match" and without.checked == 0 and without.segments > 1
    with_key = decrypt.verify_encrypted(encrypted_real, priv)
    assert with_key.ok and with_key.checked == with_key.segments and with_key.inner_name.endswith(".zip")
    # triage verify's entry point dispatches encrypted files to verify_encrypted
    assert verify_path(encrypted_real).ok and verify_path(encrypted_real, private_key=priv).ok
    # the bundle layer alone does not read the shipping format: it says what to do instead
    alone = verify_bundle(encrypted_real)
    assert alone.encrypted and not alone.ok and "triage verify" in alone.problems[0]


@pytest.mark.parametrize("where", ["header-json", "metadata", "first-segment", "middle-segment", "last-tag"])
def test_flipped_byte_detected(encrypted_real, analyst_keys, tmp_path, where):
    priv, _, _ = analyst_keys
    with open(encrypted_real, "rb") as fh:
        header = crypto.read_header(fh)
    size = encrypted_real.stat().st_size
    offset = {"header-json": 20, "metadata": header.payload_offset - 5,
              "first-segment": header.payload_offset + 3,
              "middle-segment": header.payload_offset + (size - header.payload_offset) // 2,
              "last-tag": size - 1}[where]
    bad = _flip(encrypted_real, tmp_path / encrypted_real.name, offset)
    (tmp_path / (bad.name + ".sha256")).write_text((encrypted_real.parent / (encrypted_real.name + ".sha256"))
                                                   .read_text())
    report = decrypt.verify_encrypted(bad, priv)
    assert not report.ok and report.problems
    assert not decrypt.verify_encrypted(bad).ok               # without the key: the sidecar catches it
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises((crypto.DecryptError, ValueError)):
        decrypt.decrypt_file(bad, out, priv)
    assert list(out.iterdir()) == []                         # no plaintext from a tampered file


def test_truncation_detected_and_recoverable(encrypted_real, analyst_keys, tmp_path, real_bundle):
    priv, _, _ = analyst_keys
    with open(encrypted_real, "rb") as fh:
        header = crypto.read_header(fh)
    sealed = header.segment_size + crypto.TAG_SIZE
    data = encrypted_real.read_bytes()
    at_boundary = tmp_path / "boundary.tbe"
    at_boundary.write_bytes(data[:header.payload_offset + 3 * sealed])
    report = decrypt.verify_encrypted(at_boundary, priv)
    assert not report.ok and report.incomplete and report.checked == 3
    with pytest.raises(crypto.DecryptError, match="truncated"):
        decrypt.decrypt_file(at_boundary, tmp_path / "x.zip", priv)
    partial = decrypt.decrypt_file(at_boundary, tmp_path / "partial.zip", priv, allow_truncated=True)
    assert partial.truncated and partial.size == 3 * header.segment_size
    assert partial.path.read_bytes() == real_bundle.read_bytes()[:partial.size]
    mid = tmp_path / "mid.tbe"                      # killed mid-write: cut inside a segment
    mid.write_bytes(data[:header.payload_offset + 3 * sealed + 100])
    report = decrypt.verify_encrypted(mid, priv)
    assert not report.ok and report.incomplete and report.checked == 3
    assert not decrypt.verify_encrypted(mid).ok
    with pytest.raises((crypto.DecryptError, ValueError)):
        decrypt.decrypt_file(mid, tmp_path / "y.zip", priv)
    cut = decrypt.decrypt_file(mid, tmp_path / "cut.zip", priv, allow_truncated=True)
    assert cut.truncated and cut.path.read_bytes() == partial.path.read_bytes()
    early = bytearray(data[:header.payload_offset + 3 * sealed + 100])
    early[header.payload_offset + 10] ^= 1          # damage before the cut is never excused
    (tmp_path / "early.tbe").write_bytes(bytes(early))
    with pytest.raises(crypto.DecryptError):
        decrypt.decrypt_file(tmp_path / "early.tbe", tmp_path / "z.zip", priv, allow_truncated=True)
    appended = tmp_path / "appended.tbe"
    appended.write_bytes(data + b"\0" * 40)
    assert not decrypt.verify_encrypted(appended, priv).ok
    garbage = tmp_path / "garbage.tbe"
    garbage.write_bytes(data[:9] + b"\xff\xff\xff\xff" + os.urandom(200))
    assert not decrypt.verify_encrypted(garbage).ok          # hostile header length: a problem, no exception


def test_recipients(real_bundle, tmp_path):
    a_priv, a_pub = keys.generate_key_pair()
    b_priv, b_pub = keys.generate_key_pair()
    outsider, _ = keys.generate_key_pair()
    enc = encrypt.encrypt_file(real_bundle, tmp_path, [a_pub, b_pub])
    for i, key in enumerate((a_priv, b_priv)):
        d = tmp_path / f"r{i}"
        d.mkdir()
        assert decrypt.decrypt_file(enc, d, key).sha256 == sha256_file(real_bundle)
    d = tmp_path / "outsider"
    d.mkdir()
    with pytest.raises(crypto.DecryptError, match="not a recipient"):
        decrypt.decrypt_file(enc, d, outsider)
    assert list(d.iterdir()) == []
    report = decrypt.verify_encrypted(enc, outsider)
    assert not report.ok and "not a recipient" in report.problems[0]


def test_zipfile_streams_into_encrypting_writer(tmp_path):
    """zipfile writes through the non-seekable writer (data descriptors) and reads back intact."""
    priv, pub = keys.generate_key_pair()
    payload = os.urandom(300_000)
    with open(tmp_path / "z.tbe", "wb") as fh:
        w = encrypt.EncryptingWriter(fh, [pub], "h_20260101T000000Z.zip", segment_size=4096)
        with zipfile.ZipFile(w, "w", compression=zipfile.ZIP_DEFLATED) as z:
            z.writestr("a", payload)
            with z.open("b", "w") as m:
                for _ in range(5):
                    m.write(payload[:50_000])
        w.close()
    out = decrypt.decrypt_file(tmp_path / "z.tbe", tmp_path / "plain.zip", priv)
    assert out.sha256 == w.plain_sha256
    with zipfile.ZipFile(out.path) as z:
        assert z.testzip() is None and z.read("a") == payload and z.read("b") == payload[:50_000] * 5


def test_abandoned_writer_reads_as_truncated(tmp_path):
    priv, pub = keys.generate_key_pair()
    with open(tmp_path / "a.tbe", "wb") as fh, pytest.raises(RuntimeError), \
            encrypt.EncryptingWriter(fh, [pub], "x.zip", segment_size=1024) as w:
        w.write(b"x" * 5000)
        raise RuntimeError("collector died")
    report = decrypt.verify_encrypted(tmp_path / "a.tbe", priv)
    assert not report.ok and report.incomplete


def test_collect_encrypt_to(make_hosts, analyst_keys, tmp_path):
    """``triage collect --encrypt-to`` leaves only ciphertext (random name) that decrypts to a valid bundle."""
    priv, _, keydir = analyst_keys
    hosts = make_hosts(hosts=1, seed=0, filler_mb=1)
    r = triage("collect", "--target", hosts / "host-000", "--output", tmp_path / "out", "--quiet",
               "--encrypt-to", keydir / "analyst.pub")
    assert r.returncode == 0, r.stderr
    (enc,) = (tmp_path / "out").glob("*.tbe")
    assert not list((tmp_path / "out").glob("*.zip"))
    assert b"host-000" not in enc.read_bytes()
    report = decrypt.verify_encrypted(enc, priv)
    assert report.checked == report.segments and report.inner_name.startswith("host-000_")
    r = triage("decrypt", enc, "--key", keydir / "analyst.key", "--output", tmp_path)
    assert r.returncode == 0, r.stderr
    plain = tmp_path / report.inner_name
    assert verify_bundle(plain).ok


def test_collect_encrypt_to_sidecar_matches(make_hosts, analyst_keys, tmp_path):
    hosts = make_hosts(hosts=1, seed=0, filler_mb=1)
    r = triage("collect", "--target", hosts / "host-000", "--output", tmp_path, "--quiet",
               "--encrypt-to", analyst_keys[2] / "analyst.pub")
    assert r.returncode == 0, r.stderr
    (enc,) = tmp_path.glob("*.tbe")
    assert decrypt.verify_encrypted(enc).sidecar == "match"


def test_keygen_files_and_passphrase(tmp_path, real_bundle):
    (tmp_path / "pw").write_text("correct horse battery staple\n")
    r = triage("keygen", "--out", tmp_path / "k", "--passphrase-file", tmp_path / "pw")
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE((tmp_path / "k.key").stat().st_mode) == 0o600
    assert keys.private_key_is_encrypted(tmp_path / "k.key")
    assert triage("keygen", "--out", tmp_path / "k").returncode == 2      # never overwrites a key (usage)
    enc = encrypt.encrypt_file(real_bundle, tmp_path, [keys.load_public_key(tmp_path / "k.pub")])
    out = tmp_path / "out"
    out.mkdir()
    r = triage("decrypt", enc, "--key", tmp_path / "k.key", "--output", out, stdin=subprocess.DEVNULL)
    assert r.returncode == 2 and "passphrase" in r.stderr and not list(out.iterdir())
    (tmp_path / "wrong").write_text("nope\n")
    r = triage("decrypt", enc, "--key", tmp_path / "k.key", "--output", out, "--passphrase-file", tmp_path / "wrong")
    assert r.returncode == 2 and not list(out.iterdir())
    r = triage("decrypt", enc, "--key", tmp_path / "k.key", "--output", out, "--passphrase-file", tmp_path / "pw")
    assert r.returncode == 0, r.stderr
    assert sha256_file(out / real_bundle.name) == sha256_file(real_bundle)
    r = triage("verify", enc)
    assert r.returncode == 0, r.stdout + r.stderr
