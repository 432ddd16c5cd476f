"""The verdict block, first on the page: the level and why, first and last malicious activity,
off-network windows with their findings, top findings grouped by rule, and what is missing.
The decision itself is made in the analysis (:mod:`triage.verdict`); this renders it."""

from __future__ import annotations

from typing import Any

from triage import verdict as decide
from triage.report.escape import e, finding_anchor, plural, sev, ts
from triage.report.noise import times
from triage.report.style import VERDICT_COLORS, severity_badge
from triage.report.tables import table


def _moment(label: str, m: Any) -> str:
    if not isinstance(m, dict) or not m.get("time"):
        return f'<div class="row"><span class="label">{e(label)}</span><span class="muted">none with a time</span></div>'
    return (f'<div class="row"><span class="label">{e(label)}</span>{ts(m.get("time"))} — '
            f'<a href="#{finding_anchor(m.get("finding"))}">{e(m.get("title"))}</a> '
            f'<span class="muted">({e(m.get("meaning"))})</span></div>')


def _windows(v: dict[str, Any]) -> str:
    wins = [w for w in v.get("off_network_windows") or [] if isinstance(w, dict)]
    if not wins:
        return ('<div class="row"><span class="label">Off-network windows</span>'
                '<span class="muted">none found</span></div>')
    items = "".join(
        f'<li><a href="#offnet-{k}">{ts(w.get("start"))} → '
        f'{ts(w.get("end")) if w.get("end") else "still off at the end of the logs"}</a>: '
        f'{e(plural(w.get("findings") or 0, "finding"))}'
        + (f', {e(w.get("deciding_findings"))} of medium or higher severity' if w.get("deciding_findings") else "")
        + "</li>" for k, w in enumerate(wins[:20]))
    return (f'<div class="row"><span class="label">Off-network windows ({len(wins)})</span></div>'
            f"<ul>{items}</ul>")


def _top(v: dict[str, Any]) -> str:
    rows = []
    for g in v.get("top_rules") or []:
        if not isinstance(g, dict):
            continue
        s = sev(g.get("severity"))
        ids = g.get("findings") or []
        target = f' href="#{finding_anchor(ids[0])}"' if ids else ""
        sigma = '<span class="badge">Sigma</span>' if g.get("sigma") else ""
        off = f'<span class="badge off">{e(g.get("off_network"))} off-network</span>' if g.get("off_network") else ""
        span = f"{ts(g.get('first'))} → {ts(g.get('last'))}" if g.get("first") else '<span class="muted">—</span>'
        records = g.get("records")
        grouped = times(records) if isinstance(records, int) and records > (g.get("count") or 0) else ""
        rows.append(f"<tr><td>{severity_badge(s)}</td><td><a{target}>{e(g.get('title'))}</a>{grouped}{sigma}{off}<br>"
                    f"<span class='muted mono'>{e(g.get('rule'))}</span></td><td class='num'>{e(g.get('count'))}</td>"
                    f"<td>{span}</td></tr>")
    return table("t-top", ["Severity", "Rule", "Findings", "First → last (UTC)"], rows, filter_box=False)


def _gaps(v: dict[str, Any]) -> str:
    g = v.get("gaps") or {}
    bits = []
    if g.get("not_collected"):
        bits.append(f"not collected: {e(', '.join(map(str, g['not_collected'][:30])))}")
    if g.get("not_parsed"):
        bits.append(f"collected but not parsed: {e(', '.join(map(str, g['not_parsed'][:30])))}")
    if g.get("parsers_unavailable"):
        bits.append(f"parsers unavailable: {e(', '.join(map(str, g['parsers_unavailable'][:10])))}")
    if g.get("sigma_rules_skipped"):
        bits.append(e(plural(g["sigma_rules_skipped"], "Sigma rule") + " not evaluated"))
    sev_counts = ", ".join(f"{n} {k}" for k, n in (g.get("issues_by_severity") or {}).items())
    bits.append(f'<a href="#issues">{e(plural(g.get("issues") or 0, "problem"))} reading the evidence</a>'
                + (f" ({e(sev_counts)})" if sev_counts else ""))
    return "<ul>" + "".join(f"<li>{b}</li>" for b in bits) + "</ul>"


def render(s: dict[str, Any]) -> str:
    v = s.get("verdict") or {}
    if "level" not in v:  # a summary written before verdicts: decide from its own sections
        v = decide.compute(s)
    level = str(v.get("level")) if v.get("level") in decide.LEVELS else "nothing_found"
    why = "".join(f'<li>{severity_badge(sev(w.get("severity")))} <a href="#{finding_anchor(w.get("finding"))}">'
                  f'{e(w.get("title"))}</a>{times(decide.count_of(w))} {ts(w.get("when"))}</li>'
                  for w in v.get("why") or [] if isinstance(w, dict))
    benign = v.get("known_benign")
    quiet = (f'<p class="muted" id="verdict-noise">{e(plural(benign, "known-benign finding"))} not counted '
             '(<a href="#noise-group">background</a>)</p>' if isinstance(benign, int) and benign > 0 else "")
    trust = "" if v.get("bundle_trusted", True) else \
        '<p class="bad">The bundle did not verify: treat every fact below with care.</p>'
    return (f'<section id="verdict"><div><span class="level" id="verdict-level" data-level="{level}" '
            f'style="background:{VERDICT_COLORS[level]}">{e(decide.LABELS[level]).capitalize()}</span></div>'
            f'<p id="verdict-reasons">{e("; ".join(map(str, v.get("reasons") or [])))}</p>{quiet}{trust}'
            + (f'<div class="row"><span class="label">Deciding findings</span></div><ul id="verdict-why">{why}</ul>'
               if why else "")
            + _moment("First malicious activity (UTC)", v.get("first_malicious"))
            + _moment("Last malicious activity (UTC)", v.get("last_malicious"))
            + _windows(v)
            + '<details open><summary>Top findings by rule</summary>' + _top(v) + "</details>"
            + '<div class="row"><span class="label">Not collected or not readable</span></div>' + _gaps(v)
            + "</section>")
