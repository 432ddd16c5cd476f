"""systemd unit files (services, timers, sockets, paths) -> what starts, when, as whom, from where.

Format (systemd.unit(5)): INI-like sections; a key may repeat (several ExecStart=), a trailing
backslash continues a line, '#' and ';' start comments. Units under /etc/systemd, /run/systemd and a
user's ~/.config/systemd/user are the administrator's or the user's (where persistence is added);
units under /usr/lib or /lib come with packages. ``scope`` says which.
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

MAX_UNIT_LINES = 5_000
MAX_VALUES = 50
_KINDS = ("service", "timer", "socket", "path")
_EXEC = ("ExecStart", "ExecStartPre", "ExecStartPost", "ExecStop", "ExecReload")
_TRIGGERS = ("OnCalendar", "OnBootSec", "OnStartupSec", "OnUnitActiveSec", "OnUnitInactiveSec", "OnActiveSec",
             "PathChanged", "PathModified", "PathExists", "DirectoryNotEmpty", "ListenStream", "ListenDatagram")


@dataclass(frozen=True, slots=True, kw_only=True)
class SystemdUnit(ArtifactRecord):
    """One unit file."""

    record_type: ClassVar[str] = "linux/systemd/unit"
    artifact: ClassVar[str] = "linux_systemd_units"
    title: ClassVar[str] = "Linux systemd units and timers"
    description: ClassVar[str] = (
        "Services, timers, sockets and path units: what each starts (Exec*), when (timer/path/socket "
        "triggers, WantedBy) and as whom. 'scope' tells package units (vendor) from ones an admin or user "
        "added (admin, user): persistence lives in the latter. 'file_modified' is the file's mtime.")
    columns: ClassVar[tuple[tuple[str, str], ...]] = (
        ("unit", "Unit"), ("scope", "Scope"), ("exec", "Exec"), ("triggers", "Triggers"), ("run_as", "User"),
        ("wanted_by", "WantedBy"), ("file_modified", "File modified (UTC)"))
    docs: ClassVar[dict[str, str]] = {
        "unit": "unit file name", "kind": "service, timer, socket or path", "path": "the unit file on the host",
        "scope": "vendor (/usr/lib, /lib), admin (/etc, /run) or user (~/.config/systemd/user, /etc/systemd/user)",
        "exec": "Exec* lines as 'Key=command', in file order",
        "triggers": "timer/path/socket triggers as 'Key=value' (OnCalendar, OnBootSec, PathChanged, ListenStream)",
        "activates": "Unit= of a timer/path/socket (default: the service of the same name)",
        "run_as": "User= of a service (root when unset for a system unit)",
        "wanted_by": "WantedBy= targets (where it is enabled from)",
        "file_modified": "the unit file's modification time from the manifest, UTC (not a start time)"}
    unit: str
    kind: str
    path: str
    scope: str
    exec: tuple[str, ...]
    triggers: tuple[str, ...]
    activates: str | None
    run_as: str | None
    wanted_by: tuple[str, ...]
    file_modified: datetime | None

    def times(self) -> list[tuple[datetime, str]]:
        return [(self.file_modified, "systemd unit file modified")] if self.file_modified else []

    def activity_times(self) -> list[tuple[datetime, str]]:
        return []

    def message(self) -> str:
        return f"{self.scope} unit {self.unit}: {'; '.join(self.exec or self.triggers)[:200]}"


def unit_scope(rel: str) -> str:
    if "/.config/systemd/user/" in "/" + rel or rel.startswith("etc/systemd/user/"):
        return "user"
    if rel.startswith(("etc/", "run/")):
        return "admin"
    return "vendor"


def read_unit(item: ParseInput, stats: LineStats) -> dict[str, list[str]]:
    """Section.Key -> values in order (continuations joined), at most MAX_VALUES per key."""
    out: dict[str, list[str]] = {}
    section, pending = "", ""
    for _n, raw in lines(item, stats, max_lines=MAX_UNIT_LINES):
        line = pending + raw.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1].rstrip() + " "
            continue
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            continue
        key, sep, value = line.partition("=")
        if sep:
            vals = out.setdefault(f"{section}.{key.strip()}", [])
            if value.strip() == "":
                vals.clear()   # an empty assignment resets the list (systemd semantics)
            elif len(vals) < MAX_VALUES:
                vals.append(value.strip())
    return out


class SystemdUnitParser(Parser):
    name = "linux_systemd_units"
    patterns = tuple(f"*systemd/{d}*.{k}" for d in ("system/", "user/") for k in _KINDS)

    def parse(self, item: ParseInput) -> Iterator[Record | Issue]:
        rel = item.rel_path
        unit = rel.rsplit("/", 1)[-1]
        kind = unit.rsplit(".", 1)[-1]
        if not re.match(r"^(?:etc|run|usr/lib|lib|home/[^/]+/\.config|root/\.config)/systemd/", rel):
            return
        stats = LineStats()
        v = read_unit(item, stats)
        scope = unit_scope(rel)
        execs = tuple(f"{k}={x}" for k in _EXEC for x in v.get(f"Service.{k}", ()))
        triggers = tuple(f"{k}={x}" for s in ("Timer", "Path", "Socket") for k in _TRIGGERS
                         for x in v.get(f"{s}.{k}", ()))
        activates = next(iter(v.get("Timer.Unit", []) + v.get("Path.Unit", []) + v.get("Socket.Service", [])), None)
        if kind in ("timer", "path") and activates is None:
            activates = unit.rsplit(".", 1)[0] + ".service"
        users = v.get("Service.User") or []
        run_as = users[-1] if users else ("root" if kind == "service" and scope != "user" else None)
        wanted = tuple(w for x in v.get("Install.WantedBy", []) for w in x.split())[:MAX_VALUES]
        yield SystemdUnit(source=item.source("unit file"), unit=unit, kind=kind, path=volume_path(item),
                          scope=scope, exec=execs, triggers=triggers, activates=activates, run_as=run_as,
                          wanted_by=wanted, file_modified=file_modified(item))
        yield from stat_issues(item, stats, "unit")
