"""Exact integer conversions of on-disk timestamps to aware UTC datetimes.

Why not ``triage.units.from_filetime`` and friends: these take values straight out of hostile
files (SQLite columns, prefetch slots, PE headers), so they also accept text/float/blob garbage as
"no time" and bound results to 1970..2200, where a forged or zeroed field is more likely than a real
date. Both truncate to the microsecond in integer arithmetic, as libyal and the reference tools do.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_EPOCH_1601 = datetime(1601, 1, 1, tzinfo=UTC)
_EPOCH_1970 = datetime(1970, 1, 1, tzinfo=UTC)
# Earliest and latest instants we accept as real: anything outside is a zero, a garbage field or a
# deliberately forged value, reported as None rather than as an impossible date.
_MIN_VALID = datetime(1970, 1, 2, tzinfo=UTC)
_MAX_VALID = datetime(2200, 1, 1, tzinfo=UTC)


def _bounded(dt: datetime) -> datetime | None:
    return dt if _MIN_VALID <= dt < _MAX_VALID else None


def _as_int(value) -> int | None:
    """Stored values come from hostile files: text, floats or blobs in a time column mean 'no time'."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return int(value)
    except (OverflowError, ValueError):  # inf / nan
        return None


def filetime_utc(value: int | None) -> datetime | None:
    """FILETIME (100 ns ticks since 1601-01-01 UTC) -> aware UTC datetime, truncated to the microsecond."""
    value = _as_int(value)
    if not value or value <= 0:
        return None
    try:
        return _bounded(_EPOCH_1601 + timedelta(microseconds=value // 10))
    except OverflowError:
        return None


def webkit_utc(value: int | float | None) -> datetime | None:
    """Chromium time (microseconds since 1601-01-01 UTC) -> aware UTC datetime."""
    value = _as_int(value)
    if not value or value <= 0:
        return None
    try:
        return _bounded(_EPOCH_1601 + timedelta(microseconds=value))
    except OverflowError:
        return None


def prtime_utc(value: int | float | None) -> datetime | None:
    """Mozilla PRTime (microseconds since 1970-01-01 UTC) -> aware UTC datetime."""
    value = _as_int(value)
    if not value or value <= 0:
        return None
    try:
        return _bounded(_EPOCH_1970 + timedelta(microseconds=value))
    except OverflowError:
        return None


def unix_utc(value: int | float | None) -> datetime | None:
    """time_t seconds since 1970-01-01 UTC -> aware UTC datetime (old Chrome downloads, PE headers)."""
    value = _as_int(value)
    if not value or value <= 0:
        return None
    try:
        return _bounded(_EPOCH_1970 + timedelta(seconds=value))
    except OverflowError:
        return None
