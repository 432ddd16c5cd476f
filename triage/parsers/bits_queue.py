"""BITS job queue (``ProgramData\\Microsoft\\Network\\Downloader\\qmgr0.dat``/``qmgr1.dat`` before Windows 10,
``qmgr.db`` after) -> one :class:`BitsTransfer` per remote URL found.

Why: BITS downloads (bitsadmin, Start-BitsTransfer, malware using the COM API) survive reboots and are a
known persistence and download channel (T1197); the queue keeps the remote URL and the local file of
each transfer, also for jobs already finished for a while.

What this is, plainly: a BOUNDED UTF-16 STRING SCAN of the raw file, not a parse of the job records
(legacy) nor of the ESE database (Windows 10+). Each URL-looking string (http, https, ftp, UNC) becomes
a record with the local paths (``X:\\...``) that stand within ``WINDOW`` bytes around it, in file order.
Known limits, said in each record's ``method``: on Windows 10+ the ESE engine may store a job's data
compressed, which this scan cannot see (an ESE reader such as libesedb would be needed); a path is
"near" a URL, not proven to be its destination.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import ClassVar

from triage.analyze.records import ArtifactRecord, Issue, Record
from triage.parsers.base import ParseInput, Parser

CHUNK = 1 << 20
WINDOW = 2048
MAX_BYTES = 512 << 20
MAX_HITS = 5000
_UTF16 = re.compile(rb"(?:[\x20-\x7e]\x00){6,2048}")
_URL = re.compile(r"^(?:https?|ftp)://\S+|^\\\\[^\\\s]+\\\S+", re.IGNORECASE)
_LOCAL = re.compile(r"^[A-Za-z]:\\", re.IGNORECASE)
METHOD = "utf-16 string scan (not a job-record or ESE parse)"


@dataclass(frozen=True, slots=True, kw_only=True)
class BitsTransfer(ArtifactRecord):
    """A remote URL found in the BITS queue, with the local paths stored near it."""

    record_type: ClassVar[str] = "windows/bits/transfer"
    artifact: ClassVar[str] = "bits_transfers"
    title: ClassVar[str] = "BITS queue URLs (string scan)"
    description: ClassVar[str] = (
        "Remote URLs in the BITS job queue (qmgr0/1.dat or qmgr.db) with the local paths stored near them, "
        "found by a bounded UTF-16 string scan with the byte offset of each. Proves the queue held the URL; "
        "not that the transfer completed. Compressed ESE data (Windows 10+) is not seen. No times.")
    columns: ClassVar[tuple[tuple[str, str], ...]] = (
        ("url", "Remote URL"), ("local_paths", "Local paths near it"), ("offset", "Offset"))

    url: str
    offset: int
    local_paths: tuple[str, ...] = ()
    method: str = METHOD

    def message(self) -> str:
        return f"BITS queue URL {self.url} -> {', '.join(self.local_paths[:2]) or '?'}"


def scan_strings(read: Callable[[int], bytes], limit: int = MAX_BYTES,
                 chunk_size: int = CHUNK) -> tuple[list[tuple[int, str]], bool]:
    """(offset, text) of the UTF-16LE strings of a stream read in chunks; True when the limit cut it.

    Consecutive buffers overlap by more than the longest string: a string is taken from a buffer only
    when it ends before the overlap (else the next buffer, which starts inside the overlap, sees it
    whole), and a start already taken is never taken twice. A run of more than 2048 characters comes out
    in pieces (where it is cut may differ from a whole-file scan)."""
    overlap = 2 * 2048 + 8
    out: list[tuple[int, str]] = []
    tail, base, total, taken_to, eof = b"", 0, 0, 0, False
    while not eof:
        chunk = read(min(chunk_size, limit - total)) if total < limit else b""
        total += len(chunk)
        eof = not chunk
        buf = tail + chunk
        complete_before = len(buf) if eof else len(buf) - overlap
        for m in _UTF16.finditer(buf):
            if m.end() > complete_before:
                break
            if base + m.start() >= taken_to:
                out.append((base + m.start(), m.group().decode("utf-16-le")))
                taken_to = base + m.end()
        keep = min(len(buf), 2 * overlap)  # a string ending in the overlap starts at most `overlap` earlier
        tail, base = buf[len(buf) - keep:], base + len(buf) - keep
    return out, total >= limit and bool(read(1))


class BitsQueueParser(Parser):
    """URLs and nearby local paths of the BITS queue files."""

    name = "bits_queue"
    patterns = ("programdata/microsoft/network/downloader/qmgr*.dat",
                "programdata/microsoft/network/downloader/qmgr.db")

    def parse(self, item: ParseInput) -> Iterator[Record | Issue]:
        limit = int(item.options.get("max_bits_bytes", MAX_BYTES))
        try:
            with item.open() as f:
                strings, cut = scan_strings(f.read, limit)
        except OSError as exc:
            yield item.issue(f"BITS queue file unreadable: {exc}")
            return
        if cut:
            yield item.issue(f"BITS queue file larger than {limit} bytes: scanned the first part", "warning")
        hits = 0
        for i, (offset, text) in enumerate(strings):
            if not _URL.match(text):
                continue
            if hits >= MAX_HITS:
                yield item.issue(f"more than {MAX_HITS} URLs: the rest were not listed", "warning")
                break
            hits += 1
            near = [s for o, s in strings[max(0, i - 8):i + 9] if abs(o - offset) <= WINDOW and _LOCAL.match(s)]
            yield BitsTransfer(source=item.source(f"offset {offset}"), url=text[:4096], offset=offset,
                               local_paths=tuple(dict.fromkeys(p[:1024] for p in near))[:8])
