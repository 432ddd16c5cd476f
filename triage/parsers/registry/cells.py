"""python-registry key and value records that know where their hive's cells start.

Why: a cell offset in a hive is relative to the first HBIN. python-registry turns it into a buffer
offset by walking the record's parent chain up to its HBIN block and building a new block object for
the first HBIN, on every pointer it follows (a value's name, its data, a key's subkey list...). On
a fleet of small hosts that walk was a fifth of the registry parse. Every record that
:class:`triage.parsers.registry.hive.Hive` reaches by descending from a key has that key in its
parent chain, so the walk always ends at the same block and gives the same base: it is computed once
per key (by python-registry itself) and handed down. Results are the same offsets, read faster.
"""

from __future__ import annotations

import struct
from typing import Any

from Registry.RegistryParse import NKRecord, VKRecord


def hbin_base(record: Any) -> int:
    """The buffer offset that cell offsets of ``record``'s hive are relative to (python-registry's
    own computation, done once)."""
    base = getattr(record, "_triage_base", None)
    if base is None:
        base = int(record.abs_offset_from_hbin_offset(0))
    return base


class _KnownBase:
    """Relative offsets resolve against ``_triage_base`` (see the module docstring)."""

    _triage_base: int

    def abs_offset_from_hbin_offset(self, offset: int) -> int:
        return self._triage_base + offset


class BasedNK(_KnownBase, NKRecord):
    """A key record that knows its hive's cell base, and keeps its name once read (modules look a
    key's name up again and again: the subkey index, stack keys, services of two control sets)."""

    _triage_name: str | None = None

    def name(self) -> str:
        if self._triage_name is None:
            self._triage_name = NKRecord.name(self)
        return self._triage_name


class BasedVK(_KnownBase, VKRecord):
    """A value record that knows its hive's cell base."""


def based(cls: type, buf: Any, offset: int, parent: Any, base: int) -> Any:
    """``cls(buf, offset, parent)`` (python-registry's checks included) with its cell base set."""
    rec = cls(buf, offset, parent)
    rec._triage_base = base
    return rec


# vk record header: signature, name length, data length, data offset, data type, flags
_VK_HEAD = struct.Struct("<2sHIIIH")
_VK_NAME_AT = 0x14
_TYPE_MASK = 0xFFF          # python-registry's DEVPROP_MASK_TYPE
_REG_DWORD = 4
_CELL_TYPES = frozenset((0, 1, 2, 3, 7))  # REG_NONE, REG_SZ, REG_EXPAND_SZ, REG_BINARY, REG_MULTI_SZ
_MIN_CELL_DATA, _MAX_CELL_DATA = 5, 0x3FD8  # below: inline; above: a big-data (db) record


def read_value(buf: bytes, base: int, vk_at: int) -> tuple[str, int, bytes] | None:
    """(name, type, raw data) of the value record at ``vk_at``, for the common shapes only: a
    REG_DWORD, or a REG_NONE/SZ/EXPAND_SZ/BINARY/MULTI_SZ whose data sits in one ordinary cell.

    The bytes are the ones python-registry's ``VKRecord.name()/data_type()/raw_data()`` return for
    those shapes (same offsets, same decoding), read with one struct call instead of a dozen method
    calls and objects. None for anything else, and for anything it would raise on (out of bounds,
    not a vk record, an undecodable name): the caller then asks python-registry, which gives its own
    result or error, so damaged values are reported exactly as before.
    """
    size = len(buf)
    if vk_at < 0 or vk_at + _VK_NAME_AT > size:
        return None
    sig, name_len, data_len, data_off, dtype, flags = _VK_HEAD.unpack_from(buf, vk_at)
    if sig != b"vk":
        return None
    name = ""
    if name_len:
        start = vk_at + _VK_NAME_AT
        if start + name_len > size:
            return None
        try:
            name = buf[start:start + name_len].decode("windows-1252" if flags & 1 else "utf-16le")
        except UnicodeDecodeError:
            return None
    vtype = dtype & _TYPE_MASK
    if vtype == _REG_DWORD:
        return name, vtype, buf[vk_at + 8:vk_at + 12]
    if vtype in _CELL_TYPES and _MIN_CELL_DATA <= data_len <= _MAX_CELL_DATA:
        cell = base + data_off
        if cell + 4 > size:
            return None
        return name, vtype, buf[cell + 4:cell + 4 + data_len]
    return None
