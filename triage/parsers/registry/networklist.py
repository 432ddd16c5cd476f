"""Networks the host has joined: SOFTWARE ``Microsoft\\Windows NT\\CurrentVersion\\NetworkList`` profiles
joined with their signatures.

Why it matters: for a telework laptop this is the list of every network it connected to - the home
Wi-Fi, a hotel, the office (a managed / domain network), a VPN adapter - with when each was first and
last connected and the gateway's MAC address (which pins a network name to one physical router).
Caution on times: ``DateCreated`` and ``DateLastConnected`` are SYSTEMTIMEs in the host's LOCAL time,
not UTC; they are kept as written, in fields named ``*_local`` (ISO text without 'Z'). The analysis
converts them with the host's own time-zone rules from SYSTEM (``first_connected`` /
``last_connected``, UTC; :mod:`triage.analyze.localtime`), and those go on the timeline; without the
SYSTEM hive they stay local only. The profile key's last write (UTC) is always there.

Profiles\\{GUID}: ProfileName, Description, Category (0 public, 1 private, 2 domain), Managed,
NameType (6 wired, 23 VPN, 71 wireless, 243 mobile broadband). Signatures\\Managed|Unmanaged\\<id>:
ProfileGuid, Description, DnsSuffix, FirstNetwork, DefaultGatewayMac.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from triage.model import ArtifactRecord, Issue, Record
from triage.parsers.registry.autoruns import MAX_SUBKEYS, Context

NETWORKLIST = "Microsoft\\Windows NT\\CurrentVersion\\NetworkList"
CATEGORIES = {0: "public", 1: "private", 2: "domain"}
NAME_TYPES = {6: "wired", 23: "vpn", 71: "wireless", 243: "mobile_broadband"}


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkProfile(ArtifactRecord):
    """One network profile. first/last_connected_local are the host's local wall-clock time as Windows
    wrote them (no time zone); first/last_connected the same converted to UTC with the host's zone
    rules (None without them); key_last_write is UTC."""

    record_type: ClassVar[str] = "windows/registry/network_profile"
    artifact: ClassVar[str] = "network_profiles"
    title: ClassVar[str] = "Networks joined (NetworkList)"
    description: ClassVar[str] = (
        "Every network profile with its category (domain = the organisation's network), whether it is managed, "
        "and the gateway MAC. First/last connected are stored in the host's LOCAL time; the UTC columns are "
        "converted with the host's time-zone rules (today's rules; the hour after a DST switch is ambiguous).")
    columns: ClassVar[tuple[tuple[str, str], ...]] = (
        ("last_connected", "Last connected (UTC)"), ("first_connected", "First connected (UTC)"),
        ("last_connected_local", "Last connected (local)"), ("first_connected_local", "First connected (local)"),
        ("name", "Network"), ("category", "Category"), ("managed", "Managed"), ("kind", "Type"),
        ("gateway_mac", "Gateway MAC"), ("dns_suffix", "DNS suffix"))

    guid: str
    name: str | None
    description_text: str | None
    category: str | None
    managed: bool | None
    kind: str | None
    first_connected_local: str | None
    last_connected_local: str | None
    key_last_write: datetime | None
    gateway_mac: str | None = None
    dns_suffix: str | None = None
    first_network: str | None = None
    first_connected: datetime | None = None
    last_connected: datetime | None = None

    def times(self) -> list[tuple[datetime, str]]:
        pairs = [(self.key_last_write, "Network profile key last write"),
                 (self.first_connected, "Network first connected (local time converted with the host's zone rules)"),
                 (self.last_connected, "Network last connected (local time converted with the host's zone rules)")]
        return [(t, what) for t, what in pairs if t is not None]

    def message(self) -> str:
        cat = f" ({self.category})" if self.category else ""
        return f"Network profile {self.name or self.guid}{cat}"


def systemtime_text(raw: Any) -> str | None:
    """A 16-byte SYSTEMTIME as ISO text without a zone (it is local time), or None if absent/invalid."""
    if not isinstance(raw, bytes) or len(raw) < 16:
        return None
    y, mo, _dow, d, h, mi, s, ms = struct.unpack_from("<8H", raw)
    try:  # validates the fields; the zone is unknown, so the text carries none
        datetime(y, mo, d, h, mi, s, ms * 1000, tzinfo=UTC)
    except ValueError:
        return None
    return f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}.{ms:03d}"


def _signatures(hive: Any) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for managed in ("Managed", "Unmanaged"):
        root = hive.key(f"{NETWORKLIST}\\Signatures\\{managed}")
        if root is None:
            continue
        for sub in hive.subkeys(root)[:MAX_SUBKEYS]:
            vals = hive.value_map(sub)
            guid = vals.get("profileguid")
            if not isinstance(guid, str):
                continue
            mac = vals.get("defaultgatewaymac")
            out.setdefault(guid.upper(), {
                "gateway_mac": ":".join(f"{b:02x}" for b in mac[:6]) if isinstance(mac, bytes) and len(mac) >= 6
                else None,
                "dns_suffix": vals.get("dnssuffix") if isinstance(vals.get("dnssuffix"), str) else None,
                "first_network": vals.get("firstnetwork") if isinstance(vals.get("firstnetwork"), str) else None,
                "managed_signature": managed == "Managed",
            })
    return out


def parse_networklist(ctx: Context) -> Iterator[Record | Issue]:
    hive = ctx.hive
    root = hive.key(f"{NETWORKLIST}\\Profiles")
    if root is None:
        return
    sigs = _signatures(hive)
    for sub in hive.subkeys(root)[:MAX_SUBKEYS]:
        vals = hive.value_map(sub)
        guid = sub.name()
        sig = sigs.get(guid.upper(), {})
        cat, managed, ntype = vals.get("category"), vals.get("managed"), vals.get("nametype")
        yield NetworkProfile(
            source=ctx.item.source(hive.path(sub)), guid=guid,
            name=vals.get("profilename") if isinstance(vals.get("profilename"), str) else None,
            description_text=vals.get("description") if isinstance(vals.get("description"), str) else None,
            category=CATEGORIES.get(cat) if isinstance(cat, int) else None,
            managed=bool(managed) if isinstance(managed, int) else sig.get("managed_signature"),
            kind=NAME_TYPES.get(ntype, str(ntype)) if isinstance(ntype, int) else None,
            first_connected_local=systemtime_text(vals.get("datecreated")),
            last_connected_local=systemtime_text(vals.get("datelastconnected")),
            key_last_write=hive.last_write(sub), gateway_mac=sig.get("gateway_mac"),
            dns_suffix=sig.get("dns_suffix"), first_network=sig.get("first_network"))
