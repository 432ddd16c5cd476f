"""``DIR/index.html``: the fleet at a glance, one self-contained file made from the fleet store.

Why self-contained: the page is opened from a case share, mailed, archived with the case; it must
need nothing else (no CDN, no fonts, no network). Every string that came from a bundle (host names,
commands, paths, domains, IOC values...) is hostile until escaped, so all markup text goes through
:func:`esc` and every link through :func:`href`.

Why one small script (schema of the page since 1,000-host fleets): a static table of every host is
a 39,000 px page nobody reads. The first page of hosts (:data:`PAGE` rows, with "why this score")
is static HTML, readable without scripts; every host is also in a JSON data block (``<script
type="application/json">``: data, never executed, ``<`` escaped) that one inline script -- ours,
pinned by its SHA-256 in the Content-Security-Policy, so nothing else can run -- pages and filters
(host, rule, severity, off-network) using DOM text nodes only, never ``innerHTML``. Strings that
repeat across hosts (rules, titles, OS names) are listed once and referenced by index, so the page
grows by a few hundred bytes per host.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from triage import __version__, verdict
from triage.fleet import score
from triage.fleet.stacking import STACKS
from triage.model import SEVERITIES as MODEL_SEVERITIES
from triage.report import style
from triage.report.escape import escape as esc
from triage.units import iso, utc_now
from triage.verdict import parse_time as _ts

SEVERITY_COLORS = style.SEV_COLORS
VERDICTS = verdict.LEVELS
CHART_HOSTS = 60          # hosts drawn in the activity chart (highest scores first)
RARE_ROWS = 50            # rows per rare-items table
TOP_FINDINGS = 3
PAGE = 50                 # host rows per page (the first page is also static HTML)
SEVERITIES = tuple(reversed(MODEL_SEVERITIES))  # least urgent first: the filter's "X or worse" is an index

CSS = style.BASE_CSS + """
body{padding:0 28px 40px}h1{font-size:24px;margin:18px 0 .2em;color:var(--accent)}
h2{font-size:17px;margin-top:1.6em;border-bottom:1px solid var(--line);color:var(--accent);display:block}
table{margin:.5em 0;background:var(--card)}
.legend span{margin-right:1em}
#filters{margin:.4em 0;display:flex;flex-wrap:wrap;gap:.6em;align-items:center}#filters input[type=search]{width:14em}
.flag{color:#8a4b00;font-size:12px}
"""


def href(rel_path: str) -> str:
    """A relative link, every segment percent-encoded (no 'javascript:', no '..' escapes)."""
    parts = [p for p in rel_path.replace("\\", "/").split("/") if p not in ("", ".", "..")]
    return esc("/".join(quote(p, safe="") for p in parts))


def _sev(severity: str | None) -> str:
    color = SEVERITY_COLORS.get((severity or "").lower(), "#607d8b")
    return f'<span class="sev" style="background:{color}">{esc(severity or "?")}</span>'


def _host_links(conn: sqlite3.Connection) -> dict[int, str]:
    """host id -> relative path of the report of its newest analyzed bundle."""
    links = {}
    for r in conn.execute("SELECT host_id, host_dir FROM bundles WHERE status = 'ok' AND host_dir IS NOT NULL"
                          " ORDER BY collection_finished_utc, id"):
        links[r["host_id"]] = f"{r['host_dir']}/report.html"
    return links


def _verdict(level: int) -> str:
    name = VERDICTS[level]
    return f'<span class="verdict-badge verdict-{name}">{esc(verdict.LABELS[name])}</span>'


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
        cy = top + row_of[f["host_id"]] * row_h + row_h / 2
        color = SEVERITY_COLORS.get((f["severity"] or "").lower(), "#607d8b")
        ring = ' stroke="#000" stroke-width="1.5"' if f["off_network"] else ""
        where = "off network" if f["off_network"] else ("on network" if f["off_network"] == 0 else "network unknown")
        out.append(f'<circle cx="{x(t):.1f}" cy="{cy:.1f}" r="4" fill="{color}"{ring}><title>'
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


SCRIPT = """(function(){
var D=JSON.parse(document.getElementById('fleet-data').textContent);
var S=D.strings,H=D.hosts,SEV=D.severities,COL=D.colors,P=D.page,page=0,shown=H;
var f={host:document.getElementById('f-host'),rule:document.getElementById('f-rule'),
sev:document.getElementById('f-sev'),off:document.getElementById('f-off'),verdict:document.getElementById('f-verdict')};
var body=document.getElementById('host-rows'),info=document.getElementById('page-info');
function el(tag,text,cls){var e=document.createElement(tag);if(text!==undefined&&text!==null)
e.textContent=String(text);if(cls)e.className=cls;return e;}
function sev(i){var s=el('span',SEV[i]||'?','sev');s.style.background=COL[i]||'#607d8b';return s;}
function why(h){var t=h[8];if(!t.length)return el('span','no scored findings','muted');
var d=el('details');d.appendChild(el('summary',t.length+' rule(s)'));var tb=el('table'),hr=el('tr');
['origin','rule','severity','weight','count','hosts sharing it','points'].forEach(function(x){hr.appendChild(el('th',x));});
tb.appendChild(hr);t.forEach(function(e){var r=el('tr');r.appendChild(el('td',S[e[0]]));var c=el('td');
c.appendChild(el('code',S[e[1]]));r.appendChild(c);r.appendChild(el('td',SEV[e[2]]));
[e[3],e[4],e[5],e[6]].forEach(function(v){r.appendChild(el('td',v,'num'));});tb.appendChild(r);});
d.appendChild(tb);return d;}
function row(h){var r=el('tr');r.appendChild(el('td',h[0],'num'));var c=el('td');
if(h[2]){var a=el('a',h[1]);a.setAttribute('href',h[2]);c.appendChild(a);}else c.appendChild(el('span',h[1]));
c.appendChild(el('br'));c.appendChild(el('span',S[h[3]],'muted'));
if(h[9]>=0){c.appendChild(el('br'));c.appendChild(el('span',S[h[9]],'flag'));}r.appendChild(c);
var v=D.verdicts[h[11]],vc=el('td');vc.appendChild(el('span',v[1],'verdict-badge verdict-'+v[0]));r.appendChild(vc);
r.appendChild(el('td',h[4],'num'));var t=el('td');if(!h[7].length&&!h[12])t.appendChild(el('span','none','muted'));
h[7].forEach(function(x,i){if(i)t.appendChild(el('br'));t.appendChild(sev(x[0]));
t.appendChild(document.createTextNode(' '+S[x[1]]+(x[3]>1?' \u00d7'+x[3]:'')+' '));t.appendChild(el('span',S[x[2]],'muted'));});
if(h[12]>0){if(h[7].length)t.appendChild(el('br'));t.appendChild(el('span',h[12]+' known-benign (not scored)','muted noise'));}r.appendChild(t);var w=el('td');w.appendChild(why(h));r.appendChild(w);return r;}
function draw(){while(body.firstChild)body.removeChild(body.firstChild);var n=Math.max(1,Math.ceil(shown.length/P));
if(page>=n)page=n-1;shown.slice(page*P,page*P+P).forEach(function(h){body.appendChild(row(h));});
info.textContent=shown.length+' of '+H.length+' hosts; page '+(page+1)+' of '+n;}
function apply(){var q=f.host.value.trim().toLowerCase(),r=f.rule.value.trim().toLowerCase(),
m=parseInt(f.sev.value,10),vd=parseInt(f.verdict.value,10),off=f.off.checked;shown=H.filter(function(h){
if(vd>=0&&h[11]!==vd)return false;
if(q&&h[1].toLowerCase().indexOf(q)<0&&String(S[h[3]]).toLowerCase().indexOf(q)<0)return false;
if(r&&!h[6].some(function(i){return S[i].toLowerCase().indexOf(r)>=0;}))return false;
if(m>=0&&h[5]<m)return false;if(off&&!(h[10]&1))return false;return true;});page=0;draw();}
['input','change'].forEach(function(ev){[f.host,f.rule,f.sev,f.off,f.verdict].forEach(function(x){x.addEventListener(ev,apply);});});
document.getElementById('prev').addEventListener('click',function(){if(page>0){page--;draw();}});
document.getElementById('next').addEventListener('click',function(){if((page+1)*P<shown.length){page++;draw();}});
document.getElementById('filters').hidden=false;draw();})();"""

SCRIPT_HASH = base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()


def _json_for_html(value: object) -> str:
    """JSON that cannot end its <script> block or open markup (every '<', '>', '&' escaped)."""
    return (json.dumps(value, ensure_ascii=False, separators=(",", ":"))
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


class _Interned:
    """Strings listed once in the page's data block, referenced by index."""

    def __init__(self) -> None:
        self.values: list[str] = []
        self.index: dict[str, int] = {}

    def __call__(self, value: object) -> int:
        text = "" if value is None else str(value)
        if text not in self.index:
            self.index[text] = len(self.values)
            self.values.append(text)
        return self.index[text]


def _sev_index(severity: str | None) -> int:
    try:
        return SEVERITIES.index((severity or "").lower())
    except ValueError:
        return -1


def _host_rows(conn: sqlite3.Connection, hosts: list[sqlite3.Row]) -> dict[int, dict]:
    """Per host: its findings ranked by what they weigh in its score, its rules, its worst
    severity and whether something was found while it was off the network (one pass over findings)."""
    shared = score.shared_counts(conn)
    text = dict(conn.execute("SELECT id, value FROM strings WHERE id IN (SELECT rule FROM findings_rows"
                             " UNION SELECT severity FROM findings_rows)").fetchall())
    per: dict[int, dict] = {h["id"]: {"found": [], "rules": set(), "worst": -1, "off": 0, "pairs": [], "noise": 0}
                            for h in hosts}
    names = dict(conn.execute("SELECT id, value FROM strings WHERE id IN (SELECT title FROM findings_rows"
                              " UNION SELECT reason FROM findings_rows)").fetchall())
    for host_id, rule, sev, title, reason, off, count, noise in conn.execute(
            "SELECT host_id, rule, severity, title, reason, off_network, count, noise FROM findings_rows ORDER BY id"):
        p = per.get(host_id)
        if p is None:
            continue
        weight = score.weight_of(text.get(rule), text.get(sev)) * max(
            1.0 / shared.get((rule, sev, title, reason), 1), score.MIN_SHARE)
        if noise is None:
            p["found"].append((weight, text.get(sev), names.get(title), names.get(reason), count or 1))
        else:  # known-benign background: counted on the host row, never a top finding
            p["noise"] += 1
        p["rules"].add(text.get(rule) or "")
        p["pairs"].append((text.get(rule) or "", text.get(sev) or ""))
        p["worst"] = max(p["worst"], _sev_index(text.get(sev)))
        if off:
            p["off"] |= 1
    for host_id, in conn.execute("SELECT DISTINCT host_id FROM off_network_windows_rows"):
        if host_id in per:
            per[host_id]["off"] |= 2
    for p in per.values():
        p["top"] = sorted(p["found"], key=lambda f: -f[0])[:TOP_FINDINGS]
        # the same decision as the host's summary.json verdict (triage.verdict), over its findings
        p["verdict"] = VERDICTS.index(verdict.level_of(p["pairs"]))
    return per


def _hosts_section(conn: sqlite3.Connection, hosts: list[sqlite3.Row], links: dict[int, str]) -> list[str]:
    """The paged host table: static first page, every host in the data block, the filters."""
    per = _host_rows(conn, hosts)
    strings = _Interned()
    data = []
    tally = [sum(1 for h in hosts if per[h["id"]]["verdict"] == i) for i in range(len(VERDICTS))]
    parts = ["<h2 id='hosts'>Hosts by score</h2>",
             "<p id='verdict-counts'>Verdicts: " + " &middot; ".join(
                 f"{_verdict(i)} <strong>{n}</strong>" for i, n in enumerate(tally)) + "</p>",
             "<div id='filters' hidden><input id='f-host' type='search' placeholder='host or OS' aria-label='host'>"
             "<input id='f-rule' type='search' placeholder='rule' aria-label='rule'>"
             "<select id='f-verdict' aria-label='verdict'><option value='-1'>any verdict</option>"
             + "".join(f"<option value='{i}'>{esc(verdict.LABELS[v])} ({tally[i]})</option>"
                       for i, v in enumerate(VERDICTS)) + "</select>"
             "<select id='f-sev' aria-label='severity'><option value='-1'>any severity</option>"
             + "".join(f"<option value='{i}'>{s} or worse</option>" for i, s in reversed(list(enumerate(SEVERITIES))))
             + "</select><label><input id='f-off' type='checkbox'> found while off the network</label>"
             "<button id='prev' type='button'>&larr; previous</button><button id='next' type='button'>next &rarr;"
             "</button><span id='page-info' class='muted'></span></div>",
             "<table id='host-table'><thead><tr><th>#</th><th>host</th><th>verdict</th><th>score</th><th>top findings</th>"
             "<th>why this score</th></tr></thead><tbody id='host-rows'>"]
    for rank, h in enumerate(hosts, 1):
        p = per[h["id"]]
        explained = [e for e in json.loads(h["score_explained"] or "[]") if e.get("points")]
        link = links.get(h["id"])
        data.append([rank, h["name"], _link(link) if link else "", strings(h["os"]), h["score"],
                     p["worst"], sorted(strings(r) for r in p["rules"]),
                     [[_sev_index(sev), strings(title), strings(reason), n] for _, sev, title, reason, n in p["top"]],
                     [[strings(e["origin"]), strings(e["rule"]), _sev_index(e["severity"]), e["weight"], e["count"],
                       e.get("shared_by"), e["points"]] for e in explained],
                     strings(h["identity_note"]) if h["identity_note"] else -1, p["off"], p["verdict"], p["noise"]])
        if rank > PAGE:
            continue
        tops = "<br>".join(f"{_sev(sev)} {esc(title)}{f' ×{n}' if n > 1 else ''} <span class='muted'>{esc(reason)}</span>"
                           for _, sev, title, reason, n in p["top"])
        if p["noise"]:
            tops += f"{'<br>' if tops else ''}<span class='muted noise'>{p['noise']} known-benign (not scored)</span>"
        rows = "".join(f"<tr><td>{esc(e['origin'])}</td><td><code>{esc(e['rule'])}</code></td>"
                       f"<td>{esc(e['severity'])}</td><td class='num'>{e['weight']:g}</td>"
                       f"<td class='num'>{e['count']}</td><td class='num'>{esc(e.get('shared_by'))}</td>"
                       f"<td class='num'>{e['points']:g}</td></tr>" for e in explained)
        why = (f"<details><summary>{len(explained)} rule(s)</summary><table><tr><th>origin</th><th>rule</th>"
               f"<th>severity</th><th>weight</th><th>count</th><th>hosts sharing it</th><th>points</th></tr>{rows}"
               "</table></details>" if rows else "<span class='muted'>no scored findings</span>")
        flag = f"<br><span class='flag'>{esc(h['identity_note'])}</span>" if h["identity_note"] else ""
        parts.append(f"<tr><td class='num'>{rank}</td><td>{_host_cell(h['name'], h['id'], links)}<br>"
                     f"<span class='muted'>{esc(h['os'])}</span>{flag}</td><td>{_verdict(p['verdict'])}</td>"
                     f"<td class='num'>{h['score']:g}</td>"
                     f"<td>{tops or '<span class=muted>none</span>'}</td><td>{why}</td></tr>")
    parts.append("</tbody></table>")
    if len(hosts) > PAGE:
        parts.append(f"<noscript><p class='muted'>The {PAGE} highest-scored of {len(hosts)} hosts; every host is"
                     " in fleet.sqlite (table hosts).</p></noscript>")
    payload = {"page": PAGE, "severities": list(SEVERITIES),
               "verdicts": [[v, verdict.LABELS[v]] for v in VERDICTS], "colors": [SEVERITY_COLORS[s] for s in SEVERITIES],
               "strings": strings.values, "hosts": data}
    parts.append(f"<script type='application/json' id='fleet-data'>{_json_for_html(payload)}</script>")
    parts.append(f"<script>{SCRIPT}</script>")
    return parts


def _link(rel_path: str) -> str:
    """The percent-encoded relative link of :func:`href`, not HTML-escaped (for the data block)."""
    parts = [p for p in rel_path.replace("\\", "/").split("/") if p not in ("", ".", "..")]
    return "/".join(quote(p, safe="") for p in parts)


def render_index(conn: sqlite3.Connection, *, rare_threshold: int, ioc_files: list[str],
                 issues: Sequence[str] = ()) -> str:
    hosts = conn.execute("SELECT id, name, os, score, score_explained, identity_note FROM hosts"
                         " WHERE id IN (SELECT host_id FROM bundles WHERE status = 'ok')"
                         " ORDER BY score DESC, name").fetchall()
    links = _host_links(conn)
    counts = dict(conn.execute("SELECT status, COUNT(*) FROM bundles GROUP BY status").fetchall())
    machines = conn.execute("SELECT COUNT(DISTINCT coalesce(machine_id, id)) FROM hosts"
                            " WHERE id IN (SELECT host_id FROM bundles WHERE status = 'ok')").fetchone()[0]
    parts = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
             "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; style-src 'unsafe-inline';"
             f" img-src data:; script-src 'sha256-{SCRIPT_HASH}'\">",
             "<title>triage fleet</title>", f"<style>{CSS}</style></head><body>",
             f"<h1>Fleet: {len(hosts)} hosts</h1>",
             f"<p class='muted'>Generated {esc(iso(utc_now()))} by triage {esc(__version__)}. Bundles: "
             + ", ".join(f"{esc(k)} {v}" for k, v in sorted(counts.items()))
             + f". Rare = on at most {rare_threshold} host(s)."
             + (f" {len(hosts) - machines} host(s) hold a copy of another host's evidence (flagged; counted once)."
                if machines < len(hosts) else "") + "</p>"]
    parts.extend(_hosts_section(conn, hosts, links))

    parts.append("<h2 id='activity'>Suspicious activity per host over time</h2>")
    parts.append(_chart(conn, hosts))

    parts.append("<h2 id='shared'>What hosts share (same finding on several hosts)</h2>")
    shared = conn.execute(
        "SELECT f.rule, f.severity, f.title, COUNT(DISTINCT coalesce(h.machine_id, h.id)) AS n,"
        " GROUP_CONCAT(DISTINCT f.host_id) AS ids FROM findings f JOIN hosts h ON h.id = f.host_id"
        " WHERE f.severity IN ('critical', 'high', 'medium') GROUP BY f.rule, f.severity, f.title"
        " HAVING n > 1 ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 ELSE 2 END, n DESC, title"
        " LIMIT ?", (RARE_ROWS,)).fetchall()
    if not shared:
        parts.append("<p class='muted'>No critical, high or medium finding is on more than one host.</p>")
    else:
        names = {h["id"]: h["name"] for h in hosts}
        parts.append("<table><tr><th>finding</th><th>machines</th><th>on</th></tr>")
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
            seen_on = ", ".join(esc(n) for n in json.loads(r["host_names"] or "[]"))
            parts.append(f"<tr><td><code>{esc(r['item'])}</code></td><td class='num'>seen on {r['hosts']} of"
                         f" {r['total_hosts']}</td><td>{seen_on}</td></tr>")
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
