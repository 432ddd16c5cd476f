"""Microsoft Defender Antivirus (Microsoft-Windows-Windows Defender/Operational): protection
turned off (5001), configuration changed (5007), malware found / acted on / restored / deleted
(1006-1015), remediation failures (1118, 1119). 1116 and 1117 are in events.py.

Field names are the ones Defender logs (with spaces, e.g. 'Threat Name'); 'Path' lists resources
as 'file:_C:\\x.exe;...' and becomes the list ``paths`` as for 1116/1117.
"""

from __future__ import annotations

from typing import Any

from triage.parsers.evtx.event_types.common import Fields, chain, const, typed
from triage.parsers.evtx.events import Spec

P = "microsoft-windows-windows defender"

_THREAT: Fields = {"threat_name": "Threat Name", "threat_id": "Threat ID", "severity": "Severity Name",
                   "category_name": "Category Name", "path": "Path", "process": "Process Name",
                   "user": ("Detection User", "User"), "domain": "Domain", "action": "Action Name",
                   "detection_id": "Detection ID", "detection_time": "Detection Time",
                   "error_code": "Error Code", "error": "Error Description", "product_version": "Product Version"}


def _paths(data: dict[str, Any], f: dict[str, Any]) -> None:
    path = f.get("path")
    if isinstance(path, str):
        f["paths"] = [p.split(":_", 1)[-1] for p in path.split(";") if p.strip()]


def _threat(text: str, stage: str) -> Spec:
    return typed("defender", text, _THREAT, extra=chain(_paths, const(stage=stage)))


SPECS: dict[tuple[str, int], Spec] = {
    (P, 5001): typed("defender_config", "Defender real-time protection disabled",
                     {"product_version": "Product Version"}, extra=const(change="realtime_disabled")),
    (P, 5007): typed("defender_config", "Defender configuration changed[: {old_value} -> {new_value}]",
                     {"old_value": "Old Value", "new_value": "New Value", "product_version": "Product Version"},
                     extra=const(change="configuration")),
    (P, 1006): _threat("Defender found {threat_name}[ in {path}]", "detected"),
    (P, 1007): _threat("Defender took action[ {action}] on {threat_name}[ in {path}]", "action"),
    (P, 1008): _threat("Defender failed to take action[ {action}] on {threat_name}[ in {path}][: {error}]",
                       "action_failed"),
    (P, 1009): _threat("Defender restored {threat_name} from quarantine[ to {path}][ (by {user})]", "restored"),
    (P, 1010): _threat("Defender could not restore {threat_name} from quarantine[: {error}]", "restore_failed"),
    (P, 1011): _threat("Defender deleted {threat_name} from quarantine[ ({path})]", "quarantine_deleted"),
    (P, 1012): _threat("Defender could not delete {threat_name} from quarantine[: {error}]",
                       "quarantine_delete_failed"),
    (P, 1013): _threat("Defender malware history deleted[ by {domain}\\{user}]", "history_deleted"),
    (P, 1014): _threat("Defender could not delete malware history[: {error}]", "history_delete_failed"),
    (P, 1015): _threat("Defender detected suspicious behavior {threat_name}[ of {process}][ in {path}]",
                       "behavior"),
    (P, 1118): _threat("Defender remediation of {threat_name} failed[ ({action})][: {error}]", "remediation_failed"),
    (P, 1119): _threat("Defender remediation of {threat_name} hit a critical error[ ({action})][: {error}]",
                       "remediation_error"),
}

SKIP: dict = {}

WHEN = {"defender_config": "Defender setting changed"}
