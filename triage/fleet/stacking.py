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

from triage.fleet.store import insert_findings, string_id


def _ids(*values: str) -> str:
    """SQL for the ids of these interned strings (a sub-select: no id needed at import time)."""
    return "(SELECT id FROM strings WHERE value IN (" + ", ".join("'" + v + "'" for v in values) + "))"

# kind -> (what it is, table (a view of store.FACTS), item column (interned), filter on the base row r,
#          evidence columns, severity of a rare one: None = listed in rare_items and index.html, never a
#          finding — a home Wi-Fi name or a USB stick's serial is on one host by nature)
STACKS: dict[str, tuple[str, str, str, str, str, str | None]] = {
    "autorun": ("autorun (by normalised command)", "autoruns", "stack_key",
                f"r.category NOT IN {_ids('service', 'task')} AND r.stack_key NOT IN {_ids('')}",
                "category, location, name, command, user, last_write_utc, bundle_path, locator", "medium"),
    "service": ("service (name + image path)", "autoruns", "stack_key",
                f"r.category IN {_ids('service')}", "name, command, location, last_write_utc, bundle_path, locator",
                "medium"),
    "task": ("scheduled task (name + command)", "autoruns", "stack_key",
             f"r.category IN {_ids('task')}", "name, command, location, user, last_write_utc, bundle_path, locator",
             "medium"),
    "executable_name": ("executable (by name)", "executions", "executable_lc", f"r.executable_lc NOT IN {_ids('')}",
                        "executable, path, run_count, last_run_utc, source, bundle_path, locator", "low"),
    "executable_path": ("executable (by path)", "executions", "path_norm", f"r.path_norm NOT IN {_ids('')}",
                        "executable, path, run_count, last_run_utc, source, bundle_path, locator", "low"),
    "domain": ("browser domain", "browser_domains", "domain", f"r.domain NOT IN {_ids('')}",
               "browser, user, domain, visits, bundle_path", "info"),
    "yara": ("YARA rule", "yara_hits", "rule", "r.rule IS NOT NULL",
             "rule, namespace, target, bundle_path", "high"),
    "srum_app": ("application in SRUM (network / resource use)", "artifact_items", "item_norm",
                 f"r.artifact IN {_ids('srum_network', 'srum_app_usage')}",
                 "artifact, item, user, bundle_path, locator", "low"),
    "opened_target": ("LNK / JumpList target (file or program opened)", "artifact_items", "item_norm",
                      f"r.artifact IN {_ids('lnk_files', 'jumplists')}", "artifact, item, user, bundle_path, locator",
                      "info"),
    "defender_threat": ("Defender threat (DetectionHistory / MPLog)", "artifact_items", "item_norm",
                        f"r.artifact IN {_ids('defender_detections', 'defender_mplog')}",
                        "artifact, item, user, bundle_path, locator", "info"),
    "device_install": ("device / driver install (setupapi.dev.log)", "artifact_items", "item_norm",
                       f"r.artifact IN {_ids('setupapi_devices')}", "artifact, item, user, bundle_path, locator",
                       "info"),
    "bits_url": ("BITS queue URL", "artifact_items", "item_norm", f"r.artifact IN {_ids('bits_transfers')}",
                 "artifact, item, user, bundle_path, locator", "low"),
    "wmi_command": ("WMI consumer command", "artifact_items", "item_norm", f"r.artifact IN {_ids('wmi_persistence')}",
                    "artifact, item, user, bundle_path, locator", "medium"),
    "usb_serial": ("USB device serial (the same stick on several hosts: stack the common ones too)", "artifact_items",
                   "item_norm", f"r.artifact IN {_ids('usb_devices')}", "artifact, item, bundle_path, locator", None),
    "network_name": ("network name (NetworkList profile)", "artifact_items", "item_norm",
                     f"r.artifact IN {_ids('network_profiles')}", "artifact, item, bundle_path, locator", None),
    "user_location": ("share or folder a user mounted or typed (MountPoints2, TypedPaths)", "artifact_items",
                      "item_norm", f"r.artifact IN {_ids('mountpoints2', 'typedpaths')}",
                      "artifact, item, user, bundle_path, locator", None),
    "run_dialog": ("Run dialog command (RunMRU)", "artifact_items", "item_norm", f"r.artifact IN {_ids('runmru')}",
                   "artifact, item, user, bundle_path, locator", None),
    "muicache_program": ("program named in MUICache (it ran for that user)", "artifact_items", "item_norm",
                         f"r.artifact IN {_ids('muicache')}", "artifact, item, user, bundle_path, locator", None),
    "timeline_app": ("application in Windows Timeline", "artifact_items", "item_norm",
                     f"r.artifact IN {_ids('timeline_activities')}", "artifact, item, user, bundle_path, locator",
                     None),
}

MIN_FLEET_FOR_RARE = 5  # with fewer hosts, "on one host" says nothing


@dataclass(frozen=True, slots=True)
class StackItem:
    kind: str
    item: str
    hosts: int                     # machines the item is on (a copy of another host's evidence counts once)
    host_ids: tuple[int, ...]      # every host row holding it


def fleet_hosts(conn: sqlite3.Connection) -> int:
    """Machines with at least one successfully analyzed bundle (copies of one machine's evidence
    under other names count once; see identity.py)."""
    return conn.execute("SELECT COUNT(DISTINCT coalesce(h.machine_id, h.id)) FROM bundles b"
                        " JOIN hosts h ON h.id = b.host_id WHERE b.status = 'ok'").fetchone()[0]


def stack_sql(kind: str) -> str:
    """One GROUP BY over the integer column of the base rows (indexed), the text joined afterwards."""
    _, table, col, where, _, _ = STACKS[kind]
    return (f"SELECT s.value AS item, g.hosts, g.host_ids FROM ("
            f"SELECT r.{col} AS sid, COUNT(DISTINCT coalesce(h.machine_id, h.id)) AS hosts,"
            f" GROUP_CONCAT(DISTINCT r.host_id) AS host_ids"
            f" FROM {table}_rows r JOIN hosts h ON h.id = r.host_id WHERE {where} GROUP BY r.{col}"
            f") g JOIN strings s ON s.id = g.sid ORDER BY g.hosts ASC, item ASC")


def stack(conn: sqlite3.Connection, kind: str, max_hosts: int | None = None) -> list[StackItem]:
    """Every distinct item of one kind with the number of hosts it is on, rarest first."""
    sql = stack_sql(kind)
    if max_hosts is not None:
        sql = f"SELECT * FROM ({sql}) WHERE hosts <= {int(max_hosts)}"
    return [StackItem(kind, r[0], r[1], tuple(sorted(int(h) for h in str(r[2]).split(",") if h)))
            for r in conn.execute(sql)]


def rare_threshold(spec: str | int | None, total_hosts: int) -> int:
    """'--rare-threshold': a host count ('1') or a share of the fleet ('2%'); default 1% (at least 1).
    Never more than majority_cap(total_hosts): what most of the fleet has is not rare."""
    if spec is None or spec == "":
        return max(1, math.floor(total_hosts * 0.01))
    text = str(spec).strip()
    if text.endswith("%"):
        return min(max(1, math.floor(total_hosts * float(text[:-1]) / 100)), majority_cap(total_hosts))
    value = int(text)
    if value < 1:
        raise ValueError(f"--rare-threshold must be at least 1 host: {spec!r}")
    return min(value, majority_cap(total_hosts))


def majority_cap(total_hosts: int) -> int:
    """The most hosts a rare item may be on: fewer than half the fleet (at least 1). Why: rarity is
    relative to the fleet's size; '--rare-threshold 5' on a 6-host fleet would otherwise call an
    autostart that 5 of 6 hosts share (the build image's updater) rare."""
    return max(1, (total_hosts - 1) // 2)


def record_rare(conn: sqlite3.Connection, threshold: int) -> dict[str, list[StackItem]]:
    """Recompute rare_items and the 'rare' findings (one per host and rare item) from scratch."""
    total = fleet_hosts(conn)
    conn.execute("DELETE FROM rare_items")
    conn.execute("DELETE FROM findings_rows WHERE origin = 'rare'")
    rare: dict[str, list[StackItem]] = {}
    if total < MIN_FLEET_FOR_RARE:
        conn.commit()
        return rare
    threshold = min(threshold, majority_cap(total))
    names = {r[0]: r[1] for r in conn.execute("SELECT id, name FROM hosts")}
    found = []
    for kind, (label, table, col, where, cols, severity) in STACKS.items():
        items = stack(conn, kind, threshold)
        rare[kind] = items
        for it in items:
            conn.execute("INSERT INTO rare_items (kind, item, hosts, total_hosts, host_names) VALUES (?,?,?,?,?)",
                         (kind, it.item, it.hosts, total, json.dumps([names.get(h) for h in it.host_ids])))
            if severity is None:
                continue
            sid = string_id(conn, it.item)
            for host_id in it.host_ids:
                rows = conn.execute(
                    f"SELECT bundle_id, {cols} FROM {table} WHERE id IN (SELECT r.id FROM {table}_rows r"
                    f" WHERE {where} AND r.host_id = ? AND r.{col} = ? ORDER BY r.id LIMIT 5) ORDER BY id",
                    (host_id, sid)).fetchall()
                evidence = [{k: v for k, v in dict(r).items() if k != "bundle_id" and v is not None} for r in rows]
                when = max((e.get("last_write_utc") or e.get("last_run_utc") or "" for e in evidence), default="")
                found.append((host_id, rows[0][0] if rows else None, "rare", f"fleet.rare.{kind}",
                              severity, f"Rare {label}: {it.item}",
                              f"seen on {it.hosts} of {total} hosts (rare: on at most {threshold})",
                              json.dumps(evidence, ensure_ascii=False), when or None, None))
    insert_findings(conn, found)
    conn.commit()
    return rare
