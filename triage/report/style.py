"""The one visual style of triage's pages: report.html (one host) and the fleet's index.html.

Why shared: an analyst moves between the fleet view and host reports all day; the same colours
for the same severities, the same tables and the same verdict badges make both read as one tool.
Inline CSS only (the pages are single offline files under a CSP that allows nothing external).
"""

from __future__ import annotations

SEV_COLORS = {"critical": "#7a0019", "high": "#c62828", "medium": "#e08a00", "low": "#1e6fb8", "info": "#5f6b7a"}
VERDICT_COLORS = {"compromise_likely": "#b71c1c", "suspicious": "#e08a00", "nothing_found": "#2e7d32"}

BASE_CSS = """
:root{--bg:#f5f6f8;--card:#fff;--ink:#1b2430;--mute:#5f6b7a;--line:#dde1e7;--accent:#1f3a5f}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,
"Helvetica Neue",Arial,sans-serif}
header.top{background:var(--accent);color:#fff;padding:18px 28px 14px}
header.top h1{margin:0;font-size:24px;font-weight:600;letter-spacing:.2px;overflow-wrap:anywhere}
header.top .sub{opacity:.85;font-size:13px;margin-top:4px}
main{max-width:1280px;margin:0 auto;padding:18px 28px 40px}
section{background:var(--card);border:1px solid var(--line);border-radius:8px;margin:16px 0;padding:14px 18px}
section h2{margin:0 0 10px;font-size:17px;color:var(--accent);display:inline}
h2 .count{color:var(--mute);font-weight:400;font-size:14px}
table{border-collapse:collapse;width:100%;font-size:12.8px}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--line);vertical-align:top;
overflow-wrap:break-word;word-break:normal}
th{background:#eef1f5;font-weight:600;position:sticky;top:0;white-space:nowrap}
td.mono,.mono,code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px;
overflow-wrap:break-word}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.pill{display:inline-block;border-radius:999px;padding:3px 12px;font-weight:600;font-size:13px;color:#fff;
background:#5f6b7a;white-space:nowrap}
.pill.zero{opacity:.35}
.pill.ok{background:#2e7d32}.pill.bad{background:#b71c1c}.pill.warn{background:#e08a00}
.sev{display:inline-block;min-width:64px;text-align:center;border-radius:4px;color:#fff;font-size:11.5px;
font-weight:700;text-transform:uppercase;padding:2px 6px;letter-spacing:.4px;white-space:nowrap}
.verdict-badge{display:inline-block;border-radius:4px;color:#fff;font-weight:700;padding:2px 8px;
white-space:nowrap;font-size:12px}
.verdict-compromise_likely{background:#b71c1c}.verdict-suspicious{background:#e08a00}
.verdict-nothing_found{background:#2e7d32}
.badge{display:inline-block;border-radius:4px;padding:1px 7px;font-size:11.5px;font-weight:600;
background:#e8eef6;color:#1f3a5f;margin-left:4px;white-space:nowrap}
.badge.off{background:#4a148c;color:#fff}
.badge.flag{background:#fde7e7;color:#9b1c1c}
.noise-why{color:#2e5e3a;font-size:12.5px;margin:2px 0}
.muted{color:var(--mute)}.bad{color:#b71c1c}
.ts{white-space:nowrap}
details>summary{cursor:pointer;color:var(--accent);font-weight:600;margin:6px 0}
svg text{font:11px system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;fill:#5f6b7a}
.legend{font-size:12px;color:var(--mute);margin-top:4px}
.pager{display:flex;gap:8px;align-items:center;font-size:12.5px;margin:6px 0}
.pager button{font-size:12px;padding:2px 10px}
.hl,.hl td{background:#fff3b0 !important;transition:background .6s}
footer{color:var(--mute);font-size:12px;text-align:center;padding:10px 0 30px}
"""


def severity_badge(severity: str, label: str | None = None) -> str:
    """A coloured severity tag; ``severity`` must already be one of the known names."""
    color = SEV_COLORS.get(severity, SEV_COLORS["info"])
    return f'<span class="sev" style="background:{color}">{label or severity}</span>'
