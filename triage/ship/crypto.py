"""Encrypted bundles (``.tbe``): hybrid X25519 + AES-256-GCM, streamed, names hidden.

Why this shape: a bundle holds credentials and personal data and is written on a suspect host
that must never hold a key able to read it back. So the host only has analysts' *public* keys;
each bundle gets a fresh random content key, wrapped to every recipient with an ephemeral X25519
key agreement (like age / HPKE base mode). The payload is cut into fixed-size segments, each
sealed with AES-256-GCM whose nonce is the segment counter plus a "final segment" flag (the STREAM
construction age uses), so reordering, dropping, truncating or flipping any byte is detected, and
the collector can write the ZIP straight through :class:`EncryptingWriter` without ever putting
plaintext on disk. The real bundle name (it carries the hostname) travels in an encrypted, padded
metadata block; the outer file gets a random name. Only primitives from ``cryptography`` are used.
The byte layout is documented in docs/ship-format.md.

This module is the format itself: its constants, the primitives (key wrap, HKDF, segment nonces) and the
reading of the clear header and the segment framing. Keys live in :mod:`triage.ship.keys`, writing in
:mod:`triage.ship.encrypt`, decrypting and verifying in :mod:`triage.ship.decrypt`.
"""

from __future__ import annotations

import base64
import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from triage.ship.keys import key_id, raw_public

MAGIC = b"TRIAGEBE"
FORMAT_VERSION = 1
SUFFIX = ".tbe"
DEFAULT_SEGMENT_SIZE = 1 << 20          # 1 MiB of plaintext per segment
MAX_SEGMENT_SIZE = 64 << 20
MIN_SEGMENT_SIZE = 1 << 10
TAG_SIZE = 16
MAX_HEADER_SIZE = 1 << 20               # a header is a few hundred bytes per recipient
MAX_META_SIZE = 1 << 16
META_PAD = 512                          # metadata plaintext padded to a multiple: hides the name's length
MAX_COUNTER = (1 << 88) - 1             # 11-byte segment counter
CIPHER = "AES-256-GCM"
WRAP_INFO = b"triage-bundle v1 X25519 key wrap"
META_INFO = b"triage-bundle v1 metadata"
PAYLOAD_INFO = b"triage-bundle v1 payload"
ZERO_NONCE = bytes(12)


class Readable(Protocol):
    """What the readers need of a file: ``read(n)`` (a file, or a reader that hashes what passes)."""

    def read(self, n: int, /) -> bytes: ...


class DecryptError(Exception):
    """The file cannot be decrypted: not ours, not a recipient, wrong passphrase, or tampered."""


def hkdf(secret: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(secret)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: object) -> bytes:
    if not isinstance(text, str):
        raise ValueError("expected base64 text")
    return base64.b64decode(text, validate=True)


def wrap_key(content_key: bytes, recipient: X25519PublicKey) -> dict:
    ephemeral = X25519PrivateKey.generate()
    epk = raw_public(ephemeral.public_key())
    shared = ephemeral.exchange(recipient)
    kek = hkdf(shared, epk + raw_public(recipient), WRAP_INFO)
    wrapped = AESGCM(kek).encrypt(ZERO_NONCE, content_key, None)   # kek is single-use: fixed nonce is safe
    return {"type": "X25519", "kid": key_id(recipient), "epk": b64(epk), "wrapped": b64(wrapped)}


def unwrap_key(stanza: dict, private_key: X25519PrivateKey) -> bytes | None:
    """The content key if this stanza is for ``private_key`` and authentic, else None."""
    try:
        epk = unb64(stanza.get("epk"))
        wrapped = unb64(stanza.get("wrapped"))
        shared = private_key.exchange(X25519PublicKey.from_public_bytes(epk))
        kek = hkdf(shared, epk + raw_public(private_key.public_key()), WRAP_INFO)
        key = AESGCM(kek).decrypt(ZERO_NONCE, wrapped, None)
    except (InvalidTag, ValueError, TypeError, AttributeError):
        return None
    return key if len(key) == 32 else None


def segment_nonce(counter: int, final: bool) -> bytes:
    if counter > MAX_COUNTER:
        raise OverflowError("segment counter exhausted")
    return counter.to_bytes(11, "big") + (b"\x01" if final else b"\x00")


@dataclass(slots=True)
class EncryptedHeader:
    """What can be read without a key."""
    version: int
    cipher: str
    segment_size: int
    salt: bytes
    recipients: list[dict]
    prefix: bytes            # magic .. header JSON: the AAD of the metadata block
    meta: bytes              # sealed metadata block
    payload_offset: int

    @property
    def recipient_ids(self) -> list[str]:
        return [str(r.get("kid", "?")) for r in self.recipients]


def is_encrypted(path: str | Path) -> bool:
    """True when the file starts with the ``.tbe`` magic (cheap: reads 8 bytes)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


def read_header(fh: Readable) -> EncryptedHeader:
    """Parse and bound-check the clear header; raises ValueError naming what is wrong."""
    start = fh.read(13)
    if len(start) < 13 or start[:8] != MAGIC:
        raise ValueError("not an encrypted triage bundle (bad magic)")
    if start[8] != FORMAT_VERSION:
        raise ValueError(f"unsupported format version {start[8]}")
    (hlen,) = struct.unpack(">I", start[9:13])
    if not 2 <= hlen <= MAX_HEADER_SIZE:
        raise ValueError(f"header length {hlen} out of bounds")
    header_json = fh.read(hlen)
    if len(header_json) != hlen:
        raise ValueError("truncated header")
    try:
        header = json.loads(header_json)
        segment_size = int(header["segment_size"])
        salt = unb64(header["salt"])
        recipients = header["recipients"]
        cipher = header["cipher"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"malformed header: {exc}") from None
    if cipher != CIPHER or header.get("v") != FORMAT_VERSION:
        raise ValueError(f"unsupported cipher/version {cipher!r}/{header.get('v')!r}")
    if not MIN_SEGMENT_SIZE <= segment_size <= MAX_SEGMENT_SIZE:
        raise ValueError(f"segment size {segment_size} out of bounds")
    if len(salt) != 16 or not isinstance(recipients, list) or not recipients \
            or not all(isinstance(r, dict) for r in recipients):
        raise ValueError("malformed header: salt or recipients")
    mlen_raw = fh.read(4)
    if len(mlen_raw) != 4:
        raise ValueError("truncated before metadata block")
    (mlen,) = struct.unpack(">I", mlen_raw)
    if not TAG_SIZE < mlen <= MAX_META_SIZE:
        raise ValueError(f"metadata length {mlen} out of bounds")
    meta = fh.read(mlen)
    if len(meta) != mlen:
        raise ValueError("truncated metadata block")
    return EncryptedHeader(FORMAT_VERSION, cipher, segment_size, salt, recipients,
                           start + header_json, meta, 13 + hlen + 4 + mlen)


def open_keys(header: EncryptedHeader, private_key: X25519PrivateKey) -> tuple[AESGCM, dict]:
    """Unwrap the content key and open the metadata; DecryptError when not a recipient or tampered."""
    mine = key_id(private_key.public_key())
    stanzas = sorted(header.recipients, key=lambda r: r.get("kid") != mine)   # ours first, then the rest
    for stanza in stanzas:
        content_key = unwrap_key(stanza, private_key)
        if content_key is None:
            continue
        try:
            meta_plain = AESGCM(hkdf(content_key, header.salt, META_INFO)).decrypt(
                ZERO_NONCE, header.meta, header.prefix)
            meta = json.loads(meta_plain)
        except (InvalidTag, ValueError):
            raise DecryptError("header or metadata block was modified (authentication failed)") from None
        if not isinstance(meta, dict) or not isinstance(meta.get("name"), str):
            raise DecryptError("metadata block malformed")
        return AESGCM(hkdf(content_key, header.salt, PAYLOAD_INFO)), meta
    raise DecryptError(f"this key ({mine}) is not a recipient of this bundle "
                       f"(recipients: {', '.join(header.recipient_ids)})")


def read_segments(fh: Readable, header: EncryptedHeader, total_size: int, lenient: bool = False):
    """Yield (index, sealed bytes, is_final) for the payload; ValueError on an impossible layout.

    ``lenient`` (recovery) yields whatever is there instead, a cut-off tail included.
    """
    sealed = header.segment_size + TAG_SIZE
    payload = total_size - header.payload_offset
    full, rest = divmod(max(0, payload), sealed)
    if lenient:
        count = full + (1 if rest else 0)
    elif payload < TAG_SIZE:
        raise ValueError("truncated: no payload segment")
    elif rest == 0:
        count = full
    elif rest >= TAG_SIZE:
        count = full + 1
    else:
        raise ValueError(f"payload length {payload} impossible for segment size {header.segment_size}"
                         " (truncated or padded)")
    for i in range(count):
        block = fh.read(sealed)
        if not block:
            raise ValueError("file shrank while being read")
        yield i, block, i == count - 1


def inner_name_ok(name: str) -> bool:
    return bool(name) and name not in (".", "..") and not any(c in name for c in "/\\\x00") \
        and not any(ord(c) < 32 for c in name) and len(name) <= 255
