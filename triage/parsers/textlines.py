"""Bounded line reading of hostile text logs (MPLog, setupapi.dev.log, transcripts, shell histories).

Why one reader: every text artifact comes off a suspect host, may be huge, UTF-16 or UTF-8, and may
hold a single 2 GB "line". This streams the member (memory flat), decodes by BOM (UTF-16 without BOM
recognised by its NUL bytes; else UTF-8 with replacement, never failing), cuts lines at a character
cap without holding the rest, stops after a line-count cap, and reports both cuts as Issues.
"""

from __future__ import annotations

import codecs
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

from triage.model import Issue
from triage.parsers.base import ParseInput

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


@dataclass
class LineStats:
    """What a bounded read cut: over-long lines, and whether lines were left unread."""

    cut_lines: int = 0
    more: bool = False


def bounded_lines(item: ParseInput, max_chars: int, max_lines: int, stats: LineStats,
                  issues: list[Issue]) -> Iterator[tuple[int, str]]:
    """(line number from 1, line without its end) for the first ``max_lines`` lines; an open or read
    failure is appended to ``issues`` and ends the iteration."""
    try:
        raw = item.open()
    except OSError as exc:
        issues.append(item.issue(f"cannot open file: {exc}"))
        return
    with raw:
        buffered: Any = raw if hasattr(raw, "peek") else io.BufferedReader(cast(io.RawIOBase, raw))
        encoding = detect_encoding(buffered.peek(4)[:4])
        text = io.TextIOWrapper(buffered, encoding=encoding, errors="replace", newline=None)
        try:
            for number in range(1, max_lines + 2):
                line = text.readline(max_chars + 1)
                if not line:
                    break
                if number > max_lines:
                    stats.more = True
                    break
                if not line.endswith("\n") and len(line) > max_chars:
                    stats.cut_lines += 1
                    while True:  # skip the rest of an over-long line without holding it
                        rest = text.readline(max_chars)
                        if not rest or rest.endswith("\n"):
                            break
                    line = line[:max_chars]
                yield number, line.rstrip("\r\n")
        except (OSError, EOFError) as exc:
            issues.append(item.issue(f"file unreadable past this point: {exc}"))


def cut_issues(item: ParseInput, stats: LineStats, max_chars: int, max_lines: int) -> list[Issue]:
    """The warnings a bounded read owes the analyst."""
    out = []
    if stats.more:
        out.append(item.issue(f"more than {max_lines} lines: the rest were not read", severity="warning"))
    if stats.cut_lines:
        out.append(item.issue(f"{stats.cut_lines} line(s) longer than {max_chars} characters were cut",
                              severity="warning"))
    return out
