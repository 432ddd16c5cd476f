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
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

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
_WRAP_INFO = b"triage-bundle v1 X25519 key wrap"
_META_INFO = b"triage-bundle v1 metadata"
_PAYLOAD_INFO = b"triage-bundle v1 payload"
_ZERO_NONCE = bytes(12)


class DecryptError(Exception):
    """The file cannot be decrypted: not ours, not a recipient, wrong passphrase, or tampered."""


# ---------------------------------------------------------------------------------------------- keys

def generate_key_pair() -> tuple[X25519PrivateKey, X25519PublicKey]:
    private = X25519PrivateKey.generate()
    return private, private.public_key()


def key_id(public_key: X25519PublicKey) -> str:
    """First 8 bytes of SHA-256 of the raw public key, hex: names a recipient in headers and messages."""
    return hashlib.sha256(_raw_public(public_key)).hexdigest()[:16]


def _raw_public(public_key: X25519PublicKey) -> bytes:
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


def _as_public_key(key: X25519PublicKey | bytes | str | Path) -> X25519PublicKey:
    if isinstance(key, X25519PublicKey):
        return key
    if isinstance(key, bytes) and len(key) == 32:
        return X25519PublicKey.from_public_bytes(key)
    return load_public_key(key)


def _hkdf(secret: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(secret)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: object) -> bytes:
    if not isinstance(text, str):
        raise ValueError("expected base64 text")
    return base64.b64decode(text, validate=True)


def _wrap(content_key: bytes, recipient: X25519PublicKey) -> dict:
    ephemeral = X25519PrivateKey.generate()
    epk = _raw_public(ephemeral.public_key())
    shared = ephemeral.exchange(recipient)
    kek = _hkdf(shared, epk + _raw_public(recipient), _WRAP_INFO)
    wrapped = AESGCM(kek).encrypt(_ZERO_NONCE, content_key, None)   # kek is single-use: fixed nonce is safe
    return {"type": "X25519", "kid": key_id(recipient), "epk": _b64(epk), "wrapped": _b64(wrapped)}


def _unwrap(stanza: dict, private_key: X25519PrivateKey) -> bytes | None:
    """The content key if this stanza is for ``private_key`` and authentic, else None."""
    try:
        epk = _unb64(stanza.get("epk"))
        wrapped = _unb64(stanza.get("wrapped"))
        shared = private_key.exchange(X25519PublicKey.from_public_bytes(epk))
        kek = _hkdf(shared, epk + _raw_public(private_key.public_key()), _WRAP_INFO)
        key = AESGCM(kek).decrypt(_ZERO_NONCE, wrapped, None)
    except (InvalidTag, ValueError, TypeError, AttributeError):
        return None
    return key if len(key) == 32 else None


def _nonce(counter: int, final: bool) -> bytes:
    if counter > MAX_COUNTER:
        raise OverflowError("segment counter exhausted")
    return counter.to_bytes(11, "big") + (b"\x01" if final else b"\x00")


# ------------------------------------------------------------------------------------------ writing

class EncryptingWriter:
    """Write-only, non-seekable binary stream that encrypts everything written into ``raw``.

    Give it to ``zipfile.ZipFile(writer, "w")``: zipfile sees ``seek`` missing and writes data
    descriptors instead of seeking back. The header is written at once; plaintext is sealed in
    ``segment_size`` segments as it arrives; :meth:`close` seals the final segment. When the
    writer is abandoned (exception in ``with``, :meth:`abort`, garbage collection) the final
    segment is *not* written, so a reader sees the stream as truncated rather than complete —
    every whole segment already written stays decryptable for recovery.

    After close, ``sha256`` is the hex SHA-256 of every byte written to ``raw`` (the outer file,
    for the ``.sha256`` sidecar) and ``plain_sha256`` that of the plaintext.
    """

    def __init__(self, raw_fileobj: BinaryIO, recipient_public_keys, inner_name: str,
                 segment_size: int = DEFAULT_SEGMENT_SIZE, close_raw: bool = False) -> None:
        recipients = [_as_public_key(k) for k in recipient_public_keys]
        if not recipients:
            raise ValueError("at least one recipient public key is needed")
        if not MIN_SEGMENT_SIZE <= segment_size <= MAX_SEGMENT_SIZE:
            raise ValueError(f"segment size must be between {MIN_SEGMENT_SIZE} and {MAX_SEGMENT_SIZE}")
        if not inner_name or "/" in inner_name or "\\" in inner_name or "\x00" in inner_name:
            raise ValueError(f"inner name must be a plain file name: {inner_name!r}")
        self._raw = raw_fileobj
        self._close_raw = close_raw
        self._segment_size = segment_size
        self._buffer = bytearray(segment_size)
        self._fill = 0
        self._counter = 0
        self._written_plain = 0
        self._outer = hashlib.sha256()
        self._plain = hashlib.sha256()
        self.closed = False
        self.aborted = False
        self.sha256: str | None = None
        self.plain_sha256: str | None = None
        self.size = 0                       # bytes written to raw so far

        content_key = secrets.token_bytes(32)
        salt = secrets.token_bytes(16)
        header = {
            "v": FORMAT_VERSION, "cipher": CIPHER, "segment_size": segment_size, "salt": _b64(salt),
            "recipients": [_wrap(content_key, r) for r in recipients],
        }
        header_json = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
        prefix = MAGIC + bytes([FORMAT_VERSION]) + struct.pack(">I", len(header_json)) + header_json
        meta_plain = json.dumps({"name": inner_name}, separators=(",", ":")).encode()
        meta_plain += b" " * (-len(meta_plain) % META_PAD)
        meta_key = _hkdf(content_key, salt, _META_INFO)
        meta = AESGCM(meta_key).encrypt(_ZERO_NONCE, meta_plain, prefix)   # AAD binds the whole header
        self._aead = AESGCM(_hkdf(content_key, salt, _PAYLOAD_INFO))
        self._emit(prefix + struct.pack(">I", len(meta)) + meta)

    # io-like surface used by zipfile / shutil
    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readable(self) -> bool:
        return False

    def tell(self) -> int:
        """Plaintext bytes written so far (what zipfile needs for its offsets)."""
        return self._written_plain

    def write(self, data) -> int:
        if self.closed:
            raise ValueError("write to closed EncryptingWriter")
        view = memoryview(data).cast("B")
        n = len(view)
        self._plain.update(view)
        self._written_plain += n
        seg = self._segment_size
        pos = 0
        # A full buffer is sealed only once more data arrives: the last segment must carry the
        # final flag, and only close() knows which one is last.
        while pos < n:
            if self._fill == seg:
                self._seal(self._buffer, final=False)
                self._fill = 0
            take = min(seg - self._fill, n - pos)
            self._buffer[self._fill:self._fill + take] = view[pos:pos + take]
            self._fill += take
            pos += take
        return n

    def flush(self) -> None:
        if not self.closed:
            self._raw.flush()

    def close(self) -> None:
        """Seal the final segment and flush (closes ``raw`` only when ``close_raw``)."""
        if self.closed:
            return
        self._seal(bytes(self._buffer[:self._fill]), final=True)
        self._fill = 0
        self._raw.flush()
        self.closed = True
        self.sha256 = self._outer.hexdigest()
        self.plain_sha256 = self._plain.hexdigest()
        if self._close_raw:
            self._raw.close()

    def abort(self) -> None:
        """Stop without the final segment: readers will report the stream truncated."""
        if self.closed:
            return
        self.closed = self.aborted = True
        self._fill = 0
        try:
            self._raw.flush()
        finally:
            if self._close_raw:
                self._raw.close()

    def __enter__(self) -> EncryptingWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def _seal(self, plain: bytes, final: bool) -> None:
        self._emit(self._aead.encrypt(_nonce(self._counter, final), plain, None))
        self._counter += 1

    def _emit(self, data: bytes) -> None:
        self._raw.write(data)
        self._outer.update(data)
        self.size += len(data)


def encrypted_name() -> str:
    """Random outer name: the real name (hostname, time) stays inside the encrypted metadata."""
    return secrets.token_hex(12) + SUFFIX


def encrypt_file(src: str | Path, out_dir: str | Path, recipient_public_keys,
                 segment_size: int = DEFAULT_SEGMENT_SIZE) -> Path:
    """Encrypt an existing plain bundle into ``out_dir/<random>.tbe`` (+ ``.sha256`` sidecar)."""
    src, out_dir = Path(src), Path(out_dir)
    dst = out_dir / encrypted_name()
    part = dst.with_name(dst.name + ".part")
    with open(src, "rb") as fin, open(part, "xb") as fout:
        writer = EncryptingWriter(fout, recipient_public_keys, src.name, segment_size)
        try:
            while block := fin.read(segment_size):
                writer.write(block)
        except BaseException:
            writer.abort()
            part.unlink(missing_ok=True)
            raise
        writer.close()
        os.fsync(fout.fileno())
    part.rename(dst)
    write_sidecar(dst, writer.sha256)
    return dst


def encrypted_output(public_key_paths, segment_size: int = DEFAULT_SEGMENT_SIZE):
    """For ``CollectOptions.open_output``: ``open_output(final_path) -> (stream, written_path)``.

    The stream is an :class:`EncryptingWriter` over ``<dir>/<random>.tbe`` that owns the file
    (closing it seals the final segment and closes the file); the plain name (``final_path.name``,
    hostname and time) goes inside. Keys are loaded now, so a bad ``--encrypt-to`` fails before
    any collection starts. After close, the stream's ``sha256`` is the hash for the ``.tbe``
    sidecar (the collector's own hash is of the plaintext ZIP).
    """
    keys = [_as_public_key(Path(p) if isinstance(p, str) else p) for p in public_key_paths]
    if not keys:
        raise ValueError("no recipient keys")

    def open_output(final_path: Path):
        final_path = Path(final_path)
        out = final_path.parent / encrypted_name()
        raw = open(out, "xb")  # noqa: SIM115 - owned and closed by the EncryptingWriter
        return _FileBackedWriter(raw, keys, final_path.name, segment_size, close_raw=True), out

    return open_output


class _FileBackedWriter(EncryptingWriter):
    """EncryptingWriter over a real file: exposes ``fileno`` so the bundle writer can fsync."""

    def fileno(self) -> int:
        return self._raw.fileno()


def write_sidecar(path: str | Path, sha256_hex: str) -> Path:
    """``<name>.sha256`` holding ``"<hex>  <name>"`` (sha256sum format, as plain bundles have)."""
    path = Path(path)
    side = path.with_name(path.name + ".sha256")
    side.write_text(f"{sha256_hex}  {path.name}\n")
    return side


def read_sidecar(path: str | Path) -> str | None:
    side = Path(path).with_name(Path(path).name + ".sha256")
    try:
        text = side.read_text(errors="replace").split()
    except OSError:
        return None
    return text[0].lower() if text else None


# ------------------------------------------------------------------------------------------ reading

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


def read_header(fh: BinaryIO) -> EncryptedHeader:
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
        salt = _unb64(header["salt"])
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


def _open_keys(header: EncryptedHeader, private_key: X25519PrivateKey) -> tuple[AESGCM, dict]:
    """Unwrap the content key and open the metadata; DecryptError when not a recipient or tampered."""
    mine = key_id(private_key.public_key())
    stanzas = sorted(header.recipients, key=lambda r: r.get("kid") != mine)   # ours first, then the rest
    for stanza in stanzas:
        content_key = _unwrap(stanza, private_key)
        if content_key is None:
            continue
        try:
            meta_plain = AESGCM(_hkdf(content_key, header.salt, _META_INFO)).decrypt(
                _ZERO_NONCE, header.meta, header.prefix)
            meta = json.loads(meta_plain)
        except (InvalidTag, ValueError):
            raise DecryptError("header or metadata block was modified (authentication failed)") from None
        if not isinstance(meta, dict) or not isinstance(meta.get("name"), str):
            raise DecryptError("metadata block malformed")
        return AESGCM(_hkdf(content_key, header.salt, _PAYLOAD_INFO)), meta
    raise DecryptError(f"this key ({mine}) is not a recipient of this bundle "
                       f"(recipients: {', '.join(header.recipient_ids)})")


def _segments(fh: BinaryIO, header: EncryptedHeader, total_size: int, lenient: bool = False):
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


def decrypt_file(src: str | Path, dst: str | Path, private_key: X25519PrivateKey,
                 allow_truncated: bool = False) -> DecryptResult:
    """Decrypt ``src`` into ``dst`` (a directory: the file gets its real inner name; or a file path).

    Plaintext goes to ``<dst>.part`` and is renamed only after every segment authenticated, so an
    attacker's modified file never yields a plaintext file. With ``allow_truncated`` a stream that
    was cut off (collector killed, disk full: no final segment, maybe half a segment at the end)
    still yields every authentic whole segment before the cut, for ``triage recover``; the result
    says ``truncated=True``. A modified segment *before* the end is an error either way. A
    ``.sha256`` sidecar is written.
    """
    src, dst = Path(src), Path(dst)
    total = src.stat().st_size
    with open(src, "rb") as fh:
        header = read_header(fh)
        aead, meta = _open_keys(header, private_key)
        name = meta["name"]
        if not inner_name_ok(name):
            raise DecryptError(f"inner name is not a plain file name: {name!r}")
        out = dst / name if dst.is_dir() else dst
        if out.exists():
            raise FileExistsError(f"{out} exists: not overwriting")
        part = out.with_name(out.name + ".part")
        plain_hash = hashlib.sha256()
        truncated = False
        written = 0
        try:
            with open(part, "xb") as fout:
                for i, block, last in _segments(fh, header, total, lenient=allow_truncated):
                    try:
                        plain = aead.decrypt(_nonce(i, last), block, None)
                    except InvalidTag:
                        plain = None
                        if last and len(block) == header.segment_size + TAG_SIZE:
                            try:
                                plain = aead.decrypt(_nonce(i, False), block, None)
                            except InvalidTag:
                                pass
                            else:
                                if not allow_truncated:
                                    raise DecryptError("truncated: the final segment is missing") from None
                        if plain is None:
                            if not (last and allow_truncated):
                                raise DecryptError(f"segment {i} failed authentication "
                                                   "(modified or truncated)") from None
                            truncated = True      # cut inside the last segment: drop the partial tail
                            break
                        truncated = True
                    fout.write(plain)
                    plain_hash.update(plain)
                    written += len(plain)
                fout.flush()
                os.fsync(fout.fileno())
        except (DecryptError, ValueError):
            part.unlink(missing_ok=True)
            raise
        except BaseException:
            part.unlink(missing_ok=True)
            raise
    if out.exists():
        part.unlink(missing_ok=True)
        raise FileExistsError(f"{out} exists: not overwriting")
    part.rename(out)
    write_sidecar(out, plain_hash.hexdigest())
    return DecryptResult(path=out, inner_name=name, size=written, sha256=plain_hash.hexdigest(),
                         truncated=truncated)


@dataclass(slots=True)
class DecryptResult:
    path: Path
    inner_name: str
    size: int
    sha256: str
    truncated: bool = False


@dataclass(slots=True)
class EncryptedVerifyReport:
    """Same leading fields as triage.bundle.verify.VerifyReport so ``triage verify`` can print either."""
    ok: bool
    incomplete: bool = False
    problems: list[str] = field(default_factory=list)
    checked: int = 0                  # segments whose tag was checked (0 without a key)
    sha256: str = ""                  # of the encrypted file
    encrypted: bool = True
    sidecar: str = "missing"          # "match" | "mismatch" | "missing"
    recipients: list[str] = field(default_factory=list)
    segments: int = 0
    inner_name: str | None = None     # only with the key
    plain_sha256: str | None = None   # only with the key and a complete stream
    tags_checked: bool = False


def verify_encrypted(path: str | Path, private_key: X25519PrivateKey | None = None) -> EncryptedVerifyReport:
    """Check a ``.tbe`` without decrypting to disk.

    Without a key: magic, header bounds, segment framing, and the outer SHA-256 against the
    ``.sha256`` sidecar (a truncated or padded file fails the framing or the sidecar; no sidecar
    is a problem, as for plain bundles, since nothing then vouches for the content). With a key:
    also the metadata block and every segment's tag, including that the last one is final. Never
    raises for bad input: problems are listed and ``ok`` is False.
    """
    path = Path(path)
    report = EncryptedVerifyReport(ok=False)
    outer = hashlib.sha256()
    try:
        total = path.stat().st_size
        with open(path, "rb") as raw:
            fh = _HashingReader(raw, outer)
            header = read_header(fh)
            report.recipients = header.recipient_ids
            aead = None
            if private_key is not None:
                try:
                    aead, meta = _open_keys(header, private_key)
                    report.inner_name = meta["name"]
                    report.tags_checked = True
                except DecryptError as exc:
                    report.problems.append(str(exc))
            plain_hash = hashlib.sha256()
            # With the key, a cut-off tail is read and judged by its tags (a collector killed mid-write
            # leaves one); without it, the framing rule is the structural check.
            for i, block, last in _segments(fh, header, total, lenient=aead is not None):
                report.segments += 1
                if aead is None:
                    continue
                try:
                    plain_hash.update(aead.decrypt(_nonce(i, last), block, None))
                    report.checked += 1
                except InvalidTag:
                    if last and len(block) == header.segment_size + TAG_SIZE:
                        try:
                            aead.decrypt(_nonce(i, False), block, None)
                            report.checked += 1
                            report.incomplete = True
                            report.problems.append("truncated: the final segment is missing "
                                                   "(interrupted collection?)")
                            continue
                        except InvalidTag:
                            pass
                    if last:
                        report.incomplete = True
                        report.problems.append(
                            f"segment {i} (the last) does not authenticate: cut off mid-write (an interrupted "
                            "collection; 'triage decrypt --allow-truncated' keeps the segments before it) "
                            "or modified")
                    else:
                        report.problems.append(f"segment {i} failed authentication")
            rest = raw.read(1)
            if rest:
                report.problems.append("file grew while being verified")
            if aead is not None and not report.problems:
                report.plain_sha256 = plain_hash.hexdigest()
    except (OSError, ValueError) as exc:
        report.problems.append(str(exc))
        if "truncated" in str(exc):
            report.incomplete = True
    else:
        report.sha256 = outer.hexdigest()
    side = read_sidecar(path)
    if side is None:
        report.sidecar = "missing"
        if private_key is None:
            report.problems.append("no .sha256 sidecar and no key: only the structure could be checked "
                                   "(give --key to check every segment)")
    elif report.sha256 and side == report.sha256:
        report.sidecar = "match"
    else:
        report.sidecar = "mismatch"
        report.problems.append("outer SHA-256 does not match the .sha256 sidecar")
    report.ok = not report.problems
    return report


class _HashingReader:
    """Read-through wrapper hashing every byte read (one pass gives structure, tags and SHA-256)."""

    def __init__(self, raw: BinaryIO, digest) -> None:
        self._raw, self._digest = raw, digest

    def read(self, n: int) -> bytes:
        data = self._raw.read(n)
        self._digest.update(data)
        return data
