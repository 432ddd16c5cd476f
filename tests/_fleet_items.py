"""Load artifact items of several summaries into a fleet store as one machine each (stacking tests)."""

from __future__ import annotations

import sqlite3

from triage.fleet.artifact_items import artifact_item_rows
from triage.fleet.store import load_rows


def load_machines(conn: sqlite3.Connection, summaries: list[dict]) -> None:
    """One host (its own machine id) and one bundle per summary, with the summary's artifact_items rows."""
    for i, s in enumerate(summaries):
        hid = conn.execute("INSERT INTO hosts (name) VALUES (?)", (f"m{i}",)).lastrowid
        conn.execute("UPDATE hosts SET machine_id = id WHERE id = ?", (hid,))
        bid = conn.execute("INSERT INTO bundles (sha256, analyzer_version, path, status, host_id)"
                           " VALUES (?, 't', 'p', 'ok', ?)", (str(i), hid)).lastrowid
        load_rows(conn, hid, bid, {"artifact_items": artifact_item_rows(s["artifacts"])})
    conn.commit()
