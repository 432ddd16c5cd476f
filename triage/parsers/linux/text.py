"""Bounded line reading for the Linux text artifacts (logs, crontabs, units, account files).

Why one reader: every Linux artifact is a text file an attacker may have written; each parser must
cap the line length, the number of lines and (for rotated ``.gz`` logs) the inflated size, and say
when it cut something. Decoding never fails (UTF-8 with replacement).
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from triage.model import Issue
from triage.parsers.base import ParseInput

MAX_LINE_CHARS = 8192
MAX_LINES = 2_000_000
MAX_INFLATED_BYTES = 1 << 30   # a rotated .gz log is inflated at most this far (a gzip bomb stops here)


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


def lines(item: ParseInput, stats: LineStats, *, max_lines: int | None = None,
          max_chars: int | None = None) -> Iterator[tuple[int, str]]:
    """(line number from 1, text without the newline) of ``item``, gunzipped when it is gzip."""
    max_lines = int(max_lines or item.options.get("linux_max_lines") or MAX_LINES)
    max_chars = int(max_chars or item.options.get("max_line_chars") or MAX_LINE_CHARS)
    try:
        raw = item.open()
    except OSError as exc:
        stats.error = f"cannot open: {exc}"
        return
    with raw:
        buffered: Any = raw if hasattr(raw, "peek") else io.BufferedReader(raw)
        stream: IO[bytes] = buffered
        capped = None
        if buffered.peek(2)[:2] == b"\x1f\x8b":
            capped = _Capped(gzip.GzipFile(fileobj=buffered, mode="rb"),
                             int(item.options.get("linux_max_inflated") or MAX_INFLATED_BYTES))
            stream = io.BufferedReader(capped)
        text = io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline=None)
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
            stats.error = f"unreadable past this point: {type(exc).__name__}: {exc}"
        if capped is not None and capped.cut:
            stats.inflate_cut = True


def stat_issues(item: ParseInput, stats: LineStats, what: str) -> Iterator[Issue]:
    """The reader's cuts as Issues, one per kind of cut."""
    if stats.error:
        yield item.issue(f"{what}: {stats.error}")
    if stats.more_lines:
        yield item.issue(f"{what}: line cap reached, the rest was not read", severity="warning")
    if stats.long_lines:
        yield item.issue(f"{what}: {stats.long_lines} line(s) over the length cap were cut", severity="warning")
    if stats.inflate_cut:
        yield item.issue(f"{what}: inflated size cap reached (gzip), the rest was not read", severity="warning")


def file_modified(item: ParseInput) -> datetime | None:
    """The file's modification time from the manifest (UTC), None when the collector had none."""
    text = (item.entry.times or {}).get("modified") if isinstance(item.entry.times, dict) else None
    if not isinstance(text, str):
        return None
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo is not None else None


def volume_path(item: ParseInput) -> str:
    """The file's path on the host ('/etc/crontab'), from the path inside the volume."""
    return "/" + item.rel_path.lstrip("/")
