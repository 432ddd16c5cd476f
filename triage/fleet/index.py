"""``DIR/index.html``: the fleet at a glance, one self-contained file made from the fleet store.

Why self-contained and script-free: the page is opened from a case share, mailed, archived with
the case; it must need nothing else (no CDN, no fonts, no JavaScript) and nothing in it may run.
Every string that came from a bundle (host names, commands, paths, domains, IOC values...) is
hostile until escaped, so all text goes through :func:`esc` and every link through :func:`href`.
"""

from __future__ import annotations

import html
import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from triage import __version__
from triage.fleet import score
from triage.fleet.stacking import STACKS
from triage.units import iso, utc_now

SEVERITY_COLORS = {"critical": "#8e0000", "high": "#d32f2f", "medium": "#f57c00", "low": "#fbc02d",
                   "info": "#90a4ae"}
CHART_HOSTS = 60          # hosts drawn in the activity chart (highest scores first)
RARE_ROWS = 50            # rows per rare-items table
TOP_FINDINGS = 3

CSS = """
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.5em;margin:0 0 .2em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0;width:100%}th,td{border:1px solid #ddd;padding:3px 6px;
vertical-align:top;text-align:left}th{background:#f3f3f3}td.num{text-align:right;white-space:nowrap}
code{font:12px/1.3 ui-monospace,Consolas,monospace;word-break:break-all}
.sev{display:inline-block;padding:0 5px;border-radius:3px;color:#fff;font-size:11px}
.muted{color:#777}.bad{color:#b00020}summary{cursor:pointer}
.legend span{margin-right:1em}svg text{font:11px system-ui,sans-serif}
"""


def esc(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def href(rel_path: str) -> str:
    """A relative link, every segment percent-encoded (no 'javascript:', no '..' escapes)."""
    parts = [p for p in rel_path.replace("\\", "/").split("/") if p not in ("", ".", "..")]
    return esc("/".join(quote(p, safe="") for p in parts))


def _sev(severity: str | None) -> str:
    color = SEVERITY_COLORS.get((severity or "").lower(), "#607d8b")
    return f'<span class="sev" style="background:{color}">{esc(severity or "?")}</span>'


def _ts(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        t = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _host_links(conn: sqlite3.Connection) -> dict[int, str]:
    """host id -> relative path of the report of its newest analyzed bundle."""
    links = {}
    for r in conn.execute("SELECT host_id, host_dir FROM bundles WHERE status = 'ok' AND host_dir IS NOT NULL"
                          " ORDER BY collection_finished_utc, id"):
        links[r["host_id"]] = f"{r['host_dir']}/report.html"
    return links


def _host_cell(name: str, host_id: int, links: dict[int, str]) -> str:
    link = links.get(host_id)
    return f'<a href="{href(link)}">{esc(name)}</a>' if link else esc(name)


def _chart(conn: sqlite3.Connection, hosts: list[sqlite3.Row]) -> str:
    """SVG: one row per host, findings with a time as dots (colour = severity; a ring = the host was
    off the corporate network then), off-network windows as shaded bands."""
    shown = hosts[:CHART_HOSTS]
    ids = [h["id"] for h in shown]
    if not ids:
        return "<p class='muted'>No hosts.</p>"
    marks = ",".join("?" * len(ids))
    findings = conn.execute(f"SELECT host_id, rule, severity, title, when_utc, off_network FROM findings"
                            f" WHERE when_utc IS NOT NULL AND host_id IN ({marks})", ids).fetchall()
    windows = conn.execute(f"SELECT host_id, start_utc, end_utc FROM off_network_windows"
                           f" WHERE host_id IN ({marks})", ids).fetchall()
    times = [t for t in (_ts(f["when_utc"]) for f in findings) if t and t.year >= 1990]
    if not times:
        return "<p class='muted'>No finding has a time: nothing to draw.</p>"
    lo, hi = min(times), max(times)
    span = max((hi - lo).total_seconds(), 3600.0)
    left, width, row_h, top = 170, 900, 16, 24
    height = top + row_h * len(shown) + 30

    def x(t: datetime) -> float:
        return left + width * min(max((t - lo).total_seconds() / span, 0.0), 1.0)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 20}" height="{height}"'
           f' role="img" aria-label="suspicious activity per host over time">']
    row_of = {hid: i for i, hid in enumerate(ids)}
    for i, h in enumerate(shown):
        y = top + i * row_h
        fill = "#fafafa" if i % 2 else "#fff"
        out.append(f'<rect x="{left}" y="{y}" width="{width}" height="{row_h}" fill="{fill}"/>')
        out.append(f'<text x="{left - 6}" y="{y + 12}" text-anchor="end">{esc(h["name"][:24])}</text>')
    for w in windows:
        s, e = _ts(w["start_utc"]) or lo, _ts(w["end_utc"]) or hi
        if e < lo or s > hi:
            continue
        y = top + row_of[w["host_id"]] * row_h
        x0, x1 = x(s), x(e)
        out.append(f'<rect x="{x0:.1f}" y="{y + 1}" width="{max(x1 - x0, 1.5):.1f}" height="{row_h - 2}"'
                   f' fill="#cfd8dc" opacity="0.8"><title>off network {esc(w["start_utc"])} .. '
                   f'{esc(w["end_utc"])}</title></rect>')
    for f in findings:
        t = _ts(f["when_utc"])
        if not t or t.year < 1990:
            continue
        y = top + row_of[f["host_id"]] * row_h + row_h / 2
        color = SEVERITY_COLORS.get((f["severity"] or "").lower(), "#607d8b")
        ring = ' stroke="#000" stroke-width="1.5"' if f["off_network"] else ""
        where = "off network" if f["off_network"] else ("on network" if f["off_network"] == 0 else "network unknown")
        out.append(f'<circle cx="{x(t):.1f}" cy="{y:.1f}" r="4" fill="{color}"{ring}><title>'
                   f'{esc(f["when_utc"])} {esc(f["severity"])}: {esc(f["title"])} ({where})</title></circle>')
    axis_y = top + row_h * len(shown) + 14
    for k in range(5):
        t = datetime.fromtimestamp(lo.timestamp() + span * k / 4, UTC)
        anchor = "start" if k == 0 else "end" if k == 4 else "middle"
        out.append(f'<text x="{left + width * k / 4:.0f}" y="{axis_y}" text-anchor="{anchor}">'
                   f'{esc(t.strftime("%Y-%m-%d %H:%M"))}</text>')
    out.append("</svg>")
    legend = " ".join(f'<span>{_sev(s)}</span>' for s in SEVERITY_COLORS)
    note = "" if len(hosts) <= CHART_HOSTS else f" Showing the {CHART_HOSTS} highest-scored of {len(hosts)} hosts."
    return (f'<p class="legend">{legend} <span>&#9711; ringed: host was off the corporate network'
            f' then</span> <span style="background:#cfd8dc">&nbsp;grey band: off-network window&nbsp;</span>'
            f'</p><p class="muted">Times in UTC, {esc(iso(lo))} to {esc(iso(hi))}.{note}</p>' + "".join(out))


def render_index(conn: sqlite3.Connection, *, rare_threshold: int, ioc_files: list[str],
                 issues: list[str] = ()) -> str:
    hosts = conn.execute("SELECT id, name, os, score, score_explained FROM hosts"
                         " WHERE id IN (SELECT host_id FROM bundles WHERE status = 'ok')"
                         " ORDER BY score DESC, name").fetchall()
    links = _host_links(conn)
    counts = dict(conn.execute("SELECT status, COUNT(*) FROM bundles GROUP BY status").fetchall())
    parts = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
             "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; style-src 'unsafe-inline';"
             " img-src data:\">",
             "<title>triage fleet</title>", f"<style>{CSS}</style></head><body>",
             f"<h1>Fleet: {len(hosts)} hosts</h1>",
             f"<p class='muted'>Generated {esc(iso(utc_now()))} by triage {esc(__version__)}. Bundles: "
             + ", ".join(f"{esc(k)} {v}" for k, v in sorted(counts.items()))
             + f". Rare = on at most {rare_threshold} host(s).</p>"]

    shared = {tuple(r[:4]): r[4] for r in conn.execute(
        "SELECT rule, severity, title, reason, COUNT(DISTINCT host_id) FROM findings"
        " GROUP BY rule, severity, title, reason")}
    parts.append("<h2 id='hosts'>Hosts by score</h2><table><tr><th>#</th><th>host</th><th>score</th>"
                 "<th>top findings</th><th>why this score</th></tr>")
    for rank, h in enumerate(hosts, 1):
        found = conn.execute("SELECT rule, severity, title, reason, origin FROM findings WHERE host_id = ?"
                             " ORDER BY id", (h["id"],)).fetchall()
        # the findings that weigh most in this host's score come first (weight shared by the hosts having it)
        top = sorted(found, key=lambda f: -score.weight_of(f["rule"], f["severity"])
                     * max(1.0 / shared.get((f["rule"], f["severity"], f["title"], f["reason"]), 1), score.MIN_SHARE))[:TOP_FINDINGS]
        tops = "<br>".join(f"{_sev(f['severity'])} {esc(f['title'])} <span class='muted'>{esc(f['reason'])}</span>"
                           for f in top)
        explained = json.loads(h["score_explained"] or "[]")
        rows = "".join(f"<tr><td>{esc(e['origin'])}</td><td><code>{esc(e['rule'])}</code></td>"
                       f"<td>{esc(e['severity'])}</td><td class='num'>{e['weight']:g}</td>"
                       f"<td class='num'>{e['count']}</td><td class='num'>{esc(e.get('shared_by'))}</td>"
                       f"<td class='num'>{e['points']:g}</td></tr>"
                       for e in explained if e["points"])
        why = (f"<details><summary>{len(explained)} rule(s)</summary><table><tr><th>origin</th><th>rule</th>"
               f"<th>severity</th><th>weight</th><th>count</th><th>hosts sharing it</th><th>points</th></tr>{rows}"
               "</table></details>"
               if rows else "<span class='muted'>no scored findings</span>")
        parts.append(f"<tr><td class='num'>{rank}</td><td>{_host_cell(h['name'], h['id'], links)}<br>"
                     f"<span class='muted'>{esc(h['os'])}</span></td><td class='num'>{h['score']:g}</td>"
                     f"<td>{tops or '<span class=muted>none</span>'}</td><td>{why}</td></tr>")
    parts.append("</table>")

    parts.append("<h2 id='activity'>Suspicious activity per host over time</h2>")
    parts.append(_chart(conn, hosts))

    parts.append("<h2 id='shared'>What hosts share (same finding on several hosts)</h2>")
    shared = conn.execute(
        "SELECT rule, severity, title, COUNT(DISTINCT host_id) AS n, GROUP_CONCAT(DISTINCT host_id) AS ids"
        " FROM findings WHERE severity IN ('critical', 'high', 'medium') GROUP BY rule, severity, title"
        " HAVING n > 1 ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 ELSE 2 END, n DESC, title"
        " LIMIT ?", (RARE_ROWS,)).fetchall()
    if not shared:
        parts.append("<p class='muted'>No critical, high or medium finding is on more than one host.</p>")
    else:
        names = {h["id"]: h["name"] for h in hosts}
        parts.append("<table><tr><th>finding</th><th>hosts</th><th>on</th></tr>")
        for r in shared:
            on = ", ".join(_host_cell(names.get(int(i), "?"), int(i), links) for i in str(r["ids"]).split(",")[:40])
            parts.append(f"<tr><td>{_sev(r['severity'])} {esc(r['title'])} <code class='muted'>{esc(r['rule'])}"
                         f"</code></td><td class='num'>{r['n']}</td><td>{on}</td></tr>")
        parts.append("</table>")

    parts.append("<h2 id='rare'>Rare items (least frequency of occurrence)</h2>")
    for kind, (label, *_rest) in STACKS.items():
        rows = conn.execute("SELECT item, hosts, total_hosts, host_names FROM rare_items WHERE kind = ?"
                            " ORDER BY hosts, item LIMIT ?", (kind, RARE_ROWS + 1)).fetchall()
        total = conn.execute("SELECT COUNT(*) FROM rare_items WHERE kind = ?", (kind,)).fetchone()[0]
        parts.append(f"<h3>{esc(label)} <span class='muted'>({total} rare)</span></h3>")
        if not rows:
            parts.append("<p class='muted'>none</p>")
            continue
        parts.append("<table><tr><th>item</th><th>hosts</th><th>on</th></tr>")
        for r in rows[:RARE_ROWS]:
            names = ", ".join(esc(n) for n in json.loads(r["host_names"] or "[]"))
            parts.append(f"<tr><td><code>{esc(r['item'])}</code></td><td class='num'>seen on {r['hosts']} of"
                         f" {r['total_hosts']}</td><td>{names}</td></tr>")
        parts.append("</table>")
        if total > RARE_ROWS:
            parts.append(f"<p class='muted'>{total - RARE_ROWS} more in fleet.sqlite (table rare_items).</p>")

    parts.append("<h2 id='ioc'>IOC matches</h2>")
    if not ioc_files:
        parts.append("<p class='muted'>No IOC file given (--ioc).</p>")
    else:
        parts.append(f"<p class='muted'>From {esc(', '.join(ioc_files))}.</p>")
        rows = conn.execute("SELECT m.*, h.name AS host FROM ioc_matches m JOIN hosts h ON h.id = m.host_id"
                            " ORDER BY h.name, m.ioc_type, m.ioc_value LIMIT 2000").fetchall()
        if not rows:
            parts.append("<p>No host matches any IOC.</p>")
        else:
            parts.append("<table><tr><th>host</th><th>IOC</th><th>matched in</th><th>evidence</th></tr>")
            for r in rows:
                ev = json.loads(r["evidence"] or "{}")
                ev_text = "; ".join(f"{k}={v}" for k, v in ev.items())
                parts.append(f"<tr><td>{_host_cell(r['host'], r['host_id'], links)}</td><td>{esc(r['ioc_type'])}:"
                             f" <code>{esc(r['ioc_value'])}</code><br><span class='muted'>{esc(r['ioc_source'])}"
                             f"</span></td><td>{esc(r['matched_table'])}</td><td><code>{esc(ev_text[:600])}</code>"
                             "</td></tr>")
            parts.append("</table>")

    failed = conn.execute("SELECT path, status, error FROM bundles WHERE status <> 'ok' ORDER BY path").fetchall()
    parts.append("<h2 id='problems'>Bundles not analyzed and other problems</h2>")
    if not failed and not issues:
        parts.append("<p class='muted'>none</p>")
    else:
        parts.append("<table><tr><th>bundle</th><th>status</th><th>why</th></tr>")
        for r in failed:
            parts.append(f"<tr><td><code>{esc(Path(r['path']).name)}</code></td><td class='bad'>{esc(r['status'])}"
                         f"</td><td>{esc((r['error'] or '')[:600])}</td></tr>")
        for text in issues:
            parts.append(f"<tr><td></td><td>issue</td><td>{esc(text)}</td></tr>")
        parts.append("</table>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def write_index(conn: sqlite3.Connection, out_dir: Path, **kwargs) -> Path:
    path = Path(out_dir) / "index.html"
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(render_index(conn, **kwargs), encoding="utf-8")
    tmp.replace(path)
    return path
