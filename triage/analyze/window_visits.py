"""Domains visited inside each off-network window, for the report's off-network section.

Why in the analysis: the summary keeps only each browser profile's top domains (no times), and the
report renders the summary without re-parsing; so the visits that fall inside a window are counted
here, per domain, with the first and last visit time and one visit's provenance.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from triage.model import BrowserVisit, Record
from triage.units import iso

MAX_DOMAINS = 50


def domain_of(url: str) -> str | None:
    """The lower-case host name of a URL; None when it has none or cannot be split."""
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return host.lower() if host else None


def domains_in_window(records: list[Record], start: datetime | None, end: datetime | None,
                      log_end: datetime | None) -> list[dict[str, Any]]:
    """Visited domains in [start, end) (end None: up to log_end, inclusive), most visits first."""
    if start is None:
        return []
    stop = end or log_end
    per: dict[str, dict[str, Any]] = {}
    for v in records:
        if not isinstance(v, BrowserVisit) or v.timestamp < start:
            continue
        if stop is not None and (v.timestamp >= stop if end is not None else v.timestamp > stop):
            continue
        d = domain_of(v.url)
        if not d:
            continue
        ts = iso(v.timestamp)
        entry = per.get(d)
        if entry is None:
            per[d] = {"domain": d, "visits": 1, "first": ts, "last": ts, "browser": v.browser,
                      "user": v.user or v.source.user, "bundle_path": v.source.bundle_path,
                      "locator": v.source.locator}
        else:
            entry["visits"] += 1
            entry["first"] = min(entry["first"], ts)
            entry["last"] = max(entry["last"], ts)
    return sorted(per.values(), key=lambda e: (-e["visits"], e["domain"]))[:MAX_DOMAINS]
