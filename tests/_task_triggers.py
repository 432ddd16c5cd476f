"""Writes TaskCache ``Triggers`` values the way the Task Scheduler lays them out (Windows 10: version 0x17,
every field 8-byte aligned, padding filled with 0x48 as Windows leaves it), for tests of the decoder and
of hives that hold them. Written from the published layout (see taskcache_trigger_decode.py), field by
field, independently of the decoder's code."""

from __future__ import annotations

import struct
from datetime import UTC, datetime

PAD = b"\x48"
EPOCH = datetime(1601, 1, 1, tzinfo=UTC)


def filetime(dt: datetime | None) -> int:
    if dt is None:
        return 0
    return int((dt - EPOCH).total_seconds() * 10_000_000) if dt.tzinfo else \
        int((dt.replace(tzinfo=UTC) - EPOCH).total_seconds() * 10_000_000)


def aligned(raw: bytes) -> bytes:
    return raw + PAD * ((8 - len(raw) % 8) % 8)


def a_u1(v: int) -> bytes:
    return bytes([v]) + PAD * 7


def a_u4(v: int) -> bytes:
    return struct.pack("<I", v) + PAD * 4


def a_str(s: str) -> bytes:
    raw = (s + "\x00").encode("utf-16-le") if s else b""
    return a_u4(len(raw)) + aligned(raw)


def a_chars(s: str) -> bytes:
    """Length in characters (without NUL), the text with its NUL, padded to 8 (event query strings)."""
    if not s:
        return a_u4(0)
    return a_u4(len(s)) + aligned((s + "\x00").encode("utf-16-le"))


def tstime(dt: datetime | None, *, local: bool = False, never: bool = False) -> bytes:
    ft = 0xFFFFFFFFFFFFFFFF if never else filetime(dt)
    return bytes([1 if local else 0]) + b"\x07\x04\x00\x00\x00\x08\x00" + struct.pack("<Q", ft)


def sid_bytes(sid: str) -> bytes:
    parts = sid.split("-")
    subs = [int(x) for x in parts[3:]]
    return bytes([int(parts[1]), len(subs)]) + int(parts[2]).to_bytes(6, "big") + struct.pack(f"<{len(subs)}I", *subs)


def user_info(sid: str | None = None, name: str = "", *, skip: bool = False) -> bytes:
    if skip:
        return a_u1(1)
    out = a_u1(0)
    if sid is None:
        out += a_u1(1)
    else:
        raw = sid_bytes(sid)
        out += a_u1(0) + a_u4(1) + a_u4(len(raw)) + aligned(raw)
    return out + a_str(name)


def trigger_id(s: str) -> bytes:
    raw = (s + "\x00").encode("utf-16-le") if s else b""
    body = struct.pack("<I", len(raw)) + raw
    return aligned(body)


def header(version: int = 0x17, *, start: datetime | None = None, local: bool = False, flags: int = 0x400000,
           principal: str = "Author", display: str = "", run_as_sid: str | None = "S-1-5-18",
           run_as_name: str = "") -> bytes:
    out = a_u1(version) + tstime(start, local=local) + tstime(None, never=True)
    out += a_u4(flags) + a_u4(0xE9391DFB)
    if version >= 0x16:
        out += a_str(principal)
    if version >= 0x17:
        out += a_str(display)
    out += user_info(run_as_sid, run_as_name)
    settings = struct.pack("<7I", 600, 3600, 259200, 0xFFFFFFFF, 7, 0, 0) + b"\x00" * 16
    return out + a_u4(len(settings)) + aligned(settings)


def generic(magic: int, version: int = 0x17, *, start: datetime | None = None, local: bool = False,
            delay: int = 0, repeat: int = 0, enabled: bool = True, tid: str = "") -> bytes:
    out = a_u4(magic) + tstime(start, local=local) + tstime(None, never=True)
    out += struct.pack("<5I", delay, 0xFFFFFFFF, repeat, 0, 0) + b"\x00" + PAD * 3
    out += a_u1(1 if enabled else 0) + b"\x00" * 8
    if version >= 0x16:
        out += trigger_id(tid)
    return out


def time_trigger(version: int = 0x17, *, start: datetime | None = None, local: bool = False, mode: int = 0,
                 data: tuple[int, int, int] = (0, 0, 0), enabled: bool = True, tid: str = "") -> bytes:
    out = a_u4(0xDDDD) + tstime(start, local=local) + tstime(None) + tstime(None)
    out += struct.pack("<4I", 0, 0, 259200, mode) + struct.pack("<4H", *data, 0)
    out += bytes([0, 1 if enabled else 0]) + b"\x04\x15" + struct.pack("<3I", 1, 0, 0x28D9)
    if version >= 0x16:
        out += trigger_id(tid)
    return out


def logon_trigger(sid: str | None, name: str = "", **kw) -> bytes:
    return generic(0xAAAA, **kw) + (user_info(sid, name) if sid or name else user_info(skip=True))


def event_trigger(query: str, **kw) -> bytes:
    return generic(0xCCCC, **kw) + a_chars(query) + struct.pack("<2I", 0, 0) + a_chars("") + a_u4(0)


def session_trigger(state: int, **kw) -> bytes:
    return generic(0x7777, **kw) + struct.pack("<I", state) + PAD * 4 + user_info(skip=True)
