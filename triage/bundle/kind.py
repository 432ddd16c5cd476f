"""What a file handed to triage is, from its first bytes: a bundle, an encrypted bundle, or neither.

Why by content and not by name: bundles come renamed, re-extensioned or mixed with other files on a
share, and a text file or a picture named ``.zip`` must be reported as "not a bundle" rather than
as a damaged (interrupted, recoverable) bundle, and never analyzed, even with ``--force``. A triage
bundle always begins with a ZIP local file header (its first member is ``meta/collection_start.json``,
written before anything else), also when the collection was interrupted before the central directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

ZIP_LOCAL_HEADER = b"PK\x03\x04"
ENCRYPTED_MAGIC = b"TRIAGEBE"  # triage.ship.crypto.MAGIC (not imported: the collector may lack cryptography)


@dataclass(frozen=True)
class FileKind:
    kind: str          # "bundle" | "encrypted" | "not_a_bundle" | "unreadable"
    reason: str = ""   # for the last two: why, in words a responder can act on

    @property
    def is_bundle(self) -> bool:
        return self.kind == "bundle"


def file_kind(path: str | os.PathLike) -> FileKind:
    """Classify ``path`` by its first eight bytes (never raises)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(ENCRYPTED_MAGIC))
    except OSError as exc:
        return FileKind("unreadable", f"cannot be read: {exc.strerror or exc}")
    if head.startswith(ZIP_LOCAL_HEADER):
        return FileKind("bundle")
    if head == ENCRYPTED_MAGIC:
        return FileKind("encrypted", "encrypted bundle: run 'triage decrypt' first")
    if not head:
        return FileKind("not_a_bundle", "not a bundle: the file is empty")
    if head.startswith(b"PK\x05\x06"):
        return FileKind("not_a_bundle", "not a bundle: an empty ZIP archive (a bundle always holds its metadata)")
    return FileKind("not_a_bundle", "not a bundle: it does not start with a ZIP header (a triage bundle is a ZIP file)")
