"""auth.log / secure / syslog / messages (rotated and gzipped ones too) -> :class:`LogEvent`.

Two line formats: classic BSD syslog ("Dec  4 09:01:16 host prog[pid]: msg", no year, local time) and
rsyslog's RFC 3339 form ("2026-12-04T09:01:16.123+01:00 host prog[pid]: msg", complete). Classic
lines need two passes over the file: the first counts year rollovers, the second dates each line
(see clock.py). Only lines :func:`classify` recognises become records; the others are counted.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

from triage.model import Issue, Record
from triage.parsers.base import ParseInput, Parser
from triage.parsers.linux.clock import MONTHS, YearClock, host_zone
from triage.parsers.linux.logevents import LogEvent, classify, event_class
from triage.parsers.linux.text import LineStats, file_modified, lines, stat_issues

_BSD = re.compile(r"^([A-Z][a-z]{2}) ([ \d]\d) (\d\d:\d\d:\d\d)(?:\.\d+)? (\S+) ([^\s\[:]+)(?:\[(\d{1,10})\])?: ?(.*)$")
_RFC = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)) (\S+) ([^\s\[:]+)"
                  r"(?:\[(\d{1,10})\])?: ?(.*)$")
MAX_TEXT = 500


def _month(line: str) -> int:
    """The month of a classic syslog line ('Dec  4 09:01:16 ...'), 0 for any other line: both passes
    date lines by this one test, so they count the same rollovers."""
    if len(line) > 16 and line[3] == " " and line[6] == " " and line[9] == ":":
        return MONTHS.get(line[:3].lower(), 0)
    return 0


def _rfc_time(text: str) -> datetime | None:
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt.astimezone(UTC) if dt.tzinfo else None


class SyslogParser(Parser):
    """Logins, sudo, su, account changes and cron runs from the classic text logs."""

    name = "linux_syslog"
    patterns = ("var/log/auth.log*", "var/log/secure*", "var/log/syslog*", "var/log/messages*")

    def parse(self, item: ParseInput) -> Iterator[Record | Issue]:
        zone, zone_label = host_zone(item.options)
        modified = file_modified(item)
        clock = YearClock(modified, zone, (modified or datetime.now(UTC)).year)
        stats = LineStats()
        classic = 0
        for _n, line in lines(item, stats):
            if month := _month(line):
                clock.first_pass(month)
                classic += 1
        if classic and modified is None:
            yield item.issue("no modification time in the manifest: syslog years assumed from the analysis "
                             "date", severity="warning")
        clock.start()
        stats = LineStats()
        bad_dates = 0
        for n, line in lines(item, stats):
            event = self._event(item, n, line, clock, zone_label)
            if event is None:
                continue
            if isinstance(event, str):
                bad_dates += 1
            else:
                yield event
        yield from stat_issues(item, stats, "log")
        if bad_dates:
            yield item.issue(f"{bad_dates} line(s) with an impossible date were skipped", severity="warning")

    def _event(self, item: ParseInput, n: int, line: str, clock: YearClock, zone_label: str) -> LogEvent | str | None:
        if month := _month(line):
            year = clock.advance(month)   # every classic line advances the clock, hit or not (as in pass 1)
            m = _BSD.match(line)
            if m is None or (hit := classify(m[5], m[7])) is None:
                return None
            ts = clock.to_utc(year, month, int(m[2]), m[3])
            if ts is None:
                return "bad date"
            host, prog, pid, msg = m[4], m[5], m[6], m[7]
            logged, zone, inferred = f"{m[1]} {m[2]} {m[3]}", f"{zone_label}; year {year} inferred", True
        elif (r := _RFC.match(line)) is not None:
            hit = classify(r[3], r[5])
            if hit is None:
                return None
            ts = _rfc_time(r[1])
            if ts is None:
                return "bad date"
            host, prog, pid, msg = r[2], r[3], r[4], r[5]
            logged, zone, inferred = r[1], "offset written in the line", False
        else:
            return None
        category, fields = hit
        return event_class(category)(source=item.source(f"line {n}"), timestamp=ts, time_logged=logged, zone=zone,
                        year_inferred=inferred, hostname=host, program=prog, pid=int(pid) if pid else None,
                        category=category, text=msg[:MAX_TEXT], **fields)
