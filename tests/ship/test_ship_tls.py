"""TLS: the server serves a certificate from the command line; the client verifies it (CA file) or
pins its SHA-256, and refuses anything else."""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from shiptools import TOKEN_A, make_encrypted, sha256_file, triage


def _self_signed(directory, common_name: str = "127.0.0.1"):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(common_name))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path, hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


@pytest.fixture
def tls_server(serve, tmp_path):
    cert, key, fingerprint = _self_signed(tmp_path)
    server = serve("--tls-cert", str(cert), "--tls-key", str(key))
    assert server.url.startswith("https://")
    return server, cert, fingerprint


def test_tls_ca_file_and_pin(tls_server, analyst_keys, tmp_path):
    server, cert, fingerprint = tls_server
    _, pub, _ = analyst_keys
    one = make_encrypted(tmp_path / "1", 100_000, pub, seed=11)
    two = make_encrypted(tmp_path / "2", 100_000, pub, seed=12)
    r = triage("upload", one, "--to", server.url, "--token", TOKEN_A, "--ca-file", cert)
    assert r.returncode == 0, r.stderr
    colon_pin = ":".join(fingerprint[i:i + 2] for i in range(0, 64, 2)).upper()   # as openssl prints it
    r = triage("upload", two, "--to", server.url, "--token", TOKEN_A, "--pin-sha256", colon_pin)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["sha256"] == sha256_file(server.store / "a" / two.name)


def test_tls_untrusted_or_wrong_pin_refused(tls_server, analyst_keys, tmp_path):
    server, _cert, fingerprint = tls_server
    _, pub, _ = analyst_keys
    bundle = make_encrypted(tmp_path / "b", 50_000, pub, seed=13)
    r = triage("upload", bundle, "--to", server.url, "--token", TOKEN_A)      # system CAs only
    assert r.returncode == 5 and "TLS" in r.stderr
    wrong = fingerprint[:-1] + ("0" if fingerprint[-1] != "0" else "1")
    r = triage("upload", bundle, "--to", server.url, "--token", TOKEN_A, "--pin-sha256", wrong)
    assert r.returncode == 5 and "TLS" in r.stderr
    assert not (server.store / "a").exists()
