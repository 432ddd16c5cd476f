"""UserAssist from NTUSER.DAT: programs and shortcuts a user launched from Explorer, with run counts.

Why it matters: Explorer counts GUI launches per user (Start menu, desktop, Explorer double-clicks),
with the last launch time and, from Windows 7, the focus count and total focus time. Programs started
from a command line or a service are not counted, so absence proves little; presence ties a program to
a user. Value names are ROT13-encoded; many begin with a known-folder GUID
('{1AC14E77-...}\\cmd.exe' is System32\\cmd.exe), which ``path`` resolves to a readable folder name.

Key: ``Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\UserAssist\\{GUID}\\Count``; every GUID
subkey is read (not only a list of known ones). Value data: 72 bytes (Windows 7 and later: session,
run count, focus count, focus time in ms, ..., last run FILETIME at offset 60) or 16 bytes (XP and Vista:
session, run count + 5, last run FILETIME; a stored count below 5 gives run_count None). Values of other sizes (UEME_CTLSESSION) are session
bookkeeping, not launches, and are skipped.
"""

from __future__ import annotations

import codecs
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from triage.model import ArtifactRecord, Issue, Record
from triage.parsers.registry.autoruns import MAX_SUBKEYS, Context
from triage.units import from_filetime

USERASSIST = "Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\UserAssist"
XP_COUNT_OFFSET = 5  # XP/Vista store the run count plus 5

# KNOWNFOLDERID values (Microsoft's published constants) seen at the start of UserAssist names
KNOWN_FOLDERS = {
    "{1AC14E77-02E7-4E5D-B744-2EB1AE5198B7}": "%SystemRoot%\\System32",
    "{D65231B0-B2F1-4857-A4CE-A8E7C6EA7D27}": "%SystemRoot%\\SysWOW64",
    "{F38BF404-1D43-42F2-9305-67DE0B28FC23}": "%SystemRoot%",
    "{6D809377-6AF0-444B-8957-A3773F02200E}": "%ProgramFiles%",
    "{7C5A40EF-A0FB-4BFC-874A-C0F2E0B9FA8E}": "%ProgramFiles(x86)%",
    "{905E63B6-C1BF-494E-B29C-65B732D3D21A}": "%ProgramFiles%",
    "{F7F1ED05-9F6D-47A2-AAAE-29D317C6F066}": "%CommonProgramFiles%",
    "{DE974D24-D9C6-4D3E-BF91-F4455120B917}": "%CommonProgramFiles(x86)%",
    "{0139D44E-6AFE-49F2-8690-3DAFCAE6FFB8}": "%ProgramData%\\Microsoft\\Windows\\Start Menu\\Programs",
    "{A77F5D77-2E2B-44C3-A6A2-ABA601054A51}": "%AppData%\\Microsoft\\Windows\\Start Menu\\Programs",
    "{9E3995AB-1F9C-4F13-B827-48B24B6C7174}": "%AppData%\\Microsoft\\Internet Explorer\\Quick Launch\\User Pinned",
    "{62AB5D82-FDC1-4DC3-A9DD-070D1D495D97}": "%ProgramData%",
    "{374DE290-123F-4565-9164-39C4925E467B}": "%UserProfile%\\Downloads",
    "{B4BFCC3A-DB2C-424C-B029-7FE99A87C641}": "%UserProfile%\\Desktop",
    "{FDD39AD0-238F-46AF-ADB4-6C85480369C7}": "%UserProfile%\\Documents",
    "{F1B32785-6FBA-4FCF-9D55-7B8E7F157091}": "%LocalAppData%",
    "{3EB685DB-65F9-4CF6-A03A-E3EF65729F3D}": "%AppData%",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class UserAssistEntry(ArtifactRecord):
    """One UserAssist value: name (ROT13-decoded, as stored), path (known-folder GUID resolved),
    run_count, focus_count, focus_time_ms (Windows 7+), last_run (UTC; None if never / zero)."""

    record_type: ClassVar[str] = "windows/registry/userassist"
    artifact: ClassVar[str] = "userassist"
    title: ClassVar[str] = "UserAssist (GUI launches per user)"
    description: ClassVar[str] = (
        "Programs and shortcuts a user launched from Explorer or the Start menu, with run count, focus "
        "time and last launch. Command-line starts are not counted.")
    columns: ClassVar[tuple[tuple[str, str], ...]] = (
        ("last_run", "Last run"), ("path", "Program / shortcut"), ("run_count", "Runs"),
        ("focus_count", "Focus count"), ("focus_time_ms", "Focus time (ms)"), ("user", "User"))

    name: str
    path: str
    guid: str
    user: str | None
    run_count: int | None
    last_run: datetime | None
    focus_count: int | None = None
    focus_time_ms: int | None = None
    session: int | None = None
    format: str = "win7"

    def times(self) -> list[tuple[datetime, str]]:
        return [(self.last_run, "UserAssist last run")] if self.last_run else []

    def execution(self) -> tuple[str, str | None, int | None, tuple[datetime, ...]] | None:
        if self.name.startswith("UEME_CTL"):  # Explorer's own counters, not programs
            return None
        exe = self.path.replace("/", "\\").rstrip("\\").rsplit("\\", 1)[-1]
        return (exe, self.path, self.run_count, (self.last_run,) if self.last_run else ())

    def message(self) -> str:
        runs = f", {self.run_count} runs" if self.run_count is not None else ""
        who = f" by {self.user}" if self.user else ""
        return f"UserAssist: {self.path} launched{who}{runs}"


def resolve_known_folder(name: str) -> str:
    head, sep, rest = name.partition("\\")
    folder = KNOWN_FOLDERS.get(head.upper())
    return f"{folder}{sep}{rest}" if folder else name


def decode_value(data: bytes) -> tuple[str, dict] | None:
    """(format, fields) of one Count value, or None when it is not a launch record."""
    if len(data) == 72:
        session, runs, focus, focus_ms = struct.unpack_from("<IIII", data, 0)
        return "win7", {"session": session, "run_count": runs, "focus_count": focus, "focus_time_ms": focus_ms,
                        "last_run": from_filetime(struct.unpack_from("<Q", data, 60)[0])}
    if len(data) == 16:
        session, runs, last = struct.unpack_from("<IIQ", data, 0)
        # a stored count below the offset is not a launch count (UEME_CTLCUACount:ctor holds 2): None
        return "xp", {"session": session, "run_count": runs - XP_COUNT_OFFSET if runs >= XP_COUNT_OFFSET else None,
                      "last_run": from_filetime(last)}
    return None


def parse_userassist(ctx: Context) -> Iterator[Record | Issue]:
    hive = ctx.hive
    root = hive.key(USERASSIST)
    if root is None:
        return
    for guid_key in hive.subkeys(root)[:MAX_SUBKEYS]:
        count = hive.subkey(guid_key, "Count")
        if count is None:
            continue
        guid = guid_key.name()
        for raw_name, _vtype, data in hive.values(count):
            if not isinstance(data, bytes):
                continue
            decoded = decode_value(data)
            if decoded is None:
                continue
            fmt, fields = decoded
            name = codecs.decode(raw_name, "rot13")
            yield UserAssistEntry(source=ctx.item.source(f"{hive.path(count)}\\{raw_name}"), name=name,
                                  path=resolve_known_folder(name), guid=guid, user=ctx.user, format=fmt, **fields)
