"""Writing encrypted bundles (``.tbe``): a streaming writer the collector writes its ZIP through, and
whole-file encryption. The format is in :mod:`triage.ship.crypto` and docs/ship-format.md.

Why streaming: the collector must never put the plaintext bundle on the suspect host's disk, so every
segment is sealed as the ZIP writer produces it; the outer file's SHA-256 is computed on the way out
for the ``.sha256`` sidecar.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import struct
from pathlib import Path
from typing import BinaryIO

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from triage.bundle.sidecar import write_sidecar
from triage.ship.crypto import (
    CIPHER,
    DEFAULT_SEGMENT_SIZE,
    FORMAT_VERSION,
    MAGIC,
    MAX_SEGMENT_SIZE,
    META_INFO,
    META_PAD,
    MIN_SEGMENT_SIZE,
    PAYLOAD_INFO,
    SUFFIX,
    ZERO_NONCE,
    b64,
    hkdf,
    segment_nonce,
    wrap_key,
)
from triage.ship.keys import as_public_key


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
        recipients = [as_public_key(k) for k in recipient_public_keys]
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
            "v": FORMAT_VERSION, "cipher": CIPHER, "segment_size": segment_size, "salt": b64(salt),
            "recipients": [wrap_key(content_key, r) for r in recipients],
        }
        header_json = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
        prefix = MAGIC + bytes([FORMAT_VERSION]) + struct.pack(">I", len(header_json)) + header_json
        meta_plain = json.dumps({"name": inner_name}, separators=(",", ":")).encode()
        meta_plain += b" " * (-len(meta_plain) % META_PAD)
        meta_key = hkdf(content_key, salt, META_INFO)
        meta = AESGCM(meta_key).encrypt(ZERO_NONCE, meta_plain, prefix)   # AAD binds the whole header
        self._aead = AESGCM(hkdf(content_key, salt, PAYLOAD_INFO))
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

    def _seal(self, plain: bytes | bytearray, final: bool) -> None:
        self._emit(self._aead.encrypt(segment_nonce(self._counter, final), plain, None))
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
    assert writer.sha256 is not None, "set by close()"
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
    keys = [as_public_key(Path(p) if isinstance(p, str) else p) for p in public_key_paths]
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
