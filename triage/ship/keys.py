"""Analyst key pairs for encrypted bundles: X25519, PEM on disk, a short id naming each recipient.

Why apart from the format: ``triage keygen`` and the loading of ``--encrypt-to``/``--key`` files need only
this, and a key file is the one thing an analyst handles by hand, so its rules (never overwrite, 0600,
passphrase-protected PKCS#8) are kept in one short module.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey


def generate_key_pair() -> tuple[X25519PrivateKey, X25519PublicKey]:
    private = X25519PrivateKey.generate()
    return private, private.public_key()


def key_id(public_key: X25519PublicKey) -> str:
    """First 8 bytes of SHA-256 of the raw public key, hex: names a recipient in headers and messages."""
    return hashlib.sha256(raw_public(public_key)).hexdigest()[:16]


def raw_public(public_key: X25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def save_key_pair(private_key: X25519PrivateKey, private_path: Path, public_path: Path,
                  passphrase: bytes | None = None) -> None:
    """Write PKCS#8 PEM (mode 0600, encrypted when a passphrase is given) and SubjectPublicKeyInfo PEM.

    Never overwrites: an analyst key silently replaced would make every bundle encrypted to it unreadable.
    """
    private_path, public_path = Path(private_path), Path(public_path)
    algorithm = (serialization.BestAvailableEncryption(passphrase) if passphrase
                 else serialization.NoEncryption())
    pem = private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, algorithm)
    pub = private_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo)
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    os.chmod(private_path, 0o600)
    fd = os.open(public_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pub)


def load_public_key(path: str | Path) -> X25519PublicKey:
    try:
        key = serialization.load_pem_public_key(Path(path).read_bytes())
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{path}: not a PEM public key ({exc})") from None
    if not isinstance(key, X25519PublicKey):
        raise ValueError(f"{path}: not an X25519 public key (make one with 'triage keygen')")
    return key


def private_key_is_encrypted(path: str | Path) -> bool:
    return b"ENCRYPTED PRIVATE KEY" in Path(path).read_bytes()[:200]


def load_private_key(path: str | Path, passphrase: bytes | None = None) -> X25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=passphrase or None)
    except TypeError as exc:   # passphrase missing / given for an unencrypted key
        raise ValueError(f"{path}: {exc}") from None
    except ValueError as exc:
        raise ValueError(f"{path}: cannot load private key (wrong passphrase?): {exc}") from None
    if not isinstance(key, X25519PrivateKey):
        raise ValueError(f"{path}: not an X25519 private key")
    return key


def as_public_key(key: X25519PublicKey | bytes | str | Path) -> X25519PublicKey:
    if isinstance(key, X25519PublicKey):
        return key
    if isinstance(key, bytes):
        if len(key) != 32:
            raise ValueError(f"a raw X25519 public key is 32 bytes, not {len(key)}")
        return X25519PublicKey.from_public_bytes(key)
    return load_public_key(key)
