"""Facts about the SRUM database (``SRUDB.dat``) and small decoders for its values.

Why a separate module: the table GUIDs, id-map types and interface types are data that the SRUM
parser and its tests share, and the decoders are pure functions over hostile bytes (never raise).

Facts (from the public SRUM research: Mark Baggett's srum-dump notes, Yogesh Khatri's "Forensic
implications of SRUM", libyal's ESE documentation):

- ``SruDbIdMapTable`` (IdType, IdIndex, IdBlob) maps the integer AppId / UserId of every other table
  to text: IdType 0 = application (a path, often a ``\\device\\harddiskvolumeN\\...`` one, or a
  ``!!host.exe!date!hash!...`` service-host string), 1 = service name, 2 = packaged (UWP) application
  name, 3 = a user's SID (binary). Strings are UTF-16LE, NUL-terminated.
- Every provider table has ``TimeStamp``: an OLE Automation date (float64 days since 1899-12-30) in UTC,
  written when SRUM flushes its in-memory data (about once an hour), so a row covers the hour before.
- ``InterfaceLuid`` is a NET_LUID: the interface type (IANA ifType) is in bits 48..63.
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta

NETWORK_USAGE = "{973F5D5C-1D90-4944-BE8E-24B94231A174}"
APP_RESOURCE_USAGE = "{D10CA2FE-6FCF-4F6D-848E-B2E99266FA89}"
NETWORK_CONNECTIVITY = "{DD6636C4-8929-4683-974E-22C046A43763}"
ID_MAP = "SruDbIdMapTable"

ID_TYPES = {0: "application", 1: "service", 2: "package", 3: "user_sid"}

# IANA ifType values seen in InterfaceLuid (bits 48..63)
IF_TYPES = {1: "other", 6: "ethernet", 23: "ppp", 24: "loopback", 53: "virtual", 71: "wifi", 131: "tunnel",
            144: "ieee1394", 237: "wimax", 243: "mobile_broadband", 244: "mobile_broadband"}

_OLE_EPOCH = datetime(1899, 12, 30, tzinfo=UTC)
_MIN, _MAX = datetime(1990, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC)

# ESE database header: signature at 4, state at 52
ESE_SIGNATURE = b"\xef\xcd\xab\x89"
DB_STATES = {1: "JustCreated", 2: "DirtyShutdown", 3: "CleanShutdown", 4: "BeingConverted", 5: "ForceDetach"}


def ole_date_utc(raw: bytes | None) -> datetime | None:
    """An 8-byte OLE Automation date (UTC) -> aware datetime rounded to the millisecond; None for
    missing, NaN or implausible values (a zeroed or forged field)."""
    if not raw or len(raw) != 8:
        return None
    (days,) = struct.unpack("<d", raw)
    if days != days or not -1e6 < days < 1e6:  # NaN / absurd
        return None
    dt = _OLE_EPOCH + timedelta(milliseconds=round(days * 86_400_000))
    return dt if _MIN <= dt < _MAX else None


def sid_text(raw: bytes | None) -> str | None:
    """A binary SID -> 'S-1-5-21-...'; None if the bytes are not one."""
    if not raw or len(raw) < 8:
        return None
    rev, count = raw[0], raw[1]
    if rev != 1 or count > 15 or len(raw) < 8 + 4 * count:
        return None
    authority = int.from_bytes(raw[2:8], "big")
    subs = struct.unpack_from(f"<{count}I", raw, 8)
    return "S-" + "-".join(str(x) for x in (rev, authority, *subs))


def id_blob_text(id_type: int | None, raw: bytes | None) -> str | None:
    """The text of an IdBlob: a SID for type 3, else a UTF-16LE string without its NUL."""
    if raw is None:
        return None
    if id_type == 3:
        return sid_text(raw)
    text = raw[:len(raw) - len(raw) % 2].decode("utf-16-le", errors="replace").split("\x00", 1)[0]
    return text or None


def interface_type(luid: int | None) -> str | None:
    if luid is None:
        return None
    code = (luid >> 48) & 0xFFFF
    return IF_TYPES.get(code, f"iftype {code}")


def ese_state(head: bytes) -> str | None:
    """The database state from the first bytes of an ESE file, None if it is no ESE database."""
    if len(head) < 56 or head[4:8] != ESE_SIGNATURE:
        return None
    (state,) = struct.unpack_from("<I", head, 52)
    return DB_STATES.get(state, f"state {state}")
