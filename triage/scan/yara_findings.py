"""From YARA hits to findings: hive hits settled against decoded ones, then one Finding per rule."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from triage.model import Finding
from triage.scan.lint import SEVERITIES
from triage.scan.yara_hit import YaraHit, hive_of

MAX_EVIDENCE_PER_FINDING = 50
MAX_PROCESSES_NAMED = 3


def settle_hive_hits(hits: Iterable[YaraHit]) -> list[YaraHit]:
    """The hits with ``confirmed`` set on raw hive hits that a decoded value of the same hive (or,
    for a hive log, of the hive it belongs to) matched with the same rule. Call it on all hits of
    one bundle (file scan and decoded scan together); running it again changes nothing."""
    hits = list(hits)
    decoded = {(h.namespace, h.rule, (hive_of(h.source.bundle_path) or "").lower())
               for h in hits if h.target == "decoded"}
    out = []
    for h in hits:
        if h.hive and not h.confirmed and \
                (h.namespace, h.rule, (hive_of(h.source.bundle_path) or "").lower()) in decoded:
            h = dataclasses.replace(h, confirmed=True)
        out.append(h)
    return out


def _processes_note(group: list[YaraHit]) -> str:
    """'; in process 4242 evil.exe (C:\\...\\evil.exe)' for hits on volatile data: an analyst acts on the
    process (dump it, kill it, find its image on disk), not on an offset inside processes.json."""
    procs: dict[Any, dict[str, Any]] = {}
    for h in group:
        if h.process and h.process.get("pid") is not None:
            procs.setdefault(h.process["pid"], h.process)
    if not procs:
        return ""
    named = [f"{p['pid']} {p.get('name') or '?'}" + (f" ({p['exe']})" if p.get("exe") else "")
             for p in list(procs.values())[:MAX_PROCESSES_NAMED]]
    rest = f" and {len(procs) - MAX_PROCESSES_NAMED} more" if len(procs) > MAX_PROCESSES_NAMED else ""
    return f"; in process{'es' if len(procs) > 1 else ''} {', '.join(named)}{rest}"


def findings_from_hits(hits: Iterable[YaraHit]) -> list[Finding]:
    """One Finding per rule (namespace + name), its evidence every place it matched (capped).

    Severity and ATT&CK ids come from the rule's meta ('severity', 'attack'); a rule without a valid
    severity is 'medium'. A rule that matched only raw registry hive bytes, with no decoded value of
    the hive confirming it, counts lower (see the module docstring); the finding takes the strongest
    severity among its hits. ``when`` is the earliest record time among the hits, if any has one.
    """
    order = {s: i for i, s in enumerate(SEVERITIES)}
    groups: dict[tuple[str, str], list[YaraHit]] = defaultdict(list)
    for h in settle_hive_hits(hits):
        groups[(h.namespace, h.rule)].append(h)
    findings: list[Finding] = []
    for (ns, rule), group in groups.items():
        first = group[0]
        meta = first.meta
        attack = tuple(a.strip() for a in str(meta.get("attack", "")).split(",") if a.strip())
        places = sorted({(h.source.bundle_path, h.source.locator or "") for h in group})
        evidence = []
        for h in group[:MAX_EVIDENCE_PER_FINDING]:
            evidence.append({"bundle_path": h.source.bundle_path, "locator": h.source.locator,
                             "target": h.target, "field": h.field,
                             "strings": [f"{i}@{o}: {d}" for i, o, d in h.strings[:5]],
                             **({"hive": True, "confirmed": h.confirmed} if h.hive else {}),
                             **({"process": h.process} if h.process else {})})
        severity = min((h.severity for h in group), key=lambda s: order.get(s, 9))
        note = ""
        if severity != first.rule_severity and all(h.hive and not h.confirmed for h in group):
            note = (f"; only in raw registry hive bytes, no decoded value of the hive matched: severity "
                    f"{severity} instead of the rule's {first.rule_severity}")
        times = [h.when for h in group if h.when is not None]
        where = places[0][0] + (f" ({places[0][1]})" if places[0][1] else "")
        more = f" and {len(places) - 1} more place(s)" if len(places) > 1 else ""
        note += _processes_note(group)
        findings.append(Finding(
            source=first.source,
            rule=f"yara:{ns}:{rule}",
            severity=severity,
            title=str(meta.get("description") or f"YARA rule {rule} matched"),
            reason=f"YARA rule {rule} ({ns}) matched {where}{more}{note}",
            evidence=tuple(evidence),
            when=min(times) if times else None,
            attack=attack,
        ))
    findings.sort(key=lambda f: (order.get(f.severity, 9), f.rule))
    return findings
