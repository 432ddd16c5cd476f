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
"near" a URL, not proven to be its destination. A table reader of ``qmgr.db`` (Jobs / Files through
libesedb-python, which SRUM uses) is not written: no real ``qmgr.db`` is available to test it against, and
no tool on Linux writes a genuine ESE file to build one (libesedb and its bindings only read).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import ClassVar

from triage.model import ArtifactRecord, Issue, Record
from triage.parsers.base import ParseInput, Parser

CHUNK = 1 << 20
WINDOW = 2048
MAX_BYTES = 512 << 20
MAX_HITS = 5000
_UTF16 = re.compile(rb"(?:[\x20-\x7e]\x00){6,2048}")
_URL = re.compile(r"^(?:https?|ftp)://\S+|^\\\\[^\\\s]+\\\S+", re.IGNORECASE)
_NEEDLES = tuple(x.encode("utf-16-le") for x in ("http", "HTTP", "ftp:", "FTP:", "\\\\"))
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


def _printable_pair(buf: bytes, p: int) -> bool:
    return p >= 2 and 0x20 <= buf[p - 2] <= 0x7E and buf[p - 1] == 0


def scan_urls(read: Callable[[int], bytes], limit: int = MAX_BYTES,
              chunk_size: int = CHUNK) -> tuple[list[tuple[int, str, tuple[str, ...]]], bool]:
    """(offset, URL, local paths within ``WINDOW`` bytes) for each URL string, and whether ``limit`` cut the
    scan. Why needles first: a regular expression run over every byte of a 100 MB queue costs seconds;
    ``bytes.find`` of the UTF-16 forms of 'http', 'ftp:' and '\\\\' finds the few candidates, and only their
    surroundings are cut into strings. A candidate inside a longer string (a printable UTF-16 character
    just before it) is not the start of a URL and is skipped."""
    context = WINDOW + 2 * 2048 + 8
    out: list[tuple[int, str, tuple[str, ...]]] = []
    buf, base, total, done, eof = b"", 0, 0, 0, False
    while not eof and len(out) < MAX_HITS:
        chunk = read(min(chunk_size, limit - total)) if total < limit else b""
        total += len(chunk)
        eof = not chunk
        buf += chunk
        ready = len(buf) if eof else len(buf) - context  # candidates before this have their whole window
        hits = sorted({p for n in _NEEDLES for p in _find_all(buf, n, done - base, ready)})
        for p in hits:
            m = _UTF16.match(buf, p)
            if m is None or _printable_pair(buf, p):
                continue
            text = m.group().decode("utf-16-le")
            if not _URL.match(text):
                continue
            near = [x.group().decode("utf-16-le") for x in _UTF16.finditer(buf, max(0, p - WINDOW), m.end() + WINDOW)]
            out.append((base + p, text, tuple(dict.fromkeys(x[:1024] for x in near if _LOCAL.match(x)))[:8]))
            if len(out) >= MAX_HITS:
                break
        done = base + max(ready, 0)
        cut = max(0, ready - context)
        buf, base = buf[cut:], base + cut
    return out, total >= limit and bool(read(1))


def _find_all(buf: bytes, needle: bytes, start: int, end: int) -> Iterator[int]:
    pos = max(start, 0)
    while True:
        pos = buf.find(needle, pos, end + len(needle) - 1)
        if pos < 0 or pos >= end:
            return
        yield pos
        pos += 1


class BitsQueueParser(Parser):
    """URLs and nearby local paths of the BITS queue files."""

    name = "bits_queue"
    patterns = ("programdata/microsoft/network/downloader/qmgr*.dat",
                "programdata/microsoft/network/downloader/qmgr.db")

    def parse(self, item: ParseInput) -> Iterator[Record | Issue]:
        limit = int(item.options.get("max_bits_bytes", MAX_BYTES))
        try:
            with item.open() as f:
                urls, cut = scan_urls(f.read, limit)
        except OSError as exc:
            yield item.issue(f"BITS queue file unreadable: {exc}")
            return
        if cut:
            yield item.issue(f"BITS queue file larger than {limit} bytes: scanned the first part", "warning")
        for offset, url, paths in urls:
            yield BitsTransfer(source=item.source(f"offset {offset}"), url=url[:4096], offset=offset,
                               local_paths=paths)
        if len(urls) >= MAX_HITS:
            yield item.issue(f"more than {MAX_HITS} URLs: the rest were not listed", "warning")
