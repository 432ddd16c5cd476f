"""Every conversion of a stored timestamp to an aware UTC datetime: one home, one arithmetic.

Why one module with two bound sets rather than two families: the arithmetic (integer ticks since an
epoch, truncated to the microsecond as libyal and the reference tools do; a float round trip can be a
microsecond off) is the same everywhere; what differs is what a caller accepts as a real time:

- :data:`PLAUSIBLE` (1970-01-02 .. 2200): values straight out of hostile files (SQLite columns,
  prefetch slots, PE headers, $I records), where a zeroed, garbage or forged field is more likely than
  such a date. Text/float/blob garbage is "no time" too. The ``*_utc`` functions use it.
- :data:`WIDE` (1785 .. the largest signed 64-bit FILETIME): metadata a library has already
  structured (registry key last-write times, NTFS/VSS times), where an odd but representable time is
  evidence to show, not noise. :func:`from_filetime` / :func:`from_webkit` use it.

Out of bounds, zero, negative or unreadable -> None: a missing time, never an impossible one.
The pyevtx-rs text forms (:func:`ts_key`, :func:`key_datetime`) live here too, because the EVTX parser
and the Sigma matcher it drives both need them and neither may import the other's package for it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

EPOCH_1601 = datetime(1601, 1, 1, tzinfo=UTC)
EPOCH_1970 = datetime(1970, 1, 1, tzinfo=UTC)
_FILETIME_EPOCH_DELTA = 116444736000000000  # 100 ns intervals between 1601-01-01 and 1970-01-01

# (earliest accepted, latest accepted exclusive)
PLAUSIBLE = (datetime(1970, 1, 2, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC))
WIDE = (EPOCH_1601 + timedelta(microseconds=_FILETIME_EPOCH_DELTA // 2 // 10), datetime.max.replace(tzinfo=UTC))


def _as_int(value: object) -> int | None:
    """Stored values come from hostile files: text, floats or blobs in a time column mean 'no time'."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return int(value)
    except (OverflowError, ValueError):  # inf / nan
        return None


def ticks_utc(value: object, epoch: datetime, microseconds_per_tick: float,
              bounds: tuple[datetime, datetime] = PLAUSIBLE) -> datetime | None:
    """``value`` ticks since ``epoch`` -> aware UTC datetime inside ``bounds``, else None.

    Ticks of 100 ns (FILETIME) use microseconds_per_tick=0.1 and are floor-divided in integers."""
    ticks = _as_int(value)
    if not ticks or ticks <= 0:
        return None
    try:
        if microseconds_per_tick == 0.1:
            delta = timedelta(microseconds=ticks // 10)
        else:
            delta = timedelta(microseconds=ticks * int(microseconds_per_tick))
        dt = epoch + delta
    except OverflowError:
        return None
    return dt if bounds[0] <= dt < bounds[1] else None


def filetime_utc(value: object) -> datetime | None:
    """FILETIME (100 ns ticks since 1601-01-01 UTC) from a hostile file -> UTC datetime (PLAUSIBLE)."""
    return ticks_utc(value, EPOCH_1601, 0.1)


def webkit_utc(value: object) -> datetime | None:
    """Chromium time (microseconds since 1601-01-01 UTC) from a hostile file -> UTC datetime (PLAUSIBLE)."""
    return ticks_utc(value, EPOCH_1601, 1)


def prtime_utc(value: object) -> datetime | None:
    """Mozilla PRTime (microseconds since 1970-01-01 UTC) from a hostile file -> UTC datetime (PLAUSIBLE)."""
    return ticks_utc(value, EPOCH_1970, 1)


def unix_utc(value: object) -> datetime | None:
    """time_t seconds since 1970-01-01 UTC (old Chrome downloads, PE headers) -> UTC datetime (PLAUSIBLE)."""
    return ticks_utc(value, EPOCH_1970, 1_000_000)


def from_filetime(value: int | None) -> datetime | None:
    """Windows FILETIME of structured metadata (registry, NTFS, VSS) -> UTC datetime (WIDE bounds)."""
    if value is not None and value > 0x7FFFFFFFFFFFFFFF:
        return None
    return ticks_utc(value, EPOCH_1601, 0.1, WIDE)


def from_webkit(value: int | None) -> datetime | None:
    """Chrome/WebKit time (microseconds since 1601-01-01 UTC) of structured metadata (WIDE bounds)."""
    if not value or value <= 0:
        return None
    return from_filetime(int(value) * 10)


def ts_key(s: str) -> str:
    """pyevtx-rs timestamp text ('2022-02-05T21:49:54.18Z UTC', 1-7 fraction digits or none) ->
    fixed-width 'YYYY-MM-DDTHH:MM:SS.fffffff' that sorts as time."""
    if len(s) > 20 and s[19] == ".":
        z = s.find("Z", 20)
        frac = s[20:z] if z > 0 else s[20:]
        return f"{s[:19]}.{frac[:7].ljust(7, '0')}"
    return f"{s[:19]}.0000000"


def key_datetime(key: str) -> datetime | None:
    """ts_key text -> aware UTC datetime truncated to the microsecond (None if it is not a time)."""
    try:
        return datetime.fromisoformat(key[:26] + "+00:00")
    except ValueError:
        return None
