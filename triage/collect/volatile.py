"""Snapshot of the volatile state for --live, taken first because it changes fastest.

Running processes (path, command line, parent, user, start time, SHA-256 of the executable),
network connections with their owning process, logged-on users and, where the OS exposes it, the
DNS cache. An active C2 channel shows up here and nowhere on disk. psutil is used because it is
the well-kept cross-platform library for exactly this (Windows, Linux, macOS).
"""

from __future__ import annotations

import hashlib
import platform
import subprocess
from datetime import UTC, datetime

from triage.units import iso, utc_now

MAX_HASH_BYTES = 256 * 1024 * 1024


def _sha256_file(path: str, cache: dict[str, str | None]) -> str | None:
    if path in cache:
        return cache[path]
    digest = None
    try:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            read = 0
            while chunk := fh.read(1 << 20):
                h.update(chunk)
                read += len(chunk)
                if read > MAX_HASH_BYTES:
                    break
            else:
                digest = h.hexdigest()
    except OSError:
        digest = None
    cache[path] = digest
    return digest


def processes() -> list[dict]:
    import psutil

    out = []
    cache: dict[str, str | None] = {}
    attrs = ["pid", "ppid", "name", "exe", "cmdline", "username", "create_time", "status"]
    for proc in psutil.process_iter(attrs=attrs, ad_value=None):
        info = proc.info
        exe = info.get("exe")
        out.append({
            "pid": info["pid"], "ppid": info.get("ppid"), "name": info.get("name"), "exe": exe,
            "cmdline": info.get("cmdline"), "user": info.get("username"), "status": info.get("status"),
            "started": iso(datetime.fromtimestamp(info["create_time"], UTC)) if info.get("create_time") else None,
            "exe_sha256": _sha256_file(exe, cache) if exe else None,
        })
    return out


def connections() -> list[dict]:
    import psutil

    try:
        conns = psutil.net_connections(kind="inet")
    except (psutil.AccessDenied, PermissionError) as exc:
        return [{"error": f"access denied listing connections: {exc}"}]
    names: dict[int, str | None] = {}
    out = []
    for c in conns:
        if c.pid and c.pid not in names:
            try:
                names[c.pid] = psutil.Process(c.pid).name()
            except (psutil.Error, OSError):
                names[c.pid] = None
        out.append({
            "family": str(c.family.name), "type": str(c.type.name),
            "local": f"{c.laddr.ip}:{c.laddr.port}" if c.laddr else None,
            "remote": f"{c.raddr.ip}:{c.raddr.port}" if c.raddr else None,
            "status": c.status, "pid": c.pid, "process": names.get(c.pid) if c.pid else None,
        })
    return out


def logged_on_users() -> list[dict]:
    import psutil

    return [{"name": u.name, "terminal": u.terminal, "host": u.host,
             "started": iso(datetime.fromtimestamp(u.started, UTC)) if u.started else None, "pid": getattr(u, "pid", None)}
            for u in psutil.users()]


def dns_cache() -> dict:
    """Windows exposes its resolver cache through ``ipconfig /displaydns``; Linux keeps none by default."""
    if platform.system() != "Windows":
        return {"available": False, "reason": "this OS exposes no DNS resolver cache (systemd-resolved keeps it private)"}
    try:
        out = subprocess.run(["ipconfig", "/displaydns"], capture_output=True, timeout=30, check=False)
        text = out.stdout.decode("utf-8", "replace")
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"available": False, "reason": str(exc)}
    records: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if ". :" in line or line.endswith(":"):
            key, _, value = line.partition(":")
            key = key.strip(" .").lower()
            value = value.strip()
            if key.startswith("record name"):
                if current:
                    records.append(current)
                current = {"name": value}
            elif current and key:
                current[key.replace(" ", "_")] = value
    if current:
        records.append(current)
    return {"available": True, "records": records}


def snapshot() -> dict[str, object]:
    """Everything volatile, each part captured independently: one failing part never loses the others."""
    parts = {"processes": processes, "network": connections, "users": logged_on_users, "dns": dns_cache}
    out: dict[str, object] = {}
    for name, fn in parts.items():
        t = utc_now()
        try:
            data = fn()
            out[name] = {"captured": iso(t), "data": data}
        except Exception as exc:
            out[name] = {"captured": iso(t), "error": f"{type(exc).__name__}: {exc}"}
    return out
