"""report.html: one self-contained page per host, made from summary.json alone.

Why this shape: an analyst opening fifty hosts must see in seconds whether this one matters, so the
page starts with the verdict (level and why, first/last malicious activity, off-network windows,
top rules, what is missing), then the findings with links to their records, then what happened
while the host was off the network, then the supporting facts, collapsed. It is one file with
inline CSS, inline SVG and one small inline script (filters, paging, link targets): no network,
no fonts, nothing to install; it opens from a USB stick or an evidence share, offline.

Every string that came from the bundle is hostile until escaped (:func:`triage.report.escape.e`);
nothing from the bundle is ever placed in a tag name, an attribute name, an id, a URL, a style or
a script. The data island for scripts is JSON in ``<script type="application/json">`` with '<'
escaped, so '</script>' in a value cannot end it. The parts live in small modules beside this one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from triage.model import SEVERITIES
from triage.report import chart, coverage, evidence, findings, offnetwork, sections, sigma, verdict
from triage.report.escape import Raw, e, fresh_memos, json_island, plural, ts
from triage.report.script import JS, REPORT_CSS
from triage.report.style import BASE_CSS, SEV_COLORS
from triage.report.tables import MAX_ROWS, section

CSS = BASE_CSS + REPORT_CSS

__all__ = ["CSS", "Raw", "e", "render", "write_report"]


def _header(s: dict[str, Any]) -> str:
    h = s.get("host") or {}
    b = s.get("bundle") or {}
    v = (s.get("verdict") or {}).get("by_severity") or {}
    act = s.get("activity") or {}
    pills = "".join(
        f'<span class="pill{" zero" if not v.get(sv) else ""}" style="background:{SEV_COLORS[sv]}" '
        f'data-severity="{sv}">{e(v.get(sv, 0))} {sv}</span>' for sv in SEVERITIES)
    if b.get("refused"):
        vpill = '<span class="pill bad">bundle REFUSED: failed verification</span>'
    elif not b.get("verified"):
        vpill = '<span class="pill bad">bundle NOT verified (analyzed with --force)</span>'
    else:
        vpill = '<span class="pill ok">bundle verified</span>'
    span = f"{ts(act.get('first'))} → {ts(act.get('last'))}" if act.get("first") else "no timestamped records"
    osname = " ".join(str(x) for x in (h.get("os"), h.get("os_build")) if x)
    st = s.get("stats") or {}
    strip = " · ".join(plural(n, w, m) for n, w, m in (
        (st.get("records"), "record", None), (len(s.get("autoruns") or []), "autostart", None),
        (len(s.get("executions") or []), "program run", "programs run"),
        (len(s.get("event_logs") or []), "event log", None), (len(s.get("browser") or []), "browser profile", None),
        (len(s.get("issues") or []), "read problem", None)) if n is not None)
    return (f'<header class="top"><h1 id="hostname">{e(h.get("hostname"))}</h1>'
            f'<div class="sub">{e(osname) or "OS unknown"} · activity {span} (UTC) · generated {ts(s.get("generated"))}'
            f'</div><div class="verdict">{pills}{vpill}</div><div class="sub strip">{e(strip)}</div></header>')


def render(summary: dict[str, Any]) -> str:
    """The whole report page as a string."""
    fresh_memos()
    try:
        return _page(summary)
    finally:
        fresh_memos()


def _page(summary: dict[str, Any]) -> str:
    s = summary
    island = {"hostname": (s.get("host") or {}).get("hostname"), "verdict": s.get("verdict"),
              "findings": [{k: f.get(k) for k in ("id", "rule", "severity", "title", "when", "off_network")}
                           for f in (s.get("findings") or [])[:MAX_ROWS] if isinstance(f, dict)]}
    body = "".join([
        _header(s), "<main>", verdict.render(s), findings.render(s), offnetwork.render(s),
        section("activity", "Activity over time", None, chart.activity(s), open_=True),
        sigma.render(s), sections.yara(s),
        section("records", "Evidence records", "the records findings cite", evidence.records_view(s)),
        sections.host(s), sections.autoruns(s), sections.executions(s), sections.artifacts(s),
        sections.events(s), sections.browser(s), coverage.coverage(s), coverage.issues(s), "</main>",
        f'<footer>triage {e(s.get("analyzer_version"))} · summary schema {e(s.get("schema_version"))} · '
        f'bundle sha256 {e((s.get("bundle") or {}).get("sha256"))} · all times UTC</footer>'])
    title = f"triage — {(s.get('host') or {}).get('hostname') or 'host'}"
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
            "script-src 'unsafe-inline'; img-src data:\">"
            f"<title>{e(title)}</title><style>{CSS}</style></head><body>{body}"
            f'<script type="application/json" id="triage-data">{json_island(island)}</script>'
            f"<script>{JS}</script></body></html>")


def write_report(summary: dict[str, Any], path: str | Path) -> Path:
    """Write report.html for one host; returns its path."""
    path = Path(path)
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(render(summary), encoding="utf-8")
    tmp.replace(path)
    return path

