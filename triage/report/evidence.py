"""Evidence links: every finding names its records (log, channel, event record id, time) and links
each to its row in the page's records view, where the record's fields are shown.

Why a records view: a finding's reason is a claim; the responder checks it against the record in
seconds without opening the bundle. Row ids are digests of (member, locator, time)
(:func:`~triage.report.escape.record_anchor`), so the same record cited by two findings and by the
Sigma section is one row, and no bundle text ever becomes an id.
"""

from __future__ import annotations

from typing import Any

from triage.report.escape import e, ep, finding_anchor, record_anchor, ts
from triage.report.tables import table

MAX_EVIDENCE = 8          # records listed under one finding
MAX_RECORDS = 2000        # rows of the records view


def describe(ev: dict[str, Any]) -> str:
    """'Security · record 1079 · event 4732 · 2022-02-05 18:59:49Z' (escaped markup)."""
    bits = []
    where = ev.get("channel") or ev.get("bundle_path")
    if where:
        bits.append(f'<span class="mono">{ep(where)}</span>')
    if ev.get("record_id") is not None:
        bits.append(f"record {e(ev.get('record_id'))}")
    elif ev.get("locator"):
        bits.append(f'<span class="mono">{ep(ev.get("locator"))}</span>')
    if ev.get("event_id") is not None:
        bits.append(f"event {e(ev.get('event_id'))}")
    when = ev.get("time") or ev.get("timestamp")
    if when:
        bits.append(str(ts(when)))
    return " · ".join(bits) or "(no location)"


def links(f: dict[str, Any]) -> str:
    """The <li> items of a finding's evidence, each a link to its record row."""
    evs = [x for x in f.get("evidence") or [] if isinstance(x, dict)]
    items = [f'<li><a class="ev" href="#{record_anchor(ev)}">{describe(ev)}</a></li>' for ev in evs[:MAX_EVIDENCE]]
    items += [f"<li>{e(x)}</li>" for x in (f.get("evidence") or []) if not isinstance(x, dict)][:MAX_EVIDENCE]
    if len(evs) > MAX_EVIDENCE:
        items.append(f"<li>… {len(evs) - MAX_EVIDENCE} more (summary.json)</li>")
    return "".join(items)


_SHOWN = ("bundle_path", "locator", "channel", "record_id", "event_id", "time", "timestamp", "provider",
          "computer", "user")


def records_view(s: dict[str, Any]) -> str:
    """One row per record cited by a finding (or a Sigma match), with its fields and who cites it."""
    rows: dict[str, dict[str, Any]] = {}
    cited: dict[str, list[str]] = {}
    for f in s.get("findings") or []:
        if not isinstance(f, dict):
            continue
        for ev in (f.get("evidence") or [])[:MAX_EVIDENCE]:
            if isinstance(ev, dict) and len(rows) < MAX_RECORDS:
                rid = record_anchor(ev)
                rows.setdefault(rid, ev)
                cited.setdefault(rid, []).append(str(f.get("id") or "?"))
    for m in (s.get("sigma") or {}).get("matches") or []:
        for r in (m.get("records") or []) if isinstance(m, dict) else []:
            if isinstance(r, dict) and len(rows) < MAX_RECORDS:
                rows.setdefault(record_anchor(r), r)
    out = []
    for rid, ev in sorted(rows.items(), key=lambda kv: str(kv[1].get("time") or kv[1].get("timestamp") or "~")):
        extra = {k: v for k, v in ev.items() if k not in _SHOWN and k != "fields" and v not in (None, "", [], {})}
        fields: dict[str, Any] = ev["fields"] if isinstance(ev.get("fields"), dict) else {}
        detail = "; ".join(f"{k}={v}" for k, v in list({**extra, **fields}.items())[:40])
        by = " ".join(f'<a href="#{finding_anchor(i)}">{e(i)}</a>' for i in cited.get(rid, [])[:10])
        out.append(f'<tr id="{rid}"><td>{ts(ev.get("time") or ev.get("timestamp"))}</td>'
                   f'<td class="mono">{ep(ev.get("bundle_path"))}</td><td class="mono">{ep(ev.get("locator"))}</td>'
                   f"<td>{e(ev.get('channel'))}</td><td class='num'>{e(ev.get('event_id'))}</td>"
                   f"<td class='num'>{e(ev.get('record_id'))}</td><td class='mono'>{e(detail)}</td>"
                   f"<td>{by}</td></tr>")
    return table("t-records", ["Time (UTC)", "Member", "Locator", "Channel", "Event", "Record", "Fields",
                               "Cited by"], out)
