"""Columns added to a fact table after stores were made with it: added in place on open.

Why: an analyst's fleet.sqlite outlives analyzer versions (a case is re-run into the same store),
and ``CREATE TABLE IF NOT EXISTS`` leaves an older table as it was. A column new in a fact table
(``findings.count`` and ``findings.noise``, issue #16) is added with ``ALTER TABLE ... ADD COLUMN``
(NULL in old rows: "unknown", read as one record and not noise) and the table's view is made again
so it shows the column. Nothing is rewritten; a store that has every column is left alone.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Protocol

_TYPES = {"s": "INTEGER", "t": "TEXT", "i": "INTEGER"}


class _Fact(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def columns(self) -> tuple[tuple[str, str], ...]: ...

    @property
    def base(self) -> str: ...

    def view(self) -> str: ...


def add_missing_columns(conn: sqlite3.Connection, facts: Iterable[_Fact]) -> list[str]:
    """Add each fact table's missing columns; returns them as 'table.column' (empty: nothing to do)."""
    added = []
    for t in facts:
        have = {row[1] for row in conn.execute(f"PRAGMA table_info({t.base})")}
        missing = [(c, k) for c, k in t.columns if c not in have]
        if not have or not missing:
            continue
        for c, k in missing:
            conn.execute(f"ALTER TABLE {t.base} ADD COLUMN {c} {_TYPES[k]}")
            added.append(f"{t.name}.{c}")
        conn.execute(f"DROP VIEW IF EXISTS {t.name}")
        conn.execute(t.view())
    return added
