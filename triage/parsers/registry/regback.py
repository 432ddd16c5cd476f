"""The RegBack copies of the system hives (System32\\config\\RegBack\\SYSTEM, SOFTWARE, SAM, SECURITY, DEFAULT):
the autostarts they held, as a ``regback_autostarts`` artifact, for comparison with the live hives.

Why: RegBack is the hive backup Windows made (until Windows 10 1803, by a scheduled task); an autostart
that is in the backup but no longer in the live hive - or whose command changed since - is persistence
that was removed or altered after the backup, i.e. possibly an intruder cleaning up. The comparison
itself is ``triage/analyze/findings_regback.py`` (it needs the live hives' autostarts); this parser only
reads the copies, with the same code as the live hives, and keeps their autostarts apart (as artifact
rows, not Autoruns) so they are never mistaken for what is configured now. Host facts, accounts and
the other artifacts of a backup copy are not extracted: they would duplicate or contradict the live ones.

Since Windows 10 1803 the RegBack files exist but are 0 bytes: that is reported once per file as an
info Issue, not an error.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from triage.model import ArtifactRecord, Autorun, Issue, Record
from triage.parsers.base import ParseInput
from triage.parsers.registry.parser import RegistryParser


@dataclass(frozen=True, slots=True, kw_only=True)
class RegBackAutostart(ArtifactRecord):
    """One autostart held by a RegBack hive copy (its provenance is the RegBack file)."""

    record_type: ClassVar[str] = "windows/registry/regback_autostart"
    artifact: ClassVar[str] = "regback_autostarts"
    title: ClassVar[str] = "Autostarts in the RegBack hive copies"
    description: ClassVar[str] = (
        "Autostart entries (Run keys, services, Winlogon, tasks, ASEPs...) read from the System32\\config\\RegBack "
        "backup copies of the hives. Findings compare them with the live hives: an entry only in the backup, or "
        "with another command there, was removed or changed after the backup was made. Key last-write times are "
        "those of the backup copy (UTC).")
    columns: ClassVar[tuple[tuple[str, str], ...]] = (
        ("hive", "RegBack hive"), ("category", "Category"), ("location", "Location"), ("name", "Name"),
        ("command", "Command"), ("last_write", "Key last write in the backup (UTC)"))

    hive: str
    category: str
    location: str
    name: str
    command: str
    autorun_user: str | None = None
    last_write: datetime | None = None

    def times(self) -> list[tuple[datetime, str]]:
        return [(self.last_write, "RegBack copy: autostart key last write")] if self.last_write else []

    def activity_times(self) -> list[tuple[datetime, str]]:
        return []  # a backup's key time dates a change already seen through the live hive, if at all

    def message(self) -> str:
        return f"RegBack {self.hive}: {self.category} {self.name} -> {self.command}"


class RegBackParser(RegistryParser):
    name = "regback"
    patterns = ("windows/system32/config/regback/*",)
    signatures = ()  # a 0-byte copy is normal (Windows 10 1803+) and gets its own info Issue

    def parse(self, item: ParseInput) -> Iterator[Record | Issue]:
        hive_name = item.rel_path.replace("\\", "/").rsplit("/", 1)[-1]
        if any(hive_name.lower().endswith(x) for x in (".log", ".log1", ".log2", ".sav")):
            return
        size = item.entry.size if isinstance(item.entry.size, int) else None
        with item.open() as fh:
            head = fh.read(4)
        if not head:
            yield item.issue(f"RegBack copy {hive_name} is empty (0 bytes): Windows 10 1803 and later no longer "
                             "back the hives up there; nothing to compare", severity="info")
            return
        if head != b"regf":
            yield item.issue(f"RegBack copy {hive_name} ({size} bytes) is not a registry hive; not parsed",
                             severity="warning")
            return
        for obj in super().parse(item):
            if isinstance(obj, Issue):
                yield obj
            elif isinstance(obj, Autorun):
                yield _backup_row(hive_name, obj)


def _backup_row(hive_name: str, a: Autorun) -> RegBackAutostart:
    return RegBackAutostart(source=a.source, hive=hive_name, category=a.category, location=a.location, name=a.name,
                            command=a.command, autorun_user=a.user, last_write=a.last_write)


def autostart_key(location: str, name: str, user: str | None, category: str) -> tuple[Any, ...]:
    """What identifies one autostart in the live hives and their RegBack copies alike."""
    return (category, location.lower(), name.lower(), (user or "").lower())
