"""One finding per (Sigma rule, host), and the summary's ``sigma`` section.

The per-log :class:`~triage.model.SigmaMatch` records are summed per rule id (a rule's Sysmon
and Security variants, and every log it matched in, make one finding): total count, first and last
time, and the first matched records as evidence, each naming its log, record number and time. Every
finding keeps the rule's author and where the rule came from (the DRL 1.1 asks that the author travels
with every match of the public rules).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from triage.model import Finding, Record, SigmaMatch, Source

# Evidence records kept per finding (all are counted).
MAX_EVIDENCE = 50
SEVERITY = {"critical": "critical", "high": "high", "medium": "medium", "low": "low", "informational": "info"}
_TECHNIQUE = re.compile(r"^attack\.(t\d{4}(?:\.\d{3})?)$", re.I)


def techniques(tags: Iterable[str]) -> tuple[str, ...]:
    """'attack.t1059.001' -> 'T1059.001' (tactic names and other tags are left out)."""
    out = []
    for t in tags:
        m = _TECHNIQUE.match(t)
        if m:
            out.append(m.group(1).upper())
    return tuple(dict.fromkeys(out))


class _Group:
    def __init__(self, m: SigmaMatch) -> None:
        self.first_match = m
        self.count = 0
        self.first: datetime | None = None
        self.last: datetime | None = None
        self.logs: dict[str, int] = {}
        self.samples: list[dict[str, Any]] = []


def group(records: Iterable[Record]) -> list[_Group]:
    """SigmaMatch records summed per rule id, in a stable order (severity, then title)."""
    groups: dict[str, _Group] = {}
    for m in records:
        if not isinstance(m, SigmaMatch):
            continue
        g = groups.get(m.rule_id)
        if g is None:
            g = groups[m.rule_id] = _Group(m)
        g.count += m.count
        if m.first is not None and (g.first is None or m.first < g.first):
            g.first = m.first
        if m.last is not None and (g.last is None or m.last > g.last):
            g.last = m.last
        g.logs[m.source.bundle_path] = g.logs.get(m.source.bundle_path, 0) + m.count
        for s in m.samples:
            g.samples.append({"bundle_path": m.source.bundle_path, "locator": f"record {s.get('record_id')}",
                              "channel": m.channel, **s})
    order = {s: i for i, s in enumerate(("critical", "high", "medium", "low", "informational"))}
    out = sorted(groups.values(), key=lambda g: (order.get(g.first_match.level, 9), g.first_match.title))
    for g in out:
        g.samples.sort(key=lambda s: (s.get("time") or "", s["bundle_path"], str(s.get("record_id"))))
        del g.samples[MAX_EVIDENCE:]
    return out


def findings(records: Iterable[Record]) -> list[Finding]:
    out = []
    for g in group(records):
        m = g.first_match
        logs = ", ".join(f"{p.rsplit('/', 1)[-1]} ({n})" for p, n in sorted(g.logs.items()))
        span = ""
        if g.first is not None:
            span = f" from {g.first.isoformat()}" + (f" to {g.last.isoformat()}" if g.last and g.last != g.first else "")
        author = f"; rule by {m.author}" if m.author else ""
        reason = (f"Sigma rule {m.rule_id} ({m.origin} rule {m.rule_path}{author}) matched "
                  f"{g.count} record{'s' * (g.count != 1)}{span} in {logs}")
        first_log = next(iter(sorted(g.logs)))
        out.append(Finding(source=Source(bundle_path=first_log, locator=g.samples[0]["locator"] if g.samples else None),
                           rule=f"sigma:{m.rule_id}", severity=SEVERITY.get(m.level, "medium"),
                           title=m.title, reason=reason, evidence=tuple(g.samples), when=g.first,
                           attack=techniques(m.tags)))
    return out


def section(records: Iterable[Record], ruleset: Any | None, windows: list[dict[str, Any]] | None = None
            ) -> dict[str, Any]:
    """summary.json's ``sigma``: what was loaded and skipped, and the matches grouped per rule (the
    report's per-rule table; counts like Hayabusa's summary).

    ``matches`` is JSON already (each matched record converted once, here, with its off-network
    flag added to the converted copy): :func:`json_section` converts the rest without walking the
    records a second time."""
    from triage.analyze.findings import in_windows
    from triage.analyze.summary import jsonable

    matches = []
    for g in group(records):
        m = g.first_match
        samples = []
        for s in g.samples:
            t = s.get("time")
            when = None
            if isinstance(t, str):
                try:
                    when = datetime.fromisoformat(t.replace("Z", "+00:00"))
                except ValueError:
                    when = None
            sample = jsonable(s)
            sample["off_network"] = in_windows(when, windows or []) if when else None
            samples.append(sample)
        head = jsonable({"rule_id": m.rule_id, "title": m.title, "level": m.level, "author": m.author,
                         "origin": m.origin, "rule_path": m.rule_path, "tags": list(m.tags),
                         "attack": list(techniques(m.tags)), "count": g.count,
                         "first": g.first.isoformat().replace("+00:00", "Z") if g.first else None,
                         "last": g.last.isoformat().replace("+00:00", "Z") if g.last else None,
                         "logs": [{"bundle_path": p, "count": n} for p, n in sorted(g.logs.items())]})
        head["records"] = samples
        matches.append(head)
    out: dict[str, Any] = {"enabled": ruleset is not None, "matches": matches}
    if ruleset is not None:
        out.update({"rule_set": ruleset.key[:16], "files": ruleset.files, "rules_loaded": ruleset.loaded,
                    "variants": len(ruleset.rules), "rules_skipped": len(ruleset.skipped),
                    "skipped_reasons": ruleset.reasons()})
    return out


def json_section(records: Iterable[Record], ruleset: Any | None, windows: list[dict[str, Any]] | None = None
                 ) -> dict[str, Any]:
    """:func:`section` as JSON values, its matches (JSON already) kept as they are."""
    from triage.analyze.summary import jsonable

    return {k: v if k == "matches" else jsonable(v) for k, v in section(records, ruleset, windows).items()}
