"""What every compiled Sigma rule says about itself, a plain rule or a correlation: its id, title,
level, status, author (the DRL asks that it travels with every match), description and ATT&CK and
other tags. One reading of pySigma's rule objects for both (triage.sigma.load, triage.sigma.correlate)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

LEVELS = ("informational", "low", "medium", "high", "critical")


@dataclass
class RuleMeta:
    id: str
    title: str
    level: str
    status: str
    author: str
    description: str
    tags: list[str]


def meta_of(rule: Any, src: Any) -> dict[str, Any]:
    """A pySigma rule's :class:`RuleMeta` fields; ``src`` (a rule file's Source) names a rule
    without an id or title."""
    return {"id": str(rule.id) if rule.id else f"{src.rel}#{rule.title}", "title": str(rule.title or src.rel),
            "level": level_of(rule), "status": str(rule.status.name.lower() if rule.status else "unknown"),
            "author": str(rule.author or ""), "description": str(rule.description or ""),
            "tags": [f"{t.namespace}.{t.name}" for t in rule.tags or []]}


def level_of(rule: Any) -> str:
    lv = getattr(rule, "level", None)
    name = lv.name.lower() if lv is not None else "medium"
    return name if name in LEVELS else "medium"
