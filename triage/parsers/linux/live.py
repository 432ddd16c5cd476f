"""The volatile snapshot of a live collection (volatile/processes.json, network.json, users.json).

Written by triage/collect/volatile.py at collection time, first, because it changes fastest:
processes (exe, command line, user, start time, SHA-256 of the image, whether the image was deleted
from disk while running), inet connections with their owning process, and logged-on users. These
are facts as of the snapshot's 'captured' time; the records carry it. The files come from the
suspect host: every field is type-checked, the file size and the item count are capped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from triage.model import ArtifactRecord, Issue, Record
from triage.parsers.base import ParseInput, Parser

MAX_SNAPSHOT_BYTES = 64 << 20
MAX_ITEMS = 200_000


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt.astimezone(UTC) if dt.tzinfo else None


def _str(value: Any) -> str | None:
    return value[:4096] if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveProcess(ArtifactRecord):
    record_type: ClassVar[str] = "live/process"
    artifact: ClassVar[str] = "live_processes"
    title: ClassVar[str] = "Running processes (live snapshot)"
    description: ClassVar[str] = (
        "Processes running when the collection started. 'exe_deleted': the image was deleted from disk "
        "while it ran (a dropper cleaning up). 'started' is the process start time (UTC).")
    columns: ClassVar[tuple[tuple[str, str], ...]] = (
        ("pid", "PID"), ("ppid", "PPID"), ("user", "User"), ("name", "Name"), ("exe", "Image"),
        ("exe_deleted", "Deleted"), ("cmdline", "Command line"), ("started", "Started (UTC)"))
    docs: ClassVar[dict[str, str]] = {
        "pid": "process id", "ppid": "parent process id", "name": "process name", "exe": "image path",
        "exe_deleted": "true when the image was deleted while running (/proc/<pid>/exe ends ' (deleted)')",
        "cmdline": "command line, arguments joined by spaces", "user": "user name",
        "started": "process start time, UTC", "exe_sha256": "SHA-256 of the image at collection time",
        "captured": "when the snapshot was taken, UTC"}
    pid: int | None
    ppid: int | None
    name: str | None
    exe: str | None
    exe_deleted: bool
    cmdline: str
    user: str | None
    started: datetime | None
    exe_sha256: str | None
    captured: datetime | None

    def times(self) -> list[tuple[datetime, str]]:
        return [(self.started, "Process started (live snapshot)")] if self.started else []

    def message(self) -> str:
        return f"process {self.pid} {self.user or '?'}: {(self.cmdline or self.exe or self.name or '')[:200]}"

    def execution(self) -> tuple[str, str | None, int | None, tuple[datetime, ...]] | None:
        image = self.exe or self.name
        if not image:
            return None
        name = image.replace("\\", "/").rsplit("/", 1)[-1]   # a Windows live snapshot has backslash paths
        return name, self.exe, None, (self.started,) if self.started else ()


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveConnection(ArtifactRecord):
    record_type: ClassVar[str] = "live/connection"
    artifact: ClassVar[str] = "live_connections"
    title: ClassVar[str] = "Network connections (live snapshot)"
    description: ClassVar[str] = "Inet sockets (listening and connected) with their owning process at collection."
    columns: ClassVar[tuple[tuple[str, str], ...]] = (
        ("status", "State"), ("local", "Local"), ("remote", "Remote"), ("pid", "PID"), ("process", "Process"),
        ("type", "Type"))
    docs: ClassVar[dict[str, str]] = {
        "family": "AF_INET/AF_INET6", "type": "SOCK_STREAM/SOCK_DGRAM", "local": "local address:port",
        "remote": "remote address:port", "status": "LISTEN, ESTABLISHED ...", "pid": "owning process id",
        "process": "owning process name", "captured": "when the snapshot was taken, UTC"}
    family: str | None
    type: str | None
    local: str | None
    remote: str | None
    status: str | None
    pid: int | None
    process: str | None
    captured: datetime | None

    def message(self) -> str:
        return f"{self.status} {self.local} -> {self.remote or '-'} ({self.process or self.pid})"


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveSession(ArtifactRecord):
    record_type: ClassVar[str] = "live/session"
    artifact: ClassVar[str] = "live_sessions"
    title: ClassVar[str] = "Logged-on users (live snapshot)"
    description: ClassVar[str] = "Sessions open at collection (utmp through psutil): who, on which terminal, from where."
    columns: ClassVar[tuple[tuple[str, str], ...]] = (("name", "User"), ("terminal", "Terminal"), ("host", "From"),
                                                      ("started", "Since (UTC)"), ("pid", "PID"))
    docs: ClassVar[dict[str, str]] = {"name": "user name", "terminal": "terminal", "host": "remote host",
                                      "started": "session start, UTC", "pid": "session process id",
                                      "captured": "when the snapshot was taken, UTC"}
    name: str | None
    terminal: str | None
    host: str | None
    started: datetime | None
    pid: int | None
    captured: datetime | None

    def times(self) -> list[tuple[datetime, str]]:
        return [(self.started, "Session started (live snapshot)")] if self.started else []

    def message(self) -> str:
        return f"session {self.name} on {self.terminal} from {self.host or '-'}"


def _process(src: Any, d: dict[str, Any], captured: datetime | None) -> LiveProcess:
    cmd = d.get("cmdline")
    cmdline = " ".join(x for x in cmd if isinstance(x, str)) if isinstance(cmd, list) else (_str(cmd) or "")
    return LiveProcess(source=src, pid=_int(d.get("pid")), ppid=_int(d.get("ppid")), name=_str(d.get("name")),
                       exe=_str(d.get("exe")), exe_deleted=d.get("exe_deleted") is True, cmdline=cmdline[:8192],
                       user=_str(d.get("user")), started=_time(d.get("started")),
                       exe_sha256=_str(d.get("exe_sha256")), captured=captured)


def _connection(src: Any, d: dict[str, Any], captured: datetime | None) -> LiveConnection:
    return LiveConnection(source=src, family=_str(d.get("family")), type=_str(d.get("type")),
                          local=_str(d.get("local")), remote=_str(d.get("remote")), status=_str(d.get("status")),
                          pid=_int(d.get("pid")), process=_str(d.get("process")), captured=captured)


def _session(src: Any, d: dict[str, Any], captured: datetime | None) -> LiveSession:
    return LiveSession(source=src, name=_str(d.get("name")), terminal=_str(d.get("terminal")),
                       host=_str(d.get("host")), started=_time(d.get("started")), pid=_int(d.get("pid")),
                       captured=captured)


_BUILDERS = {"processes": _process, "network": _connection, "users": _session}


class LiveSnapshotParser(Parser):
    name = "live_snapshot"
    patterns = ("volatile/processes.json", "volatile/network.json", "volatile/users.json")

    def parse(self, item: ParseInput) -> Iterator[Record | Issue]:
        part = item.rel_path.rsplit("/", 1)[-1].removesuffix(".json")
        with item.open() as fh:
            raw = fh.read(MAX_SNAPSHOT_BYTES + 1)
        if len(raw) > MAX_SNAPSHOT_BYTES:
            yield item.issue(f"snapshot larger than {MAX_SNAPSHOT_BYTES} bytes: not parsed")
            return
        try:
            doc = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            yield item.issue(f"snapshot is not valid JSON: {exc}")
            return
        if not isinstance(doc, dict):
            yield item.issue("snapshot is not a JSON object")
            return
        if isinstance(doc.get("error"), str):
            yield item.issue(f"the collector could not take this part: {doc['error'][:500]}", "warning")
        data = doc.get("data")
        if data is None:
            return
        if not isinstance(data, list):
            yield item.issue("snapshot 'data' is not a list")
            return
        captured, build = _time(doc.get("captured")), _BUILDERS[part]
        bad = 0
        for i, d in enumerate(data[:MAX_ITEMS]):
            if not isinstance(d, dict) or "error" in d:
                bad += 1
                continue
            yield build(item.source(f"data[{i}]"), d, captured)
        if bad:
            yield item.issue(f"{bad} item(s) are not objects or carry an error", "warning")
        if len(data) > MAX_ITEMS:
            yield item.issue(f"more than {MAX_ITEMS} items: the rest were not read", "warning")
