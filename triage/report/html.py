"""report.html: one self-contained page per host, made from summary.json alone.

Why this shape: an analyst opening fifty hosts must see in seconds whether this one matters, so the
page starts with the verdict (findings by severity, time span, verification) and the findings
themselves, then the supporting facts. It is one file with inline CSS, inline SVG and a few lines of
inline JS (table filters): no network, no fonts, nothing to install; it opens from a USB stick or an
evidence share, offline.

Every string that came from the bundle is hostile until escaped: all text goes through
:func:`e` (html.escape with quotes) and nothing from the bundle is ever placed in a tag name, an
attribute name, a URL, a style or a script. The data island for scripts is JSON in
``<script type="application/json">`` with '<' escaped, so '</script>' in a value cannot end it.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from triage.model import SEVERITIES
from triage.report.escape import escape as e

SEV_COLORS = {"critical": "#7a0019", "high": "#c62828", "medium": "#e08a00", "low": "#1e6fb8", "info": "#5f6b7a"}
MAX_ROWS = 500          # rows per table; the rest is in summary.json / timeline
MAX_EVIDENCE = 8


def _sev(value: Any) -> str:
    s = str(value or "").lower()
    return s if s in SEVERITIES else "info"


class Raw(str):
    """Markup already escaped (made here, never taken from the bundle)."""


def _t(value: Any) -> Raw:
    """ISO time shortened for tables ('2024-05-01 13:04:05Z'), escaped."""
    if not value:
        return Raw("")
    s = str(value).replace("T", " ")
    if "." in s and s.endswith("Z"):
        s = s.split(".")[0] + "Z"
    return Raw(f'<span class="ts">{e(s)}</span>')


def _parse(ts: str | None) -> datetime | None:
    if not ts:
        return None
    try:
        return datetime.fromisoformat(str(ts).replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None


def _json_island(obj: Any) -> str:
    text = json.dumps(obj, ensure_ascii=False, default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026") \
        .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


CSS = """
:root{--bg:#f5f6f8;--card:#fff;--ink:#1b2430;--mute:#5f6b7a;--line:#dde1e7;--accent:#1f3a5f}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,
"Helvetica Neue",Arial,sans-serif}
header.top{background:var(--accent);color:#fff;padding:18px 28px 14px}
header.top h1{margin:0;font-size:24px;font-weight:600;letter-spacing:.2px;word-break:break-all}
header.top .sub{opacity:.85;font-size:13px;margin-top:4px}
header.top .strip{margin-top:10px;opacity:.75}
.verdict{display:flex;gap:10px;flex-wrap:wrap;margin-top:12px;align-items:center}
.pill{display:inline-block;border-radius:999px;padding:3px 12px;font-weight:600;font-size:13px;color:#fff;
background:#5f6b7a}
.pill.zero{opacity:.35}
.pill.ok{background:#2e7d32}.pill.bad{background:#b71c1c}.pill.warn{background:#e08a00}
main{max-width:1280px;margin:0 auto;padding:18px 28px 40px}
section{background:var(--card);border:1px solid var(--line);border-radius:8px;margin:16px 0;padding:14px 18px}
section>h2{margin:0 0 10px;font-size:17px;color:var(--accent)}
h2 .count{color:var(--mute);font-weight:400;font-size:14px}
.finding{border-left:6px solid #5f6b7a;background:#fafbfc;border-radius:6px;padding:10px 14px;margin:10px 0}
.finding .head{display:flex;gap:10px;align-items:baseline;flex-wrap:wrap}
.finding .title{font-weight:600;font-size:15px;word-break:break-word}
.finding .reason{margin:4px 0 6px;word-break:break-word}
.finding .meta{color:var(--mute);font-size:12.5px}
.finding ul{margin:4px 0 0;padding-left:18px;font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;
color:#2d3a4a;word-break:break-all}
.sev{display:inline-block;min-width:70px;text-align:center;border-radius:4px;color:#fff;font-size:11.5px;
font-weight:700;text-transform:uppercase;padding:2px 6px;letter-spacing:.4px}
.badge{display:inline-block;border-radius:4px;padding:1px 7px;font-size:11.5px;font-weight:600;
background:#e8eef6;color:#1f3a5f;margin-left:4px}
.badge.off{background:#4a148c;color:#fff}
.badge.flag{background:#fde7e7;color:#9b1c1c}
table{border-collapse:collapse;width:100%;font-size:12.8px}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{background:#eef1f5;font-weight:600;position:sticky;top:0}
td.mono,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px;overflow-wrap:anywhere}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.flagged td{background:#fff4f4}
.kv{display:grid;grid-template-columns:max-content 1fr;gap:4px 18px}
.kv div:nth-child(odd){color:var(--mute)}
.grid2{display:grid;grid-template-columns:1fr 1fr;gap:16px}
@media (max-width:900px){.grid2{grid-template-columns:1fr}}
.muted{color:var(--mute)}
.tools{display:flex;justify-content:flex-end;margin:-34px 0 8px}
.filter{font-size:12.5px;padding:3px 8px;border:1px solid var(--line);border-radius:4px;width:240px}
.scroll{max-height:520px;overflow:auto}
details>summary{cursor:pointer;color:var(--accent);font-weight:600;margin:6px 0}
svg text{font:11px system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;fill:#5f6b7a}
.legend{font-size:12px;color:var(--mute);margin-top:4px}
.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px;vertical-align:middle}
footer{color:var(--mute);font-size:12px;text-align:center;padding:10px 0 30px}
.ts{white-space:nowrap}
.yes{color:#2e7d32;font-weight:600}.no{color:#b71c1c;font-weight:600}
"""

JS = """
(function(){
  document.querySelectorAll('input.filter').forEach(function(inp){
    var table=document.getElementById(inp.getAttribute('data-table'));
    if(!table){return;}
    inp.addEventListener('input',function(){
      var q=inp.value.toLowerCase();
      table.querySelectorAll('tbody tr').forEach(function(tr){
        tr.style.display=(!q||tr.textContent.toLowerCase().indexOf(q)>=0)?'':'none';
      });
    });
  });
  // an evidence link (#sigma-<rule>) opens the collapsed list of that rule's records
  function openTarget(){
    var d=location.hash.length>1?document.getElementById(decodeURIComponent(location.hash.slice(1))):null;
    if(d&&d.tagName==='DETAILS'){d.open=true;d.scrollIntoView();}
  }
  window.addEventListener('hashchange',openTarget);openTarget();
  var data=document.getElementById('triage-data');
  if(data){try{window.triageSummary=JSON.parse(data.textContent);}catch(err){console.warn('data island');}}
})();
"""


def _table(tid: str, headers: list[str], rows: list[str], *, filter_box: bool = True, total: int | None = None) -> str:
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    more = ""
    if total is not None and total > len(rows):
        more = f'<p class="muted">Showing {len(rows)} of {total}; the rest are in summary.json and the timeline.</p>'
    filt = (f'<div class="tools"><input class="filter" type="search" placeholder="filter rows…" '
            f'data-table="{e(tid)}" aria-label="filter table"></div>') if filter_box and rows else ""
    if not rows:
        return '<p class="muted">None in this bundle.</p>'
    return (f'{filt}<div class="scroll"><table id="{e(tid)}"><thead><tr>{head}</tr></thead><tbody>'
            + "".join(rows) + f"</tbody></table></div>{more}")


def _evidence_items(f: dict[str, Any]) -> str:
    items = []
    for ev in (f.get("evidence") or [])[:MAX_EVIDENCE]:
        if isinstance(ev, dict):
            loc = f" — {ev.get('locator')}" if ev.get("locator") else ""
            extra = "".join(f" · {ev[k]}" for k in ("channel", "time") if ev.get(k))
            if str(f.get("rule") or "").startswith("sigma:"):
                link = f'<a href="#{_sigma_anchor(str(f["rule"])[6:])}">{e(ev.get("bundle_path"))}{e(loc)}</a>'
                items.append(f"<li>{link}{e(extra)}</li>")
            else:
                items.append(f"<li>{e(ev.get('bundle_path'))}{e(loc)}{e(extra)}</li>")
        else:
            items.append(f"<li>{e(ev)}</li>")
    extra = len(f.get("evidence") or []) - MAX_EVIDENCE
    if extra > 0:
        items.append(f"<li>… {extra} more</li>")
    return "".join(items)


def _findings(s: dict[str, Any]) -> str:
    """Critical/high/medium as cards (read first), low/info as a compact table below them."""
    fs = s.get("findings") or []
    out = [f'<section id="findings"><h2>Findings <span class="count">({len(fs)})</span></h2>']
    if not fs:
        out.append('<p class="muted">No rule matched. Absence of findings is not absence of compromise: '
                   'check coverage below.</p>')
    major = [f for f in fs if _sev(f.get("severity")) in ("critical", "high", "medium")]
    minor = [f for f in fs if _sev(f.get("severity")) in ("low", "info")]
    for f in major[:MAX_ROWS]:
        sev = _sev(f.get("severity"))
        color = SEV_COLORS[sev]
        off = '<span class="badge off" title="during an off-network window">OFF-NETWORK</span>' \
            if f.get("off_network") else ""
        attack = "".join(f'<span class="badge">{e(a)}</span>' for a in (f.get("attack") or []))
        out.append(
            f'<div class="finding sev-{sev}" style="border-left-color:{color}" data-rule="{e(f.get("rule"))}">'
            f'<div class="head"><span class="sev" style="background:{color}">{sev}</span>'
            f'<span class="title">{e(f.get("title"))}</span>{off}{attack}</div>'
            f'<div class="reason">{e(f.get("reason"))}</div>'
            f'<div class="meta">{e(f.get("id"))} · rule <b>{e(f.get("rule"))}</b>'
            f'{" · " + _t(f.get("when")) if f.get("when") else " · time unknown"}</div>'
            f'<ul>{_evidence_items(f)}</ul></div>')
    if minor:
        rows = []
        for f in minor[:MAX_ROWS]:
            sev = _sev(f.get("severity"))
            off = '<span class="badge off">OFF-NETWORK</span>' if f.get("off_network") else ""
            ev = (f.get("evidence") or [{}])[0]
            where = ev.get("bundle_path") if isinstance(ev, dict) else ev
            rows.append(f'<tr class="finding-row sev-{sev}" data-rule="{e(f.get("rule"))}">'
                        f'<td><span class="sev" style="background:{SEV_COLORS[sev]}">{sev}</span></td>'
                        f'<td><b>{e(f.get("title"))}</b>{off}<br><span class="muted">{e(f.get("reason"))}</span></td>'
                        f'<td>{_t(f.get("when"))}</td><td class="mono">{e(where)}</td></tr>')
        label = f"Lower-severity findings ({len(minor)})"
        out.append(f'<details{" open" if not major else ""}><summary>{e(label)}</summary>'
                   + _table("t-minor", ["Severity", "Finding", "When", "Evidence"], rows, total=len(minor))
                   + "</details>")
    out.append("</section>")
    return "".join(out)


def _kv(pairs: list[tuple[str, Any]]) -> str:
    def cell(v: Any) -> str:
        if v in (None, ""):
            return '<span class="muted">—</span>'
        return v if isinstance(v, Raw) else e(v)

    return '<div class="kv">' + "".join(f"<div>{e(k)}</div><div>{cell(v)}</div>" for k, v in pairs) + "</div>"


def _host(s: dict[str, Any]) -> str:
    h = s.get("host") or {}
    b = s.get("bundle") or {}
    c = b.get("collection") or {}
    users = ", ".join(u.get("name", "") for u in h.get("users") or [])
    left = _kv([("Host name", h.get("hostname")), ("OS", h.get("os")), ("Build", h.get("os_build")),
                ("Time zone", h.get("timezone")), ("Installed", _t(h.get("install_date"))),
                ("Last shutdown", _t(h.get("last_shutdown"))), ("Domain", h.get("domain")), ("Users", users)])
    verified = "yes" if b.get("verified") else "NO"
    right = _kv([("Bundle", b.get("name")), ("SHA-256", b.get("sha256")), ("Verified", verified),
                 ("Collector", c.get("collector_version")), ("Profile", c.get("profile")),
                 ("Collected", Raw(f"{_t(c.get('started'))} → {_t(c.get('finished'))}")),
                 ("Operator", c.get("operator")),
                 ("Live system", {True: "yes", False: "no"}.get(c.get("live"), c.get("live")))])
    probs = ""
    if b.get("verify_problems"):
        probs = "<p class='no'>Verification problems:</p><ul class='mono'>" + "".join(
            f"<li>{e(p)}</li>" for p in b["verify_problems"][:20]) + "</ul>"
    return (f'<section id="host"><h2>Host and bundle</h2><div class="grid2"><div>{left}</div>'
            f'<div>{right}</div></div>{probs}</section>')


def _autoruns(s: dict[str, Any]) -> str:
    items = s.get("autoruns") or []
    order = {"ifeo": 0, "run": 1, "winlogon": 2, "appinit": 3, "startup_folder": 4, "task": 5, "service": 7}
    # flagged first, then the places people persist from most, services (hundreds, mostly benign) last
    items = sorted(items, key=lambda a: (not a.get("flags"), order.get(str(a.get("category")), 6)))
    rows = []
    for a in items[:MAX_ROWS]:
        flags = "".join(f'<span class="badge flag">{e(f)}</span>' for f in a.get("flags") or [])
        cls = ' class="flagged"' if a.get("flags") else ""
        rows.append(f"<tr{cls}><td>{e(a.get('category'))}</td><td class='mono'>{e(a.get('name'))}</td>"
                    f"<td class='mono'>{e(a.get('command'))}{flags}</td><td class='mono'>{e(a.get('location'))}</td>"
                    f"<td>{e(a.get('user'))}</td><td>{_t(a.get('last_write'))}</td></tr>")
    return (f'<section id="autoruns"><h2>Autostarts <span class="count">({len(items)})</span></h2>'
            + _table("t-autoruns", ["Category", "Name", "Command", "Location", "User", "Key last write"],
                     rows, total=len(items)) + "</section>")


def _executions(s: dict[str, Any]) -> str:
    items = s.get("executions") or []
    rows = []
    for x in items[:MAX_ROWS]:
        runs = x.get("last_runs") or []
        rows.append(f"<tr><td class='mono'>{e(x.get('executable'))}</td><td class='mono'>{e(x.get('path'))}</td>"
                    f"<td class='num'>{e(x.get('run_count'))}</td><td>{_t(runs[0] if runs else None)}</td>"
                    f"<td>{e(x.get('source'))}</td></tr>")
    return (f'<section id="executions"><h2>Program execution <span class="count">({len(items)})</span></h2>'
            + _table("t-exec", ["Executable", "Path", "Runs", "Last run", "Source"], rows, total=len(items))
            + "</section>")


# execution evidence first, then what a user did by hand, then devices and networks; others after, by name
ARTIFACT_ORDER = ("bam", "shimcache", "userassist", "muicache", "runmru", "recentdocs", "typedpaths", "usb_devices",
                  "mountpoints2", "shellbags", "network_profiles")
_ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
_SAFE_ID = re.compile(r"[^a-z0-9_-]")


def _cell(value: Any) -> str:
    """One artifact table cell: times shortened, booleans as yes/no, numbers right-aligned, text mono."""
    if value is None:
        return "<td></td>"
    if isinstance(value, bool):
        return f'<td class="{"yes" if value else "no"}">{"yes" if value else "no"}</td>'
    if isinstance(value, int | float):
        return f"<td class='num'>{e(value)}</td>"
    if isinstance(value, str) and _ISO.match(value):
        return f"<td>{_t(value)}</td>"
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        value = ", ".join(str(v) for v in value)
    elif isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False, default=str)
    return f"<td class='mono'>{e(value)}</td>"


def _artifacts(s: dict[str, Any]) -> str:
    """One section per ``artifacts.<name>``, columns as the summary names them, each with a filter box."""
    arts = s.get("artifacts")
    if not isinstance(arts, dict):
        return ""
    out = []
    for name in sorted(arts, key=lambda n: (ARTIFACT_ORDER.index(n) if n in ARTIFACT_ORDER else len(ARTIFACT_ORDER), n)):
        sec = arts[name]
        if not isinstance(sec, dict):
            continue
        cols = [c for c in sec.get("columns") or [] if isinstance(c, dict) and c.get("field")]
        entries = [x for x in sec.get("entries") or [] if isinstance(x, dict)]
        total = sec.get("total") if isinstance(sec.get("total"), int) else len(entries)
        rows = ["<tr>" + "".join(_cell(x.get(c["field"])) for c in cols) + "</tr>" for x in entries[:MAX_ROWS]]
        sid = _SAFE_ID.sub("-", str(name).lower())[:60]
        out.append(f'<section id="artifact-{sid}"><h2>{e(sec.get("title") or name)} '
                   f'<span class="count">({e(total)})</span></h2>'
                   + _table(f"t-art-{sid}", [str(c.get("label") or c["field"]) for c in cols], rows, total=total)
                   + (f'<p class="muted">{e(sec.get("description"))}</p>' if sec.get("description") else "")
                   + "</section>")
    return "".join(out)


def _events(s: dict[str, Any]) -> str:
    counts = s.get("event_counts") or {}
    logs = s.get("event_logs") or []
    evs = s.get("events") or []
    crow = [f"<tr><td>{e(k)}</td><td class='num'>{e(v.get('total'))}</td><td class='num'>{e(v.get('kept'))}</td></tr>"
            for k, v in sorted(counts.items(), key=lambda kv: -(kv[1].get("total") or 0))]
    lrow = [f"<tr><td class='mono'>{e(x.get('channel'))}</td><td class='num'>{e(x.get('records'))}</td>"
            f"<td class='num'>{e(x.get('errors'))}</td><td>{_t(x.get('first'))}</td><td>{_t(x.get('last'))}</td>"
            f"<td class='mono'>{e(', '.join(str(c) for c in (x.get('computers') or {})))}</td></tr>" for x in logs[:MAX_ROWS]]
    erow = [f"<tr><td>{_t(x.get('timestamp'))}</td><td>{e(x.get('category'))}</td><td class='num'>{e(x.get('event_id'))}</td>"
            f"<td class='mono'>{e(x.get('channel'))}</td><td>{e(x.get('description'))}</td></tr>" for x in evs[:MAX_ROWS]]
    return (f'<section id="events"><h2>Event logs <span class="count">({len(logs)} logs, '
            f'{sum((v.get("total") or 0) for v in counts.values())} notable events)</span></h2>'
            '<div class="grid2"><div>'
            + _table("t-evcounts", ["Category", "Events", "Kept in summary"], crow, filter_box=False)
            + "</div><div>"
            + _table("t-logs", ["Channel", "Records", "Errors", "First", "Last", "Computer names"], lrow, filter_box=False)
            + "</div></div><details><summary>Notable events</summary>"
            + _table("t-events", ["Time", "Category", "ID", "Channel", "Description"], erow, total=len(evs))
            + "</details></section>")


def _browser(s: dict[str, Any]) -> str:
    items = s.get("browser") or []
    downloads = s.get("downloads") or []
    rows = []
    for b in items:
        tops = ", ".join(f"{d.get('domain')} ({d.get('visits')})" for d in (b.get("top_domains") or [])[:5])
        rows.append(f"<tr><td>{e(b.get('browser'))}</td><td>{e(b.get('user'))}</td><td class='num'>{e(b.get('urls'))}</td>"
                    f"<td class='num'>{e(b.get('visits'))}</td><td>{_t(b.get('first_visit'))}</td>"
                    f"<td>{_t(b.get('last_visit'))}</td><td class='num'>{e(b.get('downloads'))}</td>"
                    f"<td class='mono'>{e(tops)}</td></tr>")
    drows = [f"<tr><td>{_t(d.get('start'))}</td><td>{e(d.get('browser'))}</td><td>{e(d.get('user'))}</td>"
             f"<td class='mono'>{e(d.get('url'))}</td><td class='mono'>{e(d.get('target_path'))}</td>"
             f"<td>{e(d.get('danger_type'))}</td></tr>" for d in downloads[:MAX_ROWS]]
    return (f'<section id="browser"><h2>Browser activity <span class="count">({len(items)} profiles, '
            f'{len(downloads)} downloads)</span></h2>'
            + _table("t-browser", ["Browser", "User", "URLs", "Visits", "First visit", "Last visit", "Downloads",
                                   "Top domains"], rows, filter_box=False)
            + "<h3>Downloads</h3>"
            + _table("t-downloads", ["Started", "Browser", "User", "URL", "Saved to", "Danger"], drows,
                     total=len(downloads)) + "</section>")


def _chart(s: dict[str, Any]) -> str:
    """Inline SVG: records per bin, findings marked, off-network windows shaded."""
    act = s.get("activity") or {}
    bins = act.get("bins") or []
    wins = (s.get("network") or {}).get("off_network_windows") or []
    ends = [t for t in (_parse(x.get("last")) for x in s.get("event_logs") or []) if t]
    logs_end = max(ends) if ends else None
    title = '<section id="activity"><h2>Activity over time</h2>'
    if not bins:
        return title + '<p class="muted">No timestamped records.</p></section>'
    unit = act.get("bin") or "day"
    step = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(days=7)}.get(unit, timedelta(days=1))
    starts = [_parse(b.get("start")) for b in bins]
    t0 = min(t for t in starts if t)
    t1 = max(t for t in starts if t) + step
    span = max((t1 - t0).total_seconds(), 1.0)
    W, H, L, R, T, B = 1180, 190, 48, 12, 14, 30
    pw, ph = W - L - R, H - T - B
    peak = max((b.get("count") or 0) for b in bins) or 1

    def x(t: datetime) -> float:
        return L + pw * (t - t0).total_seconds() / span

    bw = max(pw * step.total_seconds() / span - 0.6, 2.0)
    logmax = math.log1p(peak)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="100%" role="img" '
             f'aria-label="activity per {e(unit)}">',
             f'<rect x="{L}" y="{T}" width="{pw}" height="{ph}" fill="#fbfcfd" stroke="#dde1e7"/>']
    for w in wins:
        ws, we = _parse(w.get("start")), _parse(w.get("end"))
        if ws is None:
            continue
        we = we or logs_end or t1  # still off at the end of the logs: shade up to the logs' end
        a, b2 = max(x(ws), L), min(x(we), L + pw)
        if b2 > a:
            parts.append(f'<rect class="offnet" x="{a:.1f}" y="{T}" width="{max(b2 - a, 1.5):.1f}" height="{ph}" '
                         f'fill="#7e57c2" fill-opacity="0.16"><title>off-network {e(w.get("start"))} → '
                         f'{e(w.get("end") or "end of logs")}</title></rect>')
    for value in sorted({1, 10, 100, 1000, 10000, 100000, peak}):
        if value > peak or (value != peak and math.log1p(value) / logmax > 0.85):
            continue
        yy = T + ph - ph * math.log1p(value) / logmax
        parts.append(f'<line x1="{L}" x2="{L + pw}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#e6e9ee"/>'
                     f'<text x="{L - 6}" y="{yy + 4:.1f}" text-anchor="end">{value}</text>')
    for b, t in zip(bins, starts, strict=False):
        if t is None:
            continue
        n = b.get("count") or 0
        h = ph * math.log1p(n) / logmax if n else 0  # log scale: quiet days stay visible next to bursts
        if n and h < 2:
            h = 2
        parts.append(f'<rect class="bar" x="{x(t):.1f}" y="{T + ph - h:.1f}" width="{bw:.1f}" height="{h:.1f}" '
                     f'fill="#1f3a5f"><title>{e(b.get("start"))}: {n} records</title></rect>')
        if b.get("findings"):
            cx = x(t) + bw / 2
            parts.append(f'<path class="fmark" d="M{cx - 5:.1f},{T - 2} L{cx + 5:.1f},{T - 2} L{cx:.1f},{T + 7}Z" '
                         f'fill="#c62828"><title>{e(b.get("start"))}: {e(b.get("findings"))} finding(s)</title></path>'
                         f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{T + 7}" y2="{T + ph}" stroke="#c62828" '
                         f'stroke-opacity="0.35" stroke-dasharray="3,3"/>')
    ticks = 6
    for i in range(ticks + 1):
        t = t0 + (t1 - t0) * (i / ticks)
        label = t.strftime("%Y-%m-%d %H:%M" if unit == "hour" else "%Y-%m-%d")
        anchor = "start" if i == 0 else "end" if i == ticks else "middle"
        parts.append(f'<text x="{x(t):.1f}" y="{H - 10}" text-anchor="{anchor}">{e(label)}</text>')
    parts.append("</svg>")
    oor = act.get("out_of_range") or 0
    legend = (f'<div class="legend">records per {e(unit)} (UTC, log scale)<span style="background:#1f3a5f"></span>records'
              f'<span style="background:#c62828"></span>finding<span style="background:#7e57c2;opacity:.4"></span>'
              f'off-network window' + (f' · {e(oor)} timestamps outside 1990–now not drawn' if oor else "") + "</div>")
    return title + "".join(parts) + legend + "</section>"


def _network(s: dict[str, Any]) -> str:
    n = s.get("network") or {}
    wins = n.get("off_network_windows") or []
    def ev_line(x: dict[str, Any]) -> str:
        what = f"{x.get('role')}: {x.get('description')}" if x.get("description") else ""
        return (f"<div>{e(x.get('bundle_path'))} {e(x.get('locator'))}"
                + (f" <span class='muted'>({e(what)})</span>" if what else "") + "</div>")

    rows = [f"<tr><td>{_t(w.get('start'))}</td><td>{_t(w.get('end')) or 'still off at end of logs'}</td>"
            f"<td class='mono'>{''.join(ev_line(x) for x in (w.get('evidence') or [])[:3] if isinstance(x, dict))}"
            f"</td></tr>" for w in wins]
    note = "" if n.get("computed") else '<p class="muted">Off-network analysis not available in this build.</p>'
    return (f'<section id="network"><h2>Off-network windows <span class="count">({len(wins)}; '
            f'{e(n.get("connectivity_events"))} connectivity events)</span></h2>{note}'
            + _table("t-net", ["Start", "End", "Evidence"], rows, filter_box=False) + "</section>")


def _yara(s: dict[str, Any]) -> str:
    hits = s.get("yara") or []
    if not hits:
        return ""
    rows = []
    for h in hits[:MAX_ROWS]:
        where = h.get("where") or {}
        rows.append(f"<tr><td class='mono'>{e(h.get('rule'))}</td><td>{e(h.get('namespace'))}</td>"
                    f"<td class='mono'>{e(where.get('bundle_path') or h.get('bundle_path'))}</td>"
                    f"<td>{e(h.get('target'))}</td></tr>")
    return (f'<section id="yara"><h2>YARA matches <span class="count">({len(hits)})</span></h2>'
            + _table("t-yara", ["Rule", "Namespace", "Member", "Target"], rows, total=len(hits)) + "</section>")


def _sigma_anchor(rule_id: Any) -> str:
    return "sigma-" + "".join(c if c.isalnum() or c == "-" else "_" for c in str(rule_id))[:80]


def _sigma(s: dict[str, Any]) -> str:
    """Sigma matches grouped per rule with counts (most severe first), each rule's matched records
    below it: the log, channel, record number, the event's time and the fields the rule tests."""
    sg = s.get("sigma") or {}
    matches = sg.get("matches") or []
    if not sg.get("enabled") and not matches:
        return ""
    loaded = sg.get("rules_loaded")
    skipped = sg.get("rules_skipped") or 0
    head = (f'<p class="muted">{e(loaded)} rules evaluated on every event record'
            + (f"; {e(skipped)} not evaluated (see Problems)" if skipped else "") + ".</p>") if loaded is not None else ""
    rows = []
    for m in matches[:MAX_ROWS]:
        sev = _sev({"informational": "info"}.get(m.get("level"), m.get("level")))
        attack = " ".join(e(a) for a in m.get("attack") or [])
        rows.append(f'<tr class="sev-{sev}"><td><span class="sev" style="background:{SEV_COLORS[sev]}">{sev}</span></td>'
                    f'<td><a href="#{_sigma_anchor(m.get("rule_id"))}"><b>{e(m.get("title"))}</b></a><br>'
                    f'<span class="muted mono">{e(m.get("rule_id"))}</span></td><td class="num">{e(m.get("count"))}</td>'
                    f'<td>{_t(m.get("first"))}</td><td>{_t(m.get("last"))}</td><td>{attack}</td>'
                    f'<td>{e(m.get("author"))}<br><span class="muted">{e(m.get("origin"))}: {e(m.get("rule_path"))}</span></td></tr>')
    details = []
    for m in matches[:MAX_ROWS]:
        recs = []
        for r in m.get("records") or []:
            fields = "; ".join(f"{k}={v}" for k, v in (r.get("fields") or {}).items())
            off = '<span class="badge off">OFF-NETWORK</span>' if r.get("off_network") else ""
            written = f' <span class="muted">(written {e(r.get("written"))})</span>' if r.get("written") else ""
            recs.append(f"<tr><td>{_t(r.get('time'))}{written}{off}</td><td class='mono'>{e(r.get('bundle_path'))}</td>"
                        f"<td>{e(r.get('channel'))}</td><td class='num'>{e(r.get('event_id'))}</td>"
                        f"<td class='num'>{e(r.get('record_id'))}</td><td class='mono'>{e(fields)}</td></tr>")
        shown = len(m.get("records") or [])
        more = f" (first {shown} of {m.get('count')})" if m.get("count", 0) > shown else ""
        details.append(f'<details id="{_sigma_anchor(m.get("rule_id"))}"><summary>{e(m.get("title"))} — '
                       f'{e(m.get("count"))} record{"s" * (m.get("count") != 1)}{e(more)}</summary>'
                       + _table(_sigma_anchor(m.get("rule_id")) + "-t",
                                ["Time (event, UTC)", "Log", "Channel", "Event", "Record", "Fields"], recs,
                                filter_box=False) + "</details>")
    return (f'<section id="sigma"><h2>Sigma matches <span class="count">({len(matches)} rules, '
            f'{sum(m.get("count") or 0 for m in matches)} records)</span></h2>{head}'
            + _table("t-sigma", ["Level", "Rule", "Records", "First", "Last", "ATT&CK", "Author / source"], rows,
                     total=len(matches))
            + "".join(details) + "</section>")


def _coverage(s: dict[str, Any]) -> str:
    rows = []
    for c in s.get("coverage") or []:
        parsed = "<span class='yes'>yes</span>" if c.get("parsed") else (
            "<span class='no'>no</span>" if (c.get("collected") or c.get("partial")) else "<span class='muted'>—</span>")
        rows.append(f"<tr><td>{e(c.get('artifact'))}</td><td class='num'>{e(c.get('collected'))}</td>"
                    f"<td class='num'>{e(c.get('partial'))}</td><td class='num'>{e(c.get('missing'))}</td>"
                    f"<td class='num'>{e(c.get('failed'))}</td><td class='num'>{e(c.get('skipped'))}</td>"
                    f"<td>{parsed} {e(', '.join(c.get('parsers') or []))}</td></tr>")
    return ('<section id="coverage"><h2>Coverage: what the bundle did and did not contain</h2>'
            + _table("t-coverage", ["Artifact", "Collected", "Partial", "Missing", "Failed", "Skipped",
                                    "Parsed by"], rows) + "</section>")


def _issues(s: dict[str, Any]) -> str:
    items = s.get("issues") or []
    rows = [f"<tr><td>{e(i.get('severity'))}</td><td class='mono'>{e(i.get('bundle_path'))}</td>"
            f"<td class='mono'>{e(i.get('locator'))}</td><td class='mono'>{e(i.get('message'))}</td></tr>"
            for i in items[:MAX_ROWS]]
    return (f'<section id="issues"><h2>Problems reading the evidence <span class="count">({len(items)})</span></h2>'
            f'<details><summary>Show issues</summary>'
            + _table("t-issues", ["Severity", "Member", "Where", "Message"], rows, total=len(items))
            + "</details></section>")


def _header(s: dict[str, Any]) -> str:
    h = s.get("host") or {}
    b = s.get("bundle") or {}
    v = (s.get("verdict") or {}).get("by_severity") or {}
    act = s.get("activity") or {}
    pills = "".join(
        f'<span class="pill{" zero" if not v.get(sev) else ""}" style="background:{SEV_COLORS[sev]}" '
        f'data-severity="{sev}">{e(v.get(sev, 0))} {sev}</span>' for sev in SEVERITIES)
    if b.get("refused"):
        vpill = '<span class="pill bad">bundle REFUSED: failed verification</span>'
    elif not b.get("verified"):
        vpill = '<span class="pill bad">bundle NOT verified (analyzed with --force)</span>'
    else:
        vpill = '<span class="pill ok">bundle verified</span>'
    span = f"{_t(act.get('first'))} → {_t(act.get('last'))}" if act.get("first") else "no timestamped records"
    osname = " ".join(str(x) for x in (h.get("os"), h.get("os_build")) if x)
    st = s.get("stats") or {}
    strip = " · ".join(f"{n} {label}" for n, label in (
        (st.get("records"), "records"), (len(s.get("autoruns") or []), "autostarts"),
        (len(s.get("executions") or []), "programs run"), (len(s.get("event_logs") or []), "event logs"),
        (len(s.get("browser") or []), "browser profiles"), (len(s.get("issues") or []), "read problems"))
        if n is not None)
    return (f'<header class="top"><h1 id="hostname">{e(h.get("hostname"))}</h1>'
            f'<div class="sub">{e(osname) or "OS unknown"} · activity {span} · generated {_t(s.get("generated"))}</div>'
            f'<div class="verdict">{pills}{vpill}</div><div class="sub strip">{e(strip)}</div></header>')


def render(summary: dict[str, Any]) -> str:
    """The whole report page as a string."""
    s = summary
    island = {"hostname": (s.get("host") or {}).get("hostname"), "verdict": s.get("verdict"),
              "findings": [{k: f.get(k) for k in ("id", "rule", "severity", "title", "when", "off_network")}
                           for f in (s.get("findings") or [])[:MAX_ROWS]]}
    body = "".join([
        _header(s), "<main>", _findings(s), _chart(s), _host(s), _autoruns(s), _executions(s), _artifacts(s),
        _events(s), _browser(s), _network(s), _sigma(s), _yara(s), _coverage(s), _issues(s), "</main>",
        f'<footer>triage {e(s.get("analyzer_version"))} · summary schema {e(s.get("schema_version"))} · '
        f'bundle sha256 {e((s.get("bundle") or {}).get("sha256"))} · all times UTC</footer>'])
    title = f"triage — {(s.get('host') or {}).get('hostname') or 'host'}"
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
            "script-src 'unsafe-inline'; img-src data:\">"
            f"<title>{e(title)}</title><style>{CSS}</style></head><body>{body}"
            f'<script type="application/json" id="triage-data">{_json_island(island)}</script>'
            f"<script>{JS}</script></body></html>")


def write_report(summary: dict[str, Any], path: str | Path) -> Path:
    """Write report.html for one host; returns its path."""
    path = Path(path)
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(render(summary), encoding="utf-8")
    tmp.replace(path)
    return path
