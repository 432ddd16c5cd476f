"""Syslog-style local times -> UTC, saying what was assumed.

Why: classic syslog lines ("Dec  4 09:01:16") and dpkg/yum logs carry neither a year nor a zone. The
zone is the host's (``/etc/timezone``, else the TZif ``/etc/localtime``, read from the bundle before
parsing by :func:`host_options`), else UTC; the record states which. The year comes from the file's
modification time in the manifest: the last line was written no later than that, and a month going
backwards (Dec -> Jan) is a new year, so years are assigned backwards from the end of the file.
"""

from __future__ import annotations

import io
import re
import zoneinfo
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                                       "nov", "dec"), start=1)}
_ZONE_NAME = re.compile(r"^[A-Za-z0-9_+\-]+(?:/[A-Za-z0-9_+\-]+){0,3}$")
MAX_TZIF_BYTES = 1 << 20


def host_options(reader: Any, entries: list[Any]) -> dict[str, Any]:
    """Options for the Linux parsers from the host's own zone files in the bundle (empty without them).

    linux_zone: the zone name; linux_zone_tzif: /etc/localtime's bytes when no name was readable;
    linux_zone_source: the bundle member it came from."""
    by_rel = {e.rel_path: e for e in entries if getattr(e, "bundle_path", None) and e.rel_path}
    for rel in ("etc/timezone", "etc/localtime"):
        e = by_rel.get(rel)
        if e is None:
            continue
        try:
            with reader.open(e.bundle_path) as fh:
                raw = fh.read(MAX_TZIF_BYTES + 1)
        except Exception:  # an unreadable member: the next candidate, else UTC (the records say so)
            continue
        if rel == "etc/timezone":
            name = raw[:256].decode("utf-8", "replace").strip().splitlines()[0:1]
            if name and _ZONE_NAME.match(name[0]) and _zone_from_name(name[0]) is not None:
                return {"linux_zone": name[0], "linux_zone_source": e.bundle_path}
        elif raw.startswith(b"TZif") and len(raw) <= MAX_TZIF_BYTES:
            return {"linux_zone": "localtime", "linux_zone_tzif": raw, "linux_zone_source": e.bundle_path}
    return {}


def _zone_from_name(name: str) -> tzinfo | None:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return None


def host_zone(options: dict[str, Any]) -> tuple[tzinfo, str]:
    """(zone, label) for local times of this host; the label says where the zone came from."""
    src = options.get("linux_zone_source")
    tzif = options.get("linux_zone_tzif")
    if isinstance(tzif, bytes):
        try:
            return zoneinfo.ZoneInfo.from_file(io.BytesIO(tzif), key="localtime"), f"host localtime ({src})"
        except (ValueError, OSError):
            pass
    name = options.get("linux_zone")
    if isinstance(name, str) and (zone := _zone_from_name(name)) is not None:
        return zone, f"{name} ({src})"
    return UTC, "UTC (assumed: no /etc/timezone or /etc/localtime in the bundle)"


class YearClock:
    """Turns (month, day, 'HH:MM:SS') of one file into UTC, years counted back from the file's mtime.

    Use: ``rollovers(months)`` over the file's months in order (first pass), then ``to_utc`` for each
    line in the same order (second pass)."""

    def __init__(self, modified: datetime | None, zone: tzinfo, fallback_year: int) -> None:
        self.zone = zone
        self.modified_local = modified.astimezone(zone) if modified else None
        self.fallback_year = fallback_year
        self.total = 0
        self.last_month = 0
        self.seen = 0
        self.prev = 0
        self._end = fallback_year
        self._offsets: dict[tuple[int, int, int, int], timedelta] = {}

    def first_pass(self, month: int) -> None:
        if self.prev and month < self.prev:
            self.total += 1
        self.prev = self.last_month = month

    def end_year(self) -> int:
        if self.modified_local is None:
            return self.fallback_year
        y = self.modified_local.year
        return y if self.last_month <= self.modified_local.month else y - 1

    def start(self) -> None:
        self.prev, self.seen, self._end = 0, 0, self.end_year()

    def advance(self, month: int) -> int:
        """Second pass, every dated line in file order (hit or not): the year of this line."""
        if self.prev and month < self.prev:
            self.seen += 1
        self.prev = month
        return self._end - (self.total - self.seen)

    def to_utc(self, year: int, month: int, day: int, hms: str) -> datetime | None:
        """The local time in UTC, None when the date is impossible (Feb 30). The zone's offset is looked up
        once per local hour (zone rules change on the hour; fold=0 at an ambiguous hour, as everywhere)."""
        try:
            h, m, s = int(hms[0:2]), int(hms[3:5]), int(hms[6:8])
            key = (year, month, day, h)
            offset = self._offsets.get(key)
            if offset is None:
                offset = datetime(year, month, day, h, tzinfo=self.zone).utcoffset() or timedelta(0)
                if len(self._offsets) > 100_000:
                    self._offsets.clear()
                self._offsets[key] = offset
            return datetime(year, month, day, h, m, s, tzinfo=UTC) - offset
        except (ValueError, OverflowError):
            return None
