"""bash/zsh histories as a report section with times: one :class:`ShellCommand` per command.

Why beside triage/parsers/history.py: that parser keeps every line verbatim as ``CommandHistory``
(summary.json ``command_history``, read by the findings); this one is the Linux report's view of the
same files, with what a line means: bash writes ``#<epoch>`` before a command when HISTTIMEFORMAT is
set, zsh's extended history writes ``: <epoch>:<seconds>;command``. Such a time is when the command
was entered (UTC epoch seconds, written by the shell on the host: the host clock). Lines without one
have no time; nothing is guessed from the file's mtime.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar

from triage.model import ArtifactRecord, Issue, Record
from triage.parsers.base import ParseInput, Parser
from triage.parsers.history import shell_of
from triage.parsers.linux.text import LineStats, lines, stat_issues
from triage.parsers.userpath import user_from_path

_BASH_TIME = re.compile(r"^#(\d{9,11})\s*$")
_ZSH_EXT = re.compile(r"^: (\d{9,11}):(\d+);(.*)$")


def _epoch(text: str) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(text), UTC)
    except (OverflowError, OSError, ValueError):
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class ShellCommand(ArtifactRecord):
    """One command of a bash/zsh history."""

    record_type: ClassVar[str] = "linux/shell/command"
    artifact: ClassVar[str] = "shell_commands"
    title: ClassVar[str] = "Shell commands (bash/zsh histories)"
    description: ClassVar[str] = (
        "Commands users typed, in file order. 'entered' is set only where the shell stamped the command "
        "(bash with HISTTIMEFORMAT, zsh extended history). A history is written when the shell exits and "
        "is trivially edited or disabled: missing commands prove nothing.")
    columns: ClassVar[tuple[tuple[str, str], ...]] = (("user", "User"), ("shell", "Shell"), ("line", "Line"),
                                                      ("entered", "Entered (UTC)"), ("command", "Command"))
    docs: ClassVar[dict[str, str]] = {
        "shell": "bash or zsh", "user": "whose history (home directory owner)", "line": "line number of the command",
        "entered": "when the command was entered, from the shell's own time stamp (UTC); null when not stamped",
        "command": "the command as written"}
    shell: str
    user: str | None
    line: int
    entered: datetime | None
    command: str

    def times(self) -> list[tuple[datetime, str]]:
        return [(self.entered, f"Shell command entered ({self.shell})")] if self.entered else []

    def message(self) -> str:
        return f"{self.user or '?'}$ {self.command[:200]}"


class ShellCommandParser(Parser):
    name = "linux_shell_commands"
    patterns = ("*/.bash_history", "*/.zsh_history", ".bash_history", ".zsh_history")

    def parse(self, item: ParseInput) -> Iterator[Record | Issue]:
        shell, user = shell_of(item.rel_path), user_from_path(item)
        stats = LineStats()
        stamp: datetime | None = None
        for n, line in lines(item, stats, max_lines=int(item.options.get("max_lines") or 200_000)):
            if shell == "bash" and (m := _BASH_TIME.match(line)):
                stamp = _epoch(m[1])
                continue
            entered, command = stamp, line
            if shell == "zsh" and (z := _ZSH_EXT.match(line)):
                entered, command = _epoch(z[1]), z[3]
            stamp = None
            if command.strip():
                yield ShellCommand(source=item.source(f"line {n}"), shell=shell, user=user, line=n,
                                   entered=entered, command=command)
        yield from stat_issues(item, stats, "history")
