"""Local wall-clock times of a host's artifacts turned into UTC with the host's own time-zone rules.

Why here and not in the parser: the rules are in the SYSTEM hive, the times in SOFTWARE (NetworkList),
and each hive is parsed on its own; once every record of the host is in, the SYSTEM fact
``timezone_rules`` (see :mod:`triage.parsers.registry.timezone`) converts them. The local value
stays beside the UTC one (provenance first).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from triage.model import HostFact, Record
from triage.parsers.registry.networklist import NetworkProfile
from triage.parsers.registry.timezone import local_to_utc


def _naive(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo is None else None


def host_rules(records: list[Record]) -> dict[str, Any] | None:
    """The first ``timezone_rules`` fact of the host, if any."""
    for rec in records:
        if isinstance(rec, HostFact) and rec.key == "timezone_rules" and isinstance(rec.value, dict):
            return rec.value
    return None


def localize_records(records: list[Record]) -> list[Record]:
    """The records with UTC times added where a local-only time and the host's zone rules allow."""
    if not any(isinstance(r, NetworkProfile) for r in records):
        return records
    rules = host_rules(records)
    if rules is None:
        return records
    out: list[Record] = []
    for rec in records:
        if isinstance(rec, NetworkProfile):
            rec = replace(rec, first_connected=local_to_utc(rules, _naive(rec.first_connected_local)),
                          last_connected=local_to_utc(rules, _naive(rec.last_connected_local)))
        out.append(rec)
    return out
