"""Drive letters for NT volume paths: ``\\VOLUME{01d5f51ea48267ca-96a49c74}\\WINDOWS\\X.EXE`` and
``\\Device\\HarddiskVolume3\\Windows\\X.exe`` read as ``C:\\WINDOWS\\X.EXE`` where the bundle says
which volume that is.

What the bundle knows: prefetch files name, per volume, its device path and serial number
(\\VOLUME{<NTFS creation time>-<serial>} on Windows 10+, \\DEVICE\\HARDDISKVOLUMEn before); the
collection manifest says from which drive letter every file was taken (``files/C/...``). The system
volume is the one that holds ``\\Windows\\System32``; prefetch lives on it, so its letter is the
letter the prefetch files were collected from. In a prefetch file the prefix of ntdll.dll proves
it (every process maps it from the system volume); elsewhere (BAM) a prefix holding
Windows\\System32 is mapped only when it is the only one of its kind (two Windows installations:
no guess). MountedDevices in SYSTEM maps letters to disk signatures, not to these
prefixes, so it cannot help here.

Other volumes (a second disk, a USB stick a tool ran from): Shell Links and JumpList items record
the volume serial number of their target next to its drive-letter path (``D:\\tools\\x.exe``), and
both prefix forms lead to a serial — \\VOLUME{...-<serial>} holds it, a prefetch file's volume list
pairs \\DEVICE\\HARDDISKVOLUMEn with it. A serial seen with exactly one letter maps; a serial seen
with two letters (a stick mounted as E: one day and F: the next) and a device number seen with two
serials (numbers are reused across boots and media) stay raw. Volumes the bundle says nothing about
stay as they are.

The raw path is always kept (``raw_path`` of an Execution, the record's own field for artifacts):
provenance first, the letter only for reading.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import fields, replace
from typing import Any

from triage.model import ArtifactRecord, Execution, Record

_PREFIX = re.compile(r"^(\\VOLUME\{[0-9a-f]*-([0-9a-f]{8})\}|\\DEVICE\\HARDDISKVOLUME\d+)(?=\\)", re.IGNORECASE)
_SYSTEM_DIR = re.compile(r"^\\windows\\system32\\", re.IGNORECASE)
_NTDLL = re.compile(r"^\\windows\\system32\\ntdll\.dll$", re.IGNORECASE)
MAX_REFERENCED = 512  # of a prefetch's referenced files, searched for ntdll.dll
_BUNDLE_LETTER = re.compile(r"^files/([A-Za-z])/", re.IGNORECASE)
_LETTER_PATH = re.compile(r"^([A-Za-z]):\\")
_SERIAL = re.compile(r"^[0-9A-F]{8}$")
MAX_PATHS = 200_000  # paths looked at to find the system volume (a hostile host with millions of rows)


def artifact_device_path(rec: Record) -> str | None:
    """The NT device path an artifact record holds (its ``device_path_field``), if any."""
    name = getattr(rec, "device_path_field", None) if isinstance(rec, ArtifactRecord) else None
    value = getattr(rec, name, None) if name else None
    return value if isinstance(value, str) else None


class VolumeMap:
    """Device prefix (upper case) -> drive letter ('C:'), learnt from a host's records."""

    def __init__(self, letters: dict[str, str], serials: dict[str, str] | None = None) -> None:
        self.letters = letters
        self.serials = serials or {}  # volume serial (upper hex) -> letter, for \\VOLUME{...-serial}

    @classmethod
    def build(cls, records: Iterable[Record]) -> VolumeMap:
        """Prefetch: every process maps \\Windows\\System32\\ntdll.dll from the system volume, so
        the prefix of that file in a prefetch's referenced files *is* the system volume of the OS
        that wrote it (each such prefix maps). Other records (BAM): a prefix holding
        \\Windows\\System32 maps only if it is the only one of its kind."""
        system_letter: str | None = None
        proven: set[str] = set()
        windows: dict[str, set[str]] = {"volume": set(), "device": set()}
        serial_letters: dict[str, set[str]] = {}
        device_serials: dict[str, set[str]] = {}
        seen = 0
        for rec in records:
            if isinstance(rec, Execution) and rec.kind == "prefetch":
                m = _BUNDLE_LETTER.match(rec.source.bundle_path)
                if m and system_letter is None:
                    system_letter = f"{m.group(1).upper()}:"
                for ref in rec.referenced_files[:MAX_REFERENCED]:
                    m = _PREFIX.match(ref)
                    if m is not None and _NTDLL.match(ref[m.end():]):
                        proven.add(m.group(1).upper())
                        break
                for vol in rec.volumes[:MAX_REFERENCED]:
                    device, serial = vol.get("device_path"), vol.get("serial_number")
                    if isinstance(device, str) and isinstance(serial, str) and _SERIAL.match(serial.upper()):
                        device_serials.setdefault(device.upper(), set()).add(serial.upper())
                continue
            _link_letter(rec, serial_letters)
            path = artifact_device_path(rec)
            if path is None:
                continue
            seen += 1
            if seen > MAX_PATHS:
                break
            m = _PREFIX.match(path)
            if m is not None and _SYSTEM_DIR.match(path[m.end():]):
                prefix = m.group(1).upper()
                windows["volume" if prefix.startswith("\\VOLUME{") else "device"].add(prefix)
        letters: dict[str, str] = {}
        if system_letter is not None:
            letters.update((p, system_letter) for p in proven)
            for prefixes in windows.values():
                if len(prefixes) == 1 and not prefixes & proven:
                    letters.setdefault(next(iter(prefixes)), system_letter)
        serials = {serial: next(iter(seen_as)) for serial, seen_as in serial_letters.items() if len(seen_as) == 1}
        for device, found in device_serials.items():
            serial = next(iter(found)) if len(found) == 1 else None
            if serial in serials and device.startswith("\\DEVICE\\"):
                letters.setdefault(device, serials[serial])
        return cls(letters, serials)

    def resolve(self, path: str | None) -> str | None:
        """The path with its device prefix replaced by the drive letter, or None when unknown."""
        if not path or not (self.letters or self.serials):
            return None
        m = _PREFIX.match(path)
        if m is None:
            return None
        letter = self.letters.get(m.group(1).upper())
        if letter is None and m.group(2):
            letter = self.serials.get(m.group(2).upper())
        return f"{letter}{path[m.end():]}" if letter else None


def _link_letter(rec: Record, serial_letters: dict[str, set[str]]) -> None:
    """A Shell Link / JumpList item's volume serial and the drive letter of its target path."""
    serial = getattr(rec, "volume_serial", None)
    if not isinstance(serial, str) or not _SERIAL.match(serial.upper()):
        return
    for name in ("target_path", "target", "path"):
        value = getattr(rec, name, None)
        m = _LETTER_PATH.match(value) if isinstance(value, str) else None
        if m is not None:
            serial_letters.setdefault(serial.upper(), set()).add(f"{m.group(1).upper()}:")
            return


def resolve_records(records: list[Record]) -> list[Record]:
    """The host's records with drive letters where known: an Execution's path is replaced and the
    original kept in raw_path; an artifact with a ``device_path_field`` gets ``resolved_path``."""
    vmap = VolumeMap.build(records)
    if not vmap.letters and not vmap.serials:
        return records
    out: list[Record] = []
    for rec in records:
        if isinstance(rec, Execution):
            new = vmap.resolve(rec.path)
            out.append(replace(rec, path=new, raw_path=rec.path) if new else rec)
        elif isinstance(rec, ArtifactRecord) and getattr(rec, "device_path_field", None) and _has(rec, "resolved_path"):
            new = vmap.resolve(getattr(rec, rec.device_path_field))  # type: ignore[attr-defined]
            out.append(replace(rec, resolved_path=new) if new else rec)  # type: ignore[call-arg]
        else:
            out.append(rec)
    return out


def _has(rec: Any, name: str) -> bool:
    return any(f.name == name for f in fields(rec))
