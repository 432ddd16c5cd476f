"""Cron and anacron: system crontab, /etc/cron.d, per-user crontabs, anacrontab, run-parts scripts.

Formats (crontab(5), anacrontab(5)): the system files have a user field after the five time fields,
the per-user spool files (/var/spool/cron/crontabs/<user> on Debian, /var/spool/cron/<user> on
Red Hat) do not; '@reboot'-style nicknames replace the five fields; NAME=value lines set variables.
A script in /etc/cron.{hourly,daily,weekly,monthly} runs through run-parts: it is one job, with the
script itself as the command. The file's modification time is when the job list last changed.
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

MAX_CRON_LINES = 20_000
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\s*=")
_NICK = re.compile(r"^(@(?:reboot|yearly|annually|monthly|weekly|daily|midnight|hourly))\s+(.*)$")
_RUN_PARTS = re.compile(r"^etc/cron\.(hourly|daily|weekly|monthly)/([^/]+)$")


@dataclass(frozen=True, slots=True, kw_only=True)
class CronJob(ArtifactRecord):
    """One scheduled job."""

    record_type: ClassVar[str] = "linux/cron/job"
    artifact: ClassVar[str] = "linux_cron"
    title: ClassVar[str] = "Linux cron and anacron jobs"
    description: ClassVar[str] = (
        "Jobs cron/anacron start on a schedule (or at boot with @reboot): a classic persistence place. "
        "'file_modified' is when the file holding the job last changed, not a run time (runs are in the "
        "logs' cron_run events).")
    columns: ClassVar[tuple[tuple[str, str], ...]] = (
        ("path", "File"), ("schedule", "Schedule"), ("run_as", "Runs as"), ("command", "Command"),
        ("file_modified", "File modified (UTC)"))
    docs: ClassVar[dict[str, str]] = {
        "path": "the crontab/anacrontab/script on the host", "kind": "system, user, anacron or run-parts",
        "schedule": "the five time fields, an @nickname, an anacron period, or the run-parts period",
        "run_as": "user the job runs as (system crontab user field, the spool file's owner name, root)",
        "command": "the command line as written (for run-parts: the script's path)",
        "line": "line number in the file (0 for a run-parts script)",
        "file_modified": "the file's modification time from the manifest, UTC (not a run time)"}
    path: str
    kind: str
    schedule: str
    run_as: str | None
    command: str
    line: int
    file_modified: datetime | None

    def times(self) -> list[tuple[datetime, str]]:
        return [(self.file_modified, "Cron file modified")] if self.file_modified else []

    def activity_times(self) -> list[tuple[datetime, str]]:
        return []

    def message(self) -> str:
        return f"cron {self.schedule} ({self.run_as or '?'}): {self.command[:200]}"


class CronParser(Parser):
    name = "linux_cron"
    patterns = ("etc/crontab", "etc/cron.d/*", "etc/anacrontab", "var/spool/cron/*",
                "etc/cron.hourly/*", "etc/cron.daily/*", "etc/cron.weekly/*", "etc/cron.monthly/*")

    def parse(self, item: ParseInput) -> Iterator[Record | Issue]:
        rel = item.rel_path
        path, modified = volume_path(item), file_modified(item)
        if (m := _RUN_PARTS.match(rel)) is not None:
            if m[2] in (".placeholder",):
                return
            yield CronJob(source=item.source("run-parts script"), path=path, kind="run-parts",
                          schedule=m[1], run_as="root", command=path, line=0, file_modified=modified)
            return
        if rel.endswith("anacrontab"):
            kind = "anacron"
        elif rel.startswith("var/spool/cron/"):
            kind = "user"
        else:
            kind = "system"
        owner = rel.rsplit("/", 1)[-1] if kind == "user" else None
        stats = LineStats()
        bad = 0
        for n, raw in lines(item, stats, max_lines=MAX_CRON_LINES):
            line = raw.strip()
            if not line or line.startswith("#") or _ENV.match(line):
                continue
            job = self._job(line, kind, owner)
            if job is None:
                bad += 1
                continue
            schedule, run_as, command = job
            yield CronJob(source=item.source(f"line {n}"), path=path, kind=kind, schedule=schedule,
                          run_as=run_as, command=command, line=n, file_modified=modified)
        if bad:
            yield item.issue(f"{bad} line(s) are not cron entries", "warning")
        yield from stat_issues(item, stats, "crontab")

    @staticmethod
    def _job(line: str, kind: str, owner: str | None) -> tuple[str, str | None, str] | None:
        if kind == "anacron":   # period delay job-id command
            f = line.split(None, 3)
            if len(f) < 4:
                return None
            return f"every {f[0]} day(s), delay {f[1]} min ({f[2]})", "root", f[3]
        with_user = kind == "system"
        if (m := _NICK.match(line)) is not None:
            rest = m[2].split(None, 1) if with_user else [owner or "", m[2]]
            if len(rest) < 2:
                return None
            return m[1], rest[0] or None, rest[1]
        f = line.split(None, 6 if with_user else 5)
        if len(f) < (7 if with_user else 6):
            return None
        if not all(re.fullmatch(r"[\d\*/,\-A-Za-z]+", x) for x in f[:5]):
            return None
        return " ".join(f[:5]), (f[5] if with_user else owner), f[-1]
