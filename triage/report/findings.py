"""The findings section: most severe first, duplicates (same rule, title, severity) grouped with a
count, each with its evidence links. Critical/high/medium as cards, low/info in a compact table."""

from __future__ import annotations

from typing import Any

from triage.report import evidence, noise
from triage.report.escape import SEVERITIES, e, finding_anchor, plural, sev, ts
from triage.report.style import SEV_COLORS, severity_badge
from triage.report.tables import MAX_ROWS, section, table

OFF = '<span class="badge off" title="during an off-network window">OFF-NETWORK</span>'


def groups(findings: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Findings grouped by (rule, title, severity), most severe group first, then by time."""
    by: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for f in findings:
        if isinstance(f, dict):
            by.setdefault((str(f.get("rule")), str(f.get("title")), sev(f.get("severity"))), []).append(f)
    return sorted(by.values(), key=lambda g: (SEVERITIES.index(sev(g[0].get("severity"))),
                                              str(g[0].get("when") or "~")))


def _anchors(group: list[dict[str, Any]]) -> str:
    return "".join(f'<span id="{finding_anchor(f.get("id"))}"></span>' for f in group[1:])


def _card(group: list[dict[str, Any]]) -> str:
    f = group[0]
    s = sev(f.get("severity"))
    color = SEV_COLORS[s]
    off = OFF if any(x.get("off_network") for x in group) else ""
    attack = "".join(f'<span class="badge">{e(a)}</span>' for a in (f.get("attack") or []))
    times = sorted(str(x.get("when")) for x in group if x.get("when"))
    when = (f" · {ts(times[0])}" + (f" → {ts(times[-1])}" if len(times) > 1 else "")) if times else " · time unknown"
    count = noise.times(noise.total(group))
    reasons = "".join(f'<div class="reason">{e(x.get("reason"))}</div>'
                      for x in group[:3]) + (f'<div class="muted">… {len(group) - 3} more alike</div>'
                                              if len(group) > 3 else "")
    ids = ", ".join(str(x.get("id")) for x in group[:6]) + (" …" if len(group) > 6 else "")
    ev = "".join(evidence.links(x) for x in group[:4])
    return (f'<div class="finding sev-{s}" id="{finding_anchor(f.get("id"))}" style="border-left-color:{color}" '
            f'data-rule="{e(f.get("rule"))}">{_anchors(group)}'
            f'<div class="head">{severity_badge(s)}<span class="title">{e(f.get("title"))}</span>{count}{off}'
            f'{attack}</div>{reasons}<div class="meta">{e(ids)} · rule <b>{e(f.get("rule"))}</b>{when}</div>'
            f"<ul>{ev}</ul></div>")


def _row(group: list[dict[str, Any]], *, benign: bool = False) -> str:
    """A compact table row; ``benign`` rows say why the analysis called them known-benign."""
    f = group[0]
    s = sev(f.get("severity"))
    off = OFF if any(x.get("off_network") for x in group) else ""
    count = noise.times(noise.total(group))
    why = noise.reason(f) if benign else ""
    first = next((x for x in f.get("evidence") or [] if isinstance(x, dict)), None)
    link = evidence.links({"evidence": [first]}) if first else ""
    return (f'<tr class="finding-row sev-{s}" id="{finding_anchor(f.get("id"))}" data-rule="{e(f.get("rule"))}">'
            f'<td>{_anchors(group)}{severity_badge(s)}</td><td><b>{e(f.get("title"))}</b>{count}{off}{why or "<br>"}'
            f'<span class="muted">{e(f.get("reason"))}</span></td><td>{ts(f.get("when"))}</td>'
            f'<td class="mono"><ul>{link}</ul></td></tr>')


def _background(benign: list[dict[str, Any]]) -> str:
    """The known-benign group: collapsed, after every real suspect, each row with its reason."""
    gs = groups(benign)
    rows = [_row(g, benign=True) for g in gs[:MAX_ROWS]]
    return (f'<details id="noise-group"><summary>Known-benign background ({len(benign)})</summary>'
            '<p class="muted">Findings the analysis recognised as the usual background of a Windows host '
            "(per-user updaters, installers); kept at info, with the reason, so the call can be checked.</p>"
            + table("t-noise", ["Severity", "Finding", "When", "Evidence"], rows, total=len(gs)) + "</details>")


def render(s: dict[str, Any]) -> str:
    fs = [f for f in s.get("findings") or [] if isinstance(f, dict)]
    real, benign = noise.split(fs)
    gs = groups(real)
    major = [g for g in gs if sev(g[0].get("severity")) in ("critical", "high", "medium")]
    minor = [g for g in gs if sev(g[0].get("severity")) in ("low", "info")]
    body = []
    if not fs:
        body.append('<p class="muted">No rule matched. Absence of findings is not absence of compromise: '
                    "check coverage below.</p>")
    body += [_card(g) for g in major[:MAX_ROWS]]
    if minor:
        n = sum(len(g) for g in minor)
        rows = [_row(g) for g in minor[:MAX_ROWS]]
        body.append(f'<details{" open" if not major else ""}><summary>Lower-severity findings: '
                    f"{e(plural(n, 'finding'))} in {e(plural(len(minor), 'group'))}</summary>"
                    + table("t-minor", ["Severity", "Finding", "When", "Evidence"], rows, total=len(minor))
                    + "</details>")
    if benign:
        body.append(_background(benign))
    count = f"{plural(len(real), 'finding')}, {plural(len(gs), 'group')}" + (
        f", {len(benign)} known-benign" if benign else "")
    return section("findings", "Findings", count, "".join(body), open_=True)
