"""``triage fleet export --parquet DIR``: the fleet store and the hosts' timelines as Parquet files.

Why Parquet: at 10,000 hosts analysts want a columnar engine (DuckDB, pandas, Spark) rather than
SQLite row scans; Parquet is what all of them read without an import step. Every fact table is
written as its view reads (text joined back from ``strings``), one file per table, so a query reads
the same columns as in ``fleet.sqlite``; ``timeline/host=<name>/part.parquet`` holds each host's
``timeline.jsonl`` (one row per timeline entry, with the host and bundle SHA-256 for provenance),
so ``read_parquet('DIR/timeline/*/*.parquet', hive_partitioning=true)`` queries every host at once.

pyarrow is an optional extra (``pip install triage[export]``); without it the command says so.
Nothing is read from the bundles: the export needs only the fleet directory.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from triage.fleet.store import FACTS

BATCH_ROWS = 50_000
TABLES = ("hosts", "bundles", *FACTS, "rare_items", "ioc_matches")
TIMELINE_COLUMNS = ("datetime", "timestamp", "timestamp_desc", "message", "source", "record_type", "user",
                    "bundle_path", "locator")
_INT_COLUMNS = ("timestamp", "line")


@dataclass(frozen=True, slots=True)
class ExportResult:
    """What was written: rows per table file, timeline rows, problems met (each one a message)."""

    tables: dict[str, int]
    timeline_rows: int
    timeline_hosts: int
    issues: list[str]


def _batches(conn: sqlite3.Connection, table: str) -> Iterator[tuple[list[str], list[tuple]]]:
    cur = conn.execute(f"SELECT * FROM {table}")
    names = [d[0] for d in cur.description]
    while rows := cur.fetchmany(BATCH_ROWS):
        yield names, rows


def _arrow_type(conn: sqlite3.Connection, table: str, column: str):
    """Parquet column type from the store's declared type (views report none: take it from the data)."""
    import pyarrow as pa

    kinds = {r[0] for r in conn.execute(f"SELECT DISTINCT typeof({column}) FROM {table} LIMIT 5")} - {"null"}
    if kinds <= {"integer"} and kinds:
        return pa.int64()
    if kinds <= {"integer", "real"} and kinds:
        return pa.float64()
    return pa.string()


def _text(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True) if isinstance(value, dict | list) else str(value)


def export_table(conn: sqlite3.Connection, table: str, dest: Path) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = [d[0] for d in conn.execute(f"SELECT * FROM {table} LIMIT 0").description]
    schema = pa.schema([(n, _arrow_type(conn, table, n)) for n in names])
    count = 0
    tmp = dest.with_suffix(".parquet.tmp")
    with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
        for _, rows in _batches(conn, table):
            columns = list(zip(*rows, strict=True))
            arrays = []
            for field, values in zip(schema, columns, strict=True):
                if pa.types.is_string(field.type):
                    values = tuple(_text(v) for v in values)
                arrays.append(pa.array(values, type=field.type))
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
            count += len(rows)
    tmp.replace(dest)
    return count


def export_timeline(timeline: Path, host: str, sha256: str, dest: Path) -> tuple[int, list[str]]:
    """One host's timeline.jsonl as Parquet; lines that are not JSON objects are issues, not a crash."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns: dict[str, list] = {c: [] for c in (*TIMELINE_COLUMNS, "extra", "host", "bundle_sha256", "line")}
    issues = []
    with timeline.open("r", encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                entry = None
            if not isinstance(entry, dict):
                issues.append(f"{timeline}:{number}: not a JSON object, skipped")
                continue
            for c in TIMELINE_COLUMNS:
                v = entry.get(c)
                columns[c].append((v if isinstance(v, int) and not isinstance(v, bool) and abs(v) < 2**63 else None)
                                  if c in _INT_COLUMNS else _text(v))
            rest = {k: v for k, v in entry.items() if k not in TIMELINE_COLUMNS}
            columns["extra"].append(_text(rest) if rest else None)
            columns["host"].append(host)
            columns["bundle_sha256"].append(sha256)
            columns["line"].append(number)
    table = pa.table({k: pa.array(v, type=pa.int64() if k in _INT_COLUMNS else pa.string()) for k, v in columns.items()})
    dest.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, dest, compression="zstd")
    return table.num_rows, issues


def export_parquet(fleet_dir: Path, dest: Path, timelines: bool = True) -> ExportResult:
    """Write every table of ``fleet_dir/fleet.sqlite`` and every host's timeline under ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(f"file:{fleet_dir / 'fleet.sqlite'}?mode=ro", uri=True)
    try:
        tables = {t: export_table(conn, t, dest / f"{t}.parquet") for t in TABLES}
        rows = hosts = 0
        issues: list[str] = []
        if timelines:
            for name, sha, host_dir in conn.execute(
                    "SELECT h.name, b.sha256, b.host_dir FROM bundles b JOIN hosts h ON h.id = b.host_id"
                    " WHERE b.status = 'ok' AND b.host_dir IS NOT NULL ORDER BY h.name, b.id"):
                source = fleet_dir / host_dir / "timeline.jsonl"
                if not source.is_file():
                    issues.append(f"{name}: no timeline.jsonl in {host_dir}")
                    continue
                part = dest / "timeline" / f"host={_safe(name)}" / f"{sha[:12]}.parquet"
                n, problems = export_timeline(source, name, sha, part)
                rows, hosts, issues = rows + n, hosts + 1, issues + problems
        return ExportResult(tables, rows, hosts, issues)
    finally:
        conn.close()


def _safe(name: str) -> str:
    """A host name as one path segment (names are hostile: no separators, no dot-dot, bounded)."""
    text = "".join(c if c.isalnum() or c in "-_. ()" else "_" for c in name)[:100].strip(". ")
    return text or "_"
