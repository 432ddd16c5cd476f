"""Bounded line reading of hostile text files: the one line reader of every text artifact (Windows:
MPLog, setupapi.dev.log, transcripts, shell histories; Linux: logs, crontabs, units, account files).

Why one reader: every text artifact comes off a suspect host, may be huge, UTF-16 or UTF-8, gzip
(rotated Linux logs), and may hold a single 2 GB "line". This streams the member (memory flat),
decodes by BOM where asked (UTF-16 without BOM recognised by its NUL bytes; else UTF-8 with
replacement, never failing), inflates gzip up to a byte cap (a gzip bomb stops there), cuts lines at
a character cap without holding the rest, stops after a line-count cap, and records every cut in a
:class:`LineStats` that becomes Issues.
"""

from __future__ import annotations

import codecs
import gzip
import io
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any, cast

from triage.model import Issue
from triage.parsers.base import ParseInput

MAX_INFLATED_BYTES = 1 << 30   # a gzip member is inflated at most this far

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def detect_encoding(head: bytes) -> str:
    """Encoding of a text file from its first bytes: BOM, else NUL pattern of UTF-16LE, else UTF-8."""
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return encoding
    if len(head) >= 4 and head[0] != 0 and head[1] == 0 and head[3] == 0:
        return "utf-16-le"
    return "utf-8"


class _Capped(io.RawIOBase):
    """A read-only stream that ends after ``limit`` bytes and remembers that it was cut."""

    def __init__(self, inner: IO[bytes] | gzip.GzipFile, limit: int) -> None:
        self.inner, self.left, self.cut = inner, limit, False

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        if self.left <= 0:
            self.cut = bool(self.inner.read(1))
            return 0
        data = self.inner.read(min(len(buf), self.left))
        buf[:len(data)] = data
        self.left -= len(data)
        return len(data)


def read_line(text: IO[str], max_chars: int) -> tuple[str, bool]:
    """The next line of ``text`` cut at ``max_chars`` ('' at the end), and whether it was cut; the rest of
    an over-long line is skipped without being held."""
    line = text.readline(max_chars + 1)
    if line.endswith("\n") or len(line) <= max_chars:
        return line, False
    while True:
        rest = text.readline(max_chars)
        if not rest or rest.endswith("\n"):
            break
    return line[:max_chars], True


@dataclass
class LineStats:
    """What the reader had to cut: lines over the length cap, the line cap, the inflate cap, errors."""

    long_lines: int = 0
    more_lines: bool = False
    inflate_cut: bool = False
    error: str | None = None


def read_lines(item: ParseInput, stats: LineStats, *, max_lines: int, max_chars: int, detect: bool = True,
               gunzip: bool = False, max_inflated: int = MAX_INFLATED_BYTES) -> Iterator[tuple[int, str]]:
    """(line number from 1, text without its line end) of the first ``max_lines`` lines of ``item``.

    ``detect``: decode by BOM / UTF-16 NUL pattern (Windows text), else UTF-8. ``gunzip``: a member
    starting with the gzip magic is inflated (at most ``max_inflated`` bytes). An open or read
    failure ends the iteration and is kept in ``stats.error``."""
    try:
        raw = item.open()
    except OSError as exc:
        stats.error = f"cannot open file: {exc}"
        return
    with raw:
        buffered: Any = raw if hasattr(raw, "peek") else io.BufferedReader(cast(io.RawIOBase, raw))
        stream: Any = buffered
        capped = None
        if gunzip and buffered.peek(2)[:2] == b"\x1f\x8b":
            capped = _Capped(gzip.GzipFile(fileobj=buffered, mode="rb"), max_inflated)
            stream = io.BufferedReader(capped)
        encoding = detect_encoding(stream.peek(4)[:4]) if detect else "utf-8"
        text = io.TextIOWrapper(stream, encoding=encoding, errors="replace", newline=None)
        try:
            for number in range(1, max_lines + 2):
                line, cut = read_line(text, max_chars)
                if not line:
                    break
                if number > max_lines:
                    stats.more_lines = True
                    break
                stats.long_lines += cut
                yield number, line.rstrip("\r\n")
        except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
            stats.error = f"file unreadable past this point: {type(exc).__name__}: {exc}"
        if capped is not None and capped.cut:
            stats.inflate_cut = True


def stat_issues(item: ParseInput, stats: LineStats, what: str) -> Iterator[Issue]:
    """The reader's cuts as Issues, one per kind of cut (``what`` names the file for the analyst)."""
    if stats.error:
        yield item.issue(f"{what}: {stats.error}")
    if stats.more_lines:
        yield item.issue(f"{what}: line cap reached, the rest was not read", severity="warning")
    if stats.long_lines:
        yield item.issue(f"{what}: {stats.long_lines} line(s) over the length cap were cut", severity="warning")
    if stats.inflate_cut:
        yield item.issue(f"{what}: inflated size cap reached (gzip), the rest was not read", severity="warning")


def bounded_lines(item: ParseInput, max_chars: int, max_lines: int, stats: LineStats,
                  issues: list[Issue]) -> Iterator[tuple[int, str]]:
    """:func:`read_lines` for Windows text artifacts (encoding detected, no gzip); an open or read
    failure is appended to ``issues`` as an error."""
    yield from read_lines(item, stats, max_lines=max_lines, max_chars=max_chars)
    if stats.error:
        issues.append(item.issue(stats.error))


def cut_issues(item: ParseInput, stats: LineStats, max_chars: int, max_lines: int) -> list[Issue]:
    """The warnings a bounded read owes the analyst (the caps named with their values)."""
    out = []
    if stats.more_lines:
        out.append(item.issue(f"more than {max_lines} lines: the rest were not read", severity="warning"))
    if stats.long_lines:
        out.append(item.issue(f"{stats.long_lines} line(s) longer than {max_chars} characters were cut",
                              severity="warning"))
    return out
