"""What the event-log parser extracts from each notable event: one table keyed by (provider, event id).

Why a table: the parser must decide from the event id and provider alone, before it pays for
``json.loads``, whether a record is worth typing (most records are not). The table is also the one
place a reviewer reads to see which field of which event lands under which clean name.

Field names follow the Microsoft schemas (Security auditing, Sysmon, Service Control Manager...).
Clean values: '-' and '' become None, numbers that Windows logs as text become ints where the
meaning is numeric (logon type, ports), hashes are split into a dict.

Connectivity (NetworkProfile 10000/10001, NCSI 4042, Windows Firewall 2010, VPN connect/disconnect)
is described by :data:`CONNECTIVITY`; VPN references:
  * RasClient (Application log, messages in mprmsg.dll): 20225 connection succeeded (%3 connection
    name), 20226 connection ended (%3 name, %4 reason code), 20227 connection failed (%3, %4 error);
    %1 is the connection's CoId, %2 the user.
  * Windows Networking VPN Plugin Platform/Operational: 2021 state machine "Connected",
    2023 "Disconnected", 2009 autotrigger connected, 2010 autotrigger disconnected; 2001/2008 errors.
  * Microsoft-Windows-VPN-Client/Operational: 10001 profile created, 10003 profile deleted,
    10005 profile modified (profiles only; no connection state).
  * Microsoft-Windows-VPN/Operational: no public event catalogue; every record of that channel is
    surfaced as a 'vpn' Event with its raw data, never used as connection state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from triage.parsers.evtx.fields import (  # noqa: F401 - re-exported: the tables and parsers read them here
    account,
    as_int,
    clean,
    event_data,
    key_values,
    payload_data,
    split_hashes,
    task_commands,
    text,
)
from triage.parsers.evtx.template import template

LOGON_TYPES = {
    0: "System", 2: "Interactive", 3: "Network", 4: "Batch", 5: "Service", 7: "Unlock",
    8: "NetworkCleartext", 9: "NewCredentials", 10: "RemoteInteractive", 11: "CachedInteractive",
    12: "CachedRemoteInteractive", 13: "CachedUnlock",
}
SERVICE_START_TYPES = {0: "boot start", 1: "system start", 2: "auto start", 3: "demand start", 4: "disabled"}
NETWORK_CATEGORIES = {0: "public", 1: "private", 2: "domain"}
NCSI_CAPABILITIES = {0: "none", 1: "local", 2: "internet"}
# Windows Firewall FW_PROFILE_TYPE (MS-FASP 2.2.2): bit mask, plus CURRENT/NONE sentinels.
FIREWALL_PROFILES = {1: "domain", 2: "private", 4: "public"}
FW_PROFILE_CURRENT = 0x80000000
FW_PROFILE_NONE = 0x80000001


# ---------------------------------------------------------------------------------------------
# Notable events


Extra = Callable[[dict[str, Any], dict[str, Any]], None]  # Spec.extra: (EventData, fields) -> more fields


@dataclass(frozen=True)
class Spec:
    """How one (provider, event id) becomes an Event.

    fields: clean name -> EventData key (first present key of a tuple wins).
    ints: clean names converted to int. extra: computes further fields from (data, fields).
    describe: one-line human description from the fields.
    """

    category: str
    describe: Callable[[dict[str, Any]], str]
    fields: dict[str, str | tuple[str, ...]] = field(default_factory=dict)
    ints: tuple[str, ...] = ()
    extra: Extra | None = None

    def __post_init__(self) -> None:
        # Prepared once so that extract() is a tight loop: fields read from one key, then the
        # few with alternative keys; int conversion decided per field.
        single = tuple((name, keys, name in self.ints) for name, keys in self.fields.items() if isinstance(keys, str))
        multi = tuple((name, keys, name in self.ints) for name, keys in self.fields.items()
                      if not isinstance(keys, str))
        object.__setattr__(self, "_single", single)
        object.__setattr__(self, "_multi", multi)

    def extract(self, data: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        get = data.get
        for name, key, integer in self._single:  # type: ignore[attr-defined]
            value = get(key)
            if value is not None:
                if type(value) is dict:
                    value = value.get("#text")
                if type(value) is str:
                    value = value.strip()
                    if not value or value == "-":
                        value = None
                if integer and value is not None:
                    value = as_int(value)
            out[name] = value
        for name, keys, integer in self._multi:  # type: ignore[attr-defined]
            value = None
            for k in keys:
                value = clean(text(get(k)))
                if value is not None:
                    break
            out[name] = as_int(value) if integer and value is not None else value
        if self.extra is not None:
            self.extra(data, out)
        return out


_SID_NAMES = {"S-1-5-18": "NT AUTHORITY\\SYSTEM", "S-1-5-19": "NT AUTHORITY\\LOCAL SERVICE",
              "S-1-5-20": "NT AUTHORITY\\NETWORK SERVICE"}


def sid_name(sid: Any) -> str | None:
    """Well-known SID -> account name; another SID as is; the null SID S-1-0-0 -> None."""
    s = clean(sid)
    return None if not isinstance(s, str) or s == "S-1-0-0" else _SID_NAMES.get(s, s)


def _s(value: Any) -> str:
    return "?" if value is None else str(value)


def _logon_extra(data: dict[str, Any], f: dict[str, Any]) -> None:
    lt = f.get("logon_type")
    f["logon_type_name"] = LOGON_TYPES.get(lt) if isinstance(lt, int) else None
    f["account"] = account(f.get("target_domain"), f.get("target_user"))


def _by_subject(data: dict[str, Any], f: dict[str, Any]) -> None:
    """The acting account of Security events that log a subject besides their target."""
    f["by"] = account(f.get("subject_domain"), f.get("subject_user"))


def _both(first: Extra, then: Extra) -> Extra:
    """One Spec.extra from two, run in order (e.g. target fields, then the subject)."""
    def run(data: dict[str, Any], f: dict[str, Any]) -> None:
        first(data, f)
        then(data, f)
    return run


def _from(f: dict[str, Any]) -> str:
    src = f.get("ip") or f.get("workstation")
    return f" from {src}" if src else ""


_LOGON_FIELDS: dict[str, str | tuple[str, ...]] = {
    "target_user": "TargetUserName", "target_domain": "TargetDomainName", "target_sid": "TargetUserSid",
    "logon_id": "TargetLogonId", "logon_type": "LogonType", "ip": "IpAddress", "port": "IpPort",
    "workstation": "WorkstationName", "process": "ProcessName", "logon_process": "LogonProcessName",
    "auth_package": "AuthenticationPackageName", "subject_user": "SubjectUserName",
    "subject_domain": "SubjectDomainName", "elevated_token": "ElevatedToken",
}

_ACCOUNT_FIELDS: dict[str, str | tuple[str, ...]] = {
    "target_user": "TargetUserName", "target_domain": "TargetDomainName", "target_sid": ("TargetSid", "TargetUserSid"),
    "subject_user": "SubjectUserName", "subject_domain": "SubjectDomainName", "subject_logon_id": "SubjectLogonId",
}

_GROUP_FIELDS: dict[str, str | tuple[str, ...]] = {
    "member": "MemberName", "member_sid": "MemberSid", "group": "TargetUserName", "group_domain": "TargetDomainName",
    "group_sid": "TargetSid", "subject_user": "SubjectUserName", "subject_domain": "SubjectDomainName",
    "subject_logon_id": "SubjectLogonId",
}


def _account_extra(data: dict[str, Any], f: dict[str, Any]) -> None:
    f["account"] = account(f.get("target_domain"), f.get("target_user"))
    _by_subject(data, f)


def _group_extra(data: dict[str, Any], f: dict[str, Any]) -> None:
    f["group_name"] = account(f.get("group_domain"), f.get("group"))
    _by_subject(data, f)


def _account_change(verb: str) -> Spec:
    return Spec("account_change", lambda f: f"account {_s(f['account'])} {verb} by {_s(f['by'])}",
                _ACCOUNT_FIELDS, extra=_account_extra)


def _group_change(scope: str) -> Spec:
    return Spec("group_change", lambda f: f"{_s(f.get('member') or f.get('member_sid'))} added to {scope} group "
                f"{_s(f['group_name'])} by {_s(f['by'])}", _GROUP_FIELDS, extra=_group_extra)


_4688_message = template("process {image} started by {user}[ with command line {command_line}][ (parent {parent})]")


def _4688_extra(data: dict[str, Any], f: dict[str, Any]) -> None:
    # TargetUserName is set (Windows 10+) when the new process runs as another account than the subject.
    # A kernel-started process (Registry, smss.exe) has subject '-' and only the SID S-1-5-18.
    f["user"] = (account(f.pop("target_domain"), f.pop("target_user"))
                 or account(f.get("subject_domain"), f.get("subject_user")) or sid_name(f.get("subject_sid")))


def _sysmon1_extra(data: dict[str, Any], f: dict[str, Any]) -> None:
    f["hashes"] = split_hashes(f.get("hashes"))


def _service_extra(data: dict[str, Any], f: dict[str, Any]) -> None:
    st = f.get("start_type")
    if isinstance(st, str) and as_int(st) is not None:
        st = as_int(st)
    if isinstance(st, int):
        f["start_type"] = SERVICE_START_TYPES.get(st, str(st))


def _task_extra(data: dict[str, Any], f: dict[str, Any]) -> None:
    cmds = task_commands(f.get("task_xml"))  # the XML stays: YARA and analysts read all of it
    f["commands"] = cmds
    f["command"] = cmds[0] if cmds else None
    _by_subject(data, f)


def _rcm_extra(data: dict[str, Any], f: dict[str, Any]) -> None:
    f["account"] = account(f.get("domain"), f.get("user"))


def _ps_classic_extra(data: dict[str, Any], f: dict[str, Any]) -> None:
    kv = key_values(data.get("Data"))
    for name, key in (("host_application", "HostApplication"), ("host_name", "HostName"),
                      ("host_version", "HostVersion"), ("engine_version", "EngineVersion"),
                      ("runspace_id", "RunspaceId"), ("command_line", "CommandLine"),
                      ("script_name", "ScriptName"), ("user", "UserId"), ("new_state", "NewEngineState"),
                      ("previous_state", "PreviousEngineState")):
        f[name] = clean(kv.get(key))


def _defender_extra(data: dict[str, Any], f: dict[str, Any]) -> None:
    path = f.get("path")
    if isinstance(path, str):
        # Defender logs resources as 'file:_C:\x.exe;containerfile:_...' : keep the list of paths.
        f["paths"] = [p.split(":_", 1)[-1] for p in path.split(";") if p.strip()]


_SYSMON_USER = {"user": "User", "image": "Image", "process_guid": "ProcessGuid", "pid": "ProcessId"}
# Defender's detection (1116) and action (1117) events log the same fields
_DEFENDER_DETECTION: dict[str, str | tuple[str, ...]] = {
    "threat_name": "Threat Name", "threat_id": "Threat ID", "severity": "Severity Name",
    "category_name": "Category Name", "path": "Path", "process": "Process Name", "user": "Detection User",
    "action": "Action Name", "detection_id": "Detection ID", "detection_time": "Detection Time"}

NOTABLE: dict[tuple[str, int], Spec] = {
    # --- Security auditing: logons
    ("microsoft-windows-security-auditing", 4624): Spec(
        "logon", lambda f: f"logon type {_s(f['logon_type'])} ({_s(f['logon_type_name'])}) of {_s(f['account'])}"
        f"{_from(f)}", _LOGON_FIELDS, ("logon_type", "port"), _logon_extra),
    ("microsoft-windows-security-auditing", 4625): Spec(
        "logon_failed", lambda f: f"failed logon type {_s(f['logon_type'])} of {_s(f['account'])}{_from(f)} "
        f"(status {_s(f['status'])}/{_s(f['sub_status'])})",
        {**_LOGON_FIELDS, "status": "Status", "sub_status": "SubStatus", "failure_reason": "FailureReason"},
        ("logon_type", "port"), _logon_extra),
    ("microsoft-windows-security-auditing", 4648): Spec(
        "explicit_logon", lambda f: f"{_s(f['by'])} used explicit credentials of {_s(f['account'])} for "
        f"{_s(f['target_server'])}{_from(f)}",
        {"subject_user": "SubjectUserName", "subject_domain": "SubjectDomainName", "logon_id": "SubjectLogonId",
         "target_user": "TargetUserName", "target_domain": "TargetDomainName", "target_server": "TargetServerName",
         "target_info": "TargetInfo", "process": "ProcessName", "ip": "IpAddress", "port": "IpPort"},
        ("port",), _both(_logon_extra, _by_subject)),
    # --- services, tasks
    ("service control manager", 7045): Spec(
        "service_install", template("service {service_name} installed: {image_path}[ ({start_type}][, runs as "
                                    "{account}][)]"),
        {"service_name": "ServiceName", "image_path": "ImagePath", "service_type": "ServiceType",
         "start_type": "StartType", "account": "AccountName"}, extra=_service_extra),
    ("microsoft-windows-security-auditing", 4697): Spec(
        "service_install", lambda f: f"service {_s(f['service_name'])} installed: {_s(f['image_path'])} "
        f"({_s(f['start_type'])}, {_s(f['account'])}) by {_s(f['by'])}",
        {"service_name": "ServiceName", "image_path": "ServiceFileName", "service_type": "ServiceType",
         "start_type": "ServiceStartType", "account": "ServiceAccount", "subject_user": "SubjectUserName",
         "subject_domain": "SubjectDomainName"}, extra=_both(_service_extra, _by_subject)),
    ("microsoft-windows-security-auditing", 4698): Spec(
        "task_created", lambda f: f"scheduled task {_s(f['task_name'])} created by {_s(f['by'])}: "
        f"{_s(f['command'])}",
        {"task_name": "TaskName", "task_xml": "TaskContent", "subject_user": "SubjectUserName",
         "subject_domain": "SubjectDomainName", "logon_id": "SubjectLogonId"}, extra=_task_extra),
    ("microsoft-windows-taskscheduler", 106): Spec(
        "task_created", lambda f: f"scheduled task {_s(f['task_name'])} registered by {_s(f['user'])}",
        {"task_name": "TaskName", "user": "UserContext"}),
    # --- log clearing
    ("microsoft-windows-eventlog", 1102): Spec(
        "log_cleared", lambda f: f"Security log cleared by {_s(f['by'])}",
        {"subject_user": "SubjectUserName", "subject_domain": "SubjectDomainName", "subject_sid": "SubjectUserSid",
         "logon_id": "SubjectLogonId"},
        extra=lambda d, f: f.update(by=account(f.get("subject_domain"), f.get("subject_user")), log="Security")),
    ("microsoft-windows-eventlog", 104): Spec(
        "log_cleared", lambda f: f"{_s(f['log'])} log cleared by {_s(f['by'])}",
        {"subject_user": "SubjectUserName", "subject_domain": "SubjectDomainName", "log": "Channel",
         "backup_path": "BackupPath"},
        extra=lambda d, f: f.update(by=account(f.get("subject_domain"), f.get("subject_user")))),
    # --- accounts and groups
    ("microsoft-windows-security-auditing", 4720): _account_change("created"),
    ("microsoft-windows-security-auditing", 4722): _account_change("enabled"),
    ("microsoft-windows-security-auditing", 4724): _account_change("password reset attempted"),
    ("microsoft-windows-security-auditing", 4725): _account_change("disabled"),
    ("microsoft-windows-security-auditing", 4726): _account_change("deleted"),
    ("microsoft-windows-security-auditing", 4738): _account_change("changed"),
    ("microsoft-windows-security-auditing", 4728): _group_change("global"),
    ("microsoft-windows-security-auditing", 4732): _group_change("local"),
    ("microsoft-windows-security-auditing", 4756): _group_change("universal"),
    # --- processes
    ("microsoft-windows-security-auditing", 4688): Spec(
        "process", lambda f: _4688_message(f) + ("" if f.get("command_line") else " (command line not audited)"),
        {"image": "NewProcessName", "command_line": "CommandLine", "parent": "ParentProcessName",
         "subject_user": "SubjectUserName", "subject_sid": "SubjectUserSid", "subject_domain": "SubjectDomainName", "target_user": "TargetUserName",
         "target_domain": "TargetDomainName", "logon_id": "SubjectLogonId", "pid": "NewProcessId",
         "parent_pid": "ProcessId", "token_elevation": "TokenElevationType", "integrity_level": "MandatoryLabel"},
        ("pid", "parent_pid"), _4688_extra),
    ("microsoft-windows-sysmon", 1): Spec(
        "process", template("process {image} started by {user}[ with command line {command_line}][ (parent "
                            "{parent})]"),
        {"image": "Image", "command_line": "CommandLine", "parent": "ParentImage",
         "parent_command_line": "ParentCommandLine", "user": "User", "hashes": "Hashes", "pid": "ProcessId",
         "parent_pid": "ParentProcessId", "process_guid": "ProcessGuid", "parent_process_guid": "ParentProcessGuid",
         "current_directory": "CurrentDirectory", "integrity_level": "IntegrityLevel", "logon_id": "LogonId",
         "original_file_name": "OriginalFileName", "utc_time": "UtcTime"},
        ("pid", "parent_pid"), _sysmon1_extra),
    ("microsoft-windows-sysmon", 3): Spec(
        "network", lambda f: f"{_s(f['image'])} connected {_s(f['source_ip'])}:{_s(f['source_port'])} -> "
        f"{_s(f['destination_hostname'] or f['destination_ip'])}:{_s(f['destination_port'])} ({_s(f['protocol'])})",
        {**_SYSMON_USER, "protocol": "Protocol", "initiated": "Initiated", "source_ip": "SourceIp",
         "source_port": "SourcePort", "destination_ip": "DestinationIp", "destination_hostname": "DestinationHostname",
         "destination_port": "DestinationPort", "utc_time": "UtcTime"},
        ("pid", "source_port", "destination_port")),
    ("microsoft-windows-sysmon", 11): Spec(
        "file_created", lambda f: f"{_s(f['image'])} created {_s(f['target_filename'])}",
        {**_SYSMON_USER, "target_filename": "TargetFilename", "creation_utc_time": "CreationUtcTime",
         "utc_time": "UtcTime"}, ("pid",)),
    ("microsoft-windows-sysmon", 13): Spec(
        "registry_set", lambda f: f"{_s(f['image'])} set {_s(f['target_object'])} = {_s(f['details'])}",
        {**_SYSMON_USER, "event_type": "EventType", "target_object": "TargetObject", "details": "Details",
         "utc_time": "UtcTime"}, ("pid",)),
    # --- RDP
    ("microsoft-windows-terminalservices-remoteconnectionmanager", 1149): Spec(
        "rdp", lambda f: f"RDP network authentication succeeded for {_s(f['account'])} from {_s(f['ip'])}",
        {"user": "Param1", "domain": "Param2", "ip": "Param3"}, extra=_rcm_extra),
    ("microsoft-windows-terminalservices-localsessionmanager", 21): Spec(
        "rdp", lambda f: f"session {_s(f['session_id'])} logon of {_s(f['account'])} from {_s(f['ip'])}",
        {"account": "User", "session_id": "SessionID", "ip": "Address"}, ("session_id",),
        lambda d, f: f.update(action="logon")),
    ("microsoft-windows-terminalservices-localsessionmanager", 24): Spec(
        "rdp", lambda f: f"session {_s(f['session_id'])} of {_s(f['account'])} disconnected from {_s(f['ip'])}",
        {"account": "User", "session_id": "SessionID", "ip": "Address"}, ("session_id",),
        lambda d, f: f.update(action="disconnect")),
    ("microsoft-windows-terminalservices-localsessionmanager", 25): Spec(
        "rdp", lambda f: f"session {_s(f['session_id'])} of {_s(f['account'])} reconnected from {_s(f['ip'])}",
        {"account": "User", "session_id": "SessionID", "ip": "Address"}, ("session_id",),
        lambda d, f: f.update(action="reconnect")),
    # --- PowerShell host application (classic "Windows PowerShell" log); 4104 is reassembled apart
    ("powershell", 400): Spec(
        "powershell", lambda f: f"PowerShell engine started: {_s(f['host_application'])}", extra=_ps_classic_extra),
    ("powershell", 403): Spec(
        "powershell", lambda f: f"PowerShell engine stopped: {_s(f['host_application'])}", extra=_ps_classic_extra),
    ("powershell", 800): Spec(
        "powershell", lambda f: f"PowerShell pipeline executed: {_s(f['command_line'] or f['host_application'])}",
        extra=_ps_classic_extra),
    # --- Defender
    ("microsoft-windows-windows defender", 1116): Spec(
        "defender", lambda f: f"Defender detected {_s(f['threat_name'])} in {_s(f['path'])}",
        _DEFENDER_DETECTION,
        extra=_both(_defender_extra, lambda d, f: f.update(stage="detected"))),
    ("microsoft-windows-windows defender", 1117): Spec(
        "defender", lambda f: f"Defender took action {_s(f['action'])} on {_s(f['threat_name'])} in {_s(f['path'])}",
        _DEFENDER_DETECTION,
        extra=_both(_defender_extra, lambda d, f: f.update(stage="action"))),
    # --- VPN client events that are not connection state (failed attempt, profile changes)
    ("rasclient", 20227): Spec(
        "vpn", lambda f: f"VPN connection {_s(f['connection'])} failed (error {_s(f['code'])})",
        extra=lambda d, f: f.update(_ras_fields(d), action="failed")),
    ("microsoft-windows-vpn-client", 10001): Spec(
        "vpn", lambda f: "VPN profile created", extra=lambda d, f: f.update(action="profile_created", data=d)),
    ("microsoft-windows-vpn-client", 10003): Spec(
        "vpn", lambda f: "VPN profile deleted", extra=lambda d, f: f.update(action="profile_deleted", data=d)),
    ("microsoft-windows-vpn-client", 10005): Spec(
        "vpn", lambda f: "VPN profile modified", extra=lambda d, f: f.update(action="profile_modified", data=d)),
}

# Records of these channels are surfaced whatever their id (category, description prefix).
NOTABLE_CHANNELS: dict[str, tuple[str, str]] = {
    "microsoft-windows-vpn/operational": ("vpn", "VPN event"),
}

POWERSHELL_SCRIPT_PROVIDERS = frozenset({"microsoft-windows-powershell", "powershellcore"})
POWERSHELL_SCRIPT_EVENT = 4104


# ---------------------------------------------------------------------------------------------
# Connectivity


def _ras_fields(data: dict[str, Any]) -> dict[str, Any]:
    """RasClient insertion strings: %1 CoId, %2 user, %3 connection name, %4 code/details."""
    items = data.get("Data") or []
    items = [text(x) for x in items] if isinstance(items, list) else [text(items)]
    get = lambda i: clean(items[i]) if len(items) > i and isinstance(items[i], str) else None  # noqa: E731
    coid = get(0)
    if coid and coid.lower().startswith("coid="):
        coid = coid[5:].rstrip(":")
    return {"coid": coid, "user": get(1), "connection": get(2), "code": get(3)}


def _network_profile(kind: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def build(data: dict[str, Any]) -> dict[str, Any]:
        cat = as_int(text(data.get("Category")))
        return {"kind": kind, "network": clean(text(data.get("Name"))),
                "network_category": NETWORK_CATEGORIES.get(cat) if cat is not None else None,
                "details": {"guid": clean(text(data.get("Guid"))), "description": clean(text(data.get("Description"))),
                            "type": as_int(text(data.get("Type"))), "state": as_int(text(data.get("State"))),
                            "category": cat}}
    return build


def _ncsi(data: dict[str, Any]) -> dict[str, Any]:
    cap, prev = as_int(text(data.get("Capability"))), as_int(text(data.get("PreviousCapability")))
    return {"kind": "ncsi", "details": {
        "interface_guid": clean(text(data.get("InterfaceGuid"))), "if_luid": as_int(text(data.get("IfLuid"))),
        "family": as_int(text(data.get("Family"))), "capability": cap, "previous_capability": prev,
        "capability_name": None if cap is None else NCSI_CAPABILITIES.get(cap),
        "previous_capability_name": None if prev is None else NCSI_CAPABILITIES.get(prev),
        "change_reason": as_int(text(data.get("CapabilityChangeReason")))}}


def firewall_profiles(mask: int | None) -> list[str]:
    """FW_PROFILE_TYPE mask -> names ('none' for FW_PROFILE_TYPE_NONE, e.g. an unidentified interface)."""
    if mask is None:
        return []
    if mask == FW_PROFILE_NONE:
        return ["none"]
    names = [n for bit, n in FIREWALL_PROFILES.items() if mask & bit]
    if mask & FW_PROFILE_CURRENT:
        names.append("current")
    return names


def _firewall(data: dict[str, Any]) -> dict[str, Any]:
    old, new = as_int(text(data.get("OldProfile"))), as_int(text(data.get("NewProfile")))
    return {"kind": "firewall_profile", "network": clean(text(data.get("InterfaceName"))), "details": {
        "interface_guid": clean(text(data.get("InterfaceGuid"))), "interface_name": clean(text(data.get("InterfaceName"))),
        "old_profile": old, "new_profile": new, "old_profiles": firewall_profiles(old),
        "new_profiles": firewall_profiles(new)}}


def _ras(kind: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def build(data: dict[str, Any]) -> dict[str, Any]:
        f = _ras_fields(data)
        return {"kind": kind, "network": f["connection"], "details": {**f, "source": "RasClient"}}
    return build


def _vpn_plugin(kind: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def build(data: dict[str, Any]) -> dict[str, Any]:
        name = None
        for k in ("Profile", "ProfileName", "profileName", "profile"):
            name = clean(text(data.get(k)))
            if name:
                break
        if name is None and data.get("Data"):
            first = data["Data"][0] if isinstance(data["Data"], list) else data["Data"]
            name = clean(text(first)) if isinstance(text(first), str) else None
        return {"kind": kind, "network": name, "details": {"source": "VPN plugin platform", "data": data}}
    return build


VPN_PLUGIN_PROVIDER = "microsoft-windows-networking-vpn-plugin-platform"

CONNECTIVITY: dict[tuple[str, int], Callable[[dict[str, Any]], dict[str, Any]]] = {
    ("microsoft-windows-networkprofile", 10000): _network_profile("connected"),
    ("microsoft-windows-networkprofile", 10001): _network_profile("disconnected"),
    ("microsoft-windows-ncsi", 4042): _ncsi,
    ("microsoft-windows-windows firewall with advanced security", 2010): _firewall,
    ("rasclient", 20225): _ras("vpn_connected"),
    ("rasclient", 20226): _ras("vpn_disconnected"),
    (VPN_PLUGIN_PROVIDER, 2021): _vpn_plugin("vpn_connected"),
    (VPN_PLUGIN_PROVIDER, 2009): _vpn_plugin("vpn_connected"),
    (VPN_PLUGIN_PROVIDER, 2023): _vpn_plugin("vpn_disconnected"),
    (VPN_PLUGIN_PROVIDER, 2010): _vpn_plugin("vpn_disconnected"),
}


def normalize_provider(name: str | None) -> str:
    """Lower-case provider name; the VPN plugin platform's names vary between builds
    ('Microsoft-Windows-Networking-VPN-Plugin-Platform', 'Windows Networking Vpn Plugin Platform')."""
    low = (name or "").lower()
    if "vpn" in low and "plugin" in low and "platform" in low:
        return VPN_PLUGIN_PROVIDER
    return low


NOTABLE_IDS: frozenset[int] = frozenset({eid for _, eid in NOTABLE} | {eid for _, eid in CONNECTIVITY}
                                        | {POWERSHELL_SCRIPT_EVENT})

# WMI-Activity 5857-5861 live in their own module (issue 15); imported last, as it builds on Spec.
from triage.parsers.evtx.wmi import WMI_ACTIVITY  # noqa: E402

NOTABLE.update(WMI_ACTIVITY)
NOTABLE_IDS = NOTABLE_IDS | frozenset(eid for _, eid in WMI_ACTIVITY)
