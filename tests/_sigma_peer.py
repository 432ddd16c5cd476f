"""A peer Sigma engine built the way Zircolite works, for the agreement tests and bench/sigma.py.

pySigma's SQLite backend converts each rule (with the Windows/Sysmon pipelines triage applies); an
event log's records are flattened (triage.sigma.flatten: one column per field, names folded to lower
case because SQLite's are case-insensitive) into an in-memory table whose text columns compare
without case (COLLATE NOCASE, as Zircolite builds it); each query is run on the table.

Why keep it: the issue asks for at least this peer's detections with no more false alarms. Its one
known difference is by design on our side: a query naming a column the table lacks fails as a whole
(SQLite: 'no such column'), so the peer is silent on a log where one branch or filter of a rule names
a field that log never has, where triage (as the issue asks) lets that field simply not match. Each
outcome therefore keeps the errors, so a rule only triage fires can be told apart from a disagreement.
"""

from __future__ import annotations

import copy
import json
import re
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Outcome:
    """One rule's result on one table: rows matched, and the errors of the queries that failed."""

    rows: int = 0
    queries: int = 0
    errors: list[str] = field(default_factory=list)


def convert(rule_dirs: Iterable[Path]) -> tuple[list[tuple[str, str]], int, float]:
    """Every rule under ``rule_dirs`` as SQLite queries: (rule id, query) pairs, the number of rules
    none of whose log variants converted, seconds."""
    from sigma.backends.sqlite import sqliteBackend
    from sigma.collection import SigmaCollection

    from triage.sigma.load import _pipelines, _variant_names

    backends = {name: sqliteBackend(processing_pipeline=p) for name, p in _pipelines().items()}
    backends["any"] = sqliteBackend()
    queries: list[tuple[str, str]] = []
    failed = 0
    t0 = time.perf_counter()
    for f in sorted(p for d in rule_dirs for p in Path(d).rglob("*.yml")):
        try:
            coll = SigmaCollection.from_yaml(f.read_text(encoding="utf-8"))
        except Exception:
            failed += 1
            continue
        for rule in coll.rules:
            ok = False
            for name in _variant_names(rule, []):
                try:
                    for q in backends[name].convert_rule(copy.deepcopy(rule)):
                        queries.append((str(rule.id), q))
                        ok = True
                except Exception:
                    pass
            failed += not ok
    return queries, failed, time.perf_counter() - t0


def table(files: Iterable[Path]) -> tuple[sqlite3.Connection, int]:
    """The records of ``files`` flattened into one in-memory table ``logs``; (connection, records).
    Records the engine cannot read are left out, as Zircolite leaves them."""
    from _sigma import log_records

    from triage.sigma.flatten import flatten

    rows: list[dict[str, str | None]] = []
    columns: dict[str, None] = {}
    for f in files:
        for rec in log_records(f):
            row = {k.lower(): v for k, v in flatten(json.loads(rec["data"])).items()}
            rows.append(row)
            for k in row:
                columns.setdefault(k, None)
    db = sqlite3.connect(":memory:")
    db.create_function("regexp", 2, lambda p, v: v is not None and re.search(p, str(v)) is not None,
                       deterministic=True)
    names = list(columns)
    quoted = [f'"{n.replace(chr(34), chr(34) * 2)}"' for n in names]
    db.execute("CREATE TABLE logs (row_id INTEGER PRIMARY KEY"
               + "".join(f", {q} TEXT COLLATE NOCASE" for q in quoted) + ")")
    if names:
        db.executemany(f"INSERT INTO logs ({', '.join(quoted)}) VALUES ({', '.join('?' for _ in names)})",
                       ([r.get(n) for n in names] for r in rows))
    return db, len(rows)


def run(db: sqlite3.Connection, queries: Iterable[tuple[str, str]]) -> dict[str, Outcome]:
    """Every query on the table: rule id -> its outcome (rules with no query left out)."""
    out: dict[str, Outcome] = {}
    for rid, q in queries:
        o = out.setdefault(rid, Outcome())
        o.queries += 1
        try:
            o.rows += len(db.execute(q).fetchall())
        except sqlite3.Error as exc:
            o.errors.append(str(exc))
    return out


def why_silent(peer: dict[str, Outcome], rule_id: str) -> str:
    """Why the peer fired no rule ``rule_id`` on its table: it never converted the rule, or a query
    failed (the first error: a column the table lacks); "" when every query ran and matched nothing."""
    o = peer.get(rule_id)
    if o is None:
        return "not converted by the peer"
    return f"the peer could not run it: {o.errors[0]}" if o.errors else ""


def compare(peer: dict[str, Outcome], ours: dict[str, int]) -> dict[str, list]:
    """triage's matches per rule id against the peer's on the same records: ``missed`` (the peer
    fired, triage did not), ``differ`` (both fired, other counts: rule, triage's, the peer's),
    ``extra`` (triage only: rule and :func:`why_silent`; "" there is a disagreement)."""
    fired = {r for r, o in peer.items() if o.rows}
    return {
        "missed": sorted(fired - set(ours)),
        "differ": sorted((r, ours[r], peer[r].rows) for r in fired & set(ours) if ours[r] != peer[r].rows),
        "extra": sorted((r, why_silent(peer, r)) for r in set(ours) - fired),
    }
