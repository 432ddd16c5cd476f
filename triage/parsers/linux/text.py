"""Line reading for the Linux text artifacts (logs, crontabs, units, account files): the shared reader
(:mod:`triage.parsers.textlines`) with the Linux caps from the analysis options, UTF-8 and gzip
inflation for rotated logs; plus the file facts every Linux parser needs (modification time, path).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from triage.parsers.base import ParseInput
from triage.parsers.textlines import MAX_INFLATED_BYTES, LineStats, read_lines, stat_issues

MAX_LINE_CHARS = 8192
MAX_LINES = 2_000_000


def lines(item: ParseInput, stats: LineStats, *, max_lines: int | None = None,
          max_chars: int | None = None) -> Iterator[tuple[int, str]]:
    """(line number from 1, text without the newline) of ``item``, gunzipped when it is gzip."""
    return read_lines(item, stats,
                      max_lines=int(max_lines or item.options.get("linux_max_lines") or MAX_LINES),
                      max_chars=int(max_chars or item.options.get("max_line_chars") or MAX_LINE_CHARS),
                      detect=False, gunzip=True,
                      max_inflated=int(item.options.get("linux_max_inflated") or MAX_INFLATED_BYTES))


def file_modified(item: ParseInput) -> datetime | None:
    """The file's modification time from the manifest (UTC), None when the collector had none."""
    text = (item.entry.times or {}).get("modified") if isinstance(item.entry.times, dict) else None
    if not isinstance(text, str):
        return None
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo is not None else None


def volume_path(item: ParseInput) -> str:
    """The file's path on the host ('/etc/crontab'), from the path inside the volume."""
    return "/" + item.rel_path.lstrip("/")


__all__ = ["MAX_LINES", "MAX_LINE_CHARS", "LineStats", "file_modified", "lines", "stat_issues", "volume_path"]
