"""The host's time-zone rules from SYSTEM ``Control\\TimeZoneInformation``, and local wall-clock times
turned into UTC with them.

Why: a few artifacts store the host's LOCAL time with no zone (NetworkList's DateCreated /
DateLastConnected SYSTEMTIMEs: when the laptop first and last joined each network). The timeline is
UTC, so those times need the host's own rules: ``Bias`` (UTC = local + Bias minutes), the
``StandardBias`` / ``DaylightBias`` added in each season, and the two recurring switch dates
``StandardStart`` / ``DaylightStart`` (16 bytes with year 0: month, week 1-5 of the month, 5 =
last, hour and minute of local time, weekday; see :func:`_switch` for their order). These are the rules in force at collection: a zone
whose rules changed over the years (the Dynamic DST table in SOFTWARE) is converted with today's
rules, and the hour after a switch is ambiguous; callers say so next to the value.
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta
from typing import Any

from triage.parsers.registry.hive import as_int32


def _switch(raw: Any) -> list[int] | None:
    """[month, weekday (0 = Sunday), week (1-5, 5 = last), hour, minute] of a recurring switch.

    The TimeZoneInformation key does not store these as the SYSTEMTIME order of the "Time Zones"
    TZI value (year, month, weekday, week, hour...): its words are year, month, week, hour, minute,
    second, milliseconds, weekday. Both corpus SYSTEM hives (US Eastern) read as the 2nd Sunday of
    March and the 1st Sunday of November at 02:00 only in this order."""
    if not isinstance(raw, bytes) or len(raw) < 16:
        return None
    year, month, week, hour, minute, _second, _ms, weekday = struct.unpack_from("<8H", raw)
    if year != 0 or not (1 <= month <= 12 and weekday <= 6 and 1 <= week <= 5 and hour <= 23 and minute <= 59):
        return None
    return [month, weekday, week, hour, minute]


def zone_rules(values: dict[str, Any]) -> dict[str, Any] | None:
    """TimeZoneInformation values (lower-case names) -> JSON-ready rules, None without a usable Bias."""
    bias = as_int32(values.get("bias"))
    if bias is None or not -24 * 60 <= bias <= 24 * 60:
        return None
    standard, daylight = _switch(values.get("standardstart")), _switch(values.get("daylightstart"))
    dst = standard is not None and daylight is not None and not as_int32(values.get("dynamicdaylighttimedisabled"))
    name = values.get("timezonekeyname") or values.get("standardname")
    return {"name": name if isinstance(name, str) else None, "bias": bias,
            "standard_bias": as_int32(values.get("standardbias")) or 0,
            "daylight_bias": as_int32(values.get("daylightbias")) or 0,
            "standard_start": standard if dst else None, "daylight_start": daylight if dst else None}


def _switch_time(year: int, rule: list[int]) -> datetime:
    """The naive local time of a recurring switch in ``year``."""
    month, weekday, week, hour, minute = rule
    first = datetime(year, month, 1)  # noqa: DTZ001 - local wall-clock on purpose: the rules are in local time
    offset = (weekday - (first.weekday() + 1) % 7) % 7  # Python: Monday 0; Windows: Sunday 0
    day = first + timedelta(days=offset + 7 * (week - 1))
    while day.month != month:  # week 5 = the last such weekday of the month
        day -= timedelta(days=7)
    return day.replace(hour=hour, minute=minute)


def in_daylight(rules: dict[str, Any], local: datetime) -> bool:
    """Whether a naive local time falls in daylight-saving time under ``rules``."""
    standard, daylight = rules.get("standard_start"), rules.get("daylight_start")
    if not standard or not daylight:
        return False
    begin, end = _switch_time(local.year, daylight), _switch_time(local.year, standard)
    if begin < end:  # northern hemisphere: summer inside the year
        return begin <= local < end
    return local >= begin or local < end  # southern: summer spans the new year


def local_to_utc(rules: dict[str, Any] | None, local: datetime | None) -> datetime | None:
    """A naive local wall-clock time as an aware UTC datetime, None without rules or time."""
    if not rules or local is None or not isinstance(rules.get("bias"), int):
        return None
    extra = rules.get("daylight_bias") if in_daylight(rules, local) else rules.get("standard_bias")
    minutes = rules["bias"] + (extra if isinstance(extra, int) else 0)
    try:
        return (local + timedelta(minutes=minutes)).replace(tzinfo=UTC)
    except OverflowError:
        return None
