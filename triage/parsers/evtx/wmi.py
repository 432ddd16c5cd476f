"""WMI-Activity/Operational events 5857-5861, typed (category 'wmi').

Why: 5861 is Windows' own record of a permanent event subscription being registered (the consumer
class and its command line / script are in ``CONSUMER`` and ``PossibleCause``), 5860 a temporary
one, 5859 a provider's notification query, 5858 a failed WMI operation (lateral movement and
reconnaissance attempts show up as errors), 5857 a provider DLL loaded into a WMI host process (a
malicious provider is a persistence too). Field names follow the provider's manifest (UserData
elements, flattened by ``events.payload_data``).

These specs join ``events.NOTABLE`` when this module is imported (at the end of events.py), so
the event parser types them like every other notable event.
"""

from __future__ import annotations

from typing import Any

from triage.parsers.evtx.events import Spec, _s

PROVIDER = "microsoft-windows-wmi-activity"
MAX_TEXT = 4096


def _cut(data: dict[str, Any], f: dict[str, Any]) -> None:
    for k, v in list(f.items()):
        if isinstance(v, str) and len(v) > MAX_TEXT:
            f[k] = v[:MAX_TEXT]


WMI_ACTIVITY: dict[tuple[str, int], Spec] = {
    (PROVIDER, 5857): Spec(
        "wmi", lambda f: f"WMI provider {_s(f['provider'])} started in {_s(f['host_process'])} "
        f"(pid {_s(f['pid'])}) from {_s(f['provider_path'])}",
        {"provider": "ProviderName", "code": "Code", "host_process": "HostProcess", "pid": "ProcessID",
         "provider_path": "ProviderPath"}, ("pid",), _cut),
    (PROVIDER, 5858): Spec(
        "wmi", lambda f: f"WMI operation failed ({_s(f['result_code'])}) for {_s(f['user'])} from "
        f"{_s(f['client_machine'])}: {_s(f['operation'])}",
        {"operation_id": "Id", "client_machine": "ClientMachine", "user": "User", "pid": "ClientProcessId",
         "component": "Component", "operation": "Operation", "result_code": "ResultCode",
         "possible_cause": "PossibleCause"}, ("pid",), _cut),
    (PROVIDER, 5859): Spec(
        "wmi", lambda f: f"WMI notification query in {_s(f['namespace'])} by {_s(f['user'])}: {_s(f['query'])}",
        {"namespace": "NamespaceName", "query": "Query", "user": "User", "pid": "processid",
         "provider": "Provider", "query_id": "queryid", "possible_cause": "PossibleCause"}, ("pid",), _cut),
    (PROVIDER, 5860): Spec(
        "wmi", lambda f: f"WMI temporary event consumer registered in {_s(f['namespace'])} by {_s(f['user'])}: "
        f"{_s(f['query'])}",
        {"namespace": "NamespaceName", "query": "Query", "user": "User", "pid": "processid",
         "client_machine": "MachineName", "possible_cause": "PossibleCause"}, ("pid",), _cut),
    (PROVIDER, 5861): Spec(
        "wmi", lambda f: f"WMI permanent event consumer bound in {_s(f['namespace'])}: {_s(f['consumer'])} "
        f"to {_s(f['filter'])}",
        {"namespace": "Namespace", "filter": "ESS", "consumer": "CONSUMER", "possible_cause": "PossibleCause"},
        (), _cut),
}
