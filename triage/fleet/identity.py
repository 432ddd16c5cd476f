"""Who a bundle belongs to: a fleet host is more than the name its bundle declares.

Why: host names are self-declared by the machine being examined (or typed by an operator). Two
failure modes follow, and both were seen: (1) an attacker (or a careless copy) submits the same
evidence under several made-up names, so every finding of the victim looks "shared" by several
hosts and its score is diluted; (2) two different machines claim one name and are silently merged.

The model (documented in docs/fleet-schema.md, "Host identity"):

* ``machine_key``: a digest of what the host's own registry says about the machine -- the machine
  SID (the domain part of the local accounts in the SAM), the install date and the registry
  computer name. Stable across collections of one machine; absent when the hives were not read.
* ``evidence_key``: a digest of the set of SHA-256 of every file the bundle collected. Two bundles
  with the same evidence key hold the same evidence, whatever names they declare.
* A bundle joins the existing host of the same declared name when their machine keys agree (or one
  of them is unknown): a re-collection of that host. Same name, different machine key: a new host
  named ``NAME (2)``, both marked as sharing a declared name.
* A host whose evidence key equals another host's is a copy: it keeps its own row (it is shown,
  flagged), but ``machine_id`` points at the first host holding that evidence, and stacking and
  score sharing count machines, not rows -- extra bundles cannot dilute a score.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

_MACHINE_SID = re.compile(r"^(S-1-5-21-\d+-\d+-\d+)-(\d+)$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class HostIdentity:
    """What a bundle says about the machine it came from (all optional but the declared name)."""

    declared: str
    reported: str | None = None        # computer name in the host's own registry
    machine_sid: str | None = None
    machine_key: str | None = None
    evidence_key: str | None = None


def machine_sid(users: object) -> str | None:
    """The machine SID: the most common ``S-1-5-21-a-b-c`` prefix among accounts read from the SAM
    (local accounts; domain profiles listed in SOFTWARE carry the domain's SID instead)."""
    if not isinstance(users, list):
        return None
    prefixes: Counter[str] = Counter()
    for user in users:
        if not isinstance(user, dict) or not str(user.get("bundle_path") or "").upper().endswith("/SAM"):
            continue
        m = _MACHINE_SID.match(str(user.get("sid") or ""))
        if m:
            prefixes[m.group(1).upper()] += 1
    return prefixes.most_common(1)[0][0] if prefixes else None


def _digest(parts: Iterable[str]) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8", "surrogatepass") + b"\0")
    return h.hexdigest()[:32]


def identity_of(summary: dict, declared: str, files: Iterable[dict] = ()) -> HostIdentity:
    """The identity facts of one analyzed bundle (summary.json + manifest entries)."""
    raw_host = summary.get("host")
    host: dict = raw_host if isinstance(raw_host, dict) else {}
    reported = host.get("hostname") if isinstance(host.get("hostname"), str) else None
    sid = machine_sid(host.get("users"))
    raw_install = host.get("install_date")
    install: str = raw_install if isinstance(raw_install, str) else ""
    machine_key = _digest(("machine", sid, install, (reported or "").upper())) if sid else None
    hashes = sorted({str(f.get("sha256")).lower() for f in files if isinstance(f, dict) and f.get("sha256")})
    evidence_key = _digest(hashes) if hashes else None
    return HostIdentity(declared, reported, sid, machine_key, evidence_key)


def _unique_name(conn: sqlite3.Connection, declared: str) -> str:
    n = 2
    while conn.execute("SELECT 1 FROM hosts WHERE name = ?", (f"{declared} ({n})",)).fetchone():
        n += 1
    return f"{declared} ({n})"


def resolve_host(conn: sqlite3.Connection, ident: HostIdentity, os_name: str | None) -> int:
    """The host id a bundle with this identity belongs to (created when new); see the module doc."""
    same_name = conn.execute("SELECT id, machine_key FROM hosts WHERE declared_name = ? ORDER BY id",
                             (ident.declared,)).fetchall()
    for row in same_name:
        if row[1] is None or ident.machine_key is None or row[1] == ident.machine_key:
            conn.execute("UPDATE hosts SET os = coalesce(?, os), reported_name = coalesce(?, reported_name),"
                         " machine_sid = coalesce(machine_sid, ?), machine_key = coalesce(machine_key, ?)"
                         " WHERE id = ?", (os_name, ident.reported, ident.machine_sid, ident.machine_key, row[0]))
            return int(row[0])
    name = ident.declared
    note = None
    if same_name or conn.execute("SELECT 1 FROM hosts WHERE name = ?", (name,)).fetchone():
        name = _unique_name(conn, ident.declared)
        note = f"declared name {ident.declared!r} is also claimed by another machine (different machine SID)"
        conn.execute("UPDATE hosts SET identity_note = ? WHERE declared_name = ? AND identity_note IS NULL",
                     (note, ident.declared))
    host_id = conn.execute(
        "INSERT INTO hosts (name, declared_name, reported_name, os, machine_sid, machine_key, identity_note)"
        " VALUES (?,?,?,?,?,?,?)",
        (name, ident.declared, ident.reported, os_name, ident.machine_sid, ident.machine_key, note)).lastrowid
    conn.execute("UPDATE hosts SET machine_id = id WHERE id = ?", (host_id,))
    assert host_id is not None, "an INSERT always sets lastrowid"
    return int(host_id)


def mark_copies(conn: sqlite3.Connection, host_id: int, evidence_key: str | None) -> None:
    """When another host already holds a bundle with the same evidence, this host is a copy of it:
    ``machine_id`` points there (stacking and sharing count it once) and both rows say so."""
    if not evidence_key:
        return
    row = conn.execute("SELECT h.id, h.machine_id, h.name FROM bundles b JOIN hosts h ON h.id = b.host_id"
                       " WHERE b.evidence_key = ? AND b.host_id <> ? AND b.status = 'ok' ORDER BY h.id LIMIT 1",
                       (evidence_key, host_id)).fetchone()
    if row is None:
        return
    original, machine, original_name = row
    if original > host_id:  # keep the oldest row as the machine
        return
    name = conn.execute("SELECT name FROM hosts WHERE id = ?", (host_id,)).fetchone()[0]
    conn.execute("UPDATE hosts SET machine_id = ?, identity_note = coalesce(identity_note || '; ', '') || ?"
                 " WHERE id = ?",
                 (machine or original, f"same evidence as host {original_name!r}: a copy under another name,"
                  " counted once in stacking and scores", host_id))
    conn.execute("UPDATE hosts SET identity_note = coalesce(identity_note, ?) WHERE id = ?",
                 (f"its evidence was also submitted under the name {name!r}", original))
