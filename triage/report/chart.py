"""Inline SVG charts: the host's activity over time, and one chart zoomed to each off-network window.

Why a zoomed chart per window: on a 23-year axis (a mosaic host, or a bogus 2001 stamp) a two-day
window is a 1.5 px band; the responder needs to see what happened inside it hour by hour. The main
chart draws every window at least :data:`MIN_BAND` px wide and links it to its zoomed chart.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from triage.report.escape import e
from triage.verdict import parse_time as parse
from triage.verdict import window_end

MIN_BAND = 8.0
W, H, L, R, T, B = 1180, 190, 48, 12, 14, 30
KIND_COLORS = (("finding", "#c62828"), ("sigma", "#e08a00"), ("event", "#1f3a5f"), ("program", "#2e7d32"))
OTHER = "#7e8a99"


def _frame(aria: str) -> list[str]:
    return [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="100%" role="img" '
            f'aria-label="{e(aria)}">',
            f'<rect x="{L}" y="{T}" width="{W - L - R}" height="{H - T - B}" fill="#fbfcfd" stroke="#dde1e7"/>']


def _axis(t0: datetime, t1: datetime, x: Any, fmt: str) -> list[str]:
    out = []
    for i in range(7):
        t = t0 + (t1 - t0) * (i / 6)
        anchor = "start" if i == 0 else "end" if i == 6 else "middle"
        out.append(f'<text x="{x(t):.1f}" y="{H - 10}" text-anchor="{anchor}">{e(t.strftime(fmt))}</text>')
    return out


def activity(s: dict[str, Any]) -> str:
    """Records per bin (log scale), findings marked, off-network windows shaded (linked)."""
    act = s.get("activity") or {}
    bins = [b for b in act.get("bins") or [] if isinstance(b, dict)]
    wins = [w for w in (s.get("network") or {}).get("off_network_windows") or [] if isinstance(w, dict)]
    if not bins:
        return '<p class="muted">No timestamped records.</p>'
    unit = act.get("bin") or "day"
    step = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(days=7)}.get(unit, timedelta(days=1))
    starts = [parse(b.get("start")) for b in bins]
    known = [t for t in starts if t]
    if not known:
        return '<p class="muted">No timestamped records.</p>'
    t0, t1 = min(known), max(known) + step
    span = max((t1 - t0).total_seconds(), 1.0)
    pw, ph = W - L - R, H - T - B
    peak = max(int(b.get("count") or 0) for b in bins) or 1

    def x(t: datetime) -> float:
        return L + pw * (t - t0).total_seconds() / span

    bw = max(pw * step.total_seconds() / span - 0.6, 2.0)
    logmax = math.log1p(peak)
    parts = _frame(f"activity per {unit}")
    for k, w in enumerate(wins):
        ws, we = parse(w.get("start")), window_end(w, s) or t1
        if ws is None:
            continue
        a, b2 = max(x(ws), L), min(x(we), L + pw)
        if b2 < a:
            continue
        width = max(b2 - a, MIN_BAND)
        a = min(a, L + pw - width)
        parts.append(f'<a href="#offnet-{k}"><rect class="offnet" x="{a:.1f}" y="{T}" width="{width:.1f}" '
                     f'height="{ph}" fill="#7e57c2" fill-opacity="0.22"><title>off-network window {k + 1}: '
                     f'{e(w.get("start"))} → {e(w.get("end") or "end of logs")} (click to zoom)</title></rect></a>')
    for value in sorted({1, 10, 100, 1000, 10000, 100000, peak}):
        if value > peak or (value != peak and math.log1p(value) / logmax > 0.85):
            continue
        yy = T + ph - ph * math.log1p(value) / logmax
        parts.append(f'<line x1="{L}" x2="{L + pw}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#e6e9ee"/>'
                     f'<text x="{L - 6}" y="{yy + 4:.1f}" text-anchor="end">{value}</text>')
    for b, t in zip(bins, starts, strict=False):
        if t is None:
            continue
        n = int(b.get("count") or 0)
        h = max(ph * math.log1p(n) / logmax, 2.0) if n else 0.0
        parts.append(f'<rect class="bar" x="{x(t):.1f}" y="{T + ph - h:.1f}" width="{bw:.1f}" height="{h:.1f}" '
                     f'fill="#1f3a5f"><title>{e(b.get("start"))}: {n} record{"s" * (n != 1)}</title></rect>')
        if b.get("findings"):
            cx = x(t) + bw / 2
            parts.append(f'<path class="fmark" d="M{cx - 5:.1f},{T - 2} L{cx + 5:.1f},{T - 2} L{cx:.1f},{T + 7}Z" '
                         f'fill="#c62828"><title>{e(b.get("start"))}: {e(b.get("findings"))} finding(s)</title></path>')
    parts += _axis(t0, t1, x, "%Y-%m-%d %H:%M" if unit == "hour" else "%Y-%m-%d")
    parts.append("</svg>")
    oor = act.get("out_of_range") or 0
    legend = (f'<div class="legend">records per {e(unit)} (UTC, log scale)<span class="sw" style="background:#1f3a5f">'
              '</span>records<span class="sw" style="background:#c62828"></span>finding'
              '<span class="sw" style="background:#7e57c2;opacity:.4"></span>off-network window (click: zoomed view)'
              + (f" · {e(oor)} timestamps outside 1990–now not drawn" if oor else "") + "</div>")
    return "".join(parts) + legend


def _color(kind: str) -> str:
    return next((c for k, c in KIND_COLORS if kind.startswith(k)), OTHER)


def window_chart(items: list[tuple[datetime, str, str, str, str]], start: datetime | None,
                 end: datetime | None, bins: int = 60) -> str:
    """Items inside one window, stacked per bin by kind (findings red, Sigma orange, events navy,
    program runs green, the rest grey): the window fills the whole axis."""
    if start is None or not items:
        return '<p class="muted">Nothing timed inside this window.</p>'
    stop = end or max(i[0] for i in items)
    span = max((stop - start).total_seconds(), 60.0)
    pw, ph = W - L - R, H - T - B
    counts: list[dict[str, int]] = [{} for _ in range(bins)]
    colors: dict[str, str] = {}  # a window holds hundreds of items of a few kinds
    for t, kind, *_ in items:
        k = min(int((t - start).total_seconds() / span * bins), bins - 1)
        color = colors.get(kind) or colors.setdefault(kind, _color(kind))
        counts[k][color] = counts[k].get(color, 0) + 1
    peak = max(sum(c.values()) for c in counts) or 1
    bw = pw / bins
    parts = _frame("activity inside the off-network window")
    for k, per in enumerate(counts):
        y = float(T + ph)
        for color, n in sorted(per.items()):
            h = ph * n / peak
            y -= h
            parts.append(f'<rect class="wbar" x="{L + k * bw + 0.5:.1f}" y="{y:.1f}" width="{max(bw - 1, 1):.1f}" '
                         f'height="{h:.1f}" fill="{color}"><title>{n} item{"s" * (n != 1)}</title></rect>')
    parts.append(f'<text x="{L - 6}" y="{T + 10}" text-anchor="end">{peak}</text>')
    fmt = "%Y-%m-%d %H:%M" if span < 86400 * 60 else "%Y-%m-%d"
    parts += _axis(start, start + timedelta(seconds=span), lambda t: L + pw * (t - start).total_seconds() / span, fmt)
    parts.append("</svg>")
    legend = "".join(f'<span class="sw" style="background:{c}"></span>{k}' for k, c in KIND_COLORS)
    step = timedelta(seconds=round(span / bins))
    return (f'{"".join(parts)}<div class="legend">items per {e(str(step))} (UTC, linear){legend}'
            f'<span class="sw" style="background:{OTHER}"></span>other</div>')
