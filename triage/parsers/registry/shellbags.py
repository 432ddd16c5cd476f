"""ShellBags: the folders a user opened in Explorer (or a file dialog), from UsrClass.dat (Vista and
later) and NTUSER.DAT (XP, and Desktop/Network views), including removable, network and since-deleted
folders.

Why it matters: Explorer remembers the view settings of every folder it showed, keyed by the folder's
shell item path, so the BagMRU tree is a list of places the person browsed - a USB stick's folders, a
\\\\server\\share, a folder inside a ZIP, a folder deleted since. The shell items themselves are decoded
with libfwsi (pyfwsi, LGPL; it also reads Vista+ property-view items); this module walks the tree,
builds each path and keeps its times.

Times and what they mean: ``key_last_write`` is the last write of the BagMRU key holding the item (the
last time a child of that node was added or reordered - it dates the newest child, exactly, only for the
first item of the MRUListEx); ``modified`` / ``created`` / ``accessed`` are the FOLDER's own times as the
file-entry shell item recorded them when Explorer first saw it (DOS date/time, 2-second resolution,
stored in UTC), not when the user opened it. Only the key's last write goes into the timeline as "folder
opened" evidence for position 0; the folder's own times go in with their own descriptions.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from triage.model import ArtifactRecord, Issue, Record
from triage.parsers.registry.autoruns import Context

BAGMRU_KEYS = ("Local Settings\\Software\\Microsoft\\Windows\\Shell\\BagMRU",  # UsrClass.dat
               "Software\\Microsoft\\Windows\\Shell\\BagMRU",  # NTUSER.DAT (desktop / network views)
               "Software\\Microsoft\\Windows\\ShellNoRoam\\BagMRU")  # NTUSER.DAT, XP
MAX_DEPTH = 64
MAX_ITEMS = 100_000

# Shell folder identifiers (CLSIDs of well-known shell folders, Microsoft's published values)
SHELL_FOLDERS = {
    "20d04fe0-3aea-1069-a2d8-08002b30309d": "My Computer",
    "208d2c60-3aea-1069-a2d7-08002b30309d": "My Network Places",
    "f02c1a0d-be21-4350-88b0-7367fc96ef3c": "Network",
    "450d8fba-ad25-11d0-98a8-0800361b1103": "My Documents",
    "59031a47-3f72-44a7-89c5-5595fe6b30ee": "Users Files",
    "645ff040-5081-101b-9f08-00aa002f954e": "Recycle Bin",
    "21ec2020-3aea-1069-a2dd-08002b30309d": "Control Panel",
    "26ee0668-a00a-44d7-9371-beb064c98683": "Control Panel",
    "031e4825-7b94-4dc3-b131-e946b44c8dd5": "Libraries",
    "679f85cb-0220-4080-b29b-5540cc05aab6": "Quick access",
    "5e6c858f-0e22-4760-9afe-ea3317b67173": "Users",
    "b4fb3f98-c1ea-428d-a78a-d1f5659cba93": "Other Users Folder",
    "018d5c66-4533-4307-9b53-224de2ed1fe6": "OneDrive",
    "374de290-123f-4565-9164-39c4925e467b": "Downloads",
    "088e3905-0323-4b02-9826-5d99428e115f": "Downloads",
    "d3162b92-9365-467a-956b-92703aca08af": "Documents",
    "f42ee2d3-909f-4907-8871-4c22fc0bf756": "Documents",
    "3dfdf296-dbec-4fb4-81d1-6a3438bcf4de": "Music",
    "24ad3ad4-a569-4530-98e1-ab02f9417aa8": "Pictures",
    "f86fa3ab-70d2-4fc7-9c99-fcbf05467f3a": "Videos",
    "b4bfcc3a-db2c-424c-b029-7fe99a87c641": "Desktop",
    "9343812e-1c37-4a49-a12e-4b2d810d956b": "Search Home",
    "4234d49b-0245-4df3-b780-3893943456e1": "Applications",
    "1cf1260c-4dd0-4ebb-811f-33c572699fde": "Music",
    "3add1653-eb32-4cb0-bbd7-dfa0abb5acca": "Pictures",
    "a0953c92-50dc-43bf-be83-3742fed03c9c": "Videos",
}


CONTROL_PANEL_CATEGORIES = {
    "0": "All Control Panel Items", "1": "Appearance and Personalization", "2": "Hardware and Sound",
    "3": "Network and Internet", "4": "Sound, Speech and Audio Devices", "5": "System and Security",
    "6": "Clock, Language, and Region", "7": "Ease of Access", "8": "Programs", "9": "User Accounts",
    "10": "Security Center", "11": "Mobile PC",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ShellBag(ArtifactRecord):
    """One folder (shell item) of a user's BagMRU tree, with the full path built from its ancestors."""

    record_type: ClassVar[str] = "windows/registry/shellbag"
    artifact: ClassVar[str] = "shellbags"
    title: ClassVar[str] = "Folders opened (ShellBags)"
    description: ClassVar[str] = (
        "Folders each user browsed in Explorer or a file dialog, including USB, network and deleted ones. "
        "'Key last write' dates the newest item of a node (position 0); the folder times are the folder's own "
        "(as first seen), not when it was opened.")
    columns: ClassVar[tuple[tuple[str, str], ...]] = (
        ("key_last_write", "Key last write"), ("user", "User"), ("path", "Path"), ("item_type", "Item type"),
        ("position", "MRU position"), ("modified", "Folder modified"), ("created", "Folder created"))

    user: str | None
    path: str
    segment: str
    item_type: str
    bag_key: str
    value_name: str
    position: int | None
    depth: int
    key_last_write: datetime | None
    guid: str | None = None
    modified: datetime | None = None
    created: datetime | None = None
    accessed: datetime | None = None
    file_reference: str | None = None

    def times(self) -> list[tuple[datetime, str]]:
        out = []
        if self.key_last_write and self.position == 0:
            out.append((self.key_last_write, "ShellBag newest folder of this node opened (key last write)"))
        for field, desc in (("modified", "modified"), ("created", "created"), ("accessed", "accessed")):
            t = getattr(self, field)
            if t:
                out.append((t, f"ShellBag folder {desc} (folder's own time, as first seen)"))
        return out

    def activity_times(self) -> list[tuple[datetime, str]]:
        return [(t, d) for t, d in self.times() if "key last write" in d]  # the folder's own times are not

    def message(self) -> str:
        return f"{self.user or '?'} browsed {self.path}"


def _utc(value: Any) -> datetime | None:
    if not isinstance(value, datetime) or value.year < 1981:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _guid_name(guid: str | None) -> str | None:
    if not guid:
        return None
    return SHELL_FOLDERS.get(guid.strip("{}").lower())


def describe_item(item: Any) -> dict[str, Any]:
    """Segment text, type and times of one pyfwsi shell item (never raises for a field it cannot read)."""
    import pyfwsi

    out: dict[str, Any] = {"segment": None, "item_type": "unknown", "guid": None}

    def get(attr: str) -> Any:
        try:
            return getattr(item, attr)
        except Exception:  # libfwsi raises IOError/OSError on malformed fields
            return None

    if isinstance(item, pyfwsi.volume):
        out["item_type"] = "volume"
        out["guid"] = get("identifier")
        out["segment"] = get("name") or _guid_name(out["guid"]) or (f"{{{out['guid']}}}" if out["guid"] else None)
    elif isinstance(item, pyfwsi.file_entry):
        out["item_type"] = "directory"
        long_name = None
        for block in get("extension_blocks") or []:
            if isinstance(block, pyfwsi.file_entry_extension):
                try:
                    long_name = block.long_name or long_name
                    out["created"] = _utc(block.get_creation_time())
                    out["accessed"] = _utc(block.get_access_time())
                    ref = block.file_reference
                    if ref:
                        out["file_reference"] = f"{ref & 0xFFFFFFFFFFFF}-{ref >> 48}"
                except Exception:
                    pass
        out["segment"] = long_name or get("name")
        try:
            out["modified"] = _utc(item.get_modification_time())
        except Exception:
            pass
    elif isinstance(item, pyfwsi.network_location):
        out["item_type"] = "network_location"
        out["segment"] = get("location")
    elif isinstance(item, pyfwsi.root_folder):
        out["item_type"] = "root_folder"
        out["guid"] = get("shell_folder_identifier")
        out["segment"] = _guid_name(out["guid"]) or (f"{{{out['guid']}}}" if out["guid"] else None)
    elif isinstance(item, pyfwsi.users_property_view):
        out["item_type"] = "users_property_view"
        out["guid"] = get("known_folder_identifier") or get("delegate_folder_identifier")
        out["segment"] = _guid_name(out["guid"]) or (f"{{{out['guid']}}}" if out["guid"] else None)
    elif isinstance(item, pyfwsi.control_panel_category | pyfwsi.control_panel_item):
        out["item_type"] = "control_panel"
        ident = get("identifier")
        out["guid"] = str(ident) if ident is not None else None
        out["segment"] = (CONTROL_PANEL_CATEGORIES.get(out["guid"] or "") or _guid_name(out["guid"])
                          or f"{{{out['guid']}}}")
    elif isinstance(item, pyfwsi.compressed_folder):
        out["item_type"] = "compressed_folder"
    if not out["segment"] and out["item_type"] == "users_property_view":
        out["segment"] = "<property view>"  # its name is in a property store this module does not decode
    if not out["segment"]:
        out["segment"] = f"<shell item class 0x{(get('class_type') or 0):02x}>"
    return out


def _mru_positions(raw: Any) -> dict[int, int]:
    if not isinstance(raw, bytes):
        return {}
    order: dict[int, int] = {}
    for pos, (idx,) in enumerate(struct.iter_unpack("<I", raw[: len(raw) - len(raw) % 4])):
        if idx == 0xFFFFFFFF:
            break
        order.setdefault(idx, pos)
    return order


def parse_shellbags(ctx: Context) -> Iterator[Record | Issue]:
    try:
        import pyfwsi
    except ImportError as exc:  # the dependency is optional: say what is missing, once
        for path in BAGMRU_KEYS:
            if ctx.hive.key(path) is not None:
                yield ctx.item.issue(f"ShellBags not parsed: libfwsi-python is not installed ({exc})",
                                     severity="warning", locator=f"{ctx.hive.root_name}\\{path}")
                return
        return
    hive = ctx.hive
    state = {"count": 0}
    for base in BAGMRU_KEYS:
        root = hive.key(base)
        if root is not None:
            yield from _walk(ctx, pyfwsi, root, "", 0, state)


def _walk(ctx: Context, pyfwsi: Any, key: Any, parent_path: str, depth: int, state: dict[str, int]
          ) -> Iterator[Record | Issue]:
    """Depth first in value order: each value's item, then the subkey of the same name (its children)."""
    hive = ctx.hive
    vals = list(hive.values(key))
    order = _mru_positions(next((d for n, _t, d in vals if n.lower() == "mrulistex"), None))
    write = hive.last_write(key)
    for name, _t, data in vals:
        if not name.isdigit() or not isinstance(data, bytes):
            continue
        locator = f"{hive.path(key)}\\{name}"
        items = pyfwsi.item_list()
        try:
            items.copy_from_byte_stream(data)
            parsed = [describe_item(it) for it in items.items]
        except Exception as exc:  # one unreadable item costs that folder (and its children) only
            yield ctx.item.issue(f"ShellBag item not decodable: {str(exc).splitlines()[0][:200]}",
                                 severity="warning", locator=locator)
            continue
        path = parent_path
        for info in parsed:
            path = f"{path}\\{info['segment']}" if path else info["segment"]
            state["count"] += 1
            if state["count"] > MAX_ITEMS:
                yield ctx.item.issue(f"more than {MAX_ITEMS} ShellBag items: rest not read", severity="warning",
                                     locator=hive.path(key))
                return
            yield ShellBag(source=ctx.item.source(locator), user=ctx.user, path=path, bag_key=hive.path(key),
                           value_name=name, position=order.get(int(name)), depth=depth, key_last_write=write, **info)
        child = hive.subkey(key, name)
        if child is not None and depth + 1 < MAX_DEPTH:
            yield from _walk(ctx, pyfwsi, child, path, depth + 1, state)
