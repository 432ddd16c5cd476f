"""The fleet store: one SQLite file (``DIR/fleet.sqlite``) analysts can query with plain SQL.

Why SQLite: it ships with Python, needs no server, handles a few million rows per table with the
indexes below, and every analyst already speaks SQL. The schema is documented in
``docs/fleet-schema.md``; keep the two in step.

Every fact row carries ``host_id`` and ``bundle_id`` (and, where the summary gives them,
``bundle_path`` + ``locator``: the provenance back to the bundle member). Times are ISO-8601 UTC
strings ending in 'Z'; column names ending in ``_utc`` say so. Loading a bundle first deletes
every row of any earlier analysis of the same bundle (same SHA-256), so re-analysis with a newer
analyzer replaces, never duplicates.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from triage.fleet.normalize import basename, domain_of, normalize_command, normalize_path
from triage.units import iso, utc_now

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS hosts (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,                 -- collection host name (see fleet_host_name)
    reported_name TEXT,                        -- host name read from the host's own registry
    os TEXT,
    score REAL NOT NULL DEFAULT 0,
    score_explained TEXT                       -- JSON list of {what, weight, count, points}
);
CREATE TABLE IF NOT EXISTS bundles (
    id INTEGER PRIMARY KEY,
    sha256 TEXT NOT NULL,
    analyzer_version TEXT NOT NULL,
    path TEXT NOT NULL,
    size INTEGER,
    status TEXT NOT NULL,                      -- ok | failed | encrypted
    error TEXT,
    host_id INTEGER REFERENCES hosts(id),
    host_dir TEXT,                             -- relative to the fleet directory
    analyzed_utc TEXT,
    duration_s REAL,                           -- wall time of the analysis in its worker
    cpu_s REAL,                                -- CPU time of it (all threads: > duration_s when parallel)
    peak_rss_bytes INTEGER,
    worker TEXT,
    collection_started_utc TEXT,
    collection_finished_utc TEXT,
    UNIQUE (sha256, analyzer_version)
);
CREATE TABLE IF NOT EXISTS bundle_files_seen (   -- hash cache: skip re-hashing unchanged files
    path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, sha256 TEXT
);
CREATE TABLE IF NOT EXISTS autoruns (
    id INTEGER PRIMARY KEY, host_id INTEGER NOT NULL, bundle_id INTEGER NOT NULL,
    category TEXT, location TEXT, name TEXT, command TEXT, command_norm TEXT,
    stack_key TEXT,                            -- what stacking groups by: command_norm, or for services and
                                               -- tasks lower(name) || ' | ' || command_norm
    user TEXT, last_write_utc TEXT, details TEXT, bundle_path TEXT, locator TEXT
);
CREATE VIEW IF NOT EXISTS services AS
    SELECT id, host_id, bundle_id, name, command AS image_path, command_norm, location,
           json_extract(details, '$.start_type') AS start_type,
           json_extract(details, '$.service_dll') AS service_dll,
           last_write_utc, bundle_path, locator
    FROM autoruns WHERE category = 'service';
CREATE VIEW IF NOT EXISTS scheduled_tasks AS
    SELECT id, host_id, bundle_id, name, command, command_norm, location, user,
           json_extract(details, '$.author') AS author, last_write_utc, bundle_path, locator
    FROM autoruns WHERE category = 'task';
CREATE TABLE IF NOT EXISTS executions (
    id INTEGER PRIMARY KEY, host_id INTEGER NOT NULL, bundle_id INTEGER NOT NULL,
    executable TEXT, executable_lc TEXT, path TEXT, path_norm TEXT, run_count INTEGER,
    last_run_utc TEXT, last_runs TEXT, source TEXT, sha1 TEXT, bundle_path TEXT, locator TEXT
);
CREATE TABLE IF NOT EXISTS browser_domains (
    id INTEGER PRIMARY KEY, host_id INTEGER NOT NULL, bundle_id INTEGER NOT NULL,
    browser TEXT, user TEXT, domain TEXT, visits INTEGER, bundle_path TEXT
);
CREATE TABLE IF NOT EXISTS downloads (
    id INTEGER PRIMARY KEY, host_id INTEGER NOT NULL, bundle_id INTEGER NOT NULL,
    browser TEXT, user TEXT, url TEXT, domain TEXT, target_path TEXT, start_utc TEXT, end_utc TEXT,
    received_bytes INTEGER, danger_type TEXT, state TEXT, bundle_path TEXT, locator TEXT
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY, host_id INTEGER NOT NULL, bundle_id INTEGER NOT NULL,
    timestamp_utc TEXT, channel TEXT, provider TEXT, event_id INTEGER, record_id INTEGER, computer TEXT,
    category TEXT, description TEXT, fields TEXT, bundle_path TEXT, locator TEXT
);
CREATE TABLE IF NOT EXISTS yara_hits (
    id INTEGER PRIMARY KEY, host_id INTEGER NOT NULL, bundle_id INTEGER NOT NULL,
    rule TEXT, namespace TEXT, tags TEXT, target TEXT, details TEXT, bundle_path TEXT
);
CREATE TABLE IF NOT EXISTS off_network_windows (
    id INTEGER PRIMARY KEY, host_id INTEGER NOT NULL, bundle_id INTEGER NOT NULL,
    start_utc TEXT, end_utc TEXT, reason TEXT
);
CREATE TABLE IF NOT EXISTS files (               -- every collected file, from the bundle manifest
    id INTEGER PRIMARY KEY, host_id INTEGER NOT NULL, bundle_id INTEGER NOT NULL,
    path TEXT, path_norm TEXT, name_lc TEXT, bundle_path TEXT, artifact TEXT, user TEXT, size INTEGER,
    sha256 TEXT, sha1 TEXT, md5 TEXT, modified_utc TEXT
);
CREATE TABLE IF NOT EXISTS findings (
    id INTEGER PRIMARY KEY, host_id INTEGER NOT NULL, bundle_id INTEGER,
    origin TEXT NOT NULL,                      -- host (from summary.json) | rare | ioc
    rule TEXT, severity TEXT, title TEXT, reason TEXT, evidence TEXT, when_utc TEXT, off_network INTEGER
);
CREATE TABLE IF NOT EXISTS issues (
    id INTEGER PRIMARY KEY, host_id INTEGER, bundle_id INTEGER,
    severity TEXT, message TEXT, bundle_path TEXT, locator TEXT
);
CREATE TABLE IF NOT EXISTS rare_items (
    id INTEGER PRIMARY KEY, kind TEXT, item TEXT, hosts INTEGER, total_hosts INTEGER, host_names TEXT
);
CREATE TABLE IF NOT EXISTS ioc_matches (
    id INTEGER PRIMARY KEY, host_id INTEGER NOT NULL, bundle_id INTEGER,
    ioc_type TEXT, ioc_value TEXT, ioc_source TEXT, matched_table TEXT, matched_value TEXT,
    evidence TEXT
);
CREATE INDEX IF NOT EXISTS autoruns_stack ON autoruns (category, stack_key, host_id);
CREATE INDEX IF NOT EXISTS autoruns_command ON autoruns (command_norm);
CREATE INDEX IF NOT EXISTS autoruns_bundle ON autoruns (bundle_id);
CREATE INDEX IF NOT EXISTS executions_name ON executions (executable_lc, host_id);
CREATE INDEX IF NOT EXISTS executions_path ON executions (path_norm, host_id);
CREATE INDEX IF NOT EXISTS executions_bundle ON executions (bundle_id);
CREATE INDEX IF NOT EXISTS domains_stack ON browser_domains (domain, host_id);
CREATE INDEX IF NOT EXISTS domains_bundle ON browser_domains (bundle_id);
CREATE INDEX IF NOT EXISTS downloads_bundle ON downloads (bundle_id);
CREATE INDEX IF NOT EXISTS events_bundle ON events (bundle_id);
CREATE INDEX IF NOT EXISTS events_host_time ON events (host_id, timestamp_utc);
CREATE INDEX IF NOT EXISTS yara_stack ON yara_hits (rule, host_id);
CREATE INDEX IF NOT EXISTS yara_bundle ON yara_hits (bundle_id);
CREATE INDEX IF NOT EXISTS files_sha256 ON files (sha256);
CREATE INDEX IF NOT EXISTS files_sha1 ON files (sha1);
CREATE INDEX IF NOT EXISTS files_md5 ON files (md5);
CREATE INDEX IF NOT EXISTS files_name ON files (name_lc);
CREATE INDEX IF NOT EXISTS files_bundle ON files (bundle_id);
CREATE INDEX IF NOT EXISTS findings_host ON findings (host_id, origin);
CREATE INDEX IF NOT EXISTS findings_bundle ON findings (bundle_id);
CREATE INDEX IF NOT EXISTS offnet_bundle ON off_network_windows (bundle_id);
CREATE INDEX IF NOT EXISTS issues_bundle ON issues (bundle_id);
"""

# Tables whose rows belong to one bundle (deleted when that bundle is loaded again).
BUNDLE_TABLES = ("autoruns", "executions", "browser_domains", "downloads", "events", "yara_hits",
                 "off_network_windows", "files", "findings", "issues")


def open_store(path: Path) -> sqlite3.Connection:
    """Open (creating if needed) the fleet store. WAL so a reader can query during a batch."""
    conn = sqlite3.connect(str(path), timeout=60)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript(SCHEMA)
    conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
    conn.commit()
    return conn


def analyzed(conn: sqlite3.Connection, analyzer_version: str) -> dict[str, str]:
    """sha256 -> status of bundles already analyzed by this analyzer version."""
    rows = conn.execute("SELECT sha256, status FROM bundles WHERE analyzer_version = ?", (analyzer_version,))
    return {r["sha256"]: r["status"] for r in rows}


def cached_hash(conn: sqlite3.Connection, path: str, size: int, mtime_ns: int) -> str | None:
    row = conn.execute("SELECT size, mtime_ns, sha256 FROM bundle_files_seen WHERE path = ?", (path,)).fetchone()
    if row and row["size"] == size and row["mtime_ns"] == mtime_ns:
        return row["sha256"]
    return None


def remember_hash(conn: sqlite3.Connection, path: str, size: int, mtime_ns: int, sha256: str) -> None:
    conn.execute("INSERT OR REPLACE INTO bundle_files_seen VALUES (?, ?, ?, ?)", (path, size, mtime_ns, sha256))


def fleet_host_name(summary: dict) -> str | None:
    """The host's name in the fleet: the name the collection recorded (the machine's name on a live
    collection, the operator's --hostname or the target folder for an image), else the name the
    analyzer read from the registry. Why not the registry name first: copied or imaged systems
    (and test mosaics) share it, and two machines must never merge into one fleet host."""
    host = summary.get("host")
    collection = (summary.get("bundle") or {}).get("collection") or {}
    name = collection.get("hostname") or (host.get("hostname") if isinstance(host, dict) else host)
    return str(name) if name else None


def _host_id(conn: sqlite3.Connection, name: str, os_name: str | None, reported: str | None) -> int:
    row = conn.execute("SELECT id FROM hosts WHERE name = ?", (name,)).fetchone()
    if row:
        conn.execute("UPDATE hosts SET os = coalesce(?, os), reported_name = coalesce(?, reported_name)"
                     " WHERE id = ?", (os_name, reported, row["id"]))
        return row["id"]
    return conn.execute("INSERT INTO hosts (name, os, reported_name) VALUES (?, ?, ?)",
                        (name, os_name, reported)).lastrowid


def _forget_bundle(conn: sqlite3.Connection, sha256: str) -> None:
    ids = [r["id"] for r in conn.execute("SELECT id FROM bundles WHERE sha256 = ?", (sha256,))]
    for bid in ids:
        for table in BUNDLE_TABLES:
            conn.execute(f"DELETE FROM {table} WHERE bundle_id = ?", (bid,))
        conn.execute("DELETE FROM ioc_matches WHERE bundle_id = ?", (bid,))
        conn.execute("DELETE FROM bundles WHERE id = ?", (bid,))


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _dicts(value: Any) -> list[dict]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def record_bundle(conn: sqlite3.Connection, result: dict, summary: dict | None = None,
                  files: Iterable[dict] = ()) -> int:
    """Store one task result; returns the bundle id.

    result: the dict from :func:`triage.fleet.batch.analyze_task` (status, sha256, path, error...;
    for an ok bundle also ``host_info`` and ``rows``, prepared by the worker with
    :func:`summary_rows` so the parent only inserts). ``summary``/``files``: the same from a
    summary dict and manifest entries, for callers that have no worker result.
    """
    _forget_bundle(conn, result["sha256"])
    rows = result.get("rows")
    info = result.get("host_info")
    if summary is not None and rows is None:
        rows = summary_rows(summary, files)
        info = host_info(summary)
    info = info or {}
    host_id = None
    if rows is not None and result["status"] == "ok":
        host_id = _host_id(conn, info.get("name") or str(result.get("host")), info.get("os"), info.get("reported"))
    bid = conn.execute(
        "INSERT INTO bundles (sha256, analyzer_version, path, size, status, error, host_id, host_dir,"
        " analyzed_utc, duration_s, cpu_s, peak_rss_bytes, worker, collection_started_utc, collection_finished_utc)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (result["sha256"], result["analyzer_version"], result["path"], result.get("size"), result["status"],
         result.get("error"), host_id, result.get("host_dir"), iso(utc_now()), result.get("duration_s"),
         result.get("cpu_s"), result.get("peak_rss_bytes"), result.get("worker"),
         info.get("started"), info.get("finished")),
    ).lastrowid
    for issue in result.get("issues") or ():
        conn.execute("INSERT INTO issues (host_id, bundle_id, severity, message, bundle_path, locator)"
                     " VALUES (?,?,?,?,?,?)", (host_id, bid, issue.get("severity", "error"),
                                               issue.get("message"), issue.get("bundle_path"),
                                               issue.get("locator")))
    if host_id is None:
        return bid
    for table, table_rows in rows.items():
        columns = ROW_COLUMNS[table]
        marks = ",".join("?" * (len(columns) + 2))
        conn.executemany(f"INSERT INTO {table} (host_id, bundle_id, {', '.join(columns)}) VALUES ({marks})",
                         [(host_id, bid, *r) for r in table_rows])
    return bid


def host_info(summary: dict) -> dict:
    """What the bundles and hosts rows need from a summary."""
    host = summary.get("host") if isinstance(summary.get("host"), dict) else {"hostname": summary.get("host")}
    collection = (summary.get("bundle") or {}).get("collection") or {}
    return {"name": fleet_host_name(summary), "os": _text(host.get("os")), "reported": host.get("hostname"),
            "started": _text(collection.get("started")), "finished": _text(collection.get("finished"))}


# Columns filled from a summary, per table (host_id and bundle_id come first, added when inserting).
ROW_COLUMNS: dict[str, tuple[str, ...]] = {
    "autoruns": ("category", "location", "name", "command", "command_norm", "stack_key", "user", "last_write_utc",
                 "details", "bundle_path", "locator"),
    "executions": ("executable", "executable_lc", "path", "path_norm", "run_count", "last_run_utc", "last_runs",
                   "source", "sha1", "bundle_path", "locator"),
    "browser_domains": ("browser", "user", "domain", "visits", "bundle_path"),
    "downloads": ("browser", "user", "url", "domain", "target_path", "start_utc", "end_utc", "received_bytes",
                  "danger_type", "state", "bundle_path", "locator"),
    "events": ("timestamp_utc", "channel", "provider", "event_id", "record_id", "computer", "category",
               "description", "fields", "bundle_path", "locator"),
    "yara_hits": ("rule", "namespace", "tags", "target", "details", "bundle_path"),
    "off_network_windows": ("start_utc", "end_utc", "reason"),
    "findings": ("origin", "rule", "severity", "title", "reason", "evidence", "when_utc", "off_network"),
    "issues": ("severity", "message", "bundle_path", "locator"),
    "files": ("path", "path_norm", "name_lc", "bundle_path", "artifact", "user", "size", "sha256", "sha1", "md5",
              "modified_utc"),
}


def stack_key(category: str | None, name: str | None, command_norm: str) -> str:
    """Services and tasks stack by name and command (the same svchost line hosts many services);
    other autoruns by their normalised command."""
    if category in ("service", "task"):
        return f"{(name or '').lower()} | {command_norm}"
    return command_norm


def summary_rows(s: dict, files: Iterable[dict] = ()) -> dict[str, list[tuple]]:
    """The stackable parts of one summary.json (and the manifest's file hashes) as rows per table,
    in :data:`ROW_COLUMNS` order; tolerant of missing keys. Runs in the worker, so the parent of a
    big batch only inserts."""
    out: dict[str, list[tuple]] = {}
    out["autoruns"] = [
        (a.get("category"), a.get("location"), a.get("name"), a.get("command"), norm,
         stack_key(a.get("category"), a.get("name"), norm), a.get("user"), a.get("last_write"),
         _text(a.get("details")), a.get("bundle_path"), a.get("locator"))
        for a in _dicts(s.get("autoruns")) for norm in (normalize_command(a.get("command")),)]
    rows = []
    for e in _dicts(s.get("executions")):
        runs = e.get("last_runs") or []
        runs = runs if isinstance(runs, list) else [runs]
        exe = e.get("executable") or basename(e.get("path"))
        rows.append((exe, (exe or "").lower(), e.get("path"), normalize_path(e.get("path")),
                     _int(e.get("run_count")), max((r for r in runs if isinstance(r, str)), default=None),
                     _text(runs), e.get("source") or e.get("kind"), e.get("sha1"), e.get("bundle_path"),
                     e.get("locator")))
    out["executions"] = rows
    rows = []
    for b in _dicts(s.get("browser")):
        for d in b.get("top_domains") or b.get("domains") or []:
            if isinstance(d, dict):
                name, visits = d.get("domain") or d.get("host"), d.get("visits") or d.get("count")
            elif isinstance(d, list | tuple) and d:
                name, visits = d[0], (d[1] if len(d) > 1 else None)
            else:
                name, visits = d, None
            if isinstance(name, str) and name:
                rows.append((b.get("browser"), b.get("user"), domain_of(name), _int(visits), b.get("bundle_path")))
    out["browser_domains"] = rows
    out["downloads"] = [
        (d.get("browser"), d.get("user"), d.get("url"), domain_of(d.get("url")), d.get("target_path"),
         d.get("start"), d.get("end"), _int(d.get("received_bytes")), d.get("danger_type"), d.get("state"),
         d.get("bundle_path"), d.get("locator"))
        for d in _dicts(s.get("downloads"))]
    out["events"] = [
        (e.get("timestamp"), e.get("channel"), e.get("provider"), _int(e.get("event_id")), _int(e.get("record_id")),
         e.get("computer"), e.get("category"), e.get("description"), _text(e.get("fields")), e.get("bundle_path"),
         e.get("locator"))
        for e in _dicts(s.get("events"))]
    out["yara_hits"] = [
        (y.get("rule"), y.get("namespace"), _text(y.get("tags")), y.get("target") or y.get("path") or y.get("bundle_path"),
         _text({k: v for k, v in y.items() if k not in ("rule", "namespace", "tags")}), y.get("bundle_path"))
        for y in _dicts(s.get("yara"))]
    network = s.get("network") if isinstance(s.get("network"), dict) else {}
    out["off_network_windows"] = [
        (w.get("start"), w.get("end"), _text(w.get("reason") or w.get("why")))
        for w in _dicts(network.get("off_network_windows"))]
    out["findings"] = [
        ("host", f.get("rule"), f.get("severity"), f.get("title"), f.get("reason"), _text(f.get("evidence")),
         f.get("when"), None if f.get("off_network") is None else int(bool(f.get("off_network"))))
        for f in _dicts(s.get("findings"))]
    out["issues"] = [
        (i.get("severity"), i.get("message"), i.get("bundle_path"), i.get("locator")) for i in _dicts(s.get("issues"))]
    out["files"] = [
        (f.get("path"), normalize_path(f.get("path")), basename(f.get("path")), f.get("bundle_path"),
         f.get("artifact"), f.get("user"), _int(f.get("size")), (f.get("sha256") or "").lower() or None,
         (f.get("sha1") or "").lower() or None, (f.get("md5") or "").lower() or None,
         (f.get("times") or {}).get("modified"))
        for f in files]
    return out
