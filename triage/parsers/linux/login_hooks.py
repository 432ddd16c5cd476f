"""Login and boot hooks: rc.local, /etc/profile(.d), bash.bashrc, users' .bashrc/.profile/.zshrc,
/etc/ld.so.preload, /etc/environment.

Why only some lines: a .bashrc is mostly prompt and alias set-up; what persistence adds is a command
that reaches out or starts something (network tools, interpreters, a path in /tmp, backgrounded jobs),
a preload library, or a hijacked PROMPT_COMMAND/alias. rc.local and ld.so.preload run everything they
hold, so every line of them is kept. The file's mtime says when the hook last changed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from triage.model import ArtifactRecord, Issue, Record
from triage.parsers.base import ParseInput, Parser
from triage.parsers.linux.text import LineStats, file_modified, lines, stat_issues, volume_path
from triage.parsers.userpath import user_from_path

MAX_HOOK_LINES = 20_000
_RUNS_ALL = ("etc/rc.local", "etc/ld.so.preload")
NOTABLE = re.compile(
    r"(?:\b(?:curl|wget|nc|ncat|netcat|socat|telnet|python[0-9.]*|perl|ruby|php|base64|openssl|nohup|setsid|"
    r"screen|tmux|crontab|chattr|xxd)\b|/dev/(?:tcp|udp)/|/tmp/|/dev/shm/|/var/tmp/|LD_PRELOAD|PROMPT_COMMAND|"
    r"\btrap\b|^\s*alias\s+(?:sudo|su|ssh|ps|netstat|ss|lsof)=|[^&]&\s*$)")


@dataclass(frozen=True, slots=True, kw_only=True)
class LoginHook(ArtifactRecord):
    """One command line of a login/boot hook file."""

    record_type: ClassVar[str] = "linux/login_hook"
    artifact: ClassVar[str] = "linux_login_hooks"
    title: ClassVar[str] = "Linux login and boot hooks (rc.local, profile, bashrc, ld.so.preload)"
    description: ClassVar[str] = (
        "Lines that run at boot (rc.local), at every login or shell start (profile, bashrc, zshrc) or in "
        "every process (ld.so.preload, LD_PRELOAD): every line of rc.local and ld.so.preload, and the "
        "lines of shell start-up files that reach out, start something or hijack the shell.")
    columns: ClassVar[tuple[tuple[str, str], ...]] = (("path", "File"), ("line", "Line"), ("command", "Command"),
                                                      ("user", "User"), ("file_modified", "File modified (UTC)"))
    docs: ClassVar[dict[str, str]] = {
        "path": "the hook file on the host", "hook": "boot, preload, environment or shell-start",
        "user": "whose start-up file it is (home directory owner), none for system files",
        "line": "line number", "command": "the line as written",
        "file_modified": "the file's modification time from the manifest, UTC"}
    path: str
    hook: str
    user: str | None
    line: int
    command: str
    file_modified: datetime | None

    def times(self) -> list[tuple[datetime, str]]:
        return [(self.file_modified, "Login/boot hook file modified")] if self.file_modified else []

    def activity_times(self) -> list[tuple[datetime, str]]:
        return []

    def message(self) -> str:
        return f"{self.hook} hook {self.path}:{self.line}: {self.command[:200]}"


class LoginHookParser(Parser):
    name = "linux_login_hooks"
    patterns = ("etc/rc.local", "etc/ld.so.preload", "etc/environment", "etc/profile", "etc/profile.d/*",
                "etc/bash.bashrc", "etc/zsh/zshrc", "*/.bashrc", "*/.profile", "*/.bash_profile", "*/.zshrc",
                "*/.bash_login", "*/.bash_logout")

    def parse(self, item: ParseInput) -> Iterator[Record | Issue]:
        rel = item.rel_path
        hook = ("boot" if rel == "etc/rc.local" else "preload" if rel == "etc/ld.so.preload"
                else "environment" if rel == "etc/environment" else "shell-start")
        keep_all = rel in _RUNS_ALL
        path, modified = volume_path(item), file_modified(item)
        stats = LineStats()
        src_user = user_from_path(item)
        for n, raw in lines(item, stats, max_lines=MAX_HOOK_LINES):
            line = raw.strip()
            if not line or line.startswith("#") or line in ("exit 0", "fi", "done", "esac", "}", "then", "else"):
                continue
            if keep_all or NOTABLE.search(line) or (hook == "environment" and "LD_PRELOAD" in line):
                yield LoginHook(source=item.source(f"line {n}"), user=src_user, path=path, hook=hook, line=n, command=line, file_modified=modified)
        yield from stat_issues(item, stats, "hook file")
