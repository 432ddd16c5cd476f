"""The intake server's chain-of-custody log (``custody.jsonl``): bounded lines, each chained to the
SHA-256 of the line before it, so an edited, removed or reordered line shows up in
:func:`verify_custody_log`.

Why bounded: every field may come from an uploader or from a bundle written on a suspect host; a line
never grows past :data:`MAX_CUSTODY_LINE`, and restarting the server continues the chain from the
real last line (:func:`last_line_sha256`), however long it is.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

MAX_FIELD_CHARS = 512           # a custody-log or reply string from the client or the bundle, cut
MAX_CUSTODY_LINE = 16 << 10     # a custody line never grows past this, whatever the input


def cut(value: object, limit: int = MAX_FIELD_CHARS) -> object:
    """Strings cut to ``limit`` characters (length noted), lists to 20 items: client- or bundle-supplied
    text in the custody log and in replies stays bounded."""
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]}... ({len(value)} characters)"
    if isinstance(value, list):
        return [cut(v, limit) for v in value[:20]]
    return value


def custody_line(record: dict, prev: str | None) -> bytes:
    """One custody line: the record with every field bounded, chained to ``prev``; never longer than
    MAX_CUSTODY_LINE (if it would be, the free-text fields are shortened further, then dropped)."""
    fields = {k: cut(v) for k, v in record.items()}
    for limit in (MAX_FIELD_CHARS, 64):
        line = (json.dumps({**fields, "prev_sha256": prev}, sort_keys=True) + "\n").encode()
        if len(line) <= MAX_CUSTODY_LINE:
            return line
        fields = {k: cut(v, limit) for k, v in fields.items()}
    fields.pop("problems", None)
    fields["truncated"] = True
    return (json.dumps({**fields, "prev_sha256": prev}, sort_keys=True) + "\n").encode()


def last_line_sha256(path: Path) -> str | None:
    """SHA-256 of the last line of ``path`` (None for a missing or empty file), whatever its length:
    the start of the line is found by reading backwards, then the line is hashed forwards in blocks.
    Why: after a restart the chain continues from this hash; reading a fixed tail (64 KiB) chained
    the next line to a wrong hash whenever the last line was longer, and the whole log looked
    tampered."""
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return None
    with fh:
        end = fh.seek(0, os.SEEK_END)
        if end == 0:
            return None
        pos = end - 1            # skip the final newline of the last line
        start = 0
        while pos > 0:
            step = min(1 << 16, pos)
            fh.seek(pos - step)
            block = fh.read(step)
            k = block.rfind(b"\n")
            if k >= 0:
                start = pos - step + k + 1
                break
            pos -= step
        fh.seek(start)
        h = hashlib.sha256()
        while block := fh.read(1 << 20):
            h.update(block)
        return h.hexdigest()


def verify_custody_log(path: str | Path) -> tuple[int, list[str]]:
    """Check custody.jsonl's hash chain: (lines checked, problems). Each line's ``prev_sha256`` must be
    the SHA-256 of the line before it, so an edited, removed or reordered line shows up."""
    problems: list[str] = []
    prev = None
    n = 0
    try:
        with open(path, "rb") as fh:
            for n, line in enumerate(fh, 1):
                try:
                    record = json.loads(line)
                except ValueError:
                    problems.append(f"line {n}: not JSON")
                    prev = hashlib.sha256(line).hexdigest()
                    continue
                if not isinstance(record, dict) or record.get("prev_sha256") != prev:
                    problems.append(f"line {n}: chain broken (prev_sha256 does not match line {n - 1})")
                prev = hashlib.sha256(line).hexdigest()
    except OSError as exc:
        problems.append(str(exc))
    return n, problems
