"""Shell command histories -> one :class:`CommandHistory` per line.

Files: PowerShell PSReadLine (``...\\PSReadLine\\<Host>_history.txt``, UTF-8, one command per line,
multi-line commands continued with a trailing backtick) and Linux ``.bash_history`` /
``.zsh_history``. Lines are kept verbatim — bash ``#<epoch>`` timestamp lines and zsh
``: <epoch>:<secs>;cmd`` extended lines included — so nothing is reinterpreted. History files are
attacker-writable: decoding never fails (UTF-16 by BOM, else UTF-8 with replacement), lines are cut
at a length cap and the number of lines is capped; both cuts are reported.
"""

from __future__ import annotations

import codecs
import io
import re
from collections.abc import Iterator
from typing import cast

from triage.model import CommandHistory, Issue, Record
from triage.parsers.base import ParseInput, Parser
from triage.parsers.linux.text import read_line
from triage.parsers.userpath import user_from_path

DEFAULT_MAX_LINE_CHARS = 8192
DEFAULT_MAX_LINES = 200_000
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_PSREADLINE = re.compile(r"/psreadline/[^/]*_history\.txt$", re.IGNORECASE)


def shell_of(rel_path: str) -> str:
    low = rel_path.replace("\\", "/").lower()
    if _PSREADLINE.search("/" + low):
        return "powershell"
    name = low.rsplit("/", 1)[-1]
    if name == ".zsh_history":
        return "zsh"
    if name == ".bash_history":
        return "bash"
    return name.lstrip(".").removesuffix("_history") or "shell"


def detect_encoding(head: bytes) -> str:
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return encoding
    return "utf-8"


class ShellHistoryParser(Parser):
    """PSReadLine and bash/zsh history lines, in file order (line_number from 1)."""

    name = "shell_history"
    patterns = (
        "*/psreadline/*_history.txt",
        "*/.bash_history",
        "*/.zsh_history",
        ".bash_history",
        ".zsh_history",
    )

    def parse(self, item: ParseInput) -> Iterator[Record | Issue]:
        shell = shell_of(item.rel_path)
        user = user_from_path(item)
        max_chars = int(item.options.get("max_line_chars", DEFAULT_MAX_LINE_CHARS))
        max_lines = int(item.options.get("max_lines", DEFAULT_MAX_LINES))
        try:
            raw = item.open()
        except OSError as exc:
            yield item.issue(f"cannot open history file: {exc}")
            return
        with raw:
            buffered = raw if hasattr(raw, "peek") else io.BufferedReader(cast(io.RawIOBase, raw))
            encoding = detect_encoding(buffered.peek(4)[:4])
            text = io.TextIOWrapper(buffered, encoding=encoding, errors="replace", newline=None)
            cut_lines = 0
            more = False
            try:
                for number in range(1, max_lines + 2):
                    line, cut = read_line(text, max_chars)
                    if not line:
                        break
                    if number > max_lines:
                        more = True
                        break
                    cut_lines += cut
                    yield CommandHistory(source=item.source(f"line {number}"), shell=shell, user=user,
                                         line_number=number, command=line.rstrip("\r\n"))
            except OSError as exc:
                yield item.issue(f"history file unreadable past this point: {exc}")
        if more:
            yield item.issue(f"more than {max_lines} lines: the rest were not read", severity="warning")
        if cut_lines:
            yield item.issue(f"{cut_lines} line(s) longer than {max_chars} characters were cut",
                             severity="warning")
