"""A host's score: how much an analyst should want to look at it first, with the reasons.

Why this shape: a score nobody can explain is not trusted, so every point comes from a finding
and the explanation lists rule, severity, weight, count and points. Weights are per severity for
the analyzer's own findings and per kind for fleet findings (a persistence entry found on one host
out of many is the classic least-frequency signal; a rare browser domain is barely one). Repeats of
one rule on a host give diminishing returns (1 + 1/2 + 1/4 ... < 2x the weight), so one noisy rule
firing hundreds of times cannot outrank several different reasons to look.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field

SEVERITY_WEIGHTS = {"critical": 40.0, "high": 20.0, "medium": 8.0, "low": 2.0, "info": 0.0}
RULE_WEIGHTS = {
    "fleet.rare.autorun": 30.0,
    "fleet.rare.service": 25.0,
    "fleet.rare.task": 25.0,
    "fleet.rare.yara": 20.0,
    "fleet.rare.executable_name": 3.0,
    "fleet.rare.executable_path": 2.0,
    "fleet.rare.domain": 1.0,
}
IOC_WEIGHT = 40.0


def weight_of(rule: str | None, severity: str | None) -> float:
    if rule and rule in RULE_WEIGHTS:
        return RULE_WEIGHTS[rule]
    if rule and rule.startswith("fleet.ioc."):
        return IOC_WEIGHT
    return SEVERITY_WEIGHTS.get((severity or "").lower(), 0.0)


def diminishing(weight: float, count: int) -> float:
    """weight x (1 + 1/2 + ... + 1/2**(count-1))."""
    return weight * (2.0 - 2.0 ** (1 - count)) if count > 0 else 0.0


@dataclass(slots=True)
class HostScore:
    host_id: int
    host: str
    score: float
    explained: list[dict] = field(default_factory=list)


def compute_scores(conn: sqlite3.Connection) -> list[HostScore]:
    """Score every host from its findings (all origins), store it in hosts, return them best first."""
    scores = {r["id"]: HostScore(r["id"], r["name"], 0.0) for r in conn.execute("SELECT id, name FROM hosts")}
    rows = conn.execute("SELECT host_id, origin, rule, severity, COUNT(*) AS n FROM findings"
                        " GROUP BY host_id, origin, rule, severity")
    for r in rows:
        hs = scores.get(r["host_id"])
        if hs is None:
            continue
        weight = weight_of(r["rule"], r["severity"])
        points = round(diminishing(weight, r["n"]), 2)
        hs.explained.append({"origin": r["origin"], "rule": r["rule"], "severity": r["severity"], "weight": weight,
                             "count": r["n"], "points": points})
        hs.score += points
    for hs in scores.values():
        hs.score = round(hs.score, 2)
        hs.explained.sort(key=lambda e: (-e["points"], str(e["rule"])))
        conn.execute("UPDATE hosts SET score = ?, score_explained = ? WHERE id = ?",
                     (hs.score, json.dumps(hs.explained), hs.host_id))
    conn.commit()
    return sorted(scores.values(), key=lambda h: (-h.score, h.host))
