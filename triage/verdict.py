"""The verdict: what a responder needs in the first minute, decided once from a summary.

Why a module of its own, below the analysis, the report and the fleet: the per-host report, the fleet's index.html and analysts' own
scripts must agree on whether a host is "compromise likely", so the decision is made once, from
the summary's own sections, and stored in summary.json ``verdict`` (documented in the schema).

The rule, deliberately simple so that a responder can check it by hand:
  * ``compromise_likely``: a critical finding, or high-severity findings from two or more rules;
  * ``suspicious``: any high or medium finding;
  * ``nothing_found``: only low/info findings, or none (which is not absence of compromise: the
    ``gaps`` say what was not collected or could not be read).
Known-benign background (a finding with ``noise`` set by triage/analyze/ranking.py) never decides,
whatever severity it carries: the analysis lowers it to info, and a summary that says otherwise
(older or hand-edited) is read as info too.
"Malicious activity" below means the deciding findings (medium or worse) that carry a plausible
time (1990 or later); their first and last times are finding times (the time of the evidence:
event time, key last write, last run), not collection times.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from triage.model import SEVERITIES
from triage.units import iso

LEVELS = ("compromise_likely", "suspicious", "nothing_found")
LABELS = {"compromise_likely": "compromise likely", "suspicious": "suspicious", "nothing_found": "nothing found"}
DECIDING = ("critical", "high", "medium")
TOP_RULES = 10
WHY_MAX = 5
PLAUSIBLE = datetime(1990, 1, 1, tzinfo=UTC)


def parse_time(value: Any) -> datetime | None:
    """An ISO-8601 summary time as an aware UTC datetime; None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t.astimezone(UTC) if t.tzinfo else t.replace(tzinfo=UTC)


def _sev(value: Any) -> str:
    s = str(value or "").lower()
    return s if s in SEVERITIES else "info"


def is_noise(f: Mapping[str, Any]) -> bool:
    """True when the analysis called this finding known-benign background (a non-empty reason)."""
    noise = f.get("noise")
    return isinstance(noise, str) and bool(noise.strip())


def severity_of(f: Mapping[str, Any]) -> str:
    """A finding's severity as far as the verdict goes: info for known-benign noise."""
    return "info" if is_noise(f) else _sev(f.get("severity"))


def count_of(f: Mapping[str, Any]) -> int:
    """The records one finding groups (``count``); 1 when absent or not a sane integer."""
    n = f.get("count")
    return n if isinstance(n, int) and not isinstance(n, bool) and n >= 1 else 1


def level_of(findings: Iterable[tuple[str, str]]) -> str:
    """The verdict level from (rule, severity) pairs: shared by the summary and the fleet index."""
    high_rules: set[str] = set()
    deciding = False
    for rule, severity in findings:
        sev = _sev(severity)
        if sev == "critical":
            return "compromise_likely"
        if sev == "high":
            high_rules.add(rule)
        if sev in DECIDING:
            deciding = True
    if len(high_rules) >= 2:
        return "compromise_likely"
    return "suspicious" if deciding else "nothing_found"


def _order(f: Mapping[str, Any]) -> tuple[int, str]:
    return SEVERITIES.index(severity_of(f)), str(f.get("when") or "~")


def _reasons(level: str, findings: list[Mapping[str, Any]]) -> list[str]:
    by = Counter(severity_of(f) for f in findings)
    high_rules = {f.get("rule") for f in findings if severity_of(f) == "high"}
    if level == "compromise_likely":
        if by["critical"]:
            return [f"{by['critical']} critical finding{'s' * (by['critical'] != 1)}"]
        return [f"high-severity findings from {len(high_rules)} different rules"]
    if level == "suspicious":
        parts = [f"{by[s]} {s}" for s in ("high", "medium") if by[s]]
        return [" and ".join(parts) + " finding" + ("s" if by["high"] + by["medium"] != 1 else "")
                + ", not enough on their own to call it a compromise"]
    if findings:
        return [f"only low/info observations ({len(findings)}); no rule of medium severity or worse matched"]
    return ["no rule matched"]


def _top_rules(findings: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[str, dict[str, Any]] = {}
    for f in findings:
        if is_noise(f):
            continue  # known-benign background has its own group in the report, not a top rule
        rule = str(f.get("rule") or "?")
        g = groups.setdefault(rule, {"rule": rule, "title": f.get("title"), "severity": _sev(f.get("severity")),
                                     "count": 0, "records": 0, "off_network": 0, "first": None, "last": None,
                                     "sigma": rule.startswith("sigma:"), "findings": []})
        g["count"] += 1
        g["records"] += count_of(f)
        g["off_network"] += 1 if f.get("off_network") else 0
        if SEVERITIES.index(_sev(f.get("severity"))) < SEVERITIES.index(g["severity"]):
            g["severity"] = _sev(f.get("severity"))
        when = f.get("when")
        if isinstance(when, str) and when:
            g["first"] = min(g["first"] or when, when)
            g["last"] = max(g["last"] or when, when)
        if len(g["findings"]) < 50:
            g["findings"].append(f.get("id"))
    out = sorted(groups.values(), key=lambda g: (SEVERITIES.index(g["severity"]), -g["count"], g["rule"]))
    return out[:TOP_RULES]


def _moment(f: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if f is None:
        return None
    return {"time": f.get("when"), "finding": f.get("id"), "title": f.get("title"), "rule": f.get("rule"),
            "meaning": "finding time: the time its evidence carries (event time, key last write or run time), UTC"}


def window_end(window: Mapping[str, Any], summary: Mapping[str, Any]) -> datetime | None:
    """A window's end, or for one still open at the end of the logs the logs' last record time."""
    end = parse_time(window.get("end"))
    if end is not None:
        return end
    ends = [t for t in (parse_time(x.get("last")) for x in summary.get("event_logs") or []
                        if isinstance(x, Mapping)) if t]
    return max(ends) if ends else None


def in_span(t: datetime | None, start: datetime | None, end: datetime | None) -> bool:
    """start inclusive, end inclusive when it is the logs' end (an open window), else exclusive."""
    return t is not None and start is not None and t >= start and (end is None or t <= end)


def _gaps(summary: Mapping[str, Any]) -> dict[str, Any]:
    cov = [c for c in summary.get("coverage") or [] if isinstance(c, Mapping)]
    missing = sorted(str(c.get("artifact")) for c in cov if not c.get("collected") and not c.get("partial")
                     and (c.get("missing") or c.get("failed")))
    unparsed = sorted(str(c.get("artifact")) for c in cov if (c.get("collected") or c.get("partial"))
                      and not c.get("parsed"))
    issues = [i for i in summary.get("issues") or [] if isinstance(i, Mapping)]
    by_sev = Counter(str(i.get("severity") or "error") for i in issues)
    stats = summary.get("stats") or {}
    return {"not_collected": missing, "not_parsed": unparsed,
            "issues": len(issues) + int(stats.get("issues_dropped") or 0),
            "issues_by_severity": dict(sorted(by_sev.items())),
            "parsers_unavailable": sorted((stats.get("parsers_unavailable") or {}).keys()),
            "sigma_rules_skipped": int((summary.get("sigma") or {}).get("rules_skipped") or 0)}


def compute(summary: Mapping[str, Any]) -> dict[str, Any]:
    """summary.json ``verdict`` from the other sections of the summary (findings, network windows,
    coverage, issues). Keeps the at-a-glance counts ('findings', 'by_severity', 'issues')."""
    findings = [f for f in summary.get("findings") or [] if isinstance(f, Mapping)]
    sev = Counter(_sev(f.get("severity")) for f in findings)
    level = level_of((str(f.get("rule") or ""), severity_of(f)) for f in findings)
    deciding = sorted((f for f in findings if severity_of(f) in DECIDING), key=_order)
    timed = sorted((f for f in deciding if (t := parse_time(f.get("when"))) and t >= PLAUSIBLE),
                   key=lambda f: str(f.get("when")))
    windows = []
    for w in (summary.get("network") or {}).get("off_network_windows") or []:
        if not isinstance(w, Mapping):
            continue
        start, end = parse_time(w.get("start")), window_end(w, summary)
        inside = [f for f in findings if in_span(parse_time(f.get("when")), start, end)]
        windows.append({"start": w.get("start"), "end": w.get("end"), "effective_end": iso(end), "findings": len(inside),
                        "deciding_findings": sum(1 for f in inside if severity_of(f) in DECIDING)})
    bundle = summary.get("bundle") or {}
    return {
        "findings": len(findings),
        "by_severity": {s: sev.get(s, 0) for s in SEVERITIES},
        "issues": len(summary.get("issues") or []),
        "known_benign": sum(1 for f in findings if is_noise(f)),
        "level": level,
        "label": LABELS[level],
        "reasons": _reasons(level, findings),
        "why": [{"finding": f.get("id"), "rule": f.get("rule"), "severity": _sev(f.get("severity")),
                 "title": f.get("title"), "when": f.get("when"), "off_network": f.get("off_network"),
                 "count": count_of(f)}
                for f in deciding[:WHY_MAX]],
        "first_malicious": _moment(timed[0] if timed else None),
        "last_malicious": _moment(timed[-1] if timed else None),
        "off_network_windows": windows,
        "top_rules": _top_rules(findings),
        "gaps": _gaps(summary),
        "bundle_trusted": bool(bundle.get("verified")) and not bundle.get("refused"),
    }


__all__ = ["LABELS", "LEVELS", "compute", "count_of", "in_span", "is_noise", "level_of", "parse_time", "severity_of",
           "window_end"]
