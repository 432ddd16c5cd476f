"""Security auditing events beyond logons and account changes: privileges, NTLM/Kerberos
authentication, RDP session reconnects, share access, scheduled-task changes.

Field names: Microsoft's "Audit ..." event pages (4672, 4776, 4768, 4769, 4778, 4779, 5140,
5145, 4699, 4702). 4672 is logged with every SYSTEM / service logon; those carry no investigative
content and are skipped like the machine logons of 4624 (``skip``), unless evtx_all_logons is set.
"""

from __future__ import annotations

import re
from typing import Any

from triage.parsers.evtx.event_types.common import SUBJECT, Fields, chain, lines, subject, target, typed
from triage.parsers.evtx.events import Spec, account, task_commands

P = "microsoft-windows-security-auditing"

# SYSTEM, LOCAL SERVICE, NETWORK SERVICE and the DWM/UMFD virtual accounts as the 4672 subject.
MACHINE_SUBJECT = re.compile(r'"SubjectUserSid":"(?:S-1-5-(?:18|19|20)|S-1-5-9[06]-[0-9-]+)"')

_KERBEROS: Fields = {"target_user": "TargetUserName", "target_domain": "TargetDomainName",
                     "target_sid": "TargetSid", "service": "ServiceName", "service_sid": "ServiceSid",
                     "ip": "IpAddress", "port": "IpPort", "status": "Status",
                     "encryption": "TicketEncryptionType", "ticket_options": "TicketOptions",
                     "pre_auth_type": "PreAuthType"}
_SESSION: Fields = {"user": "AccountName", "domain": "AccountDomain", "logon_id": "LogonID",
                    "session": "SessionName", "client_name": "ClientName", "client_address": "ClientAddress"}
_SHARE: Fields = {**SUBJECT, "share": "ShareName", "share_path": "SharePath", "ip": "IpAddress",
                  "port": "IpPort", "object_type": "ObjectType", "access_mask": "AccessMask",
                  "accesses": "AccessList", "relative_target": "RelativeTargetName"}


def _session(data: dict[str, Any], f: dict[str, Any]) -> None:
    f["account"] = account(f.get("domain"), f.get("user"))


def _task_update(data: dict[str, Any], f: dict[str, Any]) -> None:
    cmds = task_commands(f.get("task_xml"))
    f["commands"] = cmds
    f["command"] = cmds[0] if cmds else None


def _ip(data: dict[str, Any], f: dict[str, Any]) -> None:
    ip = f.get("ip")
    if isinstance(ip, str) and ip.startswith("::ffff:"):
        f["ip"] = ip[7:]


SPECS: dict[tuple[str, int], Spec] = {
    (P, 4672): typed("privileged_logon", "special privileges assigned to the logon of {by}[ (logon id {logon_id})]"
                     "[: {privileges}]", {**SUBJECT, "privileges": "PrivilegeList"},
                     extra=chain(subject, lines("privileges"))),
    (P, 4776): typed("ntlm_auth", "NTLM credential validation of {target_user}[ from workstation {workstation}]"
                     "[ (status {status})]", {"target_user": "TargetUserName", "workstation": "Workstation",
                                                "package": "PackageName", "status": "Status"}),
    (P, 4768): typed("kerberos", "Kerberos TGT requested for {account|target_user}[ from {ip}][ (status {status})]",
                     _KERBEROS, ("port",), chain(target, _ip)),
    (P, 4769): typed("kerberos", "Kerberos service ticket for {service} requested by {account|target_user}"
                     "[ from {ip}][ (status {status}, encryption {encryption})]", _KERBEROS, ("port",),
                     chain(target, _ip)),
    (P, 4778): typed("rdp_session", "session {session} of {account} reconnected[ from {client_name}]"
                     "[ ({client_address})]", _SESSION, extra=_session),
    (P, 4779): typed("rdp_session", "session {session} of {account} disconnected[ from {client_name}]"
                     "[ ({client_address})]", _SESSION, extra=_session),
    (P, 5140): typed("share_access", "network share {share}[ ({share_path})] accessed by {by}[ from {ip}]",
                     _SHARE, ("port",), chain(subject, _ip)),
    (P, 5145): typed("share_access", "{by}[ from {ip}] accessed {share}\\{relative_target}[: {accesses}]",
                     _SHARE, ("port",), chain(subject, _ip)),
    (P, 4699): typed("task_deleted", "scheduled task {task_name} deleted by {by}",
                     {**SUBJECT, "task_name": "TaskName"}, extra=subject),
    (P, 4702): typed("task_updated", "scheduled task {task_name} updated by {by}[: {command}]",
                     {**SUBJECT, "task_name": "TaskName", "task_xml": "TaskContentNew"},
                     extra=chain(subject, _task_update)),
}

SKIP = {(P, 4672): MACHINE_SUBJECT}

WHEN = {"privileged_logon": "Special privileges assigned (logon)", "ntlm_auth": "NTLM credentials validated",
        "kerberos": "Kerberos ticket requested", "rdp_session": "Session reconnected/disconnected",
        "share_access": "Network share accessed", "task_deleted": "Scheduled task deleted",
        "task_updated": "Scheduled task updated"}
