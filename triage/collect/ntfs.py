"""Raw NTFS source: reads files by parsing NTFS from a volume's bytes, not through the OS.

Why: on a live Windows host the files that matter most (event logs, registry hives, Amcache) are
held open by the OS without sharing, so the file API refuses them; disk images and shadow copies
have no OS to ask at all. Parsing NTFS ourselves (with libfsntfs, see docs/raw-ntfs.md for why this
library) reads them all the same way, and also gives what the file API hides: the MFT entry number,
the $FILE_NAME timestamps next to the $STANDARD_INFORMATION ones, alternate data streams
(Zone.Identifier of downloads) and NTFS metadata files ($MFT, $LogFile, $UsnJrnl:$J).

``NtfsSource`` implements the collector's ``FileSource`` protocol over any file-like object holding
one NTFS volume (a volume image, a partition window of a disk image, an E01 or QCOW2 handle, a
shadow-copy store, or ``\\\\.\\C:`` on a live host). It never writes: the volume is opened read-only
and every read is positional, so many readers can share one handle.

Beyond the protocol it offers named streams: ``streams(rel)``, ``stat_stream(rel, name)`` and
``open_stream(rel, name)``; and sparse-aware reading: ``allocated_ranges(rel, stream)`` and
``allocated_only=True`` on ``open``/``open_stream``, which returns only the allocated extents (how
``$UsnJrnl:$J`` is collected: its sparse head is never data, and can be tens of GiB of zeros).

Every stream returned by ``open``/``open_stream`` carries ``read_method`` and ``extra`` attributes
(the same dict ``stat`` gives in ``FileMeta.extra``, plus the allocated ranges when only those were
read), so the collector records how each file was read without asking the source again.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from triage.collect.source import DirEntry, FileMeta
from triage.units import from_filetime, iso

try:  # optional dependency (setup.cfg extra 'raw')
    import pyfsntfs
except ImportError:  # pragma: no cover - exercised only where the extra is not installed
    pyfsntfs = None

FILE_ATTRIBUTE_REPARSE_POINT = 0x400
EXTENT_FLAG_SPARSE = 0x1
ATTR_STANDARD_INFORMATION = 0x10
ATTR_FILE_NAME = 0x30
ATTR_DATA = 0x80
# $FILE_NAME name spaces: 0 POSIX, 1 Win32, 2 DOS (8.3), 3 Win32 and DOS
_FN_PREFERENCE = (1, 3, 0, 2)

MFT_INDEX_MASK = 0xFFFFFFFFFFFF
REF_CACHE_MAX = 500_000         # names remembered from listings (~100 MB worst case), then forgotten
USN_JOURNAL_PATH = "$Extend/$UsnJrnl"
USN_JOURNAL_STREAM = "$J"


class NtfsError(OSError):
    """The volume could not be opened or parsed (not NTFS, damaged, unsupported)."""


def _require_pyfsntfs() -> None:
    if pyfsntfs is None:
        raise NtfsError("raw NTFS reading needs libfsntfs-python (pip install 'triage[raw]')")


def _ft(value: int | None) -> str | None:
    """FILETIME integer -> ISO-8601 UTC, None for 0 (never set)."""
    if not value:
        return None
    try:
        return iso(from_filetime(value))
    except (OverflowError, ValueError, OSError):
        return None


def _times(obj: Any) -> dict[str, str | None]:
    """The four NTFS timestamps of a file entry or $SI/$FN attribute, named by what they mean."""
    out: dict[str, str | None] = {}
    for key, getter in (("created", "get_creation_time_as_integer"),
                        ("modified", "get_modification_time_as_integer"),
                        ("accessed", "get_access_time_as_integer"),
                        ("mft_modified", "get_entry_modification_time_as_integer")):
        fn = getattr(obj, getter, None)
        try:
            out[key] = _ft(fn()) if fn else None
        except (OSError, OverflowError, ValueError):
            out[key] = None
    return out


@dataclass(frozen=True, slots=True)
class Extent:
    """One run of a stream: ``logical`` offset in the stream, ``length`` bytes, sparse or not."""

    logical: int
    length: int
    sparse: bool


class _RangeReader(io.RawIOBase):
    """Read-only stream over a libfsntfs file entry or data stream.

    ``ranges`` lists the (logical offset, length) pieces of the underlying stream to expose, in
    order, as one contiguous stream: [(0, size)] for the whole stream, the allocated extents for
    an allocated-only read. Reads are positional (``read_buffer_at_offset``) under the volume's lock,
    so readers never disturb each other's position.
    """

    def __init__(self, obj: Any, ranges: list[tuple[int, int]], lock: threading.RLock,
                 read_method: str, extra: dict[str, Any]) -> None:
        super().__init__()
        self._obj = obj
        self._ranges = ranges
        self._starts: list[int] = []
        total = 0
        for _, length in ranges:
            self._starts.append(total)
            total += length
        self._size = total
        self._pos = 0
        self._lock = lock
        self.read_method = read_method
        self.extra = extra

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self._size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if pos < 0:
            raise ValueError("negative seek position")
        self._pos = pos
        return pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        want = min(len(view), self._size - self._pos)
        if want <= 0:
            return 0
        # find the range holding the current position
        idx = 0
        for i, start in enumerate(self._starts):
            if start <= self._pos:
                idx = i
            else:
                break
        done = 0
        while done < want and idx < len(self._ranges):
            logical, length = self._ranges[idx]
            inner = self._pos - self._starts[idx]
            chunk = min(want - done, length - inner)
            if chunk <= 0:
                idx += 1
                continue
            with self._lock:
                data = self._obj.read_buffer_at_offset(chunk, logical + inner)
            if not data:
                break
            n = len(data)
            view[done:done + n] = data
            done += n
            self._pos += n
            if n < chunk:
                break
            if self._pos - self._starts[idx] >= length:
                idx += 1
        return done


class NtfsSource:
    """A read-only NTFS volume parsed from ``fileobj`` (see module docstring).

    ``volume`` names it in the bundle (files/<volume>/...); ``read_method`` is recorded per file:
    'ntfs_raw' (live volume device), 'image' (disk image) or 'vss' (shadow-copy store).
    ``info`` holds where the volume came from (image path, partition, store...) for the
    collection record. ``fileobj`` is kept so shadow copies can be looked for on the same bytes.
    """

    kind = "ntfs"
    case_sensitive = False
    path_style = "windows"

    def __init__(self, fileobj: Any, volume: str = "C", *, read_method: str = "ntfs_raw",
                 kind: str = "ntfs", info: dict[str, Any] | None = None,
                 closers: list[Any] | None = None, device_path: str | None = None,
                 lock: threading.RLock | None = None) -> None:
        _require_pyfsntfs()
        self.volume = volume
        self.kind = kind
        self.read_method = read_method
        self.info: dict[str, Any] = dict(info or {})
        self.fileobj = fileobj
        self.device_path = device_path
        # one lock per underlying handle: sources sharing a handle (shadow stores) share the lock
        self._lock = lock or threading.RLock()
        self._refs: dict[str, int] = {}   # path -> file reference, from listings (see _entry)
        self._closers = list(closers or [])
        self._fs = pyfsntfs.volume()
        try:
            if device_path is not None:
                self._fs.open(device_path)          # libbfio handles \\.\C: (sector-aligned device I/O)
            else:
                self._fs.open_file_object(fileobj)
        except (OSError, RuntimeError, ValueError, TypeError) as exc:
            raise NtfsError(f"not a readable NTFS volume: {exc}") from exc
        try:
            self.info.setdefault("serial_number", f"{self._fs.get_serial_number():016X}")
            self.info.setdefault("label", self._fs.get_name())
            self.info.setdefault("cluster_size", self._fs.get_cluster_block_size())
        except (OSError, ValueError):
            pass

    @classmethod
    def from_path(cls, path: Any, volume: str = "C", **kw: Any) -> NtfsSource:
        """An NTFS volume image file, opened read-only and closed with the source."""
        fh = open(path, "rb")  # noqa: SIM115 - owned by the source, closed by close()
        try:
            return cls(fh, volume, closers=[fh.close, *kw.pop("closers", [])], **kw)
        except BaseException:
            fh.close()
            raise

    @property
    def description(self) -> str:
        """One line for the collection record: where this volume's bytes come from."""
        i = self.info
        parts = []
        if "shadow_copy" in i:
            sc = i["shadow_copy"]
            parts.append(f"shadow copy {sc['store_index']} of volume {i.get('live_volume')} "
                         f"created {sc['created']} (store {sc['identifier']})")
        if i.get("partition"):
            parts.append(f"{i.get('scheme', '').upper()} partition {i['partition']} at offset {i.get('offset')}")
        if i.get("image"):
            parts.append(f"{i.get('container', 'raw')} image {i['image']}")
        if i.get("device"):
            parts.append(f"raw volume {i['device']}")
        if i.get("label"):
            parts.append(f"label {i['label']!r}")
        return "; ".join(parts) or "NTFS volume"

    # --- lifetime -------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the volume and whatever handles were opened for it (image files, E01 handles)."""
        with self._lock:
            try:
                self._fs.close()
            except OSError:
                pass
            for closer in self._closers:
                try:
                    closer()
                except OSError:
                    pass
            self._closers = []

    def __enter__(self) -> NtfsSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- lookup ---------------------------------------------------------------------------------

    @staticmethod
    def _ntfs_path(rel: str) -> str:
        parts = [p for p in rel.split("/") if p]
        if any(p in (".", "..") for p in parts):
            raise ValueError(f"refusing path with '.' or '..': {rel!r}")
        return "\\" + "\\".join(parts)

    def _remember(self, parent: str, name: str, ref: int) -> None:
        """Note a listed child's file reference so opening it later skips the path walk."""
        if len(self._refs) > REF_CACHE_MAX:
            self._refs.clear()
        rel = f"{parent.strip('/')}/{name}" if parent.strip("/") else name
        self._refs[rel] = ref
        folded = rel.casefold()
        if folded != rel:
            # two names equal but for case (POSIX namespace) must not shadow each other
            self._refs[folded] = -1 if self._refs.get(folded, ref) != ref else ref

    def _entry(self, rel: str) -> Any:
        """The file entry at ``rel`` (case-insensitive, as Windows), FileNotFoundError if absent.

        Why the reference cache: libfsntfs resolves a path by scanning each directory's index
        (measured 2 ms per lookup in a 600-entry directory, 60% of a whole-volume read); entries
        seen by ``listdir`` are opened by MFT number instead, checked against their sequence number.
        """
        key = "/".join(p for p in rel.split("/") if p)
        ref = self._refs.get(key)
        if ref is None:
            ref = self._refs.get(key.casefold())
        if ref is not None and ref >= 0:
            with self._lock:
                try:
                    entry = self._fs.get_file_entry(ref & MFT_INDEX_MASK)
                    if entry.get_file_reference() == ref:
                        return entry
                except (OSError, RuntimeError):
                    pass
        path = self._ntfs_path(rel)
        with self._lock:
            try:
                entry = self._fs.get_root_directory() if path == "\\" else self._fs.get_file_entry_by_path(path)
            except (OSError, RuntimeError, ValueError) as exc:
                raise OSError(f"NTFS lookup failed for {rel!r}: {exc}") from exc
        if entry is None:
            raise FileNotFoundError(f"no such file on the NTFS volume: {rel!r}")
        return entry

    def exists(self, rel: str) -> bool:
        try:
            self._entry(rel)
            return True
        except OSError:
            return False

    @staticmethod
    def _is_link(entry: Any) -> bool:
        """Symbolic links and junctions only: WOF-compressed or cloud placeholder files are also
        reparse points but hold data and must be read."""
        try:
            if not entry.get_file_attribute_flags() & FILE_ATTRIBUTE_REPARSE_POINT:
                return False
            return entry.get_symbolic_link_target() is not None
        except (OSError, RuntimeError):
            return False

    # --- FileSource protocol -------------------------------------------------------------------

    def listdir(self, rel: str) -> Iterator[DirEntry]:
        """Live entries of a directory, from its $I30 index (deleted files are not in it)."""
        try:
            entry = self._entry(rel)
        except (OSError, ValueError):
            return
        with self._lock:
            try:
                if not entry.has_directory_entries_index():
                    return
                count = entry.get_number_of_sub_file_entries()
            except (OSError, RuntimeError):
                return
        for i in range(count):
            with self._lock:
                try:
                    sub = entry.get_sub_file_entry(i)
                    name = sub.get_name()
                    is_dir = bool(sub.has_directory_entries_index())
                    ref = sub.get_file_reference()
                except (OSError, RuntimeError, UnicodeDecodeError):
                    continue
            if not name or name in (".", "..") or "/" in name or "\x00" in name:
                continue
            self._remember(rel, name, ref)
            link = self._is_link(sub)
            # a file without a default $DATA ($Extend/$UsnJrnl: only the $J stream) is still a file,
            # so profiles can name it and take its streams; its default stream reads as empty
            yield DirEntry(name, is_dir and not link, not is_dir and not link, link)

    def _extra(self, entry: Any) -> dict[str, Any]:
        """What NTFS knows about a file and the file API does not say (see module docstring)."""
        extra: dict[str, Any] = {}
        try:
            ref = entry.get_file_reference()
            extra["mft_entry"] = ref & 0xFFFFFFFFFFFF
            extra["mft_sequence"] = ref >> 48
        except (OSError, RuntimeError):
            pass
        try:
            extra["file_attribute_flags"] = entry.get_file_attribute_flags()
        except (OSError, RuntimeError):
            pass
        si: dict[str, str | None] | None = None
        fn_best: tuple[int, dict[str, str | None], str] | None = None
        try:
            for i in range(entry.get_number_of_attributes()):
                attr = entry.get_attribute(i)
                atype = attr.get_attribute_type()
                if atype == ATTR_STANDARD_INFORMATION and si is None:
                    si = _times(attr)
                elif atype == ATTR_FILE_NAME:
                    try:
                        rank = _FN_PREFERENCE.index(attr.name_space)
                    except (ValueError, AttributeError):
                        rank = len(_FN_PREFERENCE)
                    if fn_best is None or rank < fn_best[0]:
                        fn_best = (rank, _times(attr), attr.get_name())
        except (OSError, RuntimeError):
            pass
        extra["si_times"] = si if si is not None else _times(entry)
        if fn_best is not None:
            extra["fn_times"] = fn_best[1]
            extra["fn_name"] = fn_best[2]
        else:
            extra["fn_times"] = None
        extra["ads"] = self._stream_names(entry)
        return extra

    def _stream_names(self, entry: Any) -> list[str]:
        names: list[str] = []
        with self._lock:
            try:
                for i in range(entry.get_number_of_alternate_data_streams()):
                    names.append(entry.get_alternate_data_stream(i).get_name())
            except (OSError, RuntimeError, UnicodeDecodeError):
                pass
        return names

    def stat(self, rel: str) -> FileMeta:
        entry = self._entry(rel)
        with self._lock:
            try:
                size = entry.get_size() if entry.has_default_data_stream() else 0
            except (OSError, RuntimeError) as exc:
                raise OSError(f"cannot read the size of {rel!r}: {exc}") from exc
            extra = self._extra(entry)
        si = extra["si_times"]
        times = {"modified": si.get("modified"), "accessed": si.get("accessed"),
                 "changed": si.get("mft_modified"), "born": si.get("created")}
        return FileMeta(size=size, times=times, owner=None, mode=None, extra=extra)

    def open(self, rel: str, *, allocated_only: bool = False) -> IO[bytes]:
        """The file's default ($DATA) stream. ``allocated_only`` skips sparse runs."""
        entry = self._entry(rel)
        with self._lock:
            has_data = entry.has_default_data_stream()
            if entry.has_directory_entries_index() and not has_data:
                raise IsADirectoryError(f"is a directory: {rel!r}")
            extra = self._extra(entry)
        if not has_data:  # e.g. $Extend/$UsnJrnl, whose data is the $J stream: nothing in the default stream
            extra["no_default_stream"] = True
            return _RangeReader(entry, [], self._lock, self.read_method, extra)  # type: ignore[return-value]
        return self._reader(entry, entry, allocated_only, extra)

    def original_path(self, rel: str) -> str:
        return f"{self.volume}:\\" + rel.replace("/", "\\")

    def contains(self, path: str) -> bool:
        """The output directory can never be inside a parsed volume's namespace as we see it."""
        return False

    # --- named streams --------------------------------------------------------------------------

    def streams(self, rel: str) -> list[str]:
        """Names of the file's alternate data streams (e.g. ['Zone.Identifier'])."""
        try:
            return self._stream_names(self._entry(rel))
        except (OSError, ValueError):
            return []

    def _stream(self, rel: str, name: str) -> tuple[Any, Any]:
        entry = self._entry(rel)
        with self._lock:
            try:
                stream = entry.get_alternate_data_stream_by_name(name)
            except (OSError, RuntimeError) as exc:
                raise OSError(f"cannot read stream {name!r} of {rel!r}: {exc}") from exc
        if stream is None:
            raise FileNotFoundError(f"no stream {name!r} on {rel!r}")
        return entry, stream

    def stat_stream(self, rel: str, name: str, *, allocated_only: bool | None = None) -> FileMeta:
        """Metadata of a named stream: the file's own times and MFT facts, the stream's size
        (allocated bytes only when ``allocated_only``, which defaults to True for $UsnJrnl:$J)."""
        entry, stream = self._stream(rel, name)
        allocated = self._default_allocated_only(rel, name) if allocated_only is None else allocated_only
        with self._lock:
            extra = self._extra(entry)
            size = stream.get_size()
            if allocated:
                ranges = self._allocated(stream)
                extra.update(self._sparse_extra(ranges, size))
                size = sum(length for _, length in ranges)
        extra["stream"] = name
        si = extra["si_times"]
        times = {"modified": si.get("modified"), "accessed": si.get("accessed"),
                 "changed": si.get("mft_modified"), "born": si.get("created")}
        return FileMeta(size=size, times=times, extra=extra)

    def open_stream(self, rel: str, name: str, *, allocated_only: bool | None = None) -> IO[bytes]:
        """A named stream ('Zone.Identifier', '$J'...). ``allocated_only`` defaults to True for
        $UsnJrnl:$J only, whose sparse head is never data."""
        entry, stream = self._stream(rel, name)
        allocated = self._default_allocated_only(rel, name) if allocated_only is None else allocated_only
        with self._lock:
            extra = self._extra(entry)
        extra["stream"] = name
        return self._reader(entry, stream, allocated, extra)

    def stream_path(self, rel: str, name: str) -> str:
        """Original path of a named stream, as Windows writes it: C:\\dir\\file:stream."""
        return f"{self.original_path(rel)}:{name}"

    @staticmethod
    def _default_allocated_only(rel: str, name: str) -> bool:
        return rel.strip("/").lower() == USN_JOURNAL_PATH.lower() and name == USN_JOURNAL_STREAM

    # --- extents --------------------------------------------------------------------------------

    def extents(self, rel: str, stream: str | None = None) -> list[Extent]:
        """The runs of the default stream (or of named ``stream``), in logical order."""
        obj = self._entry(rel) if stream is None else self._stream(rel, stream)[1]
        with self._lock:
            return self._extents(obj)

    def allocated_ranges(self, rel: str, stream: str | None = None) -> list[tuple[int, int]]:
        """(logical offset, length) of every allocated (not sparse) run, clipped to the data size."""
        obj = self._entry(rel) if stream is None else self._stream(rel, stream)[1]
        with self._lock:
            return self._allocated(obj)

    @staticmethod
    def _extents(obj: Any) -> list[Extent]:
        out: list[Extent] = []
        logical = 0
        for i in range(obj.get_number_of_extents()):
            _offset, length, flags = obj.get_extent(i)
            out.append(Extent(logical, length, bool(flags & EXTENT_FLAG_SPARSE)))
            logical += length
        return out

    def _allocated(self, obj: Any) -> list[tuple[int, int]]:
        size = obj.get_size()
        ranges: list[tuple[int, int]] = []
        for ext in self._extents(obj):
            if ext.sparse or ext.logical >= size:
                continue
            length = min(ext.length, size - ext.logical)
            if ranges and ranges[-1][0] + ranges[-1][1] == ext.logical:
                ranges[-1] = (ranges[-1][0], ranges[-1][1] + length)   # merge adjacent runs
            else:
                ranges.append((ext.logical, length))
        return ranges

    @staticmethod
    def _sparse_extra(ranges: list[tuple[int, int]], size: int) -> dict[str, Any]:
        return {"allocated_only": True, "logical_size": size,
                "allocated_ranges": [[off, length] for off, length in ranges]}

    def _reader(self, entry: Any, obj: Any, allocated_only: bool, extra: dict[str, Any]) -> IO[bytes]:
        with self._lock:
            size = obj.get_size()
            if allocated_only:
                ranges = self._allocated(obj)
                extra.update(self._sparse_extra(ranges, size))
            else:
                ranges = [(0, size)] if size else []
        return _RangeReader(obj, ranges, self._lock, self.read_method, extra)  # type: ignore[return-value]


def open_live_volume(letter: str = "C") -> NtfsSource:
    """The NTFS volume behind drive ``letter`` on a live Windows host, read through \\\\.\\C:.

    Needs administrator rights. libfsntfs opens the device through libbfio, which does the
    sector-aligned reads Windows requires of volume handles.
    """
    letter = letter.rstrip(":\\/").upper()
    device = f"\\\\.\\{letter}:"
    return NtfsSource(None, letter, read_method="ntfs_raw", kind="ntfs_live",
                      info={"device": device}, device_path=device)
