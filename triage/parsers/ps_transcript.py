"""PowerShell transcripts (``Start-Transcript`` / the Transcription policy) -> a session record plus
one :class:`CommandHistory` per command.

Files: ``Users\\<u>\\Documents\\PowerShell_transcript.<HOST>.<random>.<yyyyMMddHHmmss>.txt`` and, when a
policy sets an output directory, ``<dir>\\<yyyyMMdd>\\PowerShell_transcript...txt``. Why: unlike
PSReadLine, a transcript records commands typed in any host (ISE, remoting, scripts run with -Command)
together with who ran them, on which machine, from which host program, and their output.

Layout (written by PowerShell 5.1 and 7)::

    **********************
    Windows PowerShell transcript start
    Start time: 20220310123456
    Username: DOMAIN\\user
    RunAs User: DOMAIN\\user
    Machine: HOST (Microsoft Windows NT 10.0.19041.0)
    Host Application: C:\\...\\powershell.exe -nop -w hidden ...
    Process ID: 4242
    ...
    **********************
    PS C:\\Users\\user> whoami            (or 'PS>whoami' in transcripts with invocation headers)
    ...output...
    **********************
    Command start time: 20220310123501    (only with -IncludeInvocationHeader)
    **********************
    Windows PowerShell transcript end
    End time: 20220310124000

Times are the host's LOCAL time without a zone: kept as text (``*_local``), out of the UTC timeline.
Commands become ``CommandHistory`` (shell 'powershell_transcript') so the command-line findings
(obfuscation, LOLBins) read them like PSReadLine lines.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

from triage.model import ArtifactRecord, CommandHistory, Issue, Record
from triage.parsers.base import ParseInput, Parser
from triage.parsers.textlines import LineStats, bounded_lines, cut_issues
from triage.parsers.userpath import user_from_path

MAX_LINE_CHARS = 8192
MAX_LINES = 2_000_000
MAX_COMMANDS = 100_000
MAX_FIELD = 2048
_HEADER_KEYS = {"start time": "started_local", "end time": "ended_local", "username": "username",
                "runas user": "runas_user", "machine": "machine", "host application": "host_application",
                "process id": "process_id", "psversion": "ps_version", "configuration name": "configuration"}
_KEY = re.compile(r"^([A-Za-z][A-Za-z ]{1,30}):\s?(.*)$")
_PROMPT = re.compile(r"^PS(?: [^>]{0,1024})?>\s?(.*)$")
_STAMP = re.compile(r"^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)$")
_STARS = "**********************"


@dataclass(frozen=True, slots=True, kw_only=True)
class TranscriptSession(ArtifactRecord):
    """The header of one transcript file: who, where, from which host program, when (local time)."""

    record_type: ClassVar[str] = "windows/powershell/transcript"
    artifact: ClassVar[str] = "powershell_transcripts"
    title: ClassVar[str] = "PowerShell transcripts"
    description: ClassVar[str] = (
        "Sessions recorded by Start-Transcript or the Transcription policy: user, machine, host program and "
        "command count; start/end are host LOCAL time as written (no zone in the file), so not in the UTC "
        "timeline. The commands are listed with the shell histories (shell 'powershell_transcript').")
    columns: ClassVar[tuple[tuple[str, str], ...]] = (
        ("started_local", "Start (host local time)"), ("username", "User"), ("runas_user", "Run as"),
        ("machine", "Machine"), ("host_application", "Host application"), ("commands", "Commands"))

    username: str | None
    runas_user: str | None = None
    machine: str | None = None
    host_application: str | None = None
    process_id: str | None = None
    ps_version: str | None = None
    configuration: str | None = None
    started_local: str | None = None
    ended_local: str | None = None
    commands: int = 0

    def message(self) -> str:
        return f"PowerShell transcript of {self.username or '?'} on {self.machine or '?'}: {self.commands} command(s)"


def local_stamp(value: str) -> str | None:
    """'20220310123456' -> '2022-03-10 12:34:56' (still local time); None when it is not such a stamp."""
    m = _STAMP.match(value.strip())
    return "{}-{}-{} {}:{}:{}".format(*m.groups()) if m else None


def _session(item: ParseInput, header: dict[str, str], commands: int, line: int) -> TranscriptSession:
    return TranscriptSession(
        source=item.source(f"line {line}"), username=header.get("username"),
        runas_user=header.get("runas_user"), machine=header.get("machine"),
        host_application=header.get("host_application"), process_id=header.get("process_id"),
        ps_version=header.get("ps_version"), configuration=header.get("configuration") or None,
        started_local=header.get("started_local"), ended_local=header.get("ended_local"), commands=commands)


class PowerShellTranscriptParser(Parser):
    """Header fields and commands of one transcript file (one session record per
    'transcript start' header: sessions appended to one file are kept apart)."""

    name = "powershell_transcript"
    patterns = ("*/powershell_transcript.*.txt", "powershell_transcript.*.txt")

    def parse(self, item: ParseInput) -> Iterator[Record | Issue]:
        stats, issues = LineStats(), list[Issue]()
        header: dict[str, str] = {}
        in_header = False
        seen_header = False
        commands = 0
        start_line = 0
        user_dir = user_from_path(item)
        for number, line in bounded_lines(item, MAX_LINE_CHARS, MAX_LINES, stats, issues):
            stripped = line.strip()
            if stripped.endswith("transcript start") and ("PowerShell" in stripped):
                if seen_header:  # a second session appended to the same file
                    yield _session(item, header, commands, start_line)
                header, commands, start_line = {}, 0, number
                in_header, seen_header = True, True
                continue
            if in_header:
                if stripped == _STARS:
                    in_header = False
                    continue
                m = _KEY.match(stripped)
                if m and m.group(1).lower() in _HEADER_KEYS:
                    key = _HEADER_KEYS[m.group(1).lower()]
                    value = m.group(2).strip()[:MAX_FIELD]
                    header[key] = (local_stamp(value) or value) if key.endswith("_local") else value
                continue
            if stripped.startswith("End time:"):
                header["ended_local"] = local_stamp(stripped[9:]) or stripped[9:].strip()[:64]
                continue
            m = _PROMPT.match(line)
            if m and m.group(1).strip() and commands < MAX_COMMANDS:
                commands += 1
                yield CommandHistory(source=item.source(f"line {number}"), shell="powershell_transcript",
                                     user=header.get("username") or user_dir, line_number=number,
                                     command=m.group(1))
        if not seen_header:
            issues.append(item.issue("no 'transcript start' header: not a PowerShell transcript, or cut",
                                     "warning"))
        if seen_header:
            yield _session(item, header, commands, start_line)
        if commands >= MAX_COMMANDS:
            issues.append(item.issue(f"more than {MAX_COMMANDS} commands: the rest were not listed", "warning"))
        yield from issues
        yield from cut_issues(item, stats, MAX_LINE_CHARS, MAX_LINES)
