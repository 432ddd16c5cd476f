"""What starts each cached scheduled task: one row per trigger of the SOFTWARE TaskCache ``Triggers`` value.

Why an artifact of its own: the autostart list says a task exists and what it runs; the triggers say
when (at every logon of any user, at boot, on an event-log query, every day at 03:00...), whether the
task and each trigger are enabled, whether the task is hidden, and as whom it runs - read from the
scheduler's own cache, which stays authoritative when the XML file was removed or edited. The decoder
(layout and sources) is ``taskcache_trigger_decode.py``; a value it cannot read is an Issue naming the
offset, with the triggers read before it kept.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from triage.model import ArtifactRecord, Issue, Record
from triage.parsers.registry.autoruns import Context
from triage.parsers.registry.taskcache_times import cached_tasks
from triage.parsers.registry.taskcache_trigger_decode import DecodedTriggers, decode_triggers
from triage.units import iso


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskTrigger(ArtifactRecord):
    """One trigger of one cached scheduled task."""

    record_type: ClassVar[str] = "windows/registry/taskcache_trigger"
    artifact: ClassVar[str] = "task_cache_triggers"
    title: ClassVar[str] = "Scheduled task triggers (TaskCache Triggers)"
    description: ClassVar[str] = (
        "Per trigger of each task the Task Scheduler caches in SOFTWARE: its type (time, logon, boot, idle, event, "
        "registration, session state, WNF state), schedule or condition, whether it and its task are enabled, "
        "whether the task is hidden, and the account the task runs as. Start/end boundaries are UTC when the "
        "task stores them as such; boundaries the task stores in the host's local time (no zone in the task "
        "XML) are zone-less text in the *_local columns and stay off the UTC timeline. Proves what the "
        "scheduler would start the task on; not that it ran (see the TaskCache times).")
    columns: ClassVar[tuple[tuple[str, str], ...]] = (
        ("task_path", "Task"), ("trigger_type", "Trigger"), ("condition", "Schedule / condition"),
        ("enabled", "Trigger enabled"), ("task_enabled", "Task enabled"), ("task_hidden", "Task hidden"),
        ("start_boundary", "Trigger start boundary (UTC)"), ("start_boundary_local", "Trigger start boundary (local)"),
        ("trigger_user", "Trigger user"), ("run_as", "Task runs as"))

    task_path: str
    task_id: str
    index: int
    trigger_type: str
    condition: str | None = None
    enabled: bool | None = None
    task_enabled: bool | None = None
    task_hidden: bool | None = None
    run_level_highest: bool | None = None
    start_boundary: datetime | None = None
    start_boundary_local: str | None = None
    end_boundary: datetime | None = None
    end_boundary_local: str | None = None
    delay_seconds: int | None = None
    repetition_interval_seconds: int | None = None
    repetition_duration_seconds: int | None = None
    execution_time_limit_seconds: int | None = None
    trigger_user: str | None = None
    run_as: str | None = None
    subscription: str | None = None
    trigger_id: str | None = None
    header_version: int | None = None

    def times(self) -> list[tuple[datetime, str]]:
        out = []
        if self.start_boundary:
            out.append((self.start_boundary, "Scheduled task trigger start boundary (activates)"))
        if self.end_boundary:
            out.append((self.end_boundary, "Scheduled task trigger end boundary (expires)"))
        return out

    def activity_times(self) -> list[tuple[datetime, str]]:
        return []  # a boundary is configuration (possibly in the future), not something done on the host

    def message(self) -> str:
        return f"Scheduled task {self.task_path}: {self.trigger_type} trigger {self.condition or ''}".rstrip()


def _who(sid: str | None, name: str | None) -> str | None:
    if sid and name:
        return f"{name} ({sid})"
    return name or sid


def _condition(t: dict[str, Any]) -> str | None:
    """One readable phrase for the trigger's schedule or condition."""
    kind = t["type"]
    parts: list[str] = []
    if kind == "time":
        parts.append(t.get("schedule") or "")
    elif kind == "event":
        parts.append(f"event query: {t.get('subscription') or '?'}")
    elif kind == "session_state_change":
        parts.append(t.get("session_state") or "")
    elif kind == "logon":
        parts.append(f"logon of {_who(t.get('user_sid'), t.get('user_name')) or 'any user'}")
    elif kind == "wnf_state_change":
        parts.append(f"WNF state {t.get('wnf_state_name')}")
    if t.get("delay_seconds"):
        parts.append(f"delay {t['delay_seconds']} s")
    if t.get("repetition_interval_seconds"):
        parts.append(f"repeat every {t['repetition_interval_seconds']} s")
    text = ", ".join(p for p in parts if p)
    return text or None


def trigger_summary(dec: DecodedTriggers) -> dict[str, Any]:
    """The decoded value as JSON-ready details for the task's Autorun (times as ISO-8601 text)."""
    out: dict[str, Any] = {"triggers_version": dec.version, "task_enabled": dec.enabled, "task_hidden": dec.hidden,
                           "run_as": _who(dec.user_sid, dec.user_name),
                           "triggers": [{"type": t["type"], "condition": _condition(t), "enabled": t.get("enabled"),
                                         "start_boundary": iso(t.get("start_boundary")),
                                         "start_boundary_local": t.get("start_boundary_local")}
                                        for t in dec.triggers]}
    if dec.error:
        out["triggers_error"] = dec.error
    return {k: v for k, v in out.items() if v is not None}


def task_triggers(ctx: Context, task_key: Any, task_path: str, raw: bytes) -> Iterator[Record | Issue]:
    """The TaskTrigger rows of one task's Triggers value, and an Issue if the value is malformed."""
    hive = ctx.hive
    locator = f"{hive.path(task_key)}\\Triggers"
    dec = decode_triggers(raw)
    run_as = _who(dec.user_sid, dec.user_name)
    for t in dec.triggers:
        yield TaskTrigger(
            source=ctx.item.source(f"{locator}#{t['index']}"), task_path=task_path, task_id=task_key.name(),
            index=t["index"], trigger_type=t["type"], condition=_condition(t), enabled=t.get("enabled"),
            task_enabled=dec.enabled, task_hidden=dec.hidden, run_level_highest=dec.run_level_highest,
            start_boundary=t.get("start_boundary"), start_boundary_local=t.get("start_boundary_local"),
            end_boundary=t.get("end_boundary"), end_boundary_local=t.get("end_boundary_local"),
            delay_seconds=t.get("delay_seconds"), repetition_interval_seconds=t.get("repetition_interval_seconds"),
            repetition_duration_seconds=t.get("repetition_duration_seconds"),
            execution_time_limit_seconds=t.get("execution_time_limit_seconds"),
            trigger_user=_who(t.get("user_sid"), t.get("user_name")), run_as=run_as,
            subscription=t.get("subscription"), trigger_id=t.get("trigger_id"), header_version=dec.version)
    if dec.error:
        yield ctx.item.issue(f"task {task_path}: Triggers value ({len(raw)} bytes) not fully decodable after "
                             f"{len(dec.triggers)} trigger(s): {dec.error}", severity="warning", locator=locator)


def parse_task_cache_triggers(ctx: Context) -> Iterator[Record | Issue]:
    for sub, vals, task_path in cached_tasks(ctx):
        raw = vals.get("triggers")
        if isinstance(raw, bytes) and raw:
            yield from task_triggers(ctx, sub, task_path, raw)
