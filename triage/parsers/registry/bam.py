"""BAM / DAM (Background / Desktop Activity Moderator) from the SYSTEM hive: per-user last run.

Why it matters: from Windows 10 1709 the bam (and dam) driver keeps, per user SID, one value per
program the user ran, holding the time the program last ran (strictly: the last time it was running
when the moderator accounted for it, usually its exit). It is one of the few execution artifacts tied
to a user SID and is per control set. Paths are NT device paths
('\\Device\\HarddiskVolume3\\Windows\\System32\\cmd.exe') or a packaged app's family name.

Keys: ``Services\\bam\\UserSettings\\<SID>`` (1709-1803) and ``Services\\bam\\State\\UserSettings\\<SID>``
(1809 and later); the same under ``dam``. ``SequenceNumber`` and ``Version`` values are bookkeeping, not
programs. Value data: 24 bytes (older builds 8), the first 8 a FILETIME.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from triage.model import ArtifactRecord, Issue, Record
from triage.parsers.registry.autoruns import MAX_SUBKEYS, Context
from triage.parsers.registry.shimcache import _basename, control_sets
from triage.units import from_filetime

BOOKKEEPING = {"sequencenumber", "version"}
LOCATIONS = ("UserSettings", "State\\UserSettings")


@dataclass(frozen=True, slots=True, kw_only=True)
class BamEntry(ArtifactRecord):
    """One program a user SID ran, with its last run time (UTC) as the moderator recorded it."""

    record_type: ClassVar[str] = "windows/registry/bam"
    artifact: ClassVar[str] = "bam"
    title: ClassVar[str] = "BAM / DAM (last run per user)"
    description: ClassVar[str] = (
        "Programs each user SID ran, with the last time they ran (Windows 10 1709 and later); "
        "'moderator' says whether bam or dam recorded it.")
    columns: ClassVar[tuple[tuple[str, str], ...]] = (
        ("last_run", "Last run"), ("executable", "Program"), ("sid", "User SID"), ("moderator", "Moderator"),
        ("control_set", "Control set"))

    executable: str
    sid: str
    last_run: datetime | None
    moderator: str  # 'bam' or 'dam'
    control_set: str
    key_path: str
    sequence_number: int | None = None
    version: int | None = None
    device_path_field: ClassVar[str] = "executable"  # an NT device path: analyze/volumes.py gives its letter
    resolved_path: str | None = None                  # 'C:\\Windows\\...' where the volume is known

    def times(self) -> list[tuple[datetime, str]]:
        return [(self.last_run, f"{self.moderator.upper()} last run")] if self.last_run else []

    def execution(self) -> tuple[str, str | None, int | None, tuple[datetime, ...]] | None:
        return (_basename(self.executable), self.resolved_path or self.executable, None,
                (self.last_run,) if self.last_run else ())

    def message(self) -> str:
        return f"{self.moderator.upper()}: {self.resolved_path or self.executable} run by {self.sid} ({self.control_set})"


def parse_bam(ctx: Context) -> Iterator[Record | Issue]:
    """Every SID subkey's programs under bam and dam, in every control set; identical (moderator, SID,
    program, time) rows of a second control set are not repeated."""
    hive = ctx.hive
    seen: set[tuple[str, str, str, datetime | None]] = set()
    for ccs in control_sets(ctx):
        for moderator in ("bam", "dam"):
            for where in LOCATIONS:
                root = hive.key(f"{ccs}\\Services\\{moderator}\\{where}")
                if root is None:
                    continue
                for sid_key in hive.subkeys(root)[:MAX_SUBKEYS]:
                    sid = sid_key.name()
                    vals = list(hive.values(sid_key))
                    meta = {n.lower(): d for n, _t, d in vals if n.lower() in BOOKKEEPING}
                    key_path = hive.path(sid_key)
                    for name, _vtype, data in vals:
                        if name.lower() in BOOKKEEPING:
                            continue
                        locator = f"{key_path}\\{name}"
                        if not isinstance(data, bytes) or len(data) < 8:
                            yield ctx.item.issue(f"{moderator.upper()} value is not a FILETIME ({len(data) if isinstance(data, bytes) else type(data).__name__})",
                                                 severity="warning", locator=locator)
                            continue
                        when = from_filetime(struct.unpack_from("<Q", data)[0])
                        mark = (moderator, sid.lower(), name.lower(), when)
                        if mark in seen:
                            continue
                        seen.add(mark)
                        seq, ver = meta.get("sequencenumber"), meta.get("version")
                        yield BamEntry(source=ctx.item.source(locator), executable=name, sid=sid, last_run=when,
                                       moderator=moderator, control_set=ccs, key_path=key_path,
                                       sequence_number=seq if isinstance(seq, int) else None,
                                       version=ver if isinstance(ver, int) else None)
