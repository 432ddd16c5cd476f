"""Tables, key/value grids, collapsible sections: the report's building blocks.

A table of more than :data:`triage.report.script.PAGE_ROWS` rows is marked ``data-paged`` and the
page's script shows it a page at a time (all rows stay in the file: searchable, printable, and
visible without scripts). At most :data:`MAX_ROWS` rows are written; the rest stay in summary.json
and the timeline, and the table says so.
"""

from __future__ import annotations

import json
import re
from typing import Any

from triage.report.escape import Raw, e, ts
from triage.report.script import PAGE_ROWS

MAX_ROWS = 500
_ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def table(tid: str, headers: list[str], rows: list[str], *, filter_box: bool = True,
          total: int | None = None) -> str:
    """A table with an optional filter box; ``tid`` must be an id we made (never bundle text)."""
    if not rows:
        return '<p class="muted">None in this bundle.</p>'
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    more = ""
    if total is not None and total > len(rows):
        more = (f'<p class="muted">Showing {len(rows)} of {total}; the rest are in summary.json and the '
                f"timeline.</p>")
    filt = (f'<div class="tools"><input class="filter" type="search" placeholder="filter rows…" '
            f'data-table="{e(tid)}" aria-label="filter table"></div>') if filter_box and len(rows) > 5 else ""
    paged = " data-paged" if len(rows) > PAGE_ROWS else ""
    return (f'{filt}<div class="scroll"><table id="{e(tid)}"{paged}><thead><tr>{head}</tr></thead><tbody>'
            + "".join(rows) + f"</tbody></table></div>{more}")


def section(sid: str, title: str, count: str | None, body: str, *, open_: bool = False) -> str:
    """A card whose body collapses under its heading (``sid``, ``title`` made here; count escaped)."""
    c = f' <span class="count">({e(count)})</span>' if count else ""
    return (f'<section id="{e(sid)}"><details class="sec"{" open" if open_ else ""}><summary><h2>{e(title)}{c}'
            f"</h2></summary>{body}</details></section>")


def kv(pairs: list[tuple[str, Any]]) -> str:
    def cell(v: Any) -> str:
        if v in (None, ""):
            return '<span class="muted">—</span>'
        return v if isinstance(v, Raw) else e(v)

    return '<div class="kv">' + "".join(f"<div>{e(k)}</div><div>{cell(v)}</div>" for k, v in pairs) + "</div>"


def cell(value: Any) -> str:
    """One generic table cell: times shortened, booleans as yes/no, numbers right-aligned, text mono."""
    if value is None:
        return "<td></td>"
    if isinstance(value, bool):
        return f'<td class="{"yes" if value else "no"}">{"yes" if value else "no"}</td>'
    if isinstance(value, int | float):
        return f"<td class='num'>{e(value)}</td>"
    if isinstance(value, str) and _ISO.match(value):
        return f"<td>{ts(value)}</td>"
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        value = ", ".join(str(v) for v in value)
    elif isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False, default=str)
    return f"<td class='mono'>{e(value)}</td>"


def is_iso(value: Any) -> bool:
    return isinstance(value, str) and bool(_ISO.match(value))
