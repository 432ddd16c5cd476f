"""Opening one registry hive safely: base-block check, transaction-log replay, kind detection, and
case-insensitive, never-raising key and value access on top of python-registry.

Why python-registry for every read: it walks a 43k-key hive in under two seconds where regipy takes
minutes. regipy is used for one thing only, replaying the .LOG1/.LOG2 (or old .LOG) transaction logs of a
dirty hive, because recent persistence may live only in those logs; the restored hive is written to a
private temporary directory, read into memory and the directory removed at once: nothing is ever written
beside the evidence.

Corrupt hives are normal input: every accessor here returns ``None`` / empty results for a part it
cannot read and records why in :attr:`Hive.problems`, so callers turn problems into Issues and go on.
"""

from __future__ import annotations

import io
import shutil
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PureWindowsPath
from typing import Any

from Registry import Registry  # python-registry: import error here marks the parser unsupported
from Registry.Registry import RegistryKey
from Registry.RegistryParse import HBINCell

from triage.parsers.registry.cells import BasedNK, BasedVK, based, hbin_base, read_value
from triage.units import from_filetime

REGF_MAGIC = b"regf"
BASE_BLOCK_SIZE = 4096
DEFAULT_MAX_HIVE_BYTES = 1 << 30  # python-registry holds the whole hive in memory
MAX_LIST_ENTRIES = 100_000  # subkeys or values of one key; a damaged count must not spin for long
MAX_PROBLEMS = 20  # distinct problems kept per hive; the rest are counted
CACHE_SUBKEYS_FROM = 32  # subkey lists at least this long are kept once read (Hive.subkeys)
MAX_CACHED_SUBKEYS = 50_000  # keys held by those lists, per hive: memory stays bounded

# Value types (winnt.h)
REG_NONE, REG_SZ, REG_EXPAND_SZ, REG_BINARY, REG_DWORD, REG_DWORD_BIG_ENDIAN = 0, 1, 2, 3, 4, 5
REG_LINK, REG_MULTI_SZ, REG_QWORD = 6, 7, 11

# Hive kinds, as truth.json names them
SYSTEM, SOFTWARE, SAM, SECURITY = "SYSTEM", "SOFTWARE", "SAM", "SECURITY"
NTUSER, USRCLASS, AMCACHE, BCD, UNKNOWN = "NTUSER", "USRCLASS", "AMCACHE", "BCD", "UNKNOWN"




class HiveError(Exception):
    """The file cannot be read as a hive at all (bad magic, unreadable root, too big)."""


@dataclass(frozen=True, slots=True)
class BaseBlock:
    """The 4 KiB regf base block. dirty = primary and secondary sequence numbers differ (the hive was
    not cleanly flushed: its transaction logs hold newer data)."""

    primary_seq: int
    secondary_seq: int
    last_written: datetime | None
    major: int
    minor: int
    file_type: int
    hbins_size: int
    embedded_name: str

    @property
    def dirty(self) -> bool:
        return self.primary_seq != self.secondary_seq

    @property
    def version(self) -> str:
        return f"{self.major}.{self.minor}"


def read_base_block(data: bytes) -> BaseBlock:
    if len(data) < 512 or data[:4] != REGF_MAGIC:
        raise HiveError(f"not a registry hive (first bytes {data[:4]!r}, expected {REGF_MAGIC!r})")
    seq1, seq2, ts, major, minor, ftype = struct.unpack_from("<IIQIII", data, 4)
    hbins = struct.unpack_from("<I", data, 40)[0]
    name = decode_utf16_to_nul(data[48:48 + 64])
    return BaseBlock(seq1, seq2, from_filetime(ts), major, minor, ftype, hbins, name)


def decode_utf16_to_nul(raw: bytes) -> str:
    """UTF-16LE text up to the first NUL code unit; bytes after it (seen in real hives) are ignored."""
    end = len(raw) - (len(raw) % 2)
    nul = raw.find(b"\x00\x00")
    while nul != -1 and nul % 2:  # a NUL pair straddling two code units is not a NUL code unit
        nul = raw.find(b"\x00\x00", nul + 1)
    if nul != -1:
        end = nul
    return raw[:end].decode("utf-16-le", errors="replace")


def decode_value(vtype: int, raw: bytes) -> Any:
    """Registry value data -> str / list[str] / int / bytes, tolerant of short or odd data."""
    if vtype in (REG_SZ, REG_EXPAND_SZ, REG_LINK):
        return decode_utf16_to_nul(raw)
    if vtype == REG_MULTI_SZ:
        text = raw[: len(raw) - (len(raw) % 2)].decode("utf-16-le", errors="replace")
        parts = text.split("\x00")
        while parts and parts[-1] == "":
            parts.pop()
        return parts
    if vtype == REG_DWORD and len(raw) >= 4:
        return struct.unpack_from("<I", raw)[0]
    if vtype == REG_DWORD_BIG_ENDIAN and len(raw) >= 4:
        return struct.unpack_from(">I", raw)[0]
    if vtype == REG_QWORD and len(raw) >= 8:
        return struct.unpack_from("<Q", raw)[0]
    return bytes(raw)


def as_int32(value: Any) -> int | None:
    """DWORDs such as time-zone Bias are signed LONGs stored unsigned."""
    if not isinstance(value, int):
        return None
    return value - (1 << 32) if value >= (1 << 31) else value


def detect_kind(root_subkeys: set[str], root_name: str = "") -> str:
    """Hive kind from the root key's subkey names (lower-cased), not from the file name."""
    s = root_subkeys
    if "select" in s and any(k.startswith("controlset") for k in s):
        return SYSTEM
    if "sam" in s and len(s) <= 3:
        return SAM
    if "policy" in s and ("rxact" in s or "cache" in s):
        return SECURITY
    if "software" in s and ({"control panel", "environment", "appevents", "console"} & s):
        return NTUSER
    if "microsoft" in s and ({"classes", "clients", "wow6432node", "policies", "registeredapplications"} & s):
        return SOFTWARE
    if "root" in s and len(s) <= 3:
        return AMCACHE
    if "objects" in s and "description" in s:
        return BCD
    if "local settings" in s or root_name.lower().endswith("_classes") or "clsid" in s:
        return USRCLASS
    return UNKNOWN


def find_logs(hive_path: Path, companion_names: list[str]) -> dict[str, Path]:
    """Transaction logs beside the materialised hive, keyed 'LOG1', 'LOG2' or 'LOG' (old format).

    Only files named by the hive's companions are considered (never a directory scan of the evidence).
    Names are matched case-insensitively: NTUSER.DAT travels with ntuser.dat.LOG1.
    """
    stem = hive_path.name.lower()
    present = {p.name.lower(): p for p in hive_path.parent.iterdir()} if hive_path.parent.is_dir() else {}
    logs: dict[str, Path] = {}
    for name in companion_names:
        low = name.lower()
        for suffix in (".log1", ".log2", ".log"):
            if low == stem + suffix and low in present:
                logs[suffix[1:].upper()] = present[low]
    return logs


@dataclass
class Replay:
    """What a log replay did: which logs in which order, how many pages came back, and doubts."""

    logs: list[str]
    pages: int
    base_before: BaseBlock
    base_after: BaseBlock | None
    doubts: list[str] = field(default_factory=list)


def hvle_sequences(path: Path, max_entries: int = 100_000) -> list[int]:
    """Sequence numbers of a new-format log's HvLE entries, in file order (bounded, never raises)."""
    seqs: list[int] = []
    try:
        with open(path, "rb") as f:
            pos = 512
            while len(seqs) < max_entries:
                f.seek(pos)
                head = f.read(20)
                if len(head) < 20 or head[:4] != b"HvLE":
                    break
                size, _flags, seq = struct.unpack_from("<III", head, 4)
                seqs.append(seq)
                if size < 40:
                    break
                pos += size
    except OSError:
        pass
    return seqs


def replay_doubts(logs: list[Path], base: BaseBlock) -> list[str]:
    """Where the logs do not continue the hive's own sequence number, Windows would skip entries that
    regipy still applies; say so, so the analyst weighs values read from the replayed hive."""
    out = []
    for log in logs:
        seqs = hvle_sequences(log)
        if not seqs:
            continue
        stale = [s for s in seqs if s < base.secondary_seq]
        if seqs[0] > base.secondary_seq:
            out.append(f"{log.name}: entries {seqs[0]}-{seqs[-1]} do not continue the hive's sequence number "
                       f"{base.secondary_seq} (log may not belong to this hive state)")
        elif stale:
            out.append(f"{log.name}: {len(stale)} entr{'y' if len(stale) == 1 else 'ies'} older than the hive's "
                       f"sequence number {base.secondary_seq} (already in the hive; applied again by regipy)")
    return out


def replay_logs(hive_path: Path, logs: dict[str, Path], base: BaseBlock) -> tuple[bytes, Replay]:
    """Apply the transaction logs with regipy.recovery into a private temp dir; return the restored bytes.

    Order: of two new-format logs the one with the older base-block sequence number is applied first so
    the newer one wins (regipy applies ``secondary`` first, then ``primary``). Raises on failure; the
    caller reports and falls back to the hive as collected.
    """
    from regipy.recovery import apply_transaction_logs  # recovery only, never a walk

    ordered: list[Path]
    if "LOG1" in logs or "LOG2" in logs:
        pairs = []
        for key in ("LOG1", "LOG2"):
            if key in logs:
                with open(logs[key], "rb") as f:
                    head = f.read(12)
                seq = struct.unpack_from("<I", head, 4)[0] if len(head) >= 12 and head[:4] == REGF_MAGIC else -1
                pairs.append((seq, key))
        pairs.sort()
        ordered = [logs[k] for _, k in pairs]
    else:
        ordered = [logs["LOG"]]
    tmp = Path(tempfile.mkdtemp(prefix="triage-hive-"))
    try:
        out = tmp / "restored"
        if len(ordered) == 2:
            _, pages = apply_transaction_logs(str(hive_path), str(ordered[1]), str(ordered[0]),
                                              restored_hive_path=str(out))
        else:
            _, pages = apply_transaction_logs(str(hive_path), str(ordered[0]), restored_hive_path=str(out))
        data = out.read_bytes()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    try:
        after = read_base_block(data[:BASE_BLOCK_SIZE])
    except HiveError:
        after = None
    return data, Replay([p.name for p in ordered], int(pages), base, after, replay_doubts(ordered, base))


@dataclass
class Hive:
    """A hive opened with python-registry; every accessor is case-insensitive and never raises.

    root_name: the logical root used in locations, e.g. 'HKLM\\SYSTEM' or 'HKU\\tony'.
    problems: (path, message) pairs for parts that could not be read; the parser reports them.
    """

    reg: Any
    base: BaseBlock
    kind: str
    root_name: str = ""
    replay: Replay | None = None
    problems: list[tuple[str, str]] = field(default_factory=list)
    problem_count: int = 0
    _seen: set[tuple[str, str]] = field(default_factory=set, repr=False)
    _children: dict[int, dict[str, Any]] = field(default_factory=dict, repr=False)
    _value_maps: dict[int, dict[str, Any]] = field(default_factory=dict, repr=False)
    # key offset -> (parent key, stored name) for keys reached through subkeys(); path() composes
    # from it instead of walking python-registry's parent pointers once per key
    _parents: dict[int, tuple[Any, str]] = field(default_factory=dict, repr=False)
    _paths: dict[int, str] = field(default_factory=dict, repr=False)
    _subkey_lists: dict[int, list[Any]] = field(default_factory=dict, repr=False)
    _cached_subkeys: int = 0

    @classmethod
    def from_bytes(cls, data: bytes, base: BaseBlock) -> Hive:
        try:
            reg = Registry.Registry(io.BytesIO(data))
            root = reg.root()
            names = {k.name().lower() for k in root.subkeys()}
            root_name = root.name()
        except Exception as exc:  # python-registry raises many types on damaged input
            raise HiveError(f"root key unreadable: {type(exc).__name__}: {exc}") from exc
        return cls(reg=reg, base=base, kind=detect_kind(names, root_name))

    # --- navigation -------------------------------------------------------------------------------
    def _problem(self, path: str, exc: BaseException) -> None:
        self._problem_text(path, f"{type(exc).__name__}: {exc}")

    def _problem_text(self, path: str, message: str) -> None:
        """Record a distinct problem (the same key is often visited more than once)."""
        if (path, message) in self._seen:
            return
        self._seen.add((path, message))
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append((path, message))

    def root(self) -> Any | None:
        try:
            return self.reg.root()
        except Exception as exc:
            self._problem("", exc)
            return None

    def key(self, path: str) -> Any | None:
        """Key at 'A\\B\\C' under the root (case-insensitive), or None if absent or unreadable."""
        key = self.root()
        for part in (p for p in path.split("\\") if p):
            if key is None:
                return None
            key = self.subkey(key, part)
        return key

    def subkey(self, key: Any, name: str) -> Any | None:
        """Child ``name`` (case-insensitive). The children of a key are indexed once: a key such as
        ControlSet001\\Services has hundreds of subkeys and many modules look names up under it."""
        try:
            off = key._nkrecord.offset()
        except Exception:
            off = None
        index = self._children.get(off) if off is not None else None
        if index is None:
            index = {}
            for sub in self.subkeys(key):
                try:
                    index.setdefault(sub.name().lower(), sub)
                except Exception as exc:
                    self._problem(self.path(key), exc)
            if off is not None:
                self._children[off] = index
        return index.get(name.lower())

    def subkeys(self, key: Any) -> list[Any]:
        """Subkeys, read entry by entry so one bad pointer in a subkey list loses one key, not all.
        A long list is read once per hive: several modules list ControlSet00N\\Services (hundreds
        of keys) and look names up under it (bounded by MAX_CACHED_SUBKEYS keys in all)."""
        try:
            off = key._nkrecord.offset()
        except Exception:
            off = None
        known = self._subkey_lists.get(off) if off is not None else None
        if known is not None:
            return list(known)
        out = self._read_subkeys(key)
        if off is not None and len(out) >= CACHE_SUBKEYS_FROM and self._cached_subkeys + len(out) <= MAX_CACHED_SUBKEYS:
            self._subkey_lists[off] = out
            self._cached_subkeys += len(out)
            return list(out)
        return out

    def _read_subkeys(self, key: Any) -> list[Any]:
        nk = key._nkrecord
        out: list[Any] = []
        bad: list[str] = []

        hbase = 0  # where cell offsets start (set below, under the guard)

        def walk(list_rel: int, depth: int) -> None:
            cell = HBINCell(self.reg._buf, hbase + list_rel, nk)
            lid, base = cell.data_id(), cell.data_offset()
            step = {b"lf": 8, b"lh": 8, b"li": 4, b"ri": 4}.get(lid)
            if step is None:
                raise ValueError(f"unknown subkey list type {lid!r}")
            count = struct.unpack_from("<H", self.reg._buf, base + 2)[0]
            for i in range(min(count, MAX_LIST_ENTRIES)):
                if len(out) + len(bad) >= MAX_LIST_ENTRIES:  # an 'ri' of many full lists: stop, do not spin
                    bad.append(f"more than {MAX_LIST_ENTRIES} subkeys: rest not read")
                    return
                try:
                    rel = struct.unpack_from("<I", self.reg._buf, base + 4 + i * step)[0]
                    if lid == b"ri":
                        if depth < 2:
                            walk(rel, depth + 1)
                        continue
                    child = HBINCell(self.reg._buf, hbase + rel, nk)
                    rec = based(BasedNK, self.reg._buf, child.data_offset(), nk, hbase)
                    self._parents.setdefault(rec.offset(), (key, rec.name()))
                    out.append(RegistryKey(rec))
                except Exception as exc:
                    bad.append(f"{type(exc).__name__}: {exc}")

        try:
            if nk.subkey_number():
                hbase = hbin_base(nk)
                walk(nk.unpack_dword(0x1C), 0)
        except Exception as exc:
            bad.append(f"{type(exc).__name__}: {exc}")
        if bad:
            self._problem_text(self.path(key), f"{len(bad)} subkey(s) unreadable, first: {bad[0]}")
        return out

    def path(self, key: Any) -> str:
        """Full logical path of a key: root_name + the stored names below the root. A key reached
        through :meth:`subkeys` gets its parent's path plus its name (the same names python-registry
        would collect by following the parent pointers up, without re-reading every ancestor)."""
        try:
            off = key._nkrecord.offset()
        except Exception:
            off = None
        if off is None:
            return self._library_path(key)
        names: list[str] = []
        seen = {off}
        cur, cur_off = key, off
        while cur_off not in self._paths:  # up to an ancestor whose path is known (bounded by seen)
            step = self._parents.get(cur_off)
            if step is None:  # not reached through subkeys() (the root): python-registry's walk
                self._paths[cur_off] = self._library_path(cur)
                break
            parent, name = step
            names.append(name)
            cur, cur_off = parent, parent._nkrecord.offset()
            if cur_off in seen:  # a subkey list that points back up (hostile hive)
                return self._library_path(key)
            seen.add(cur_off)
        text = self._paths[cur_off]
        for name in reversed(names):
            text = f"{text}\\{name}"
        self._paths[off] = text
        return text

    def _library_path(self, key: Any) -> str:
        try:
            parts = key.path().split("\\")[1:]  # python-registry includes the root key's own name
        except Exception:
            parts = ["?"]
        return "\\".join([self.root_name, *parts]) if parts else self.root_name

    def last_write(self, key: Any) -> datetime | None:
        try:
            return from_filetime(key._nkrecord.unpack_qword(0x4))
        except Exception as exc:
            self._problem(self.path(key), exc)
            return None

    def values(self, key: Any) -> Iterator[tuple[str, int, Any]]:
        """(name, type, decoded data) for each readable value; '' is the default value. Read one by one so
        a damaged value costs only itself."""
        nk = key._nkrecord
        bad: list[str] = []
        try:
            count = min(nk.values_number(), MAX_LIST_ENTRIES) if nk.values_number() else 0
            base = hbin_base(nk)
            list_abs = base + nk.unpack_dword(0x28) + 4 if count else 0
        except Exception as exc:
            count, list_abs, base = 0, 0, 0
            bad.append(f"{type(exc).__name__}: {exc}")
        for i in range(count):
            try:
                rel = struct.unpack_from("<I", self.reg._buf, list_abs + 4 * i)[0]
                fast = read_value(self.reg._buf, base, base + rel + 4)
                if fast is not None:
                    name, vtype, raw = fast
                else:  # an unusual or damaged value: python-registry reads it (or says why not)
                    cell = HBINCell(self.reg._buf, base + rel, nk)
                    vk = based(BasedVK, self.reg._buf, cell.data_offset(), nk, base)
                    name = vk.name() if vk.has_name() else ""
                    vtype = vk.data_type()
                    raw = vk.raw_data()
            except Exception as exc:
                bad.append(f"{type(exc).__name__}: {exc}")
                continue
            yield name, vtype, decode_value(vtype, raw)
        if bad:
            self._problem_text(self.path(key), f"{len(bad)} value(s) unreadable, first: {bad[0]}")

    def value_map(self, key: Any) -> dict[str, Any]:
        """Lower-cased value name -> decoded data, read once per key (callers must not modify it)."""
        if key is None:
            return {}
        try:
            off = key._nkrecord.offset()
        except Exception:
            off = None
        cached = self._value_maps.get(off) if off is not None else None
        if cached is None:
            cached = {name.lower(): data for name, _, data in self.values(key)}
            if off is not None:
                self._value_maps[off] = cached
        return cached

    def value(self, key: Any, name: str, default: Any = None) -> Any:
        if key is None:
            return default
        return self.value_map(key).get(name.lower(), default)


@dataclass
class OpenedHive:
    hive: Hive
    notes: list[tuple[str, str]]  # (severity, message) about opening: dirty, replay, size...


def open_hive(path: Path, companion_names: list[str], *, replay: bool = True,
              max_bytes: int = DEFAULT_MAX_HIVE_BYTES) -> OpenedHive:
    """Read a hive file (read-only), replaying its logs if it is dirty and they came with it."""
    notes: list[tuple[str, str]] = []
    size = path.stat().st_size
    if size > max_bytes:
        raise HiveError(f"hive is {size} bytes, above the {max_bytes}-byte cap (parsing it would hold it in memory)")
    with open(path, "rb") as f:
        data = f.read()
    base = read_base_block(data[:BASE_BLOCK_SIZE])
    _note_truncation(base, data, notes)
    logs = find_logs(path, companion_names)
    restored: Replay | None = None
    if base.dirty:
        if not logs:
            notes.append(("warning", f"hive is dirty (sequence numbers {base.primary_seq} != {base.secondary_seq}) "
                                     "and no transaction log came with it: its newest changes may be missing"))
        elif replay:
            try:
                data, restored = replay_logs(path, logs, base)
                notes.append(("info", f"hive was dirty (sequence numbers {base.primary_seq} != {base.secondary_seq}); "
                                      f"replayed {restored.pages} pages from {', '.join(restored.logs)} "
                                      "(regipy.recovery, in a private temp copy)"))
                for doubt in restored.doubts:
                    notes.append(("warning", f"transaction-log replay doubt: {doubt}"))
            except Exception as exc:
                notes.append(("warning", f"transaction-log replay failed ({type(exc).__name__}: {exc}); "
                                         "parsed the hive as collected"))
        else:
            notes.append(("info", "hive is dirty; transaction-log replay disabled by option"))
    hive = Hive.from_bytes(data, restored.base_after if restored and restored.base_after else base)
    hive.replay = restored
    return OpenedHive(hive, notes)


def _note_truncation(base: BaseBlock, data: bytes, notes: list[tuple[str, str]]) -> None:
    if base.hbins_size + BASE_BLOCK_SIZE > len(data):
        notes.append(("warning", f"hive is truncated: base block says {base.hbins_size + BASE_BLOCK_SIZE} bytes, "
                                 f"file has {len(data)}"))


def open_clean_hive(data: bytes) -> OpenedHive | None:
    """The hive in ``data`` when it is clean, opened from memory: what :func:`open_hive` gives for the
    same bytes (a clean hive's logs are never read). None when it is dirty: its logs may need a
    replay, which works on files (:func:`open_hive` on a private copy with its logs).

    Why: python-registry holds the whole hive in memory anyway; writing it to a temporary file
    first, with its logs beside it, only to read it back cost a batch worker more than opening it."""
    base = read_base_block(data[:BASE_BLOCK_SIZE])
    if base.dirty:
        return None
    notes: list[tuple[str, str]] = []
    _note_truncation(base, data, notes)
    return OpenedHive(Hive.from_bytes(data, base), notes)


def companion_names(companions: list[Any]) -> list[str]:
    """Base names of companion manifest entries (their original paths may be Windows paths)."""
    out = []
    for c in companions:
        p = getattr(c, "path", None) or getattr(c, "bundle_path", None) or ""
        out.append(PureWindowsPath(p).name if "\\" in p else Path(p).name)
    return out
