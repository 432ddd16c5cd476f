"""System log: service configuration and state (Service Control Manager 7040/7034/7036) and the
event log service's own start/stop/unexpected-shutdown markers (EventLog 6005/6006/6008).

7036 and 7040 name the service by its display name (param1); 7040's param4 is the service key
name. 6008 logs the time of the previous, unexpected shutdown as *local* date and time strings
(with invisible left-to-right marks): kept as zone-less text in ``previous_shutdown_local``, never
converted (the log does not say which time zone).
"""

from __future__ import annotations

from typing import Any

from triage.parsers.evtx.event_types.common import chain, const, typed
from triage.parsers.evtx.events import Spec, clean, text

SCM = "service control manager"
EVENTLOG = "eventlog"


def _unexpected(data: dict[str, Any], f: dict[str, Any]) -> None:
    items = data.get("Data")
    items = items if isinstance(items, list) else [items]
    vals = [clean(text(x).replace("\u200e", "").replace("\u200f", "")) if isinstance(text(x), str) else None
            for x in items[:2]]
    f["previous_shutdown_local"] = " ".join(v for v in vals if v) or None


SPECS: dict[tuple[str, int], Spec] = {
    (SCM, 7040): typed("service_config", "start type of service {service} changed from {old_start_type} to "
                       "{new_start_type}[ (key {service_key})]",
                       {"service": "param1", "old_start_type": "param2", "new_start_type": "param3",
                        "service_key": "param4"}),
    (SCM, 7034): typed("service_state", "service {service} terminated unexpectedly[ ({count} times)]",
                       {"service": "param1", "count": "param2"}, ("count",), const(state="crashed")),
    (SCM, 7036): typed("service_state", "service {service} entered the {state} state",
                       {"service": "param1", "state": "param2"}),
    (EVENTLOG, 6005): typed("boot", "event log service started (system start)", {}, extra=const(action="started")),
    (EVENTLOG, 6006): typed("boot", "event log service stopped (clean shutdown)", {}, extra=const(action="stopped")),
    (EVENTLOG, 6008): typed("boot", "previous shutdown was unexpected[ (at {previous_shutdown_local}, local time)]",
                            {}, extra=chain(_unexpected, const(action="unexpected_shutdown"))),
}

SKIP: dict = {}

WHEN = {"service_config": "Service start type changed", "service_state": "Service state changed",
        "boot": "Event log service start/stop (boot, shutdown)"}
