"""Migrating a schema-1 ``fleet.sqlite`` (whole records as text, one table per fact) to schema 2.

Why in place and from the store itself: an analyst's old store may be all that is left of a case
(bundles archived elsewhere), so the migration never needs the bundles or the summaries: every
row is read back from the old tables and loaded through the same path as a new bundle
(:func:`triage.fleet.store.load_rows`), then the old tables are dropped and the file vacuumed.
What schema 2 no longer keeps (an event's description and field dictionary) is reduced the same
way a new load reduces it: the fields' IPs and domains become ``event_indicators``.
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict

from triage.fleet import store

_V1_EVENTS = ("timestamp_utc", "channel", "provider", "event_id", "record_id", "computer", "category",
              "description", "fields", "bundle_path", "locator")


def migrate_v1(conn: sqlite3.Connection) -> None:
    """Convert the schema-1 tables of ``conn`` to schema 2 (one transaction, then VACUUM)."""
    conn.execute("BEGIN")
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'view'").fetchall():
        conn.execute(f'DROP VIEW "{name}"')
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'"
                                " AND name NOT LIKE 'sqlite_autoindex%'").fetchall():
        conn.execute(f'DROP INDEX "{name}"')
    v1 = [t for t in store.FACTS if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                                                 (t,)).fetchone()]  # tables added after schema 1 are new
    for table in v1:
        conn.execute(f'ALTER TABLE "{table}" RENAME TO "v1_{table}"')
    host_cols = {r[1] for r in conn.execute("PRAGMA table_info(hosts)")}
    for col, kind in (("declared_name", "TEXT"), ("machine_sid", "TEXT"), ("machine_key", "TEXT"),
                      ("machine_id", "INTEGER"), ("identity_note", "TEXT")):
        if col not in host_cols:
            conn.execute(f"ALTER TABLE hosts ADD COLUMN {col} {kind}")
    if "evidence_key" not in {r[1] for r in conn.execute("PRAGMA table_info(bundles)")}:
        conn.execute("ALTER TABLE bundles ADD COLUMN evidence_key TEXT")
    conn.execute("UPDATE hosts SET declared_name = coalesce(declared_name, name), machine_id = coalesce(machine_id, id)")
    for statement in store.SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)
    for table, columns in ((t, store.ROW_COLUMNS[t]) for t in v1):
        # columns added to a fact table after schema 1 (findings.count, .noise) are read as NULL
        have = {r[1] for r in conn.execute(f'PRAGMA table_info("v1_{table}")')}
        old = _V1_EVENTS if table == "events" else tuple(c if c in have else "NULL" for c in columns)
        per_bundle: dict[tuple, list] = defaultdict(list)
        for r in conn.execute(f'SELECT host_id, bundle_id, {", ".join(old)} FROM "v1_{table}" ORDER BY id'):
            per_bundle[(r[0], r[1])].append(tuple(r[2:]))
        for (host_id, bundle_id), rows in per_bundle.items():
            if table != "events":
                store.load_rows(conn, host_id, bundle_id, {table: rows})
                continue
            events: list[tuple] = []
            found: list[tuple] = []
            for n, r in enumerate(rows):
                record = dict(zip(_V1_EVENTS, r, strict=True))
                try:
                    fields = json.loads(record["fields"]) if record["fields"] else None
                except ValueError:
                    fields = record["fields"]
                found.extend((n, v) for v in sorted(store.indicators(fields)))
                events.append(tuple(record[c] for c in columns))
            store.load_rows(conn, host_id, bundle_id, {"events": events, "event_indicators": found})
        conn.execute(f'DROP TABLE "v1_{table}"')
    conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(store.SCHEMA_VERSION),))
    conn.execute("INSERT OR REPLACE INTO meta VALUES ('migrated_from', '1')")
    conn.commit()
    conn.execute("VACUUM")
