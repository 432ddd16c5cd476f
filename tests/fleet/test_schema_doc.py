"""docs/fleet-schema.md matches the store's schema: every table and view it lists exists, every one
the store creates is listed, and every column the page names for a table (outside its parenthesised
notes) is a column of it. Needs no corpus: a fresh store is created."""

from __future__ import annotations

import re
from pathlib import Path

from triage.fleet.store import open_store

DOC = Path(__file__).resolve().parents[2] / "docs" / "fleet-schema.md"
_ROW = re.compile(r"^\|\s*`(?P<name>[a-z_]+)`(?P<note>[^|]*)\|[^|]*\|(?P<columns>.*)\|\s*$")


def _outside_parentheses(text: str) -> str:
    out, depth = [], 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(depth - 1, 0)
        elif depth == 0:
            out.append(ch)
    return "".join(out)


def documented() -> dict[str, set[str]]:
    """table or view -> the column names its row of the page's table names."""
    rows: dict[str, set[str]] = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        m = _ROW.match(line)
        if m:
            rows[m["name"]] = set(re.findall(r"`([a-z_][a-z0-9_]*)`", _outside_parentheses(m["columns"])))
    return rows


def actual(path: Path) -> dict[str, set[str]]:
    store = open_store(path)
    try:
        names = [r[0] for r in store.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%'")]
        return {n: {r[1] for r in store.execute(f"PRAGMA table_info({n})")} for n in names}
    finally:
        store.close()


def test_doc_parser_reads_rows():
    rows = documented()
    assert {"hosts", "bundles", "strings", "autoruns"} <= set(rows)
    assert "sha256" in rows["bundles"] and "run" not in rows["autoruns"]  # values in notes are not columns


def test_fleet_schema_doc_matches_the_store(tmp_path):
    store = actual(tmp_path / "fleet.sqlite")
    doc = documented()
    # *_rows tables are the integer halves of the views the page lists; meta is described in prose
    listed = {n for n in store if not n.endswith("_rows") and n != "meta"}
    assert set(doc) - set(store) == set(), "documented but not in the store"
    assert listed - set(doc) == set(), "in the store but not in docs/fleet-schema.md"
    wrong = {n: sorted(cols - store[n]) for n, cols in doc.items() if cols - store[n]}
    assert wrong == {}, "columns the page names that the table or view does not have"
