"""Stacking (least frequency of occurrence) over the fleet store, and rare items as per-host findings.

Why: on a fleet, what is everywhere is usually the build image; what is on one host out of 240 is
what an analyst should look at first. Every stack counts *hosts* (not rows), so a program run a
thousand times on one host is still on one host. Each query is one GROUP BY on an indexed column
(see store.py) and must stay well under a second on a few hundred hosts.
"""

from __future__ import annotations

import json
import math
import sqlite3
from dataclasses import dataclass

# kind -> (what it is, table, item expression, filter, evidence columns, severity of a rare one)
STACKS: dict[str, tuple[str, str, str, str, str, str]] = {
    "autorun": ("autorun (by normalised command)", "autoruns", "stack_key",
                "category NOT IN ('service', 'task') AND stack_key <> ''",
                "category, location, name, command, user, last_write_utc, bundle_path, locator", "medium"),
    "service": ("service (name + image path)", "autoruns", "stack_key",
                "category = 'service'", "name, command, location, last_write_utc, bundle_path, locator", "medium"),
    "task": ("scheduled task (name + command)", "autoruns", "stack_key",
             "category = 'task'", "name, command, location, user, last_write_utc, bundle_path, locator", "medium"),
    "executable_name": ("executable (by name)", "executions", "executable_lc", "executable_lc <> ''",
                        "executable, path, run_count, last_run_utc, source, bundle_path, locator", "low"),
    "executable_path": ("executable (by path)", "executions", "path_norm", "path_norm <> ''",
                        "executable, path, run_count, last_run_utc, source, bundle_path, locator", "low"),
    "domain": ("browser domain", "browser_domains", "domain", "domain <> ''",
               "browser, user, domain, visits, bundle_path", "info"),
    "yara": ("YARA rule", "yara_hits", "rule", "rule IS NOT NULL",
             "rule, namespace, target, bundle_path", "high"),
}

MIN_FLEET_FOR_RARE = 5  # with fewer hosts, "on one host" says nothing


@dataclass(frozen=True, slots=True)
class StackItem:
    kind: str
    item: str
    hosts: int
    host_ids: tuple[int, ...]


def fleet_hosts(conn: sqlite3.Connection) -> int:
    """Hosts with at least one successfully analyzed bundle."""
    return conn.execute("SELECT COUNT(DISTINCT host_id) FROM bundles WHERE status = 'ok'").fetchone()[0]


def stack_sql(kind: str) -> str:
    _, table, expr, where, _, _ = STACKS[kind]
    return (f"SELECT {expr} AS item, COUNT(DISTINCT host_id) AS hosts, GROUP_CONCAT(DISTINCT host_id) AS host_ids"
            f" FROM {table} WHERE {where} GROUP BY item ORDER BY hosts ASC, item ASC")


def stack(conn: sqlite3.Connection, kind: str, max_hosts: int | None = None) -> list[StackItem]:
    """Every distinct item of one kind with the number of hosts it is on, rarest first."""
    sql = stack_sql(kind)
    if max_hosts is not None:
        sql = f"SELECT * FROM ({sql}) WHERE hosts <= {int(max_hosts)}"
    return [StackItem(kind, r[0], r[1], tuple(sorted(int(h) for h in str(r[2]).split(",") if h)))
            for r in conn.execute(sql)]


def rare_threshold(spec: str | int | None, total_hosts: int) -> int:
    """'--rare-threshold': a host count ('1') or a share of the fleet ('2%'); default 1% (at least 1)."""
    if spec is None or spec == "":
        return max(1, math.floor(total_hosts * 0.01))
    text = str(spec).strip()
    if text.endswith("%"):
        return max(1, math.floor(total_hosts * float(text[:-1]) / 100))
    value = int(text)
    if value < 1:
        raise ValueError(f"--rare-threshold must be at least 1 host: {spec!r}")
    return value


def record_rare(conn: sqlite3.Connection, threshold: int) -> dict[str, list[StackItem]]:
    """Recompute rare_items and the 'rare' findings (one per host and rare item) from scratch."""
    total = fleet_hosts(conn)
    conn.execute("DELETE FROM rare_items")
    conn.execute("DELETE FROM findings WHERE origin = 'rare'")
    rare: dict[str, list[StackItem]] = {}
    if total < MIN_FLEET_FOR_RARE:
        conn.commit()
        return rare
    names = {r[0]: r[1] for r in conn.execute("SELECT id, name FROM hosts")}
    for kind, (label, table, expr, where, cols, severity) in STACKS.items():
        items = stack(conn, kind, threshold)
        rare[kind] = items
        for it in items:
            conn.execute("INSERT INTO rare_items (kind, item, hosts, total_hosts, host_names) VALUES (?,?,?,?,?)",
                         (kind, it.item, it.hosts, total, json.dumps([names.get(h) for h in it.host_ids])))
            for host_id in it.host_ids:
                rows = conn.execute(
                    f"SELECT bundle_id, {cols} FROM {table} WHERE {where} AND host_id = ? AND {expr} = ? LIMIT 5",
                    (host_id, it.item)).fetchall()
                evidence = [{k: v for k, v in dict(r).items() if k != "bundle_id" and v is not None} for r in rows]
                when = max((e.get("last_write_utc") or e.get("last_run_utc") or "" for e in evidence), default="")
                conn.execute(
                    "INSERT INTO findings (host_id, bundle_id, origin, rule, severity, title, reason, evidence,"
                    " when_utc, off_network) VALUES (?,?,'rare',?,?,?,?,?,?,NULL)",
                    (host_id, rows[0]["bundle_id"] if rows else None, f"fleet.rare.{kind}", severity,
                     f"Rare {label}: {it.item}",
                     f"seen on {it.hosts} of {total} hosts (rare: on at most {threshold})",
                     json.dumps(evidence, ensure_ascii=False), when or None))
    conn.commit()
    return rare
