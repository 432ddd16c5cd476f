"""Bounds on what the reader and the verifier accept from a bundle's own metadata.

Why: bundles come from compromised machines. A 6 MB member can inflate to 6 GB; a manifest "line"
can be that whole member; JSON can nest a million arrays deep. Every read of bundle metadata goes
through these limits, so memory stays bounded whatever the bundle says, and a limit that is hit is
a verification problem with a message naming the limit, not a MemoryError or a RecursionError.

The limits are far above anything a real collection writes (a manifest line is ~1 KiB; the largest
real manifests hold tens of thousands of lines).
"""

from __future__ import annotations

import json
import zipfile
import zlib
from collections.abc import Iterator
from typing import IO, Any

MAX_MANIFEST_LINE = 1 << 20          # one manifest entry (a JSON object)
MAX_MANIFEST_BYTES = 512 << 20       # the whole meta/manifest.jsonl
MAX_MANIFEST_ENTRIES = 200_000       # entries kept in memory (~0.6 KiB each)
MAX_JOURNAL_ENTRY = 1 << 20          # one meta/journal/* member
MAX_META_JSON = 16 << 20             # meta/collection.json, meta/collection-start.json
MAX_NAME_SHOWN = 160                 # characters of a hostile name quoted in a message


# What reading a member of a hostile zip can raise besides our own errors: zipfile's BadZipFile (bad
# CRC, bad header), zlib.error (damaged deflate data: zipfile lets it through), EOFError (cut short),
# NotImplementedError (a compression method zipfile does not know), RuntimeError (the encryption flag
# set on a member: "password required"), OSError, ValueError.
READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, OSError, ValueError)


class LimitExceeded(ValueError):
    """A bundle's metadata is larger (or deeper) than the reader accepts; the message says which limit."""


def size_text(n: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):.1f} {unit}"
    return f"{n} bytes"


def shown(text: object, limit: int = MAX_NAME_SHOWN) -> str:
    """``repr`` of a name or value from the bundle, cut to ``limit`` characters with its full length
    given: a 60 kB member name must not make a 60 kB message (or custody line, or HTTP reply)."""
    r = repr(text)
    if len(r) <= limit:
        return r
    return f"{r[:limit]}... ({len(str(text))} characters)"


def clip(text: str, limit: int = MAX_NAME_SHOWN) -> str:
    """``text`` itself when short, else its first ``limit`` characters and its full length."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def bounded_lines(fh: IO[bytes], line_limit: int, total_limit: int,
                  block_size: int = 1 << 20) -> Iterator[tuple[int, bytes | None, int]]:
    """(line number, line or None when longer than ``line_limit``, its length) for each line of
    ``fh``, read in blocks: an over-long line is counted as it streams past, never held whole.
    Stops with :class:`LimitExceeded` once more than ``total_limit`` bytes were read."""
    n = 0
    total = 0
    pending = bytearray()
    skipped: int | None = None          # length so far of an over-long line being skipped
    while block := fh.read(block_size):
        total += len(block)
        if total > total_limit:
            raise LimitExceeded(f"more than {size_text(total_limit)} read; the rest was not read")
        start = 0
        while True:
            k = block.find(b"\n", start)
            piece = block[start:] if k < 0 else block[start:k + 1]
            if skipped is not None:
                skipped += len(piece)
            else:
                pending += piece
                if len(pending) > line_limit + 1:   # the newline does not count
                    skipped, pending = len(pending), bytearray()
            if k < 0:
                break
            n += 1
            if skipped is not None:
                yield n, None, skipped
                skipped = None
            else:
                yield n, bytes(pending), len(pending)
                pending = bytearray()
            start = k + 1
    if skipped is not None:
        yield n + 1, None, skipped
    elif pending:
        yield n + 1, bytes(pending), len(pending)


def read_capped(fh: IO[bytes], limit: int, what: str) -> bytes:
    """The whole of ``fh`` if it holds at most ``limit`` bytes, else :class:`LimitExceeded`."""
    data = fh.read(limit + 1)
    if len(data) > limit:
        raise LimitExceeded(f"{what} is larger than {size_text(limit)}; not read")
    return data


def loads(data: bytes | str) -> Any:
    """``json.loads`` whose failures are all ``ValueError`` (nesting too deep included)."""
    try:
        return json.loads(data)
    except RecursionError:
        raise LimitExceeded("JSON nested too deeply") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8: {exc}") from None
