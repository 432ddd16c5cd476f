"""Compatibility shim: the bounded on-disk time conversions live in :mod:`triage.timeconv` (one home for
every time conversion, with the bounds each caller needs). New code imports ``triage.timeconv``."""

from __future__ import annotations

from triage.timeconv import filetime_utc, prtime_utc, unix_utc, webkit_utc  # noqa: F401 -- re-exported
