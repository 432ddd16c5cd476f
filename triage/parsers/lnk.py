"""Windows Shell Link (.lnk) files -> :class:`LnkFile` (artifact ``lnk_files``).

Why these files: Windows writes a shortcut into ``Recent`` (and Office into ``Office\\Recent``) each
time a user opens a document, so a .lnk proves that a file was opened from that profile, and carries
facts about the *target* at that moment: its creation/modification/access FILETIMEs and size (header),
the volume it was on (drive type, serial number, label), the machine it was on (TrackerDataBlock
NetBIOS name, and the MAC address hidden in the version-1 object id), and the command line. Desktop
shortcuts are collected too (a planted shortcut is a persistence / lure trick).

The reading is done by liblnk (``pylnk``, LGPL, a fuzzed C library) on a capped in-memory copy; the
FILETIMEs are taken as integers and converted here (exact, UTC). :func:`read_link` is the one LNK
reader of the project: the JumpList parser uses it for the links embedded in ``*Destinations-ms``
files, the Startup-folder parser for shortcuts there. When liblnk rejects a link outright (it refuses
e.g. a command line with trailing padding that Windows itself accepts), the pure-Python LnkParse3 is
asked for the strings only, and the record says so (``reader``).
"""

from __future__ import annotations

import io
import re
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

import pylnk

from triage.model import ArtifactRecord, Issue, Record
from triage.parsers.base import ParseInput, Parser
from triage.parsers.tasks import manifest_time, windows_path
from triage.parsers.wintime import filetime_utc

MAX_LNK_BYTES = 1 << 20  # real links are a few KiB; a bigger "link" is not read
LNK_HEADER = bytes.fromhex("4c0000000114020000000000c000000000000046")
DRIVE_TYPES = {0: "unknown", 1: "no_root_dir", 2: "removable", 3: "fixed", 4: "remote", 5: "cdrom", 6: "ramdisk"}
SHOW_COMMANDS = {1: "normal", 3: "maximized", 7: "minimized"}
_LOCATIONS = (("/microsoft/office/recent/", "office_recent"), ("/recent/", "recent"), ("/desktop/", "desktop"),
              ("/start menu/", "start_menu"))


class LnkError(ValueError):
    """The bytes are not a Shell Link either library can read."""


@dataclass
class LinkFacts:
    """What one Shell Link says, library-neutral. Times are the target's, from the link header (UTC)."""

    target_path: str | None = None
    network_path: str | None = None
    env_target: str | None = None
    idlist_path: str | None = None
    relative_path: str | None = None
    arguments: str | None = None
    working_dir: str | None = None
    description: str | None = None
    icon_location: str | None = None
    show_command: str | None = None
    target_created: datetime | None = None
    target_modified: datetime | None = None
    target_accessed: datetime | None = None
    target_size: int | None = None
    drive_type: str | None = None
    volume_serial: str | None = None
    volume_label: str | None = None
    machine_id: str | None = None
    droid_file_id: str | None = None
    droid_mac: str | None = None
    reader: str = "liblnk"
    warnings: list[str] = field(default_factory=list)

    @property
    def target(self) -> str | None:
        """The best single target string: local path, network path, env-var path, shell item list path,
        relative path."""
        return self.target_path or self.network_path or self.env_target or self.idlist_path or self.relative_path


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).replace("\x00", "")
    return text or None


def mac_of_droid(droid: str | None) -> str | None:
    """The node (MAC address) of a version-1 UUID object id: the network card of the machine where the
    link tracking id was generated. Other UUID versions carry no MAC."""
    try:
        u = uuid.UUID(droid) if droid else None
    except ValueError:
        return None
    if u is None or u.version != 1 or u.int == 0:
        return None
    return ":".join(f"{(u.node >> s) & 0xFF:02x}" for s in range(40, -8, -8))


def idlist_path(data: bytes | None) -> str | None:
    """The target as the LinkTargetIDList's shell items name it (decoded with libfwsi, as ShellBags are):
    from the volume item on when there is one ('C:\\Windows\\system32\\cmd.exe'), else every segment
    ('My Computer\\...'). Links without a LinkInfo (typical of malicious shortcuts) name their target
    only here. None when libfwsi is not installed or cannot read the list."""
    if not data:
        return None
    try:
        import pyfwsi

        from triage.parsers.registry.shellbags import describe_item

        items = pyfwsi.item_list()
        items.copy_from_byte_stream(data)
        described = [(d["item_type"], d["segment"]) for d in map(describe_item, items.items)]
    except Exception:  # ImportError (optional library) or libfwsi's IOError on a malformed list
        return None
    volumes = [i for i, (kind, _seg) in enumerate(described) if kind == "volume"]
    segments = [seg for _kind, seg in described[volumes[-1] if volumes else 0:] if seg]
    return "\\".join(seg.rstrip("\\") for seg in segments) or None


def _liblnk(data: bytes) -> LinkFacts:
    f = pylnk.file()
    f.open_file_object(io.BytesIO(data))
    try:
        serial = f.drive_serial_number
        droid = _text(f.droid_file_identifier)
        facts = LinkFacts(
            target_path=_text(f.local_path), network_path=_text(f.network_path),
            env_target=_text(f.environment_variables_location), relative_path=_text(f.relative_path),
            idlist_path=idlist_path(f.link_target_identifier_data),
            arguments=_text(f.command_line_arguments), working_dir=_text(f.working_directory),
            description=_text(f.description), icon_location=_text(f.icon_location),
            show_command=SHOW_COMMANDS.get(f.show_window_value, str(f.show_window_value)),
            target_created=filetime_utc(f.get_file_creation_time_as_integer()),
            target_modified=filetime_utc(f.get_file_modification_time_as_integer()),
            target_accessed=filetime_utc(f.get_file_access_time_as_integer()),
            target_size=f.file_size,
            drive_type=None if f.drive_type is None else DRIVE_TYPES.get(f.drive_type, str(f.drive_type)),
            volume_serial=None if not serial and not f.local_path else f"{serial:08X}",
            volume_label=_text(f.volume_label),
            machine_id=_text(f.machine_identifier), droid_file_id=droid, droid_mac=mac_of_droid(droid))
        if f.is_corrupted():
            facts.warnings.append("liblnk flags the link as corrupted: some fields may be missing")
        return facts
    finally:
        f.close()


def _lnkparse3(data: bytes) -> LinkFacts:
    """Strings only, from LnkParse3, for the links liblnk refuses (no times: its float rounding differs)."""
    import LnkParse3

    with warnings.catch_warnings():  # it warns (stderr) about odd DOS dates in shell items
        warnings.simplefilter("ignore")
        j = LnkParse3.lnk_file(io.BytesIO(data)).get_json()
    info, strings = j.get("link_info") or {}, j.get("data") or {}
    return LinkFacts(target_path=_text(info.get("local_base_path")),
                     network_path=_text((info.get("location_info") or {}).get("net_name")),
                     relative_path=_text(strings.get("relative_path")),
                     arguments=_text(strings.get("command_line_arguments")),
                     working_dir=_text(strings.get("working_directory")),
                     description=_text(strings.get("description")), icon_location=_text(strings.get("icon_location")),
                     reader="LnkParse3")


def read_link(data: bytes) -> LinkFacts:
    """Read one Shell Link held in memory (the caller caps its size). Never reads the target or the
    network; raises :class:`LnkError` when neither library can read it."""
    if not data.startswith(LNK_HEADER[:4]) or data[4:20] != LNK_HEADER[4:20]:
        raise LnkError("not a Shell Link (bad header size or CLSID)")
    try:
        return _liblnk(data)
    except (OSError, ValueError, TypeError) as exc:
        first = str(exc).split(". ")[-1].strip() or str(exc)
    try:
        facts = _lnkparse3(data)
    except Exception as exc:  # a pure-Python parser on hostile bytes: any error = unreadable
        raise LnkError(f"liblnk: {first}; LnkParse3: {type(exc).__name__}: {exc}") from None
    facts.warnings.append(f"liblnk rejected the link ({first}); strings read with LnkParse3, no times")
    return facts


def link_location(rel_path: str) -> str:
    """'recent', 'office_recent', 'desktop', 'start_menu' or 'other', from the folder the link is in."""
    low = "/" + rel_path.lower()
    return next((name for part, name in _LOCATIONS if part in low), "other")


@dataclass(frozen=True, slots=True, kw_only=True)
class LnkFile(ArtifactRecord):
    """One .lnk file. ``target_*`` times are the target file's times as the link header recorded them when
    the link was last written; ``link_created`` / ``link_modified`` are the .lnk file's own times from the
    bundle manifest (for a Recent link: first and last time the target was opened)."""

    record_type: ClassVar[str] = "windows/lnk"
    artifact: ClassVar[str] = "lnk_files"
    title: ClassVar[str] = "Shortcut (LNK) files"
    description: ClassVar[str] = (
        "Shortcuts from Recent, Office Recent and Desktop folders: a Recent link proves the user opened its "
        "target (first open = link created, last open = link modified); target times, volume and machine id "
        "describe the target when the link was written. It does not prove the target still exists.")
    columns: ClassVar[tuple[tuple[str, str], ...]] = (
        ("link_path", "Link"), ("target", "Target"), ("arguments", "Arguments"), ("link_modified", "Link modified"),
        ("target_modified", "Target modified"), ("drive_type", "Drive"), ("volume_serial", "Volume serial"),
        ("machine_id", "Machine"), ("user", "User"))

    link_path: str
    location: str
    user: str | None
    target: str | None
    target_path: str | None
    network_path: str | None
    env_target: str | None
    idlist_path: str | None
    relative_path: str | None
    arguments: str | None
    working_dir: str | None
    description_text: str | None
    icon_location: str | None
    target_created: datetime | None
    target_modified: datetime | None
    target_accessed: datetime | None
    target_size: int | None
    drive_type: str | None
    volume_serial: str | None
    volume_label: str | None
    machine_id: str | None
    droid_mac: str | None
    link_created: datetime | None
    link_modified: datetime | None
    reader: str

    def times(self) -> list[tuple[datetime, str]]:
        pairs = [(self.link_created, "LNK file created (target first opened)"),
                 (self.link_modified, "LNK file modified (target last opened)"),
                 (self.target_created, "LNK target created (link header)"),
                 (self.target_modified, "LNK target modified (link header)"),
                 (self.target_accessed, "LNK target accessed (link header)")]
        return [(t, d) for t, d in pairs if t is not None]

    def activity_times(self) -> list[tuple[datetime, str]]:
        return [(t, d) for t, d in self.times() if d.startswith("LNK file")]

    def message(self) -> str:
        args = f" {self.arguments}" if self.arguments else ""
        return f"Shortcut {self.link_path} -> {self.target or '(no target path)'}{args}"


def read_capped(item: ParseInput, cap: int) -> tuple[bytes | None, Issue | None]:
    """The member's bytes up to ``cap``; (None, Issue) when unreadable or larger."""
    try:
        with item.open() as fh:
            data = fh.read(cap + 1)
    except OSError as exc:
        return None, item.issue(f"cannot read file: {exc}")
    if len(data) > cap:
        return None, item.issue(f"file larger than {cap} bytes: not read", severity="warning")
    return data, None


class LnkParser(Parser):
    """One LnkFile per shortcut in Recent (any depth), Office Recent and Desktop folders."""

    name = "lnk"
    patterns = (
        "users/*/appdata/roaming/microsoft/windows/recent/*.lnk",
        "users/*/appdata/roaming/microsoft/office/recent/*.lnk",
        "users/*/desktop/*.lnk",
        "users/public/desktop/*.lnk",
        "documents and settings/*/recent/*.lnk",
        "documents and settings/*/desktop/*.lnk",
    )

    def parse(self, item: ParseInput) -> Iterator[Record | Issue]:
        data, problem = read_capped(item, int((item.options or {}).get("max_lnk_bytes", MAX_LNK_BYTES)))
        if problem is not None:
            yield problem
            return
        assert data is not None
        try:
            facts = read_link(data)
        except LnkError as exc:
            yield item.issue(f"unreadable shortcut: {exc}", severity="warning")
            return
        for w in facts.warnings:
            yield item.issue(f"shortcut partly read: {w}", severity="warning")
        yield lnk_record(item, facts)


_USER = re.compile(r"^(?:users|documents and settings)/([^/]+)/", re.IGNORECASE)


def lnk_record(item: ParseInput, facts: LinkFacts) -> LnkFile:
    m = _USER.match(item.rel_path)
    return LnkFile(
        source=item.source("ShellLink"), link_path=windows_path(item), location=link_location(item.rel_path),
        user=item.user or (m.group(1) if m else None), target=facts.target, target_path=facts.target_path,
        network_path=facts.network_path, env_target=facts.env_target, idlist_path=facts.idlist_path,
        relative_path=facts.relative_path,
        arguments=facts.arguments, working_dir=facts.working_dir, description_text=facts.description,
        icon_location=facts.icon_location, target_created=facts.target_created,
        target_modified=facts.target_modified, target_accessed=facts.target_accessed,
        target_size=facts.target_size, drive_type=facts.drive_type, volume_serial=facts.volume_serial,
        volume_label=facts.volume_label, machine_id=facts.machine_id, droid_mac=facts.droid_mac,
        link_created=manifest_time(item, "born"), link_modified=manifest_time(item, "modified"),
        reader=facts.reader)
