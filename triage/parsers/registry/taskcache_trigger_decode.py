"""Decoder of the TaskCache ``Triggers`` value (SOFTWARE ...\\Schedule\\TaskCache\\Tasks\\{GUID}).

Why decode it: the XML under System32\\Tasks can be deleted or edited while the scheduler keeps running
the task from this cache, so the cached triggers are what actually starts the task (at logon, at boot,
on an event, daily...). The value also holds the task-wide flags (enabled, hidden, run level) and the
account the task runs as.

Layout (Windows 8.1/10/11, header versions 0x15-0x17; as published by G DATA's winreg-tasks research
and the cyber.wtf write-up; every field is 8-byte aligned and the padding may hold stale bytes):
  header: version (u8 + 7 pad), start boundary TSTIME, end boundary TSTIME
          TSTIME = localized flag (u8 + 7 pad) + FILETIME
  job bucket: flags (u32+4), CRC32 of the task XML (u32+4), principal id (aligned string, >= 0x16),
          display name (aligned string, >= 0x17), user info, optional settings (u32 length + 4, then
          the settings padded to 8)
  triggers until the end, each u32 magic (+4): 0xdddd time, 0xaaaa logon, 0xffff boot, 0xeeee idle,
          0xcccc event, 0x8888 registration, 0x7777 session state change, 0x6666 WNF state change.
  aligned string = u32 byte count (+4) + UTF-16LE bytes + padding to 8.
A TSTIME whose localized flag is set holds a wall-clock time of the host's zone (the XML boundary had no
offset); it is kept as zone-less text, never put on the UTC timeline. 0 and 0xFFFF... mean "not set".

decode_triggers() takes bytes, never raises, and returns what it read with the problem that stopped it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from triage.parsers.srum_tables import sid_text
from triage.timeconv import filetime_utc

KNOWN_VERSIONS = (0x15, 0x16, 0x17)
MAX_TRIGGERS = 64
MAX_STRING_BYTES = 1 << 15
MAX_VALUE_QUERIES = 64

TRIGGER_TYPES = {0xDDDD: "time", 0xAAAA: "logon", 0xFFFF: "boot", 0xEEEE: "idle", 0xCCCC: "event",
                 0x8888: "registration", 0x7777: "session_state_change", 0x6666: "wnf_state_change"}
SESSION_STATES = {1: "console connect", 2: "console disconnect", 3: "remote connect", 4: "remote disconnect",
                  5: "session lock", 6: "session unlock"}
TIME_MODES = {0: "once", 1: "daily", 2: "weekly", 3: "monthly (days)", 4: "monthly (weekdays)"}
WEEKDAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")
# job bucket flags worth showing (the rest are conditions such as idle or battery settings)
FLAG_ENABLED, FLAG_HIDDEN, FLAG_HIGHEST = 0x400000, 0x800000, 0x1000000
NEVER = 0xFFFFFFFFFFFFFFFF


class TriggersError(ValueError):
    """The value does not follow the layout at some offset."""


@dataclass(frozen=True, slots=True)
class Boundary:
    """A TSTIME: UTC when not localized, zone-less local wall-clock text when localized; both None if unset."""

    utc: datetime | None = None
    local: str | None = None


@dataclass(slots=True)
class DecodedTriggers:
    version: int | None = None
    flags: int | None = None
    principal_id: str | None = None
    display_name: str | None = None
    user_sid: str | None = None
    user_name: str | None = None
    start: Boundary = Boundary()
    end: Boundary = Boundary()
    triggers: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    @property
    def enabled(self) -> bool | None:
        return None if self.flags is None else bool(self.flags & FLAG_ENABLED)

    @property
    def hidden(self) -> bool | None:
        return None if self.flags is None else bool(self.flags & FLAG_HIDDEN)

    @property
    def run_level_highest(self) -> bool | None:
        return None if self.flags is None else bool(self.flags & FLAG_HIGHEST)


class _Cursor:
    """Bounded little-endian reads that raise TriggersError, never IndexError/struct.error."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise TriggersError(f"{n} bytes at offset {self.pos} run past the end ({len(self.data)} bytes)")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def u8_aligned(self) -> int:
        return self.take(8)[0]

    def u16(self) -> int:
        return int.from_bytes(self.take(2), "little")

    def u32(self) -> int:
        return int.from_bytes(self.take(4), "little")

    def u32_aligned(self) -> int:
        v = self.u32()
        self.take(4)
        return v

    def u64(self) -> int:
        return int.from_bytes(self.take(8), "little")

    def pad8(self, n: int) -> None:
        self.take((8 - n % 8) % 8)

    def aligned_string(self) -> str:
        n = self.u32_aligned()
        if n > MAX_STRING_BYTES:
            raise TriggersError(f"string of {n} bytes at offset {self.pos - 8} is too long")
        text = _utf16(self.take(n))
        self.pad8(n)
        return text

    def aligned_buffer(self) -> bytes:
        n = self.u32_aligned()
        if n > MAX_STRING_BYTES:
            raise TriggersError(f"buffer of {n} bytes at offset {self.pos - 8} is too long")
        out = self.take(n)
        self.pad8(n)
        return out

    def char_string(self) -> str:
        """A string whose length is given in characters, stored with its NUL and padded to 8 (event XML)."""
        chars = self.u32_aligned()
        if chars == 0:
            return ""
        n = chars * 2 + 2
        if n > MAX_STRING_BYTES * 4:
            raise TriggersError(f"string of {chars} characters at offset {self.pos - 8} is too long")
        text = _utf16(self.take(n))
        self.pad8(n)
        return text

    def trigger_id(self) -> str:
        """A trigger's id: u32 byte count + UTF-16LE, the pair padded to 8 (not aligned itself)."""
        n = self.u32()
        if n > MAX_STRING_BYTES:
            raise TriggersError(f"trigger id of {n} bytes at offset {self.pos - 4} is too long")
        text = _utf16(self.take(n))
        self.pad8(n + 4)
        return text


def _utf16(b: bytes) -> str:
    return b[:len(b) - len(b) % 2].decode("utf-16-le", errors="replace").split("\x00", 1)[0]


def _tstime(c: _Cursor) -> Boundary:
    localized = c.u8_aligned()
    ft = c.u64()
    if ft in (0, NEVER):
        return Boundary()
    when = filetime_utc(ft)
    if when is None:
        return Boundary()
    if localized:
        return Boundary(local=when.replace(tzinfo=None).isoformat())
    return Boundary(utc=when)


def _user_info(c: _Cursor) -> tuple[str | None, str | None]:
    if c.u8_aligned():  # skip user: any user / none recorded
        return None, None
    sid = None
    if not c.u8_aligned():  # skip sid
        c.u32_aligned()  # SID_NAME_USE
        sid = sid_text(c.aligned_buffer())
    name = c.aligned_string()
    return sid, name or None


def _optional_settings(c: _Cursor) -> None:
    n = c.u32_aligned()
    if n > 0x400:
        raise TriggersError(f"optional settings of {n} bytes at offset {c.pos - 8}")
    c.take(n + (8 - n % 8) % 8)


def _boundaries(t: dict[str, Any], start: Boundary, end: Boundary) -> None:
    t["start_boundary"], t["start_boundary_local"] = start.utc, start.local
    t["end_boundary"], t["end_boundary_local"] = end.utc, end.local


def _generic(c: _Cursor, version: int, t: dict[str, Any]) -> None:
    """Fields every trigger but the time trigger starts with."""
    _boundaries(t, _tstime(c), _tstime(c))
    delay, timeout, rep_interval, rep_duration, _rep2 = (c.u32() for _ in range(5))
    t["stop_at_duration_end"] = bool(c.take(4)[0])
    t["enabled"] = bool(c.u8_aligned())
    c.take(8)
    t["delay_seconds"] = delay
    t["execution_time_limit_seconds"] = None if timeout == 0xFFFFFFFF else timeout
    t["repetition_interval_seconds"] = rep_interval or None
    t["repetition_duration_seconds"] = rep_duration or None
    if version >= 0x16:
        t["trigger_id"] = c.trigger_id() or None


def _bitmap(value: int, names: tuple[str, ...]) -> str:
    return ",".join(n for i, n in enumerate(names) if value & (1 << i))


def _time_schedule(mode: int, d1: int, d2: int, d3: int) -> str:
    """A readable schedule for a time trigger's mode and its three data words."""
    name = TIME_MODES.get(mode, f"mode {mode}")
    if mode == 1:
        return f"daily, every {d1} day(s)"
    if mode == 2:
        return f"weekly on {_bitmap(d2, WEEKDAYS) or '-'}, every {d1} week(s)"
    months = _bitmap(d3, tuple(f"M{i}" for i in range(1, 13)))
    if mode == 3:
        days = _bitmap(d1 | (d2 << 16), tuple(str(i) for i in range(1, 33)))
        return f"monthly on day(s) {days or '-'} of {months or '-'}"
    if mode == 4:
        return f"monthly on {_bitmap(d1, WEEKDAYS) or '-'} of week(s) {_bitmap(d2, ('1', '2', '3', '4', 'last')) or '-'} of {months or '-'}"
    return name


def _time(c: _Cursor, version: int, t: dict[str, Any]) -> None:
    _boundaries(t, _tstime(c), _tstime(c))
    _tstime(c)  # unknown third TSTIME
    rep_interval, rep_duration, limit, mode = (c.u32() for _ in range(4))
    d1, d2, d3, _pad = (c.u16() for _ in range(4))
    stop, enabled = c.take(4)[:2]
    c.u32()
    max_delay = c.u32()
    c.u32()
    t.update(schedule=_time_schedule(mode, d1, d2, d3), enabled=bool(enabled), stop_at_duration_end=bool(stop),
             repetition_interval_seconds=rep_interval or None, repetition_duration_seconds=rep_duration or None,
             execution_time_limit_seconds=None if limit == 0xFFFFFFFF else limit,
             random_delay_seconds=max_delay or None)
    if version >= 0x16:
        t["trigger_id"] = c.trigger_id() or None


def _event(c: _Cursor, version: int, t: dict[str, Any]) -> None:
    _generic(c, version, t)
    t["subscription"] = c.char_string()
    c.take(8)
    c.char_string()
    n = c.u32_aligned()
    if n > MAX_VALUE_QUERIES:
        raise TriggersError(f"{n} value queries at offset {c.pos - 8}")
    t["value_queries"] = {c.char_string(): c.char_string() for _ in range(n)}


def _trigger(c: _Cursor, version: int, index: int) -> dict[str, Any]:
    at = c.pos
    magic = c.u32_aligned()
    kind = TRIGGER_TYPES.get(magic)
    if kind is None:
        raise TriggersError(f"unknown trigger magic 0x{magic:x} at offset {at}")
    t: dict[str, Any] = {"index": index, "type": kind, "offset": at}
    if kind == "time":
        _time(c, version, t)
    elif kind == "event":
        _event(c, version, t)
    else:
        _generic(c, version, t)
        if kind == "logon":
            t["user_sid"], t["user_name"] = _user_info(c)
        elif kind == "session_state_change":
            state = c.u32()
            c.take(4)
            t["session_state"] = SESSION_STATES.get(state, f"state {state}")
            t["user_sid"], t["user_name"] = _user_info(c)
        elif kind == "wnf_state_change":
            t["wnf_state_name"] = c.take(8).hex()
            n = c.u32_aligned()
            if n > MAX_STRING_BYTES:
                raise TriggersError(f"WNF data of {n} bytes at offset {c.pos - 8}")
            t["wnf_data"] = c.take(n).hex()
    return t


def decode_triggers(data: bytes) -> DecodedTriggers:
    """Header, job bucket and triggers; on a layout violation the triggers read so far and ``error``."""
    out = DecodedTriggers()
    c = _Cursor(data)
    try:
        version = c.u8_aligned()
        out.version = version
        if version not in KNOWN_VERSIONS:
            raise TriggersError(f"unknown Triggers version 0x{version:x}")
        out.start, out.end = _tstime(c), _tstime(c)
        out.flags = c.u32_aligned()
        c.u32_aligned()  # CRC32 of the task XML
        if version >= 0x16:
            out.principal_id = c.aligned_string() or None
        if version >= 0x17:
            out.display_name = c.aligned_string() or None
        out.user_sid, out.user_name = _user_info(c)
        _optional_settings(c)
        while c.pos < len(data):
            if len(out.triggers) >= MAX_TRIGGERS:
                raise TriggersError(f"more than {MAX_TRIGGERS} triggers; the rest not read")
            out.triggers.append(_trigger(c, version, len(out.triggers)))
    except TriggersError as exc:
        out.error = str(exc)
    except (ValueError, struct.error, OverflowError) as exc:  # defensive: a decoder never raises
        out.error = f"{type(exc).__name__}: {exc}"
    return out
