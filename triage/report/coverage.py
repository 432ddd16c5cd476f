"""What the bundle did and did not contain, and the problems met reading it: the limits of every
conclusion above ("nothing found" means nothing in what was collected and readable)."""

from __future__ import annotations

from typing import Any

from triage.report.escape import e, ep, plural
from triage.report.tables import MAX_ROWS, section, table
from triage.units import human_size


def coverage(s: dict[str, Any]) -> str:
    rows = []
    for c in s.get("coverage") or []:
        if not isinstance(c, dict):
            continue
        parsed = "<span class='yes'>yes</span>" if c.get("parsed") else (
            "<span class='no'>no</span>" if (c.get("collected") or c.get("partial")) else "<span class='muted'>—</span>")
        size = c.get("bytes")
        rows.append(f"<tr><td>{e(c.get('artifact'))}</td><td class='num'>{e(c.get('collected'))}</td>"
                    f"<td class='num'>{e(c.get('partial'))}</td><td class='num'>{e(c.get('missing'))}</td>"
                    f"<td class='num'>{e(c.get('failed'))}</td><td class='num'>{e(c.get('skipped'))}</td>"
                    f"<td class='num'>{e(human_size(size) if isinstance(size, int) else '')}</td>"
                    f"<td>{parsed} {e(', '.join(map(str, c.get('parsers') or [])))}</td></tr>")
    return section("coverage", "Coverage: what the bundle did and did not contain", plural(len(rows), "artifact kind"),
                   table("t-coverage", ["Artifact", "Collected", "Partial", "Missing", "Failed", "Skipped", "Size",
                                        "Parsed by"], rows))


def issues(s: dict[str, Any]) -> str:
    items = [i for i in s.get("issues") or [] if isinstance(i, dict)]
    rows = [f"<tr><td>{e(i.get('severity'))}</td><td class='mono'>{ep(i.get('bundle_path'))}</td>"
            f"<td class='mono'>{ep(i.get('locator'))}</td><td class='mono'>{e(i.get('message'))}</td></tr>"
            for i in items[:MAX_ROWS]]
    return section("issues", "Problems reading the evidence", plural(len(items), "problem"),
                   table("t-issues", ["Severity", "Member", "Where", "Message"], rows, total=len(items)))
