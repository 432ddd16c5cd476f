"""Sysmon (Microsoft-Windows-Sysmon/Operational) events 2, 5-10, 12, 14-29.

Field names are Sysmon's schema (``sysmon -s``). Every Sysmon record carries UtcTime, the time
the action happened as Sysmon saw it (kept as ``utc_time`` text); the record's time is when it was
logged. Event 1 (process), 3 (network), 11 (file created) and 13 (registry value set) are in
:mod:`triage.parsers.evtx.events`.
"""

from __future__ import annotations

from triage.parsers.evtx.event_types.common import Fields, chain, const, hashes, typed
from triage.parsers.evtx.events import Spec

P = "microsoft-windows-sysmon"

_BASE: Fields = {"image": "Image", "process_guid": "ProcessGuid", "pid": "ProcessId", "user": "User",
                 "utc_time": "UtcTime", "rule": "RuleName"}
_FILE: Fields = {**_BASE, "target_filename": "TargetFilename", "hashes": ("Hashes", "Hash"),
                 "is_executable": "IsExecutable", "archived": "Archived"}
_REG: Fields = {**_BASE, "event_type": "EventType", "target_object": "TargetObject"}
_SIGNED: Fields = {"hashes": "Hashes", "signed": "Signed", "signature": "Signature",
                   "signature_status": "SignatureStatus"}
_ACCESS: Fields = {"source_image": "SourceImage", "target_image": "TargetImage", "source_pid": "SourceProcessId",
                   "target_pid": "TargetProcessId", "source_guid": ("SourceProcessGuid", "SourceProcessGUID"),
                   "target_guid": ("TargetProcessGuid", "TargetProcessGUID"), "source_user": "SourceUser",
                   "target_user": "TargetUser", "utc_time": "UtcTime", "rule": "RuleName"}
_WMI: Fields = {"event_type": "EventType", "operation": "Operation", "user": "User", "name": "Name",
                "utc_time": "UtcTime", "rule": "RuleName"}
_PID = ("pid",)

SPECS: dict[tuple[str, int], Spec] = {
    (P, 2): typed("file_time_changed", "{image} changed the creation time of {target_filename}[ to "
                  "{creation_utc_time}][ (was {previous_creation_utc_time})]",
                  {**_BASE, "target_filename": "TargetFilename", "creation_utc_time": "CreationUtcTime",
                   "previous_creation_utc_time": "PreviousCreationUtcTime"}, _PID),
    (P, 5): typed("process_end", "process {image}[ (pid {pid})] terminated", _BASE, _PID),
    (P, 6): typed("driver_loaded", "driver {image_loaded} loaded[ (signed: {signed}, {signature}, "
                  "{signature_status})]", {"image_loaded": "ImageLoaded", "utc_time": "UtcTime", **_SIGNED},
                  extra=hashes()),
    (P, 7): typed("image_loaded", "{image} loaded {image_loaded}[ (signed: {signed}][, {signature}][)]",
                  {**_BASE, "image_loaded": "ImageLoaded", "original_file_name": "OriginalFileName",
                   "description": "Description", "company": "Company", "product": "Product", **_SIGNED},
                  _PID, hashes()),
    (P, 8): typed("remote_thread", "{source_image} created a thread in {target_image}[ at {start_address}]"
                  "[ ({start_module}][!{start_function}][)]",
                  {**_ACCESS, "start_address": "StartAddress", "start_module": "StartModule",
                   "start_function": "StartFunction", "new_thread_id": "NewThreadId"},
                  ("source_pid", "target_pid")),
    (P, 9): typed("raw_disk_read", "{image} read {device} directly (raw access)", {**_BASE, "device": "Device"},
                  _PID),
    (P, 10): typed("process_access", "{source_image} opened {target_image}[ with access {granted_access}]",
                   {**_ACCESS, "granted_access": "GrantedAccess", "call_trace": "CallTrace"},
                   ("source_pid", "target_pid")),
    (P, 12): typed("registry_key", "{image}: {event_type} {target_object}", _REG, _PID),
    (P, 14): typed("registry_rename", "{image} renamed {target_object} to {new_name}", {**_REG, "new_name": "NewName"},
                   _PID),
    (P, 15): typed("file_stream", "{image} created stream {target_filename}[ (contents: {contents})]",
                   {**_FILE, "contents": "Contents"}, _PID, hashes()),
    (P, 16): typed("sysmon_config", "Sysmon configuration changed[: {configuration}]",
                   {"configuration": "Configuration", "configuration_hash": "ConfigurationFileHash",
                    "utc_time": "UtcTime"}),
    (P, 17): typed("pipe", "{image} created pipe {pipe}", {**_BASE, "pipe": "PipeName", "event_type": "EventType"},
                   _PID),
    (P, 18): typed("pipe", "{image} connected to pipe {pipe}",
                   {**_BASE, "pipe": "PipeName", "event_type": "EventType"}, _PID),
    (P, 19): typed("wmi", "WMI filter {name} {operation}[ by {user}][ in {namespace}][: {query}]",
                   {**_WMI, "namespace": "EventNamespace", "query": "Query"}),
    (P, 20): typed("wmi", "WMI consumer {name} {operation}[ by {user}][ ({consumer_type})][: {destination}]",
                   {**_WMI, "consumer_type": "Type", "destination": "Destination"}),
    (P, 21): typed("wmi", "WMI consumer {consumer} bound to filter {filter}[ by {user}]",
                   {**_WMI, "consumer": "Consumer", "filter": "Filter"}),
    (P, 22): typed("dns_query", "{image} resolved {query}[ -> {results}][ (status {status})]",
                   {**_BASE, "query": "QueryName", "status": "QueryStatus", "results": "QueryResults"}, _PID),
    (P, 23): typed("file_deleted", "{image} deleted {target_filename}[ (archived: {archived})]", _FILE, _PID,
                   chain(hashes(), const(archived_copy=True))),
    (P, 24): typed("clipboard", "{image} changed the clipboard[ (session {session})][ from {client_info}]",
                   {**_BASE, "session": "Session", "client_info": "ClientInfo", "hashes": "Hashes",
                    "archived": "Archived"}, _PID, hashes()),
    (P, 25): typed("process_tampering", "process {image} tampered with[: {tampering}]", {**_BASE, "tampering": "Type"},
                   _PID),
    (P, 26): typed("file_deleted", "{image} deleted {target_filename}", _FILE, _PID, hashes()),
    (P, 27): typed("file_blocked", "Sysmon blocked {image} from creating executable {target_filename}", _FILE,
                   _PID, hashes()),
    (P, 28): typed("file_blocked", "Sysmon blocked {image} from shredding {target_filename}", _FILE, _PID,
                   hashes()),
    (P, 29): typed("file_created", "{image} created executable {target_filename}", _FILE, _PID, hashes()),
}

SKIP: dict = {}

WHEN = {"file_time_changed": "File creation time changed (Sysmon)", "process_end": "Process terminated",
        "driver_loaded": "Driver loaded", "image_loaded": "Module loaded", "remote_thread": "Remote thread created",
        "raw_disk_read": "Raw disk read", "process_access": "Process opened by another",
        "registry_key": "Registry key created/deleted", "registry_rename": "Registry key renamed",
        "file_stream": "Alternate data stream created", "sysmon_config": "Sysmon configuration changed",
        "pipe": "Named pipe created/connected", "wmi": "WMI subscription changed", "dns_query": "DNS query",
        "file_deleted": "File deleted", "clipboard": "Clipboard changed", "process_tampering": "Process tampered",
        "file_blocked": "File action blocked (Sysmon)", "file_created": "File created"}
