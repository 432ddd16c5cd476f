"""MUICache: the display names Explorer cached for programs a user started through the shell.

Why it matters: an entry exists because the user launched that executable through Explorer (or a
shell API) at some point, and it survives the file's deletion - a program run from a USB stick or a
temp folder leaves its full path here. No per-entry time exists; only the key's last write (the newest
entry's addition, roughly). Key: UsrClass.dat ``Local Settings\\Software\\Microsoft\\Windows\\Shell\\MuiCache``
(Vista and later); XP: NTUSER.DAT ``Software\\Microsoft\\Windows\\ShellNoRoam\\MUICache``. Value names
are '<path>.FriendlyAppName' / '<path>.ApplicationCompany' from Vista on, the bare path on XP;
'@'-prefixed resource strings and LangID are the cache's own bookkeeping and skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from triage.model import ArtifactRecord, Issue, Record
from triage.parsers.registry.autoruns import Context

USRCLASS_KEY = "Local Settings\\Software\\Microsoft\\Windows\\Shell\\MuiCache"
XP_KEY = "Software\\Microsoft\\Windows\\ShellNoRoam\\MUICache"
SUFFIXES = (".friendlyappname", ".applicationcompany")


@dataclass(frozen=True, slots=True, kw_only=True)
class MuiCacheEntry(ArtifactRecord):
    """One MUICache value: the program path, which attribute (friendly_name / company / name) and its text.
    key_last_write is the MuiCache key's last write, shared by every entry (not this entry's time)."""

    record_type: ClassVar[str] = "windows/registry/muicache"
    artifact: ClassVar[str] = "muicache"
    title: ClassVar[str] = "Programs started through the shell (MUICache)"
    description: ClassVar[str] = (
        "Executables each user launched through Explorer, with the name Explorer showed; kept after the file is "
        "deleted. No per-entry time.")
    columns: ClassVar[tuple[tuple[str, str], ...]] = (
        ("user", "User"), ("executable", "Program"), ("attribute", "Attribute"), ("text", "Display text"))

    user: str | None
    executable: str
    attribute: str  # 'friendly_name' | 'company' | 'name' (XP)
    text: str
    value_name: str
    key_last_write: datetime | None

    def message(self) -> str:
        return f"MUICache: {self.executable} ({self.text})"


def parse_muicache(ctx: Context) -> Iterator[Record | Issue]:
    hive = ctx.hive
    for path in (USRCLASS_KEY, XP_KEY):
        key = hive.key(path)
        if key is None:
            continue
        write = hive.last_write(key)
        for name, _t, data in hive.values(key):
            if not name or name.startswith("@") or name.lower() == "langid" or not isinstance(data, str):
                continue
            low = name.lower()
            if low.endswith(SUFFIXES[0]):
                exe, attr = name[: -len(SUFFIXES[0])], "friendly_name"
            elif low.endswith(SUFFIXES[1]):
                exe, attr = name[: -len(SUFFIXES[1])], "company"
            else:
                exe, attr = name, "name"
            yield MuiCacheEntry(source=ctx.item.source(f"{hive.path(key)}\\{name}"), user=ctx.user, executable=exe,
                                attribute=attr, text=data, value_name=name, key_last_write=write)
