"""The fleet store: one SQLite file (``DIR/fleet.sqlite``) analysts can query with plain SQL.

Why SQLite: it ships with Python, needs no server, handles a few million rows per table with the
indexes below, and every analyst already speaks SQL. The schema is documented in
``docs/fleet-schema.md``; keep the two in step.

Why this shape (schema 2): at 1,000 hosts and beyond the store must stay small, so it keeps what
stacking, scoring, IOC sweeps and the fleet view query -- not copies of whole records. Every text
value is *interned* in ``strings`` (a service's command, a hive's bundle path, a finding's title
repeat on every host of one build: stored once, referenced by an integer); the fact rows live in
``<table>_rows`` tables of small integers, and a view with the old name (``autoruns``,
``events``...) joins the strings back, so analysts and old queries read text as before. Event
descriptions and field dictionaries stay in each host's summary.json/timeline; the store keeps an
event's time, channel, ids and provenance plus the network indicators (IPs, domains) found in its
fields, which is what the IOC sweep asks of events.

Every fact row carries ``host_id`` and ``bundle_id`` (and, where the summary gives them,
``bundle_path`` + ``locator``: the provenance back to the bundle member). Times are ISO-8601 UTC
strings ending in 'Z'; column names ending in ``_utc`` say so. Loading a bundle first deletes
every row of any earlier analysis of the same bundle (same SHA-256), so re-analysis with a newer
analyzer replaces, never duplicates.
"""

from __future__ import annotations

import ipaddress
import json
import re
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from triage.fleet.artifact_items import artifact_item_rows
from triage.fleet.columns import add_missing_columns
from triage.fleet.identity import HostIdentity, identity_of, mark_copies, resolve_host
from triage.fleet.normalize import basename, domain_of, normalize_command, normalize_path
from triage.units import iso, utc_now
from triage.verdict import count_of, is_noise

SCHEMA_VERSION = 2


@dataclass(frozen=True, slots=True)
class FactTable:
    """One per-bundle fact table: the view analysts query (``name``) over ``name_rows``.

    columns: (column, kind) after host_id and bundle_id; kind 's' is text interned in ``strings``
    (stored as its id), 't' text kept inline (times: unique per row, interning would not pay),
    'i' integer.
    """

    name: str
    columns: tuple[tuple[str, str], ...]

    @property
    def base(self) -> str:
        return f"{self.name}_rows"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c for c, _ in self.columns)

    @property
    def interned(self) -> tuple[int, ...]:
        return tuple(i for i, (_, k) in enumerate(self.columns) if k == "s")

    def ddl(self) -> str:
        types = {"s": "INTEGER", "t": "TEXT", "i": "INTEGER"}
        cols = ", ".join(f"{c} {types[k]}" for c, k in self.columns)
        return (f"CREATE TABLE IF NOT EXISTS {self.base} (id INTEGER PRIMARY KEY, host_id INTEGER,"
                f" bundle_id INTEGER, {cols});")

    def view(self) -> str:
        select, joins = ["r.id", "r.host_id", "r.bundle_id"], []
        for i, (c, k) in enumerate(self.columns):
            if k == "s":
                select.append(f"s{i}.value AS {c}")
                joins.append(f"LEFT JOIN strings s{i} ON s{i}.id = r.{c}")
            else:
                select.append(f"r.{c}")
        return f"CREATE VIEW IF NOT EXISTS {self.name} AS SELECT {', '.join(select)} FROM {self.base} r {' '.join(joins)};"


def _cols(spec: str) -> tuple[tuple[str, str], ...]:
    return tuple((part.split(":")[0], part.split(":")[1]) for part in spec.split())


FACTS: dict[str, FactTable] = {t.name: t for t in (
    FactTable("autoruns", _cols("category:s location:s name:s command:s command_norm:s stack_key:s user:s"
                                " last_write_utc:t details:s bundle_path:s locator:s")),
    FactTable("executions", _cols("executable:s executable_lc:s path:s path_norm:s run_count:i last_run_utc:t"
                                  " last_runs:t source:s sha1:s bundle_path:s locator:s")),
    FactTable("browser_domains", _cols("browser:s user:s domain:s visits:i bundle_path:s")),
    FactTable("downloads", _cols("browser:s user:s url:s domain:s target_path:s start_utc:t end_utc:t"
                                 " received_bytes:i danger_type:s state:s bundle_path:s locator:s")),
    FactTable("events", _cols("timestamp_utc:t channel:s provider:s event_id:i record_id:i computer:s category:s"
                              " bundle_path:s locator:s")),
    FactTable("yara_hits", _cols("rule:s namespace:s tags:s target:s details:s bundle_path:s")),
    FactTable("off_network_windows", _cols("start_utc:t end_utc:t reason:s")),
    FactTable("files", _cols("path:s path_norm:s name_lc:s bundle_path:s artifact:s user:s size:i sha256:s sha1:s"
                             " md5:s modified_utc:t")),
    FactTable("findings", _cols("origin:t rule:s severity:s title:s reason:s evidence:s when_utc:t off_network:i"
                                " count:i noise:s")),
    FactTable("issues", _cols("severity:s message:s bundle_path:s locator:s")),
    FactTable("artifact_items", _cols("artifact:s item:s item_norm:s user:s bundle_path:s locator:s")),
)}

# Columns filled from a summary, per table (host_id and bundle_id come first, added when inserting).
ROW_COLUMNS: dict[str, tuple[str, ...]] = {name: t.names for name, t in FACTS.items()}

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS strings (id INTEGER PRIMARY KEY, value TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS hosts (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,                 -- fleet name: the declared name, 'NAME (2)' for a second machine
    declared_name TEXT,                        -- the name the bundle declared (see fleet_host_name)
    reported_name TEXT,                        -- host name read from the host's own registry
    os TEXT,
    machine_sid TEXT,                          -- from the SAM's local accounts (identity.py)
    machine_key TEXT,                          -- digest of machine SID, install date, registry name
    machine_id INTEGER,                        -- the host counted in stacking/sharing (a copy points at its original)
    identity_note TEXT,                        -- why this host is flagged: shared name, copy of another host
    score REAL NOT NULL DEFAULT 0,
    score_explained TEXT                       -- JSON list of {origin, rule, severity, weight, count, shared_by, points}
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
    evidence_key TEXT,                         -- digest of the SHA-256 set of the collected files
    UNIQUE (sha256, analyzer_version)
);
CREATE TABLE IF NOT EXISTS bundle_files_seen (   -- hash cache: skip re-hashing unchanged files
    path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, sha256 TEXT
);
CREATE TABLE IF NOT EXISTS event_indicators (    -- IPs and domains found in an event's fields
    event_id INTEGER NOT NULL, host_id INTEGER NOT NULL, bundle_id INTEGER NOT NULL, value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS rare_items (
    id INTEGER PRIMARY KEY, kind TEXT, item TEXT, hosts INTEGER, total_hosts INTEGER, host_names TEXT
);
CREATE TABLE IF NOT EXISTS ioc_matches (
    id INTEGER PRIMARY KEY, host_id INTEGER NOT NULL, bundle_id INTEGER,
    ioc_type TEXT, ioc_value TEXT, ioc_source TEXT, matched_table TEXT, matched_value TEXT,
    evidence TEXT
);
""" + "\n".join(t.ddl() + "\n" + t.view() for t in FACTS.values()) + """
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
CREATE INDEX IF NOT EXISTS autoruns_stack ON autoruns_rows (category, stack_key, host_id);
CREATE INDEX IF NOT EXISTS autoruns_bundle ON autoruns_rows (bundle_id);
CREATE INDEX IF NOT EXISTS executions_name ON executions_rows (executable_lc, host_id);
CREATE INDEX IF NOT EXISTS executions_path ON executions_rows (path_norm, host_id);
CREATE INDEX IF NOT EXISTS executions_bundle ON executions_rows (bundle_id);
CREATE INDEX IF NOT EXISTS domains_stack ON browser_domains_rows (domain, host_id);
CREATE INDEX IF NOT EXISTS domains_bundle ON browser_domains_rows (bundle_id);
CREATE INDEX IF NOT EXISTS downloads_bundle ON downloads_rows (bundle_id);
CREATE INDEX IF NOT EXISTS events_bundle ON events_rows (bundle_id);
CREATE INDEX IF NOT EXISTS indicators_value ON event_indicators (value);
CREATE INDEX IF NOT EXISTS indicators_bundle ON event_indicators (bundle_id);
CREATE INDEX IF NOT EXISTS yara_stack ON yara_hits_rows (rule, host_id);
CREATE INDEX IF NOT EXISTS yara_bundle ON yara_hits_rows (bundle_id);
CREATE INDEX IF NOT EXISTS files_sha256 ON files_rows (sha256);
CREATE INDEX IF NOT EXISTS files_sha1 ON files_rows (sha1);
CREATE INDEX IF NOT EXISTS files_md5 ON files_rows (md5);
CREATE INDEX IF NOT EXISTS files_name ON files_rows (name_lc);
CREATE INDEX IF NOT EXISTS files_bundle ON files_rows (bundle_id);
CREATE INDEX IF NOT EXISTS findings_host ON findings_rows (host_id, origin);
CREATE INDEX IF NOT EXISTS findings_rule ON findings_rows (rule, host_id);
CREATE INDEX IF NOT EXISTS findings_bundle ON findings_rows (bundle_id);
CREATE INDEX IF NOT EXISTS offnet_bundle ON off_network_windows_rows (bundle_id);
CREATE INDEX IF NOT EXISTS issues_bundle ON issues_rows (bundle_id);
CREATE INDEX IF NOT EXISTS artifact_items_stack ON artifact_items_rows (item_norm, host_id);
CREATE INDEX IF NOT EXISTS artifact_items_bundle ON artifact_items_rows (bundle_id);
CREATE INDEX IF NOT EXISTS bundles_evidence ON bundles (evidence_key);
"""

# Tables whose rows belong to one bundle (deleted when that bundle is loaded again).
BUNDLE_TABLES = tuple(t.base for t in FACTS.values()) + ("event_indicators",)


def open_store(path: Path) -> sqlite3.Connection:
    """Open (creating if needed) the fleet store. WAL so a reader can query during a batch. A store
    of schema 1 (whole records as text) is migrated in place (see :mod:`triage.fleet.migrate`)."""
    conn = sqlite3.connect(str(path), timeout=60)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    old = conn.execute("SELECT type FROM sqlite_master WHERE name = 'autoruns'").fetchone()
    if old is not None and old[0] == "table":
        from triage.fleet.migrate import migrate_v1

        migrate_v1(conn)
    else:
        conn.executescript(SCHEMA)
        add_missing_columns(conn, FACTS.values())
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
    """The name a bundle declares for its host: the name the collection recorded (the machine's
    name on a live collection, the operator's --hostname or the target folder for an image), else
    the name the analyzer read from the registry. It is a claim, not an identity: see identity.py
    for how bundles are grouped into fleet hosts."""
    host = summary.get("host")
    collection = (summary.get("bundle") or {}).get("collection") or {}
    name = collection.get("hostname") or (host.get("hostname") if isinstance(host, dict) else host)
    return str(name) if name else None


def _forget_bundle(conn: sqlite3.Connection, sha256: str) -> None:
    ids = [r[0] for r in conn.execute("SELECT id FROM bundles WHERE sha256 = ?", (sha256,))]
    for bid in ids:
        for table in BUNDLE_TABLES:
            conn.execute(f"DELETE FROM {table} WHERE bundle_id = ?", (bid,))
        conn.execute("DELETE FROM ioc_matches WHERE bundle_id = ?", (bid,))
        conn.execute("DELETE FROM bundles WHERE id = ?", (bid,))


_SORTED_JSON = json.JSONEncoder(ensure_ascii=False, sort_keys=True)  # json.dumps(**kw) built one per call


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else _SORTED_JSON.encode(value)


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError, OverflowError):
        return None


def _dicts(value: Any) -> list[dict]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


_CACHE_MAX = 2_000_000
# connection id -> (the connection, kept so its id cannot be reused; value -> strings.id)
_CACHES: dict[int, tuple[sqlite3.Connection, dict[str, int]]] = {}


def _cache(conn: sqlite3.Connection) -> dict[str, int]:
    entry = _CACHES.get(id(conn))
    if entry is None or entry[0] is not conn or len(entry[1]) > _CACHE_MAX:
        entry = _CACHES[id(conn)] = (conn, {})
    return entry[1]


def forget_cache(conn: sqlite3.Connection) -> None:
    """Drop the string ids remembered for ``conn`` (after a rollback they may not exist)."""
    _CACHES.pop(id(conn), None)


def intern(conn: sqlite3.Connection, values: Iterable[Any]) -> dict[str, int]:
    """Ids of these strings in ``strings`` (added when new). Ids are remembered per connection, so a
    fleet of one build looks up only what is new on each host; :func:`record_bundle` forgets them
    when a load fails (the caller rolls back)."""
    cache = _cache(conn)
    wanted = {v if isinstance(v, str) else str(v) for v in values if v is not None}
    missing = [v for v in wanted if v not in cache]
    if missing:
        conn.executemany("INSERT OR IGNORE INTO strings (value) VALUES (?)", ((v,) for v in missing))
        for i in range(0, len(missing), 500):
            part = missing[i:i + 500]
            cache.update((r[1], r[0]) for r in conn.execute(
                f"SELECT id, value FROM strings WHERE value IN ({','.join('?' * len(part))})", part))
    return cache


def insert_rows(conn: sqlite3.Connection, table: str, host_id: int | None, bundle_id: int | None,
                rows: list[tuple], first_id: int | None = None) -> None:
    """Insert fact rows given as text (in :data:`ROW_COLUMNS` order): interned columns become ids."""
    if not rows:
        return
    spec = FACTS[table]
    interned = spec.interned
    ids = intern(conn, (r[i] for r in rows for i in interned))
    out = []
    for n, r in enumerate(rows):
        values = list(r)
        for i in interned:
            v = values[i]
            values[i] = None if v is None else ids[v if isinstance(v, str) else str(v)]
        out.append(((first_id + n,) if first_id is not None else ()) + (host_id, bundle_id, *values))
    id_col = "id, " if first_id is not None else ""
    marks = ",".join("?" * (len(spec.columns) + 2 + (first_id is not None)))
    conn.executemany(f"INSERT INTO {spec.base} ({id_col}host_id, bundle_id, {', '.join(spec.names)})"
                     f" VALUES ({marks})", out)


def insert_findings(conn: sqlite3.Connection, rows: list[tuple]) -> None:
    """Fleet findings: (host_id, bundle_id, origin, rule, severity, title, reason, evidence,
    when_utc, off_network[, count, noise]) with text values."""
    width = len(FACTS["findings"].columns)
    for host_id, bundle_id, *rest in rows:
        insert_rows(conn, "findings", host_id, bundle_id, [(*rest, *(None,) * (width - len(rest)))])


def string_id(conn: sqlite3.Connection, value: str) -> int | None:
    row = conn.execute("SELECT id FROM strings WHERE value = ?", (value,)).fetchone()
    return row[0] if row else None


def record_bundle(conn: sqlite3.Connection, result: dict, summary: dict | None = None,
                  files: Iterable[dict] = ()) -> int:
    """Store one task result; returns the bundle id.

    result: the dict from :func:`triage.fleet.batch.analyze_task` (status, sha256, path, error...;
    for an ok bundle also ``host_info`` and ``rows``, prepared by the worker with
    :func:`summary_rows` so the parent only inserts). ``summary``/``files``: the same from a
    summary dict and manifest entries, for callers that have no worker result.
    """
    try:
        return _record_bundle(conn, result, summary, files)
    except BaseException:
        forget_cache(conn)  # the caller rolls back: ids added in this transaction are gone
        raise


def _record_bundle(conn: sqlite3.Connection, result: dict, summary: dict | None, files: Iterable[dict]) -> int:
    _forget_bundle(conn, result["sha256"])
    rows = result.get("rows")
    info = result.get("host_info")
    if summary is not None and rows is None:
        files = list(files)
        rows = summary_rows(summary, files)
        info = host_info(summary, files)
    info = info or {}
    host_id = None
    if rows is not None and result["status"] == "ok":
        ident = HostIdentity(info.get("name") or str(result.get("host")), info.get("reported"),
                             info.get("machine_sid"), info.get("machine_key"), info.get("evidence_key"))
        host_id = resolve_host(conn, ident, info.get("os"))
    bid = conn.execute(
        "INSERT INTO bundles (sha256, analyzer_version, path, size, status, error, host_id, host_dir,"
        " analyzed_utc, duration_s, cpu_s, peak_rss_bytes, worker, collection_started_utc, collection_finished_utc,"
        " evidence_key) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (result["sha256"], result["analyzer_version"], result["path"], result.get("size"), result["status"],
         result.get("error"), host_id, result.get("host_dir"), iso(utc_now()), result.get("duration_s"),
         result.get("cpu_s"), result.get("peak_rss_bytes"), result.get("worker"),
         info.get("started"), info.get("finished"), info.get("evidence_key") if host_id else None),
    ).lastrowid
    assert bid is not None, "an INSERT always sets lastrowid"
    insert_rows(conn, "issues", host_id, bid, [
        (i.get("severity", "error"), _text(i.get("message")), i.get("bundle_path"), i.get("locator"))
        for i in result.get("issues") or () if isinstance(i, dict)])
    if host_id is None or rows is None:  # a bundle that failed has no host and no rows
        return bid
    load_rows(conn, host_id, bid, rows)
    mark_copies(conn, host_id, info.get("evidence_key"))
    return bid


def load_rows(conn: sqlite3.Connection, host_id: int, bundle_id: int, rows: dict[str, list]) -> None:
    """Insert the rows :func:`summary_rows` prepared (also used by the schema-1 migration)."""
    for table, table_rows in rows.items():
        if table == "event_indicators":
            continue
        first = None
        if table == "events":  # explicit ids, so the indicators can point at their event
            first = (conn.execute("SELECT coalesce(max(id), 0) FROM events_rows").fetchone()[0] or 0) + 1
        insert_rows(conn, table, host_id, bundle_id, table_rows, first)
        if table == "events" and rows.get("event_indicators"):
            found = rows["event_indicators"]
            ids = intern(conn, (v for _, v in found))
            conn.executemany("INSERT INTO event_indicators (event_id, host_id, bundle_id, value) VALUES (?,?,?,?)",
                             [(first + n, host_id, bundle_id, ids[v]) for n, v in found])


def host_info(summary: dict, files: Iterable[dict] = ()) -> dict:
    """What the bundles and hosts rows need from a summary (and the manifest, for the evidence key)."""
    raw_host = summary.get("host")
    host = raw_host if isinstance(raw_host, dict) else {"hostname": raw_host}
    collection = (summary.get("bundle") or {}).get("collection") or {}
    name = fleet_host_name(summary)
    ident = identity_of(summary, name or "", files)
    return {"name": name, "os": _text(host.get("os")), "reported": _text(host.get("hostname")),
            "started": _text(collection.get("started")), "finished": _text(collection.get("finished")),
            "machine_sid": ident.machine_sid, "machine_key": ident.machine_key, "evidence_key": ident.evidence_key}


def stack_key(category: str | None, name: str | None, command_norm: str) -> str:
    """Services and tasks stack by name and command (the same svchost line hosts many services);
    other autoruns by their normalised command."""
    if category in ("service", "task"):
        return f"{(name or '').lower()} | {command_norm}"
    return command_norm


_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
_IPV6 = re.compile(r"(?<![0-9A-Fa-f:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![0-9A-Fa-f:.])")
# candidate host names: dotted runs of letters, digits and dashes ending in a label that starts with a letter
_NAME = re.compile(r"[a-z0-9][a-z0-9.-]*\.[a-z][a-z0-9-]*")
# Last labels that are file extensions, not top-level domains ('svchost.exe', 'system.evtx').
_NOT_TLD_WORDS = (
    "exe dll sys ps1 psm1 psd1 bat cmd vbs vbe js jse wsf hta lnk msi msc cpl scr ocx drv tmp log txt dat evtx etl"
    " ini inf xml json yml yaml cfg config db sqlite pf zip rar 7z cab gz tar iso img vhd vhdx docx doc xls xlsx"
    " pptx ppt pdf rtf png jpg jpeg gif bmp ico mui manifest mof pol reg local old bak")
_NOT_TLD = frozenset(_NOT_TLD_WORDS.split())


@lru_cache(maxsize=65536)
def _text_indicators(value: str) -> tuple[str, ...]:
    """IPs and domain names in one string (cached: account names, paths and addresses repeat)."""
    out = set()
    if "." in value:
        for m in _IPV4.finditer(value):
            try:
                out.add(str(ipaddress.ip_address(m.group(0))))
            except ValueError:
                pass
        low = value.lower()  # may differ in length from value (some capitals lower to two characters)
        for m in _NAME.finditer(low):
            name = m.group(0).rstrip(".-")
            start = m.start()
            if start and (low[start - 1].isalnum() or low[start - 1] == "_"):
                continue  # the tail of a longer token ('my_file.example'), not a name of its own
            labels = name.split(".")
            if (len(labels) < 2 or labels[-1] in _NOT_TLD or not 2 <= len(labels[-1]) <= 63
                    or any(not label or len(label) > 63 for label in labels) or labels[-1].isdigit()):
                continue
            out.add(name)
    if "::" in value or value.count(":") >= 2:
        for m in _IPV6.finditer(value):
            try:
                out.add(str(ipaddress.ip_address(m.group(0))))
            except ValueError:
                pass
    return tuple(out)


def indicators(value: Any, out: set[str] | None = None) -> set[str]:
    """IPs (canonical form) and domain names (lower case) found in an event's field values: what
    the IOC sweep matches against events, without keeping the whole fields dictionary."""
    out = set() if out is None else out
    if isinstance(value, dict):
        for v in value.values():
            indicators(v, out)
    elif isinstance(value, list | tuple):
        for v in value:
            indicators(v, out)
    elif isinstance(value, str) and 3 < len(value) < 8192:
        out.update(_text_indicators(value))
    return out


def _event_rows(events: list[dict]) -> tuple[list[tuple], list[tuple[int, str]]]:
    rows: list[tuple] = []
    found: list[tuple[int, str]] = []
    for n, e in enumerate(events):
        rows.append((_text(e.get("timestamp")), e.get("channel"), e.get("provider"), _int(e.get("event_id")),
                     _int(e.get("record_id")), e.get("computer"), e.get("category"), e.get("bundle_path"),
                     e.get("locator")))
        found.extend((n, v) for v in sorted(indicators(e.get("fields"))))
    return rows, found


def summary_rows(s: dict, files: Iterable[dict] = ()) -> dict[str, list[tuple]]:
    """The stackable parts of one summary.json (and the manifest's file hashes) as rows per table,
    in :data:`ROW_COLUMNS` order, text not yet interned (plus ``event_indicators``: (index of the
    event, value)); tolerant of missing keys. Runs in the worker, so the parent of a big batch only
    interns and inserts."""
    out: dict[str, list[tuple]] = {}
    out["autoruns"] = [
        (a.get("category"), a.get("location"), a.get("name"), a.get("command"), norm,
         stack_key(a.get("category"), a.get("name"), norm), a.get("user"), _text(a.get("last_write")),
         _text(a.get("details")), a.get("bundle_path"), a.get("locator"))
        for a in _dicts(s.get("autoruns")) for norm in (normalize_command(a.get("command")),)]
    rows: list[tuple] = []
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
         _text(d.get("start")), _text(d.get("end")), _int(d.get("received_bytes")), d.get("danger_type"),
         d.get("state"), d.get("bundle_path"), d.get("locator"))
        for d in _dicts(s.get("downloads"))]
    out["events"], out["event_indicators"] = _event_rows(_dicts(s.get("events")))
    out["yara_hits"] = [
        (y.get("rule"), y.get("namespace"), _text(y.get("tags")), y.get("target") or y.get("path") or y.get("bundle_path"),
         _text({k: v for k, v in y.items() if k not in ("rule", "namespace", "tags")}), y.get("bundle_path"))
        for y in _dicts(s.get("yara"))]
    raw_network = s.get("network")
    network = raw_network if isinstance(raw_network, dict) else {}
    out["off_network_windows"] = [
        (_text(w.get("start")), _text(w.get("end")), _text(w.get("reason") or w.get("why")))
        for w in _dicts(network.get("off_network_windows"))]
    out["findings"] = [  # known-benign noise is info whatever it says, so it never raises a score (score.py)
        ("host", f.get("rule"), "info" if is_noise(f) else f.get("severity"), f.get("title"), f.get("reason"), _text(f.get("evidence")),
         _text(f.get("when")), None if f.get("off_network") is None else int(bool(f.get("off_network"))),
         count_of(f), _text(f.get("noise")) if is_noise(f) else None)
        for f in _all_findings(s)]
    out["issues"] = [
        (i.get("severity"), _text(i.get("message")), i.get("bundle_path"), i.get("locator"))
        for i in _dicts(s.get("issues"))]
    out["artifact_items"] = artifact_item_rows(s.get("artifacts"))
    out["files"] = [
        (f.get("path"), normalize_path(f.get("path")), basename(f.get("path")), f.get("bundle_path"),
         f.get("artifact"), f.get("user"), _int(f.get("size")), (f.get("sha256") or "").lower() or None,
         (f.get("sha1") or "").lower() or None, (f.get("md5") or "").lower() or None,
         _text((f.get("times") or {}).get("modified")))
        for f in files]
    return out


def _all_findings(s: dict) -> Iterator[dict]:
    """The analyzer's findings, plus any other section's findings that carry a ``rule`` (the Sigma
    section, when the analyzer writes one): every finding is keyed by its rule in the store."""
    seen = set()
    for f in _dicts(s.get("findings")):
        seen.add((f.get("rule"), f.get("title"), _text(f.get("when"))))
        yield f
    sigma = s.get("sigma")
    matches = (sigma.get("findings") or sigma.get("matches")) if isinstance(sigma, dict) else sigma
    for f in _dicts(matches):
        if not (f.get("rule") or f.get("id")):
            continue
        f = {**f, "rule": f.get("rule") or f"sigma.{f.get('id')}", "title": f.get("title") or f.get("rule")}
        if (f["rule"], f["title"], _text(f.get("when"))) not in seen:  # not already among the findings
            yield f
