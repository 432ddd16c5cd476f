"""USB device history: SYSTEM ``Enum\\USBSTOR`` and ``Enum\\USB`` with ``MountedDevices``, and each user's
``MountPoints2``.

Why it matters: exfiltration to a stick and malware brought in on one both start with a device being
plugged in. Windows keeps, per device instance (vendor, product, serial), the first install, last
install, last arrival (connection) and last removal times in the instance's ``Properties`` store
(``{83da6326-97a6-4088-9453-a1923f573b29}`` 0064 / 0065 / 0066 / 0067, FILETIMEs, UTC) - Windows 8 and
later; on Windows 7 only the instance key's last write remains (roughly the last connection).
``MountedDevices`` maps drive letters and volume GUIDs to the device that last held them, which is how
a serial is tied to 'E:'; a user's ``MountPoints2`` subkey for that volume GUID says the user had it
mounted (its last write: the last time). A serial whose second character is '&' was made up by Windows
(the device has no serial): it is not unique across machines.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from triage.model import ArtifactRecord, Issue, Record
from triage.parsers.registry.autoruns import MAX_SUBKEYS, Context
from triage.parsers.registry.shimcache import control_sets
from triage.units import from_filetime

DEVICE_PROPERTIES = "{83da6326-97a6-4088-9453-a1923f573b29}"
PROP_TIMES = {"0064": "first_installed", "0065": "last_installed", "0066": "last_connected", "0067": "last_removed"}
_VID_PID = re.compile(r"VID_([0-9A-Fa-f]{4}).*?PID_([0-9A-Fa-f]{4})")
MOUNTPOINTS2 = "Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\MountPoints2"


@dataclass(frozen=True, slots=True, kw_only=True)
class UsbDevice(ArtifactRecord):
    """One device instance seen by the host. Times are UTC from the device property store (None where
    the Windows version does not keep them); key_last_write is the instance key's last write."""

    record_type: ClassVar[str] = "windows/registry/usb_device"
    artifact: ClassVar[str] = "usb_devices"
    title: ClassVar[str] = "USB devices"
    description: ClassVar[str] = (
        "Storage (USBSTOR) and other USB devices the host has seen, with first install, last connection "
        "and last removal (Windows 8 and later) and the drive letters MountedDevices ties them to. A serial "
        "with '&' as its second character was made up by Windows.")
    columns: ClassVar[tuple[tuple[str, str], ...]] = (
        ("last_connected", "Last connected"), ("first_installed", "First installed"),
        ("last_removed", "Last removed"), ("kind", "Bus"), ("friendly_name", "Name"), ("device", "Device"),
        ("serial", "Serial / instance"), ("drive_letters", "Drive letters"), ("key_last_write", "Key last write"))

    kind: str  # 'usbstor' or 'usb'
    device: str  # Disk&Ven_X&Prod_Y&Rev_Z or VID_xxxx&PID_xxxx
    serial: str
    control_set: str
    vendor: str | None = None
    product: str | None = None
    revision: str | None = None
    vid: str | None = None
    pid: str | None = None
    friendly_name: str | None = None
    device_class: str | None = None
    service: str | None = None
    serial_is_unique: bool = True
    first_installed: datetime | None = None
    last_installed: datetime | None = None
    last_connected: datetime | None = None
    last_removed: datetime | None = None
    key_last_write: datetime | None = None
    drive_letters: tuple[str, ...] = ()
    volume_guids: tuple[str, ...] = ()

    def times(self) -> list[tuple[datetime, str]]:
        out = [(getattr(self, f), f"USB device {f.replace('_', ' ')}") for f in PROP_TIMES.values()
               if getattr(self, f)]
        if self.key_last_write:
            out.append((self.key_last_write, "USB device key last write"))
        return out

    def message(self) -> str:
        name = self.friendly_name or self.device
        letters = f" ({', '.join(self.drive_letters)})" if self.drive_letters else ""
        return f"USB {self.kind}: {name} serial {self.serial}{letters}"


@dataclass(frozen=True, slots=True, kw_only=True)
class UserMountPoint(ArtifactRecord):
    """A MountPoints2 subkey of one user: a volume GUID, a drive letter or a network share
    ('##server#share'); last_write = the last time the user had it mounted."""

    record_type: ClassVar[str] = "windows/registry/mountpoint"
    artifact: ClassVar[str] = "mountpoints2"
    title: ClassVar[str] = "Volumes and shares mounted per user (MountPoints2)"
    description: ClassVar[str] = (
        "Volumes (by GUID), drive letters and network shares each user had mounted; the time is the key's "
        "last write, the last time the user mounted it. A volume GUID joins a USB device's volume_guids.")
    columns: ClassVar[tuple[tuple[str, str], ...]] = (
        ("last_write", "Last mounted"), ("user", "User"), ("kind", "Kind"), ("target", "Volume / share"))

    user: str | None
    name: str
    kind: str  # 'volume' | 'network' | 'drive' | 'other'
    target: str
    last_write: datetime | None

    def times(self) -> list[tuple[datetime, str]]:
        return [(self.last_write, "MountPoints2 key last write (user mounted)")] if self.last_write else []

    def message(self) -> str:
        who = self.user or "?"
        return f"{who} mounted {self.kind} {self.target}"


def _filetime_value(hive: Any, key: Any) -> datetime | None:
    for _name, _t, data in hive.values(key):
        if isinstance(data, bytes) and len(data) >= 8:
            return from_filetime(int.from_bytes(data[:8], "little"))
        if isinstance(data, int):
            return from_filetime(data)
    return None


def _property_times(hive: Any, instance: Any) -> dict[str, Any]:
    props = hive.subkey(instance, "Properties")
    store = hive.subkey(props, DEVICE_PROPERTIES) if props is not None else None
    out: dict[str, datetime | None] = {}
    if store is None:
        return out
    for sub in hive.subkeys(store):
        field = PROP_TIMES.get(sub.name().lower())
        if field:
            out[field] = _filetime_value(hive, sub)
    return out


def _text(v: Any) -> str | None:
    if isinstance(v, list):
        v = v[0] if v else None
    if not isinstance(v, str) or not v:
        return None
    return v.split(";")[-1] if v.startswith("@") else v  # '@oem.inf,%desc%;Real Name' -> 'Real Name'


def mounted_devices(hive: Any) -> dict[str, list[str]]:
    """Device string (lower-cased, as MountedDevices stores it) -> ['E:', '{volume guid}' ...]."""
    key = hive.key("MountedDevices")
    out: dict[str, list[str]] = {}
    if key is None:
        return out
    for name, _t, data in hive.values(key):
        if not isinstance(data, bytes) or len(data) <= 24:
            continue  # 12-byte MBR disk signature + offset, or a GPT partition GUID: not a device path
        text = data.decode("utf-16-le", errors="replace").rstrip("\x00")
        if "#" not in text:
            continue
        m = re.match(r"\\DosDevices\\([A-Za-z]:)$", name)
        label = m.group(1).upper() if m else name.rsplit("Volume", 1)[-1] if "Volume{" in name else name
        out.setdefault(text.lower(), []).append(label)
    return out


def _mounts_for(serial: str, device: str, mounts: dict[str, list[str]]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    needle = f"#{device.lower()}#{serial.lower()}#"
    letters: list[str] = []
    guids: list[str] = []
    for text, labels in mounts.items():
        if needle in text:
            for label in labels:
                (letters if label.endswith(":") else guids).append(label)
    return tuple(sorted(set(letters))), tuple(sorted(set(guids)))


def parse_usb(ctx: Context) -> Iterator[Record | Issue]:
    hive = ctx.hive
    mounts = mounted_devices(hive)
    seen: set[tuple[str, str, str]] = set()
    for ccs in control_sets(ctx):
        for kind, sub in (("usbstor", "USBSTOR"), ("usb", "USB")):
            root = hive.key(f"{ccs}\\Enum\\{sub}")
            if root is None:
                continue
            for dev_key in hive.subkeys(root)[:MAX_SUBKEYS]:
                device = dev_key.name()
                parts = device.split("&")
                fields: dict[str, Any] = {}
                if kind == "usbstor":
                    for part in parts[1:]:
                        tag, _, val = part.partition("_")
                        slot = {"ven": "vendor", "prod": "product", "rev": "revision"}.get(tag.lower())
                        if slot and val:
                            fields[slot] = val
                else:
                    m = _VID_PID.search(device)
                    if m:
                        fields["vid"], fields["pid"] = m.group(1).upper(), m.group(2).upper()
                for inst in hive.subkeys(dev_key)[:MAX_SUBKEYS]:
                    serial = inst.name()
                    mark = (kind, device.lower(), serial.lower())
                    if mark in seen:
                        continue
                    seen.add(mark)
                    vals = hive.value_map(inst)
                    letters, guids = _mounts_for(serial, device, mounts)
                    yield UsbDevice(
                        source=ctx.item.source(hive.path(inst)), kind=kind, device=device, serial=serial,
                        control_set=ccs, friendly_name=_text(vals.get("friendlyname")) or _text(vals.get("devicedesc")),
                        device_class=_text(vals.get("class")), service=_text(vals.get("service")),
                        serial_is_unique=not (len(serial) > 1 and serial[1] == "&"),
                        key_last_write=hive.last_write(inst), drive_letters=letters, volume_guids=guids,
                        **fields, **_property_times(hive, inst))


def parse_mountpoints2(ctx: Context) -> Iterator[Record | Issue]:
    hive = ctx.hive
    root = hive.key(MOUNTPOINTS2)
    if root is None:
        return
    for sub in hive.subkeys(root)[:MAX_SUBKEYS]:
        name = sub.name()
        if name.startswith("{") and name.endswith("}"):
            kind, target = "volume", name
        elif name.startswith("##"):
            kind, target = "network", "\\\\" + name[2:].replace("#", "\\")
        elif len(name) == 1 and name.isalpha():
            kind, target = "drive", f"{name.upper()}:"
        else:
            kind, target = "other", name
        yield UserMountPoint(source=ctx.item.source(hive.path(sub)), user=ctx.user, name=name, kind=kind,
                             target=target, last_write=hive.last_write(sub))
