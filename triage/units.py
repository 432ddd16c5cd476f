"""Strict parsing of human sizes and durations, and UTC time helpers.

Budgets and caps come from command lines and profiles written by people under pressure;
a typo must be an error that names the bad value, never a silent default.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from triage.timeconv import from_filetime, from_webkit  # noqa: F401 -- re-exported: one home in timeconv

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    "": 1, "b": 1,
    "k": 1000, "kb": 1000, "kib": 1024, "ki": 1024,
    "m": 1000**2, "mb": 1000**2, "mib": 1024**2, "mi": 1024**2,
    "g": 1000**3, "gb": 1000**3, "gib": 1024**3, "gi": 1024**3,
    "t": 1000**4, "tb": 1000**4, "tib": 1024**4, "ti": 1024**4,
}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_size(text: str | int) -> int:
    """'500MB' -> 500000000, '2GiB' -> 2147483648, 1024 -> 1024. Raises ValueError on anything else."""
    if isinstance(text, int) and not isinstance(text, bool):
        if text < 0:
            raise ValueError(f"size must not be negative: {text}")
        return text
    m = _SIZE.match(str(text))
    if not m or (m.group(2) or "").lower() not in _SIZE_UNITS:
        raise ValueError(f"not a size: {text!r} (examples: 4096, 500MB, 2GiB)")
    return int(float(m.group(1)) * _SIZE_UNITS[(m.group(2) or "").lower()])


def parse_duration(text: str | int | float) -> float:
    """'90s' -> 90.0, '10m' -> 600.0, '1h30m' -> 5400.0, 45 -> 45.0 seconds."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        return float(text)
    s = str(text).strip().lower()
    if re.fullmatch(r"\d+(?:\.\d+)?", s):
        return float(s)
    pos, total = 0, 0.0
    for m in _DURATION.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _DURATION_UNITS[m.group(2)]
        pos = m.end()
    if pos != len(s) or not s:
        raise ValueError(f"not a duration: {text!r} (examples: 90s, 10m, 1h30m)")
    return total


def human_size(n: int | float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime | None) -> str | None:
    """ISO-8601 UTC with a 'Z', microseconds kept when present; None stays None."""
    if dt is None:
        return None
    if dt.tzinfo is None:
        raise ValueError("naive datetime: every timestamp in triage must be timezone-aware UTC")
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def from_epoch(seconds: float | None) -> datetime | None:
    if seconds is None:
        return None
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None
