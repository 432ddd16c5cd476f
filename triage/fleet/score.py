"""A host's score: how much an analyst should want to look at it first, with the reasons.

Why this shape: a score nobody can explain is not trusted, so every point comes from a finding
and the explanation lists, per rule, the weight, the count, how many hosts share the finding and
the points. Three ideas, all visible in the explanation:

* weight: per severity for the analyzer's own findings, per kind for fleet findings (a persistence
  entry found on one host out of many is the classic least-frequency signal; a rare browser domain
  is barely one; an IOC match is strong);
* sharing: a finding (same rule, severity, title and reason) on n hosts gives each of them weight/n (at least
  5% of it) -- what the whole fleet has is the build image or background noise, what one host has is
  why to look at that host; what many hosts share is listed as such on the index page instead;
* repeats of one rule on a host give diminishing returns (1 + 1/2 + 1/4 ... of the largest weights),
  so one noisy rule firing hundreds of times cannot outrank several different reasons to look.

Known-benign background (a finding with ``noise``, triage/analyze/ranking.py) is stored at info
whatever severity it carries (store.py), so it weighs 0: an updater in AppData never lifts a host.
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
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


MIN_SHARE = 0.05


def diminishing(weights: list[float]) -> float:
    """Largest first, each next one halved: w1 + w2/2 + w3/4 ..."""
    return sum(w * 0.5**i for i, w in enumerate(sorted(weights, reverse=True)))


@dataclass(slots=True)
class HostScore:
    host_id: int
    host: str
    score: float
    explained: list[dict] = field(default_factory=list)


def shared_counts(conn: sqlite3.Connection) -> dict[tuple, int]:
    """(rule, severity, title, reason) as string ids -> machines having that finding (a copy of a
    host's evidence under another name is the same machine: it cannot dilute the sharing)."""
    return {tuple(r[:4]): r[4] for r in conn.execute(
        "SELECT f.rule, f.severity, f.title, f.reason, COUNT(DISTINCT coalesce(h.machine_id, h.id))"
        " FROM findings_rows f JOIN hosts h ON h.id = f.host_id GROUP BY f.rule, f.severity, f.title, f.reason")}


def compute_scores(conn: sqlite3.Connection) -> list[HostScore]:
    """Score every host from its findings (all origins), store it in hosts, return them best first."""
    scores = {r[0]: HostScore(r[0], r[1], 0.0) for r in conn.execute("SELECT id, name FROM hosts")}
    shared = shared_counts(conn)
    text = dict(conn.execute("SELECT id, value FROM strings WHERE id IN (SELECT rule FROM findings_rows"
                             " UNION SELECT severity FROM findings_rows)").fetchall())
    groups: dict[tuple, list[tuple[float, int]]] = defaultdict(list)
    for host_id, origin, rule_id, severity_id, title, reason in conn.execute(
            "SELECT host_id, origin, rule, severity, title, reason FROM findings_rows"):
        rule, severity = text.get(rule_id), text.get(severity_id)
        weight = weight_of(rule, severity)
        n = shared.get((rule_id, severity_id, title, reason), 1)
        groups[(host_id, origin, rule, severity)].append((weight * max(1.0 / n, MIN_SHARE), n))
    for (host_id, origin, rule, severity), items in groups.items():
        hs = scores.get(host_id)
        if hs is None:
            continue
        points = round(diminishing([w for w, _ in items]), 2)
        hosts_sharing = sorted(n for _, n in items)
        hs.explained.append({"origin": origin, "rule": rule, "severity": severity,
                             "weight": weight_of(rule, severity), "count": len(items),
                             "shared_by": hosts_sharing[0] if hosts_sharing[0] == hosts_sharing[-1]
                             else f"{hosts_sharing[0]}-{hosts_sharing[-1]}",
                             "points": points})
        hs.score += points
    for hs in scores.values():
        hs.score = round(hs.score, 2)
        hs.explained.sort(key=lambda e: (-e["points"], str(e["rule"])))
        conn.execute("UPDATE hosts SET score = ?, score_explained = ? WHERE id = ?",
                     (hs.score, json.dumps(hs.explained), hs.host_id))
    conn.commit()
    return sorted(scores.values(), key=lambda h: (-h.score, h.host))
