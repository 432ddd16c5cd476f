"""Decrypting and verifying encrypted bundles (``.tbe``), streamed, never trusting the file.

Why apart from writing: the analyst's side (``triage decrypt``, ``triage verify --key``, the intake
server's structural check) reads hostile files, so every bound and every failure mode lives here,
next to each other: a bad tag, a truncated or reordered stream and a hostile inner name each give a
precise problem, and nothing is written under its final name until the whole stream authenticated.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from triage.bundle.sidecar import read_sidecar, write_sidecar
from triage.ship.crypto import (
    TAG_SIZE,
    DecryptError,
    inner_name_ok,
    open_keys,
    read_header,
    read_segments,
    segment_nonce,
)


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
        aead, meta = open_keys(header, private_key)
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
                for i, block, last in read_segments(fh, header, total, lenient=allow_truncated):
                    try:
                        plain = aead.decrypt(segment_nonce(i, last), block, None)
                    except InvalidTag:
                        plain = None
                        if last and len(block) == header.segment_size + TAG_SIZE:
                            try:
                                plain = aead.decrypt(segment_nonce(i, False), block, None)
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
                    assert plain is not None
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
                    aead, meta = open_keys(header, private_key)
                    report.inner_name = meta["name"]
                    report.tags_checked = True
                except DecryptError as exc:
                    report.problems.append(str(exc))
            plain_hash = hashlib.sha256()
            # With the key, a cut-off tail is read and judged by its tags (a collector killed mid-write
            # leaves one); without it, the framing rule is the structural check.
            for i, block, last in read_segments(fh, header, total, lenient=aead is not None):
                report.segments += 1
                if aead is None:
                    continue
                try:
                    plain_hash.update(aead.decrypt(segment_nonce(i, last), block, None))
                    report.checked += 1
                except InvalidTag:
                    if last and len(block) == header.segment_size + TAG_SIZE:
                        try:
                            aead.decrypt(segment_nonce(i, False), block, None)
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
