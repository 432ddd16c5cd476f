"""``Windows\\INF\\setupapi.dev.log``: driver and device installs -> one :class:`SetupApiSection` per section.

Why: the first install of a device's driver is when the device was first connected: for USB storage
(``USBSTOR\\...`` device ids) the classic "first time this stick was plugged in", kept even after the
registry's USB keys were cleaned. Each section reads::

    >>>  [Device Install (Hardware initiated) - USBSTOR\\Disk&Ven_X&Prod_Y\\SERIAL&0]
    >>>  Section start 2022/02/05 14:31:42.436
    ...
    <<<  Section end 2022/02/05 14:31:42.749
    <<<  [Exit status: SUCCESS]

Time zone: SetupAPI writes these times in the host's LOCAL time and the log never states the zone.
They are therefore kept as zone-less text (``started_local`` / ``ended_local``, as the log wrote them)
and stay out of the UTC timeline; the host's TimeZoneInformation (summary host facts) converts them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

from triage.model import ArtifactRecord, Issue, Record
from triage.parsers.base import ParseInput, Parser
from triage.parsers.textlines import LineStats, bounded_lines, cut_issues

MAX_LINE_CHARS = 4096
MAX_LINES = 5_000_000
MAX_FIELD = 1024
_HEADER = re.compile(r"^>>>\s+\[(.*)\]\s*$")
_START = re.compile(r"^>>>\s+Section start (\d{4}/\d\d/\d\d \d\d:\d\d:\d\d(?:\.\d+)?)")
_END = re.compile(r"^<<<\s+Section end (\d{4}/\d\d/\d\d \d\d:\d\d:\d\d(?:\.\d+)?)")
_EXIT = re.compile(r"^<<<\s+\[Exit status:\s*(.*?)\]\s*$")
_USB_STORAGE = re.compile(r"^(?:usbstor|scsi\\disk&ven_|usb\\vid_[0-9a-f]{4}&pid_[0-9a-f]{4}\\)", re.IGNORECASE)
ZONE_NOTE = "host local time (setupapi.dev.log does not state its zone)"


@dataclass(frozen=True, slots=True, kw_only=True)
class SetupApiSection(ArtifactRecord):
    """One setupapi.dev.log section: an operation (Device Install, Setup Import Driver Package...) on
    a target (device instance id or INF path) with its local start/end times and exit status."""

    record_type: ClassVar[str] = "windows/setupapi/section"
    artifact: ClassVar[str] = "setupapi_devices"
    title: ClassVar[str] = "Device and driver installs (setupapi.dev.log)"
    description: ClassVar[str] = (
        "Sections of setupapi.dev.log: driver package imports and device installs with the local time the "
        "section started (the log does not say its zone, so times are host local and not in the UTC "
        "timeline). A Device Install of a USBSTOR device is its first connection to this Windows install.")
    columns: ClassVar[tuple[tuple[str, str], ...]] = (
        ("started_local", "Section start (host local time)"), ("operation", "Operation"), ("target", "Device / INF"),
        ("usb_storage", "USB storage"), ("exit_status", "Exit status"))

    operation: str
    target: str | None
    device_install: bool
    usb_storage: bool
    started_local: str | None
    ended_local: str | None = None
    exit_status: str | None = None
    time_zone: str = ZONE_NOTE

    def message(self) -> str:
        return f"{self.operation}: {self.target or ''} ({self.exit_status or 'no exit status'})"


def _split_header(header: str) -> tuple[str, str | None]:
    op, sep, target = header.partition(" - ")
    return op.strip()[:MAX_FIELD], (target.strip()[:MAX_FIELD] if sep else None)


class SetupApiParser(Parser):
    """Sections of setupapi.dev.log (and setupapi.app.log, same layout), in file order."""

    name = "setupapi"
    patterns = ("windows/inf/setupapi.dev.log", "windows/inf/setupapi.dev.*.log", "windows/inf/setupapi.app.log")

    def parse(self, item: ParseInput) -> Iterator[Record | Issue]:
        max_chars = int(item.options.get("max_line_chars", MAX_LINE_CHARS))
        max_lines = int(item.options.get("max_lines", MAX_LINES))
        stats, issues = LineStats(), list[Issue]()
        current: dict | None = None
        for number, line in bounded_lines(item, max_chars, max_lines, stats, issues):
            if not line.startswith((">>>", "<<<")):
                continue
            m = _HEADER.match(line)
            if m and not _START.match(line):
                if current:
                    yield self._record(item, current)
                op, target = _split_header(m.group(1))
                current = {"line": number, "operation": op, "target": target}
                continue
            if current is None:
                continue
            if (m := _START.match(line)):
                current["started_local"] = m.group(1).replace("/", "-")
            elif (m := _END.match(line)):
                current["ended_local"] = m.group(1).replace("/", "-")
            elif (m := _EXIT.match(line)):
                current["exit_status"] = m.group(1)[:MAX_FIELD]
                yield self._record(item, current)
                current = None
        if current:
            yield self._record(item, current)
            issues.append(item.issue(f"last section (line {current['line']}) has no exit status: log cut short?",
                                     "warning", f"line {current['line']}"))
        yield from issues
        yield from cut_issues(item, stats, max_chars, max_lines)

    @staticmethod
    def _record(item: ParseInput, s: dict) -> SetupApiSection:
        target = s.get("target")
        device = s["operation"].lower().startswith("device install")
        return SetupApiSection(
            source=item.source(f"line {s['line']}"), operation=s["operation"], target=target,
            device_install=device, usb_storage=bool(device and target and _USB_STORAGE.match(target)),
            started_local=s.get("started_local"), ended_local=s.get("ended_local"),
            exit_status=s.get("exit_status"))
