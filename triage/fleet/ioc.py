"""Indicators of compromise: read them (typed lines, CSV, STIX 2.1 bundles) and sweep the fleet store.

Why several formats: IOCs arrive as a pasted list from a colleague, a CSV export from a TIP, or a
STIX bundle from a sharing community; each analyst should be able to use what they were given
without converting it. A line that cannot be understood is an issue (reported with its line
number), never a silent skip and never the end of the sweep.

Types: md5, sha1, sha256 (or ``hash:`` with the type taken from the length), filename, path,
domain, ip, url, regval (substring of a registry autorun's name, command or key).
STIX: only equality comparisons (``[object:path = 'value']``) are read; each comparison of a
pattern becomes one IOC (OR semantics: an AND pattern matches more widely than STIX would).
"""

from __future__ import annotations

import csv
import io
import ipaddress
import json
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from triage.fleet.normalize import basename, domain_of, normalize_path
from triage.fleet.store import insert_findings

TYPES = ("md5", "sha1", "sha256", "filename", "path", "domain", "ip", "url", "regval")
_ALIASES = {
    "md5": "md5", "sha1": "sha1", "sha-1": "sha1", "sha256": "sha256", "sha-256": "sha256", "hash": "hash",
    "filename": "filename", "file": "filename", "name": "filename", "file_name": "filename",
    "path": "path", "filepath": "path", "file_path": "path",
    "domain": "domain", "fqdn": "domain", "hostname": "domain", "domain-name": "domain",
    "ip": "ip", "ipv4": "ip", "ipv6": "ip", "ip-addr": "ip", "ipv4-addr": "ip", "ipv6-addr": "ip",
    "url": "url", "uri": "url",
    "regval": "regval", "registry": "regval", "reg": "regval", "regkey": "regval", "command": "regval",
}
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_HASH_BY_LEN = {32: "md5", 40: "sha1", 64: "sha256"}
_STIX_CMP = re.compile(r"([a-z0-9-]+):([A-Za-z0-9_.'*\[\]-]+)\s*(=|!=|MATCHES|LIKE|IN)\s*'((?:[^'\\]|\\.)*)'")
_STIX_PATHS = {
    ("file", "hashes.'sha-256'"): "sha256", ("file", "hashes.sha256"): "sha256",
    ("file", "hashes.'sha-1'"): "sha1", ("file", "hashes.sha1"): "sha1",
    ("file", "hashes.md5"): "md5", ("file", "hashes.'md5'"): "md5",
    ("file", "name"): "filename", ("file", "parent_directory_ref.path"): "path", ("directory", "path"): "path",
    ("domain-name", "value"): "domain", ("ipv4-addr", "value"): "ip", ("ipv6-addr", "value"): "ip",
    ("url", "value"): "url", ("windows-registry-key", "key"): "regval",
    ("windows-registry-key", "values[*].data"): "regval", ("windows-registry-key", "values[*].name"): "regval",
    ("process", "command_line"): "regval", ("process", "name"): "filename",
}


@dataclass(frozen=True, slots=True)
class Ioc:
    type: str
    value: str
    source: str   # 'file.txt:12' or 'bundle.json indicator--...'


@dataclass(frozen=True, slots=True)
class IocMatch:
    ioc: Ioc
    host_id: int
    host: str
    bundle_id: int | None
    table: str
    matched_value: str
    evidence: dict


def make_ioc(kind: str, value: str, source: str) -> Ioc:
    """Validate and canonicalise one IOC; raises ValueError saying what is wrong."""
    t = _ALIASES.get(kind.strip().lower())
    v = value.strip().strip('"')
    if t is None:
        raise ValueError(f"unknown IOC type {kind!r} (known: {', '.join(TYPES)})")
    if not v:
        raise ValueError("empty IOC value")
    if t == "hash":
        t = _HASH_BY_LEN.get(len(v), "")
        if not t:
            raise ValueError(f"not an MD5/SHA-1/SHA-256: {v!r}")
    if t in ("md5", "sha1", "sha256"):
        if not _HEX.match(v) or len(v) != {"md5": 32, "sha1": 40, "sha256": 64}[t]:
            raise ValueError(f"not a {t}: {v!r}")
        v = v.lower()
    elif t == "ip":
        v = str(ipaddress.ip_address(v))
    elif t == "domain":
        v = domain_of(v)
    elif t == "filename":
        v = basename(v)
    return Ioc(t, v, source)


def _guess(value: str, source: str) -> Ioc:
    v = value.strip()
    if _HEX.match(v) and len(v) in _HASH_BY_LEN:
        return make_ioc(_HASH_BY_LEN[len(v)], v, source)
    try:
        return make_ioc("ip", v, source)
    except ValueError:
        raise ValueError(f"no type for {v!r}: write it as TYPE:VALUE (types: {', '.join(TYPES)})") from None


def parse_stix(data: dict, name: str) -> tuple[list[Ioc], list[str]]:
    """Indicators of a STIX 2.1 bundle (or a single indicator object)."""
    iocs, issues = [], []
    objects = data.get("objects") if data.get("type") == "bundle" else [data]
    for obj in objects or []:
        if not isinstance(obj, dict) or obj.get("type") != "indicator":
            continue
        ident = f"{name} {obj.get('id', '?')}"
        if obj.get("pattern_type", "stix") != "stix":
            issues.append(f"{ident}: pattern_type {obj.get('pattern_type')!r} is not read (only 'stix')")
            continue
        found = 0
        for m in _STIX_CMP.finditer(str(obj.get("pattern", ""))):
            obj_type, path, op, raw = m.group(1).lower(), m.group(2).lower(), m.group(3), m.group(4)
            value = re.sub(r"\\(.)", r"\1", raw)
            kind = _STIX_PATHS.get((obj_type, path))
            if op != "=" or kind is None:
                issues.append(f"{ident}: comparison {m.group(0)!r} is not read (only '=' on known paths)")
                continue
            try:
                iocs.append(make_ioc(kind, value, ident))
                found += 1
            except ValueError as exc:
                issues.append(f"{ident}: {exc}")
        if not found:
            issues.append(f"{ident}: no usable comparison in pattern {str(obj.get('pattern'))[:200]!r}")
    return iocs, issues


def parse_ioc_text(text: str, name: str) -> tuple[list[Ioc], list[str]]:
    """Typed lines ('sha256:...', 'domain:evil.example'), CSV 'type,value' rows, or bare hashes/IPs."""
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            return parse_stix(json.loads(stripped), name)
        except json.JSONDecodeError as exc:
            return [], [f"{name}: looks like JSON but is not: {exc}"]
    iocs, issues = [], []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{name}:{number}"
        m = re.match(r"^([A-Za-z][A-Za-z0-9_-]*)\s*:\s*(.+)$", line)
        try:
            if m and (m.group(1).lower() in _ALIASES or len(m.group(1)) > 1):  # 'C:\...' is a path, not a type
                iocs.append(make_ioc(m.group(1), m.group(2), where))
            elif "," in line:
                row = next(csv.reader(io.StringIO(line)))
                if [c.strip().lower() for c in row[:2]] == ["type", "value"]:
                    continue
                if len(row) < 2:
                    raise ValueError("CSV rows are: type,value")
                iocs.append(make_ioc(row[0], row[1], where))
            else:
                iocs.append(_guess(line, where))
        except ValueError as exc:
            issues.append(f"{where}: {exc}")
    return iocs, issues


def load_ioc_file(path: Path) -> tuple[list[Ioc], list[str]]:
    try:
        text = Path(path).read_text(encoding="utf-8-sig", errors="replace")
    except OSError as exc:
        return [], [f"{path}: cannot read: {exc}"]
    return parse_ioc_text(text, Path(path).name)


def _q(table: str, matched: str, cols: str, where: str, params: tuple) -> tuple[str, str, tuple]:
    """A query on a fact view whose rows are chosen on the base table's interned ids (``where`` is
    about ``r``, a row of ``{table}_rows``; ``S(...)`` there means the ids of matching strings)."""
    where = where.replace("S(", "(SELECT id FROM strings WHERE ")
    return (table, f"SELECT host_id, bundle_id, {matched} AS matched, {cols} FROM {table}"
                   f" WHERE id IN (SELECT r.id FROM {table}_rows r WHERE {where}) ORDER BY id", params)


_EVENT_COLS = "timestamp_utc, channel, provider, event_id, record_id, bundle_path, locator"


def _event_query(where_value: str, params: tuple) -> tuple[str, str, tuple]:
    """Events whose fields held a matching IP or domain (``event_indicators``)."""
    return ("events", "SELECT e.host_id, e.bundle_id, s.value AS matched, s.value AS indicator,"
                      f" {', '.join('e.' + c for c in _EVENT_COLS.split(', '))}"
                      " FROM event_indicators i JOIN strings s ON s.id = i.value JOIN events e ON e.id = i.event_id"
                      f" WHERE i.value IN (SELECT id FROM strings WHERE {where_value}) ORDER BY e.id", params)


def _queries(ioc: Ioc) -> list[tuple[str, str, tuple]]:
    """(table, SQL selecting host_id, bundle_id, matched, evidence columns..., params) for one IOC."""
    v = ioc.value
    low = v.lower()
    if ioc.type in ("md5", "sha1", "sha256"):
        q = [_q("files", "path", "path, bundle_path, size, sha256, md5, sha1", f"r.{ioc.type} IN S(value = ?)", (v,))]
        if ioc.type == "sha1":  # Amcache keeps SHA-1 as '0000' + sha1
            q.append(_q("executions", "path", "executable, path, source, bundle_path, locator",
                        "r.sha1 IN S(lower(value) IN (?, ?))", (v, "0000" + v)))
        return q
    if ioc.type == "filename":
        return [
            _q("files", "path", "path, bundle_path, sha256", "r.name_lc IN S(value = ?)", (v,)),
            _q("executions", "executable", "executable, path, source, bundle_path, locator",
               "r.executable_lc IN S(value = ?)", (v,)),
            _q("autoruns", "command", "category, name, command, location, bundle_path, locator",
               "r.command_norm IN S(instr(value, ?) > 0)", (v,)),
            _q("downloads", "target_path", "url, target_path, bundle_path, locator",
               "r.target_path IN S(lower(value) LIKE '%' || ?)", (v,)),
        ]
    if ioc.type == "path":
        p = normalize_path(v)
        return [
            _q("files", "path", "path, bundle_path, sha256", "r.path_norm IN S(value = ?)", (p,)),
            _q("executions", "path", "executable, path, source, bundle_path, locator",
               "r.path_norm IN S(value = ?)", (p,)),
            _q("autoruns", "command", "category, name, command, location, bundle_path, locator",
               "r.command_norm IN S(instr(value, ?) > 0)", (p,)),
            _q("downloads", "target_path", "url, target_path, bundle_path, locator",
               "r.target_path IN S(lower(value) = ?)", (low,)),
        ]
    if ioc.type == "domain":
        return [
            _q("browser_domains", "domain", "browser, user, domain, visits, bundle_path",
               "r.domain IN S(value = ? OR value LIKE '%.' || ?)", (v, v)),
            _q("downloads", "url", "url, target_path, bundle_path, locator",
               "r.domain IN S(value = ? OR value LIKE '%.' || ?)", (v, v)),
            _event_query("value = ? OR value LIKE '%.' || ?", (v, v)),
        ]
    if ioc.type == "ip":
        return [
            _event_query("value = ?", (v,)),
            _q("downloads", "url", "url, target_path, bundle_path, locator", "r.domain IN S(value = ?)", (v,)),
        ]
    if ioc.type == "url":
        return [_q("downloads", "url", "url, target_path, bundle_path, locator",
                   "r.url IN S(instr(lower(value), ?) > 0)", (low,))]
    # regval: substring of a registry autorun's value name, data or key
    return [_q("autoruns", "command", "category, location, name, command, user, last_write_utc, bundle_path, locator",
               "r.command IN S(instr(lower(value), ?) > 0) OR r.name IN S(instr(lower(value), ?) > 0)"
               " OR r.location IN S(instr(lower(value), ?) > 0)", (low, low, low))]


def sweep(conn: sqlite3.Connection, iocs: list[Ioc]) -> list[IocMatch]:
    """Match every IOC against the store; record ioc_matches and one 'ioc' finding per host and IOC."""
    conn.execute("DELETE FROM ioc_matches")
    conn.execute("DELETE FROM findings_rows WHERE origin = 'ioc'")
    names = {r[0]: r[1] for r in conn.execute("SELECT id, name FROM hosts")}
    matches: list[IocMatch] = []
    for ioc in dict.fromkeys(iocs):
        per_host: dict[int, list[IocMatch]] = {}
        for table, sql, params in _queries(ioc):
            for row in conn.execute(sql, params):
                evidence = {k: v for k, v in dict(row).items() if k not in ("host_id", "bundle_id", "matched")
                            and v is not None}
                m = IocMatch(ioc, row["host_id"], names.get(row["host_id"], "?"), row["bundle_id"], table,
                             str(row["matched"]), evidence)
                matches.append(m)
                per_host.setdefault(m.host_id, []).append(m)
        for host_id, host_matches in per_host.items():
            conn.executemany(
                "INSERT INTO ioc_matches (host_id, bundle_id, ioc_type, ioc_value, ioc_source, matched_table,"
                " matched_value, evidence) VALUES (?,?,?,?,?,?,?,?)",
                [(m.host_id, m.bundle_id, ioc.type, ioc.value, ioc.source, m.table, m.matched_value,
                  json.dumps(m.evidence, ensure_ascii=False, default=str)) for m in host_matches])
            insert_findings(conn, [(
                host_id, host_matches[0].bundle_id, "ioc", f"fleet.ioc.{ioc.type}", "high",
                f"IOC match: {ioc.type} {ioc.value}",
                f"{len(host_matches)} match(es) in {', '.join(sorted({m.table for m in host_matches}))}"
                f" (IOC from {ioc.source})",
                json.dumps([m.evidence for m in host_matches[:10]], ensure_ascii=False, default=str), None, None)])
    conn.commit()
    return matches
