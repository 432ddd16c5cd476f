"""Task Scheduler operational log (Microsoft-Windows-TaskScheduler/Operational): task updated
(140), deleted (141), disabled (142), action started (200) and completed (201). Registration (106)
is in events.py. The Security log's 4698/4699/4702 are in security.py / events.py.
"""

from __future__ import annotations

from triage.parsers.evtx.event_types.common import Fields, const, typed
from triage.parsers.evtx.events import Spec

P = "microsoft-windows-taskscheduler"

_ACTION: Fields = {"task_name": "TaskName", "action": "ActionName", "instance_id": "TaskInstanceId",
           "result_code": "ResultCode", "enginepid": "EnginePID"}

SPECS: dict[tuple[str, int], Spec] = {
    (P, 140): typed("task_updated", "scheduled task {task_name} updated[ by {user}]",
                    {"task_name": "TaskName", "user": "UserName"}),
    (P, 141): typed("task_deleted", "scheduled task {task_name} deleted[ by {user}]",
                    {"task_name": "TaskName", "user": "UserName"}),
    (P, 142): typed("task_updated", "scheduled task {task_name} disabled[ by {user}]",
                    {"task_name": "TaskName", "user": "UserName"}, extra=const(change="disabled")),
    (P, 200): typed("task_run", "scheduled task {task_name} launched action {action}", _ACTION,
                    extra=const(stage="started")),
    (P, 201): typed("task_run", "scheduled task {task_name} completed action {action}[ (result {result_code})]",
                    _ACTION, ("result_code",), const(stage="completed")),
}

SKIP: dict = {}

WHEN = {"task_run": "Scheduled task action started/completed"}
