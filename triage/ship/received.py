"""What the intake server does with a received bundle's bytes: check it (structure only for an
encrypted bundle: the server never holds a decryption key), hash it, sync it, and write its JSON
records atomically. Runs in worker threads, never on the event loop.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from triage.bundle.reader import file_sha256
from triage.bundle.verify import verify_bundle
from triage.ship.crypto import is_encrypted
from triage.ship.custody import cut
from triage.ship.decrypt import verify_encrypted

MAX_PROBLEMS_SHOWN = 100        # verification problems in a reply or receipt


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def verify_received(path: Path) -> dict:
    """Check a received bundle: encrypted -> structure (the server never holds a decryption key);
    plain -> ``triage.bundle.verify.verify_bundle`` (every member's hash)."""
    if is_encrypted(path):
        enc = verify_encrypted(path)
        return {"kind": "encrypted", "verifier": "triage.ship.decrypt.verify_encrypted (structure)",
                "ok": enc.ok, "problems": enc.problems, "checked": enc.segments, "sha256": enc.sha256}
    try:
        r = verify_bundle(path)
    except Exception as exc:   # a verifier crash must not take the server down; it is a rejection
        return {"kind": "zip", "verifier": "triage.bundle.verify.verify_bundle", "ok": False,
                "problems": [cut(f"verifier error: {type(exc).__name__}: {exc}", 300)], "checked": 0,
                "sha256": file_sha256(path)}
    problems = list(r.problems)
    return {"kind": "zip", "verifier": "triage.bundle.verify.verify_bundle", "ok": bool(r.ok),
            "incomplete": bool(r.incomplete),
            "problems": [cut(str(p), 300) for p in problems[:MAX_PROBLEMS_SHOWN]],
            "problem_count": len(problems), "checked": r.checked, "sha256": r.sha256 or file_sha256(path)}


def write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.urandom(4).hex()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
