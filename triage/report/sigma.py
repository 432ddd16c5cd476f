"""The Sigma section: matches grouped per rule with counts (most severe first); each rule's matched
records below it (log, channel, record number, the event's time, the fields the rule tests), every
record linked to its row in the records view."""

from __future__ import annotations

from typing import Any

from triage.report.escape import SEVERITIES, digest_id, e, ep, plural, record_anchor, sev, ts
from triage.report.style import severity_badge
from triage.report.tables import MAX_ROWS, section, table


def anchor(rule_id: Any) -> str:
    return digest_id("sigma", rule_id)


def render(s: dict[str, Any]) -> str:
    sg = s.get("sigma") or {}
    matches = [m for m in sg.get("matches") or [] if isinstance(m, dict)]
    if not sg.get("enabled") and not matches:
        return ""
    matches.sort(key=lambda m: (SEVERITIES.index(sev(m.get("level"))), -int(m.get("count") or 0)))
    loaded, skipped = sg.get("rules_loaded"), sg.get("rules_skipped") or 0
    head = (f'<p class="muted">{e(plural(loaded, "rule"))} evaluated on every event record'
            + (f"; {e(skipped)} not evaluated (see Problems)" if skipped else "") + ".</p>") if loaded is not None else ""
    rows, details = [], []
    for m in matches[:MAX_ROWS]:
        aid = anchor(m.get("rule_id"))
        attack = " ".join(e(a) for a in m.get("attack") or [])
        rows.append(f'<tr><td>{severity_badge(sev(m.get("level")))}</td>'
                    f'<td><a href="#{aid}"><b>{e(m.get("title"))}</b></a><br>'
                    f'<span class="muted mono">{e(m.get("rule_id"))}</span></td><td class="num">{e(m.get("count"))}</td>'
                    f'<td>{ts(m.get("first"))}</td><td>{ts(m.get("last"))}</td><td>{attack}</td>'
                    f'<td>{e(m.get("author"))}<br><span class="muted">{e(m.get("origin"))}: {e(m.get("rule_path"))}'
                    "</span></td></tr>")
        recs = []
        for r in m.get("records") or []:
            if not isinstance(r, dict):
                continue
            fields = "; ".join(f"{k}={v}" for k, v in (r.get("fields") or {}).items()) \
                if isinstance(r.get("fields"), dict) else ""
            off = '<span class="badge off">OFF-NETWORK</span>' if r.get("off_network") else ""
            written = f' <span class="muted">(written {e(r.get("written"))})</span>' if r.get("written") else ""
            recs.append(f"<tr><td><a href='#{record_anchor(r)}'>{ts(r.get('time'))}</a>{written}{off}</td>"
                        f"<td class='mono'>{ep(r.get('bundle_path'))}</td><td>{e(r.get('channel'))}</td>"
                        f"<td class='num'>{e(r.get('event_id'))}</td><td class='num'>{e(r.get('record_id'))}</td>"
                        f"<td class='mono'>{e(fields)}</td></tr>")
        count = int(m.get("count") or 0) if isinstance(m.get("count"), int) else 0
        more = f" (first {len(recs)} of {count})" if count > len(recs) else ""
        details.append(f'<details id="{aid}"><summary>{e(m.get("title"))} — {e(plural(count, "record"))}{e(more)}'
                       "</summary>" + table(f"{aid}-t", ["Time (event, UTC)", "Log", "Channel", "Event", "Record",
                                                         "Fields"], recs, filter_box=False) + "</details>")
    total = sum(int(m.get("count") or 0) for m in matches if isinstance(m.get("count"), int))
    body = head + table("t-sigma", ["Level", "Rule", "Records", "First (UTC)", "Last (UTC)", "ATT&CK",
                                    "Author / source"], rows, total=len(matches)) + "".join(details)
    return section("sigma", "Sigma matches", f"{plural(len(matches), 'rule')}, {plural(total, 'record')}", body)
