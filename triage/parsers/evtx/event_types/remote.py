"""Remote access and transfer channels: PowerShell module logging (4103), BITS transfers (59/60),
WinRM sessions (6, 91), disk images opened and mounted (VHDMP 12, 1, 2: ISO/VHD), Wi-Fi connections (WLAN-AutoConfig
8001/8003), outgoing RDP (TerminalServices-RDPClient 1024/1102).

4103's ContextInfo is a block of 'Name = Value' lines (names with spaces: 'Host Application',
'Command Name', 'User'); parsed line by line, first value wins, bounded to MAX_CONTEXT_LINES lines.
"""

from __future__ import annotations

from typing import Any

from triage.parsers.evtx.event_types.common import Fields, chain, const, typed
from triage.parsers.evtx.events import Spec, clean

MAX_CONTEXT_LINES = 64
_CONTEXT_KEYS = {"Host Application": "host_application", "Command Name": "command_name",
                 "Command Type": "command_type", "Script Name": "script_name", "User": "user",
                 "Connected User": "connected_user", "Host Name": "host_name", "Shell ID": "shell_id"}


def _context(data: dict[str, Any], f: dict[str, Any]) -> None:
    blob = f.pop("context", None)
    for name in _CONTEXT_KEYS.values():
        f.setdefault(name, None)
    if not isinstance(blob, str):
        return
    for line in blob.splitlines()[:MAX_CONTEXT_LINES]:
        key, sep, value = line.strip().partition(" = ")
        slot = _CONTEXT_KEYS.get(key.strip())
        if sep and slot and f.get(slot) is None:
            f[slot] = clean(value)


def _bits_status(data: dict[str, Any], f: dict[str, Any]) -> None:
    hr = f.get("hr")
    f["ok"] = None if hr is None else hr == 0
    f["hr_hex"] = None
    if isinstance(hr, int) and hr < 0:
        f["hr"] = hr & 0xFFFFFFFF
    if isinstance(f.get("hr"), int):
        f["hr_hex"] = f"0x{f['hr']:08x}"


_BITS: Fields = {"job": "name", "job_id": "Id", "transfer_id": "transferId", "url": "url", "peer": "peer",
         "file_time": "fileTime", "file_length": "fileLength", "bytes_total": "bytesTotal",
         "bytes_transferred": "bytesTransferred", "proxy": "proxy", "hr": "hr"}
_WLAN: Fields = {"ssid": "SSID", "profile": "ProfileName", "interface": "InterfaceDescription",
         "interface_guid": "InterfaceGuid", "bss_type": "BSSType", "auth": "AuthenticationAlgorithm",
         "cipher": "CipherAlgorithm", "connection_mode": "ConnectionMode", "reason": "Reason",
         "connection_id": "ConnectionId"}

SPECS: dict[tuple[str, int], Spec] = {
    ("microsoft-windows-powershell", 4103): typed(
        "powershell", "PowerShell command {command_name}[ ({command_type})][ in {host_application}][ by {user}]"
        "[: {payload}]", {"context": "ContextInfo", "payload": "Payload", "user_data": "UserData"}, (),
        chain(_context, const(stage="module_logging"))),
    ("microsoft-windows-bits-client", 59): typed(
        "bits", "BITS job {job} started transfer of {url}[ ({bytes_total} bytes)]", _BITS,
        ("file_length", "bytes_total", "bytes_transferred", "hr"), const(stage="started")),
    ("microsoft-windows-bits-client", 60): typed(
        "bits", "BITS job {job} stopped transfer of {url}[ (status {hr_hex}][, {bytes_transferred} of "
        "{bytes_total} bytes][)]", _BITS, ("file_length", "bytes_total", "bytes_transferred", "hr"),
        chain(_bits_status, const(stage="stopped"))),
    ("microsoft-windows-winrm", 6): typed(
        "winrm", "WinRM session created[ to {connection}]", {"connection": ("connection", "Connection")},
        extra=const(direction="outbound")),
    ("microsoft-windows-winrm", 91): typed(
        "winrm", "WinRM shell created on this host[ for {resource_uri}][ by {user}]",
        {"resource_uri": ("resourceUri", "ResourceUri"), "user": ("user", "User"), "shell_id": "shellId"},
        extra=const(direction="inbound")),
    # VHDMP-Operational: 12 'Handle for virtual disk %VhdFile created' (every open of an ISO/VHD,
    # including a double-click mount), 1/2 the disk surfaced (mounted) / unsurfaced as a disk number.
    ("microsoft-windows-vhdmp", 12): typed(
        "disk_image", "disk image {image_file} opened[ (status {status})]",
        {"image_file": ("VhdFile", "VhdFileName"), "status": "Status", "read_only": "ReadOnly"},
        extra=const(action="opened")),
    ("microsoft-windows-vhdmp", 1): typed(
        "disk_image", "disk image {image_file} mounted[ as disk {disk_number}]",
        {"image_file": ("VhdFileName", "VhdFile"), "disk_number": "VhdDiskNumber"}, ("disk_number",),
        const(action="mounted")),
    ("microsoft-windows-vhdmp", 2): typed(
        "disk_image", "disk image {image_file} unmounted[ (was disk {disk_number})]",
        {"image_file": ("VhdFileName", "VhdFile"), "disk_number": "VhdDiskNumber"}, ("disk_number",),
        const(action="unmounted")),
    ("microsoft-windows-wlan-autoconfig", 8001): typed(
        "wlan", "Wi-Fi connected to {ssid|profile}[ via {interface}][ ({auth}/{cipher})]", _WLAN,
        extra=const(action="connected")),
    ("microsoft-windows-wlan-autoconfig", 8003): typed(
        "wlan", "Wi-Fi disconnected from {ssid|profile}[ via {interface}][ (reason {reason})]", _WLAN,
        extra=const(action="disconnected")),
    ("microsoft-windows-terminalservices-rdpclient", 1024): typed(
        "rdp_outbound", "outgoing RDP connection to {server}", {"server": ("Value", "Name")},
        extra=const(stage="connecting")),
    ("microsoft-windows-terminalservices-rdpclient", 1102): typed(
        "rdp_outbound", "outgoing RDP multi-transport connection to {server}", {"server": ("Value", "Name")},
        extra=const(stage="multi_transport")),
}

SKIP: dict = {}

WHEN = {"bits": "BITS transfer started/stopped", "winrm": "WinRM session/shell created",
        "disk_image": "Disk image (ISO/VHD) opened/mounted", "wlan": "Wi-Fi connected/disconnected",
        "rdp_outbound": "Outgoing RDP connection"}
