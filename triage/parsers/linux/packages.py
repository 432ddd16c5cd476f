"""Package manager logs: dpkg.log, apt's history.log, yum.log, dnf.rpm.log -> installs and removals.

Why: an attacker's tooling often arrives as a package (a compiler, nmap, socat) and a removal can hide
tracks. dpkg.log ("2026-12-04 09:01:16 install pkg:amd64 <none> 1.2") and apt's history.log
("Start-Date: 2026-12-04  09:01:16" blocks) write local time without a zone: the host's zone is
assumed and named in the record. yum.log has no year either ("Dec 04 09:01:16 Installed: pkg"): it is
counted back from the file's mtime as for syslog. dnf.rpm.log writes an offset.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import ClassVar

from triage.model import ArtifactRecord, Issue, Record
from triage.parsers.base import ParseInput, Parser
from triage.parsers.linux.clock import MONTHS, YearClock, host_zone
from triage.parsers.linux.text import LineStats, file_modified, lines, stat_issues

_DPKG = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) (install|upgrade|remove|purge) (\S+) (\S+) (\S+)")
_APT_KEY = re.compile(r"^(Start-Date|End-Date|Commandline|Requested-By|Install|Upgrade|Remove|Purge|"
                      r"Reinstall|Downgrade): ?(.*)$")
_YUM = re.compile(r"^([A-Z][a-z]{2}) ([ \d]?\d) (\d\d:\d\d:\d\d) (Installed|Updated|Erased|Obsoleted): (\S+)")
_DNF = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:Z|[+-]\d\d:?\d\d)) SUBDEBUG (Installed|Upgrade|Upgraded|"
                  r"Erase|Reinstall|Downgrade|Downgraded|Obsoleted): (\S+)")
MAX_PACKAGES_TEXT = 2000


@dataclass(frozen=True, slots=True, kw_only=True)
class PackageEvent(ArtifactRecord):
    """A package installed, upgraded or removed (dpkg/yum/dnf: one package; apt: one transaction)."""

    record_type: ClassVar[str] = "linux/package/event"
    artifact: ClassVar[str] = "linux_packages"
    title: ClassVar[str] = "Linux package installs and removals"
    description: ClassVar[str] = (
        "What the package manager installed, upgraded or removed, and (apt) the command and the user who "
        "asked. dpkg/apt/yum write local time without a zone: 'zone' names the one assumed.")
    columns: ClassVar[tuple[tuple[str, str], ...]] = (
        ("timestamp", "Time (UTC)"), ("manager", "Manager"), ("action", "Action"), ("package", "Package(s)"),
        ("version", "Version"), ("command", "Command"), ("requested_by", "By"), ("zone", "Zone assumed"))
    docs: ClassVar[dict[str, str]] = {
        "timestamp": "when the action was logged (apt: the transaction's Start-Date), UTC",
        "time_logged": "the time as written in the log", "zone": "the zone the local time was read in",
        "manager": "dpkg, apt, yum or dnf", "action": "install, upgrade, remove, purge (apt: the actions in "
        "the transaction joined by '+')", "package": "package name (apt: the packages, cut at 2000 characters)",
        "version": "new version (dpkg/yum/dnf)", "command": "apt: Commandline of the transaction",
        "requested_by": "apt: Requested-By (user and uid)",
        "end": "apt: End-Date of the transaction, UTC"}
    timestamp: datetime | None
    time_logged: str
    zone: str
    manager: str
    action: str
    package: str
    version: str | None = None
    command: str | None = None
    requested_by: str | None = None
    end: datetime | None = None

    def times(self) -> list[tuple[datetime, str]]:
        return [(self.timestamp, f"Package {self.action} ({self.manager})")] if self.timestamp else []

    def message(self) -> str:
        return f"{self.manager} {self.action} {self.package[:200]}" + (f" ({self.command})" if self.command else "")


def _local(text: str, zone: tzinfo) -> datetime | None:
    try:
        return datetime.strptime(" ".join(text.split()), "%Y-%m-%d %H:%M:%S").replace(tzinfo=zone).astimezone(UTC)
    except ValueError:
        return None


class PackageLogParser(Parser):
    name = "linux_packages"
    patterns = ("var/log/dpkg.log*", "var/log/apt/history.log*", "var/log/yum.log*", "var/log/dnf.rpm.log*")

    def parse(self, item: ParseInput) -> Iterator[Record | Issue]:
        name = item.rel_path.rsplit("/", 1)[-1]
        zone, label = host_zone(item.options)
        stats = LineStats()
        if name.startswith("dpkg"):
            yield from self._dpkg(item, stats, zone, label)
        elif name.startswith("history"):
            yield from self._apt(item, stats, zone, label)
        elif name.startswith("yum"):
            yield from self._yum(item, stats, zone, label)
        else:
            yield from self._dnf(item, stats)
        yield from stat_issues(item, stats, "package log")

    def _dpkg(self, item: ParseInput, stats: LineStats, zone: tzinfo, label: str) -> Iterator[Record]:
        for n, line in lines(item, stats):
            if (m := _DPKG.match(line)) is not None:
                yield PackageEvent(source=item.source(f"line {n}"), timestamp=_local(m[1], zone), time_logged=m[1],
                                   zone=label, manager="dpkg", action=m[2], package=m[3],
                                   version=None if m[5] == "<none>" else m[5])

    def _apt(self, item: ParseInput, stats: LineStats, zone: tzinfo, label: str) -> Iterator[Record]:
        block: dict[str, str] = {}
        first = 0
        for n, line in itertools.chain(lines(item, stats), [(0, "")]):  # a blank line ends the last block
            if (m := _APT_KEY.match(line)) is not None:
                if not block:
                    first = n
                block[m[1]] = m[2][:MAX_PACKAGES_TEXT]
                continue
            if line.strip() or not block:
                continue
            actions = [k for k in ("Install", "Upgrade", "Remove", "Purge", "Reinstall", "Downgrade") if k in block]
            start = block.get("Start-Date", "")
            yield PackageEvent(
                source=item.source(f"lines {first}-{n or 'end'}"), timestamp=_local(start, zone), time_logged=start,
                zone=label, manager="apt", action="+".join(a.lower() for a in actions) or "none",
                package="; ".join(block[a] for a in actions)[:MAX_PACKAGES_TEXT], command=block.get("Commandline"),
                requested_by=block.get("Requested-By"), end=_local(block.get("End-Date", ""), zone))
            block = {}

    def _yum(self, item: ParseInput, stats: LineStats, zone: tzinfo, label: str) -> Iterator[Record]:
        modified = file_modified(item)
        clock = YearClock(modified, zone, (modified or datetime.now(UTC)).year)
        for _n, line in lines(item, stats):
            if (m := _YUM.match(line)) is not None and m[1].lower() in MONTHS:
                clock.first_pass(MONTHS[m[1].lower()])
        clock.start()
        for n, line in lines(item, LineStats()):
            if (m := _YUM.match(line)) is None or m[1].lower() not in MONTHS:
                continue
            month = MONTHS[m[1].lower()]
            year = clock.advance(month)
            ts = clock.to_utc(year, month, int(m[2]), m[3])
            yield PackageEvent(source=item.source(f"line {n}"), timestamp=ts, time_logged=f"{m[1]} {m[2]} {m[3]}",
                               zone=f"{label}; year {year} inferred", manager="yum", action=m[4].lower(),
                               package=m[5])

    def _dnf(self, item: ParseInput, stats: LineStats) -> Iterator[Record]:
        for n, line in lines(item, stats):
            if (m := _DNF.match(line)) is not None:
                try:
                    ts: datetime | None = datetime.fromisoformat(m[1].replace("Z", "+00:00")).astimezone(UTC)
                except ValueError:
                    ts = None
                yield PackageEvent(source=item.source(f"line {n}"), timestamp=ts, time_logged=m[1],
                                   zone="offset written in the line", manager="dnf", action=m[2].lower(),
                                   package=m[3])
