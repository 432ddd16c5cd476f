"""When each cached scheduled task was registered and last ran: SOFTWARE TaskCache ``DynamicInfo``.

Why: the TaskCache ``Tasks\\{GUID}`` key's binary ``DynamicInfo`` value is the Task Scheduler's own
bookkeeping: the task's registration (creation) time, its last run start, and (Windows 10+, 36-byte
value) its last successful completion, as FILETIMEs (UTC), plus the task state and the last action's
result code. These times survive deleting the task's XML and its event log records, and they put a
persistence on the timeline. One :class:`TaskCacheTimes` per task with at least one time; the
task's actions are listed by ``registry_taskcache.py`` (autoruns).

Layout (public research, e.g. the cyber.wtf and GhostTask write-ups; checked on the 28/36-byte values
Windows 7 and 10 write): u32 version, FILETIME created, FILETIME last run, u32 task state, u32 last
error/result, [FILETIME last successful run]. A value shorter than 28 bytes is reported, not guessed.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from triage.model import ArtifactRecord, Issue, Record
from triage.parsers.registry.autoruns import MAX_SUBKEYS, NTCV, Context
from triage.parsers.wintime import filetime_utc


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskCacheTimes(ArtifactRecord):
    """Registration and run times of one cached scheduled task (UTC)."""

    record_type: ClassVar[str] = "windows/registry/taskcache_times"
    artifact: ClassVar[str] = "task_cache_times"
    title: ClassVar[str] = "Scheduled task times (TaskCache DynamicInfo)"
    description: ClassVar[str] = (
        "Per cached scheduled task: when the Task Scheduler registered it, when it last started and last "
        "completed successfully (UTC, from the DynamicInfo value), with the last result code. Proves the "
        "scheduler held and ran the task then; not what the task did.")
    columns: ClassVar[tuple[tuple[str, str], ...]] = (
        ("task_path", "Task"), ("created", "Registered (UTC)"), ("last_run", "Last run (UTC)"),
        ("last_successful_run", "Last success (UTC)"), ("last_result", "Last result"))

    task_path: str
    task_id: str
    created: datetime | None
    last_run: datetime | None
    last_successful_run: datetime | None = None
    task_state: int | None = None
    last_result: str | None = None

    def times(self) -> list[tuple[datetime, str]]:
        out = []
        for t, what in ((self.created, "Scheduled task registered"), (self.last_run, "Scheduled task last run"),
                        (self.last_successful_run, "Scheduled task last successful run")):
            if t:
                out.append((t, what))
        return out

    def message(self) -> str:
        return f"Scheduled task {self.task_path} (result {self.last_result or '?'})"


def dynamic_info(data: bytes) -> dict[str, Any] | None:
    """DynamicInfo fields with aware UTC datetimes; None when the value is too short to hold them."""
    if len(data) < 28:
        return None
    _version, created, last_run, state, error = struct.unpack_from("<IQQII", data)
    out: dict[str, Any] = {"created": filetime_utc(created), "last_run": filetime_utc(last_run),
                           "task_state": state, "last_result": f"0x{error:08x}"}
    if len(data) >= 36:
        out["last_successful_run"] = filetime_utc(struct.unpack_from("<Q", data, 28)[0])
    return out


def cached_tasks(ctx: Context) -> Iterator[tuple[Any, dict[str, Any], str]]:
    """(Tasks\\{GUID} key, its values by lower-case name, task path) for each cached task (bounded)."""
    hive = ctx.hive
    tasks = hive.key(f"{NTCV}\\Schedule\\TaskCache\\Tasks")
    if tasks is None:
        return
    for sub in hive.subkeys(tasks)[:MAX_SUBKEYS]:
        vals = hive.value_map(sub)
        path = vals.get("path")
        yield sub, vals, path if isinstance(path, str) and path else sub.name()


def parse_task_cache_times(ctx: Context) -> Iterator[Record | Issue]:
    hive = ctx.hive
    for sub, vals, task_path in cached_tasks(ctx):
        raw = vals.get("dynamicinfo")
        if not isinstance(raw, bytes):
            continue
        locator = f"{hive.path(sub)}\\DynamicInfo"
        info = dynamic_info(raw)
        if info is None:
            yield ctx.item.issue(f"DynamicInfo of {sub.name()} is {len(raw)} bytes: too short to read",
                                 "warning", locator)
            continue
        if not (info["created"] or info["last_run"] or info.get("last_successful_run")):
            continue
        yield TaskCacheTimes(source=ctx.item.source(locator), task_path=task_path, task_id=sub.name(), **info)
