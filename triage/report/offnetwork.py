"""The off-network section: for each window when the host was off the corporate network and the
VPN, everything the summary holds that happened inside it, in time order, with a chart zoomed to
the window.

Sources, all from summary.json (the report never re-parses): findings, Sigma-matched records,
typed events (process starts 4688/Sysmon 1, logons, services, PowerShell, account changes...),
program runs (prefetch and other execution artifacts), autostart keys written, downloads, domains
visited (``network.off_network_windows[].domains``) and every timed column of every
``artifacts.<name>`` section (BAM, UserAssist, SRUM when present...), so a new artifact shows up
here without a change. A window still open at the end of the logs runs to the logs' last record.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from triage.report import chart
from triage.report.escape import e, ep, finding_anchor, plural, record_anchor, sev, ts
from triage.report.style import severity_badge
from triage.report.tables import MAX_ROWS, is_iso, section, table
from triage.verdict import in_span, window_end
from triage.verdict import parse_time as parse

MAX_ITEMS = 3000  # per window, for the chart; the table lists the first MAX_ROWS
OPEN_WINDOWS = 3
MAX_WINDOWS = 50

Item = tuple[datetime, str, str, str, str]  # time, kind, what (markup), where (markup), link id or ""


def _where(x: dict[str, Any]) -> str:
    loc = f" {x.get('locator')}" if x.get("locator") else ""
    return ep(f"{x.get('bundle_path') or ''}{loc}")


def items(s: dict[str, Any], start: datetime | None, end: datetime | None) -> list[Item]:
    """Everything timed in [start, end] from the summary's sections, in time order."""
    out: list[Item] = []

    def add(when: Any, kind: str, what: str, where: str, link: str = "") -> None:
        t = parse(when)
        if len(out) < MAX_ITEMS and in_span(t, start, end):
            out.append((t, kind, what, where, link))  # type: ignore[arg-type]

    for f in s.get("findings") or []:
        if isinstance(f, dict):
            add(f.get("when"), "finding", f"{severity_badge(sev(f.get('severity')))} {e(f.get('title'))}",
                e(f.get("rule")), finding_anchor(f.get("id")))
    for m in (s.get("sigma") or {}).get("matches") or []:
        title = e(m.get("title")) if isinstance(m, dict) else ""  # once per rule, not per record
        for r in (m.get("records") or []) if isinstance(m, dict) else []:
            if isinstance(r, dict):
                add(r.get("time"), "sigma match", title, _where(r), record_anchor(r))
    for x in s.get("events") or []:
        if isinstance(x, dict):
            add(x.get("timestamp"), f"event: {x.get('category')}",
                f"{e(x.get('event_id'))} {e(x.get('description'))}", _where(x))
    for x in s.get("executions") or []:
        if isinstance(x, dict):
            for t in (x.get("last_runs") or [])[:16]:
                add(t, f"program run ({x.get('source')})", f'<span class="mono">{ep(x.get("path") or x.get("executable"))}'
                    "</span>", _where(x))
    for a in s.get("autoruns") or []:
        if isinstance(a, dict):
            add(a.get("last_write"), f"autostart written ({a.get('category')})",
                f'<span class="mono">{e(a.get("name"))} = {e(a.get("command"))}</span>', _where(a))
    for d in s.get("downloads") or []:
        if isinstance(d, dict):
            add(d.get("start"), "download", f'<span class="mono">{e(d.get("url"))} → {e(d.get("target_path"))}</span>',
                _where(d))
    arts: dict[str, Any] = s["artifacts"] if isinstance(s.get("artifacts"), dict) else {}
    for name, sec in sorted(arts.items()):
        if not isinstance(sec, dict):
            continue
        cols = [c for c in sec.get("columns") or [] if isinstance(c, dict) and c.get("field")]
        for x in sec.get("entries") or []:
            if not isinstance(x, dict):
                continue
            label = next((x.get(c["field"]) for c in cols if isinstance(x.get(c["field"]), str)
                          and not is_iso(x.get(c["field"]))), name)
            for c in cols:
                if is_iso(x.get(c["field"])):
                    add(x[c["field"]], f"{sec.get('title') or name}: {c.get('label') or c['field']}",
                        f'<span class="mono">{e(label)}</span>', _where(x))
    out.sort(key=lambda i: (i[0], i[1]))
    return out


def _row(i: Item) -> str:
    t, kind, what, where, link = i
    what = f'<a href="#{link}">{what}</a>' if link else what
    return (f"<tr><td>{ts(t.isoformat().replace('+00:00', 'Z'))}</td><td>{e(kind)}</td><td>{what}</td>"
            f"<td class='mono'>{where}</td></tr>")


def _domains(w: dict[str, Any], k: int) -> str:
    ds = [d for d in w.get("domains") or [] if isinstance(d, dict)]
    if not ds:
        return ""
    rows = [f"<tr><td class='mono'>{e(d.get('domain'))}</td><td class='num'>{e(d.get('visits'))}</td>"
            f"<td>{ts(d.get('first'))}</td><td>{ts(d.get('last'))}</td><td>{e(d.get('browser'))}</td>"
            f"<td>{e(d.get('user'))}</td></tr>" for d in ds]
    return "<h4>Domains visited</h4>" + table(f"t-offdom-{k}", ["Domain", "Visits", "First", "Last",
                                                                           "Browser", "User"], rows, filter_box=False)


def render(s: dict[str, Any]) -> str:
    n = s.get("network") or {}
    wins = [w for w in n.get("off_network_windows") or [] if isinstance(w, dict)]
    if not n.get("computed"):
        body = '<p class="muted">Off-network analysis not available in this build.</p>'
    elif not wins:
        body = ('<p class="muted">No off-network window: the logs show the host on a domain network or VPN '
                f"throughout, or no network profile events ({e(n.get('connectivity_events'))} connectivity "
                "events).</p>")
    else:
        body = ""
    parts = [body]
    for k, w in enumerate(wins[:MAX_WINDOWS]):
        start, end = parse(w.get("start")), window_end(w, s)
        found = items(s, start, end)
        nfind = sum(1 for i in found if i[1] == "finding")
        until = ts(w.get("end")) if w.get("end") else open_end(end)
        rows = [_row(i) for i in found[:MAX_ROWS]]  # the table's rows; the chart counts every item
        # the first windows and every window holding a finding open; the rest one click away
        opened = " open" if k < OPEN_WINDOWS or nfind else ""
        parts.append(
            f'<div class="window" id="offnet-{k}"><details{opened}><summary><h3>Window {k + 1}: '
            f'{ts(w.get("start"))} → {until}</h3></summary>'
            f'<div class="muted">{e(w.get("reason"))} · {e(plural(nfind, "finding"))} · '
            f'{e(plural(len(found), "timed item"))} inside</div>'
            + chart.window_chart(found, start, end)
            + table(f"t-offnet-{k}", ["Time (UTC)", "What happened", "Detail", "Evidence"], rows,
                    total=len(found))
            + _domains(w, k) + "</details></div>")
    if len(wins) > MAX_WINDOWS:
        parts.append(f'<p class="muted">The first {MAX_WINDOWS} of {len(wins)} windows; the rest are in summary.json '
                     "(network.off_network_windows).</p>")
    count = f"{plural(len(wins), 'window')}, {plural(n.get('connectivity_events') or 0, 'connectivity event')}"
    return section("offnetwork", "Off-network activity", count, "".join(parts), open_=bool(wins))


def open_end(end: datetime | None) -> str:
    """The label of an open window's end: still off when the logs end (and when that was)."""
    if end is None:
        return "still off at the end of the logs"
    return f"still off at the end of the logs ({ts(end.isoformat().replace('+00:00', 'Z'))})"
