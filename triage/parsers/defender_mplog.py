"""Microsoft Defender support logs (``ProgramData\\Microsoft\\Windows Defender\\Support\\MPLog-*.log``).

Why: MPLog keeps what the event log may have lost (rolled over, cleared): every detection with its
threat name and resources, every remediation with its action and result, scans started and completed,
and exclusion changes (a favourite of intruders before they drop tools). Lines are UTF-16 text, each
event line starting with an ISO-8601 UTC time ending in 'Z'; everything else (cache statistics,
"Threat Name:" continuation lines, the header's local start time) is not an event and is skipped.

Only the lines that say something about threats, scans and exclusions become records; the file is
streamed with the bounded reader (line and line-length caps reported as Issues).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar

from triage.model import ArtifactRecord, Issue, Record
from triage.parsers.base import ParseInput, Parser
from triage.parsers.textlines import LineStats, bounded_lines, cut_issues

MAX_LINE_CHARS = 8192
MAX_LINES = 5_000_000
MAX_TEXT = 1024
MAX_RESOURCES = 64
_TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,7})?$")
_DETECTION = re.compile(r"^DETECTIONEVENT\s+(\S+)\s+(\S+)\s*(.*)$")
_CLEAN = re.compile(r"^DETECTION_CLEANEVENT\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s*(.*)$")
_SCAN = re.compile(r"\bscan\b.*\b(started|completed|cancell?ed|failed|aborted)\b", re.IGNORECASE)
_EXCLUSION = re.compile(r"\bexclusions?\b.*\b(changed|added|removed|deleted)\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True, kw_only=True)
class DefenderLogEntry(ArtifactRecord):
    """One MPLog line about a detection, a remediation, a scan or an exclusion change.

    kind: 'detection' (DETECTIONEVENT), 'remediation' (DETECTION_CLEANEVENT), 'scan' (a scan started /
    completed...), 'exclusion_change'. logged: the line's own UTC time."""

    record_type: ClassVar[str] = "windows/defender/mplog"
    artifact: ClassVar[str] = "defender_mplog"
    title: ClassVar[str] = "Defender support log (MPLog)"
    description: ClassVar[str] = (
        "Detections, remediations, scans and exclusion changes Microsoft Defender wrote to its MPLog "
        "support logs, with the time of each line (UTC). A detection proves Defender flagged the "
        "resource, not that it ran; a remediation line gives the action and its result code.")
    columns: ClassVar[tuple[tuple[str, str], ...]] = (
        ("logged", "Logged (UTC)"), ("kind", "Kind"), ("threat", "Threat"), ("resources", "Resources"),
        ("action", "Action"), ("text", "Line"))

    logged: datetime
    kind: str
    threat: str | None = None
    detection_source: str | None = None
    action: str | None = None
    result: str | None = None
    resources: tuple[str, ...] = ()
    text: str = ""

    def times(self) -> list[tuple[datetime, str]]:
        return [(self.logged, f"Defender MPLog {self.kind} logged")]

    def message(self) -> str:
        if self.kind in ("detection", "remediation"):
            what = "; ".join(self.resources[:3])
            act = f" {self.action} ({self.result})" if self.action else ""
            return f"Defender {self.kind}{act}: {self.threat}: {what}"
        return f"Defender {self.kind}: {self.text[:200]}"


def parse_time(text: str) -> datetime | None:
    """'2022-03-10T19:49:22.667' (UTC) -> aware datetime; seven fraction digits cut to six."""
    main, _, frac = text.partition(".")
    try:
        dt = datetime.strptime(main, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None
    return dt.replace(microsecond=int((frac + "000000")[:6])) if frac.isdigit() else dt


def _resources(text: str) -> tuple[str, ...]:
    return tuple(r.strip() for r in text.split(";") if r.strip())[:MAX_RESOURCES]


def classify(body: str) -> dict[str, object] | None:
    """The record fields of one timestamped line body, None when the line is not one we keep.

    Cheap substring tests pick the few candidate lines first: MPLog is mostly engine chatter, and a
    regular expression per line would cost ten times the reading."""
    if body.startswith("DETECTION"):
        m = _DETECTION.match(body)
        if m:
            return {"kind": "detection", "detection_source": m.group(1), "threat": m.group(2),
                    "resources": _resources(m.group(3))}
        m = _CLEAN.match(body)
        if m:
            return {"kind": "remediation", "detection_source": m.group(1), "action": m.group(2),
                    "result": m.group(3), "threat": m.group(4), "resources": _resources(m.group(5))}
        return None  # DETECTION_ADD / _MERGE: per-resource detail of the DETECTIONEVENT line beside it
    if "xclusion" in body and _EXCLUSION.search(body):
        return {"kind": "exclusion_change"}
    if "can" in body and _SCAN.search(body):
        return {"kind": "scan"}
    return None


class DefenderMpLogParser(Parser):
    """Detections, remediations, scans and exclusion changes from MPLog-*.log files."""

    name = "defender_mplog"
    patterns = ("programdata/microsoft/windows defender/support/mplog-*.log",
                "programdata/microsoft/windows defender/support/mpdetection-*.log")

    def parse(self, item: ParseInput) -> Iterator[Record | Issue]:
        max_chars = int(item.options.get("max_line_chars", MAX_LINE_CHARS))
        max_lines = int(item.options.get("max_lines", MAX_LINES))
        stats, issues = LineStats(), list[Issue]()
        bad_times = 0
        for number, line in bounded_lines(item, max_chars, max_lines, stats, issues):
            z = line.find("Z ", 19, 28) if line[:4].isdigit() else -1
            if z < 0:
                continue  # not an event line (statistics, 'Threat Name:' continuations, header)
            body = line[z + 2:].lstrip()
            fields = classify(body)
            if fields is None:
                continue
            logged = parse_time(line[:z]) if _TS.match(line[:z]) else None
            if logged is None:
                bad_times += 1
                continue
            yield DefenderLogEntry(source=item.source(f"line {number}"), logged=logged,
                                   text=body[:MAX_TEXT], **fields)  # type: ignore[arg-type]
        yield from issues
        if bad_times:
            yield item.issue(f"{bad_times} event line(s) with an impossible time were skipped", "warning")
        yield from cut_issues(item, stats, max_chars, max_lines)
