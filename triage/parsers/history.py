"""Shell command histories -> one :class:`CommandHistory` per line.

Files: PowerShell PSReadLine (``...\\PSReadLine\\<Host>_history.txt``, UTF-8, one command per line,
multi-line commands continued with a trailing backtick) and Linux ``.bash_history`` /
``.zsh_history``. Lines are kept verbatim — bash ``#<epoch>`` timestamp lines and zsh
``: <epoch>:<secs>;cmd`` extended lines included — so nothing is reinterpreted. History files are
attacker-writable: decoding never fails (UTF-16 by BOM, else UTF-8 with replacement), lines are cut
at a length cap and the number of lines is capped; both cuts are reported.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from triage.model import CommandHistory, Issue, Record
from triage.parsers.base import ParseInput, Parser
from triage.parsers.textlines import LineStats, bounded_lines, cut_issues
from triage.parsers.userpath import user_from_path

DEFAULT_MAX_LINE_CHARS = 8192
DEFAULT_MAX_LINES = 200_000
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


class ShellHistoryParser(Parser):
    """PSReadLine and bash/zsh history lines, in file order (line_number from 1)."""

    name = "shell_history"
    patterns = (
        "*/psreadline/*_history.txt",  # users' and (Windows/System32|SysWOW64/config/systemprofile) SYSTEM's
        "*/.bash_history",
        "*/.zsh_history",
        ".bash_history",
        ".zsh_history",
    )

    def parse(self, item: ParseInput) -> Iterator[Record | Issue]:
        shell = shell_of(item.rel_path)
        user = user_from_path(item)
        if user is None and "/config/systemprofile/" in item.rel_path.lower():
            user = "SYSTEM"  # the LocalSystem profile: services and SYSTEM tasks that ran PowerShell
        max_chars = int(item.options.get("max_line_chars", DEFAULT_MAX_LINE_CHARS))
        max_lines = int(item.options.get("max_lines", DEFAULT_MAX_LINES))
        stats, issues = LineStats(), list[Issue]()
        for number, line in bounded_lines(item, max_chars, max_lines, stats, issues):
            yield CommandHistory(source=item.source(f"line {number}"), shell=shell, user=user,
                                 line_number=number, command=line)
        yield from issues
        yield from cut_issues(item, stats, max_chars, max_lines)
