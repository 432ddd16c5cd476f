"""Disk images as collection sources: NTFS volume images, raw MBR/GPT disks, E01 and QCOW2.

Analysts often get an image instead of a live host. ``open_image(path)`` works out what the file
is and returns one ``NtfsSource`` per volume worth collecting, so the collector treats an image like
any other source:

* container: E01/Ex01 (libewf; split segments .E01, .E02... are found with ``pyewf.glob``), QCOW2
  (libqcow), anything else is read as raw bytes (dd / .img / .raw / .001 of a whole disk or volume);
* layout inside: an NTFS boot sector at offset 0 is a volume image (collected whatever it holds, as
  volume 'C'); otherwise an MBR (with extended partitions) or a GPT (protective MBR type 0xEE) is
  parsed here with ``struct`` (it is small and keeps us off yet another library);
* selection: partitions whose boot sector carries the 'NTFS    ' OEM id are opened, and those
  holding a ``Windows/System32`` directory are collected, named C, D, E... in partition order. When
  none holds Windows (a data disk), every NTFS partition is collected, named p1, p2... after its
  partition number. Each skipped partition gets a note saying why (``ImageOpenResult.notes``).

Nothing is written: raw files are opened 'rb' and read with ``os.pread``; E01/QCOW2 handles are
opened read-only. Hostile partition tables (entries past the end, loops in the extended chain,
absurd counts) are bounded and reported as notes, not exceptions.
"""

from __future__ import annotations

import os
import struct
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from triage.collect.ntfs import NtfsError, NtfsSource

NTFS_OEM = b"NTFS    "
MBR_EXTENDED_TYPES = (0x05, 0x0F, 0x85)
MBR_GPT_PROTECTIVE = 0xEE
GPT_SIGNATURE = b"EFI PART"
MAX_EBR = 128               # extended partition chain length cap (loops in hostile images)
MAX_GPT_ENTRIES = 1024
EWF_SIGNATURES = (b"EVF\x09\x0d\x0a\xff\x00", b"LVF\x09\x0d\x0a\xff\x00", b"EVF2\r\n\x81\x00")
QCOW_SIGNATURE = b"QFI\xfb"


@dataclass(frozen=True, slots=True)
class Partition:
    """One partition table entry: ``number`` as the OS counts it (1-based), byte offset and length."""

    number: int
    offset: int
    length: int
    scheme: str                 # 'mbr' | 'gpt'
    type_id: str                # MBR type byte as '0x07', or GPT type GUID
    name: str = ""              # GPT partition name


@dataclass(slots=True)
class ImageOpenResult:
    """The volumes to collect, and why anything else on the image was left out."""

    sources: list[NtfsSource] = field(default_factory=list)
    container: str = "raw"      # 'raw' | 'e01' | 'qcow2'
    layout: str = "volume"      # 'volume' | 'mbr' | 'gpt' | 'unknown'
    partitions: list[Partition] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def close(self) -> None:
        for src in self.sources:
            src.close()


class _Shared:
    """Reference-counted close of the container handle shared by several partition sources."""

    def __init__(self, close: Any) -> None:
        self._close = close
        self._refs = 0
        self._lock = threading.Lock()

    def acquire(self) -> Any:
        with self._lock:
            self._refs += 1

        def release() -> None:
            with self._lock:
                self._refs -= 1
                last = self._refs == 0
            if last and self._close is not None:
                self._close()
                self._close = None
        return release


class _RawFile:
    """A read-only image file read with positional reads (thread-safe, no shared position)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self._fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        self.size = os.fstat(self._fd).st_size
        if self.size == 0:  # block devices report 0 in st_size
            self.size = os.lseek(self._fd, 0, os.SEEK_END)

    def pread(self, size: int, offset: int) -> bytes:
        if hasattr(os, "pread"):
            return os.pread(self._fd, size, offset)
        os.lseek(self._fd, offset, os.SEEK_SET)  # pragma: no cover - Windows
        return os.read(self._fd, size)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class _HandleReader:
    """Positional reads on a libyal handle (pyewf.handle, pyqcow.file) under a lock, through an
    LRU cache of aligned blocks.

    Why the cache: E01 data is stored in compressed chunks (32 KiB), and libfsntfs reads a cluster
    (4 KiB) at a time, hopping between the MFT, indexes and data runs; libewf's own chunk cache is
    small, so without this every hop decompresses a chunk again (measured: reading the test disk's
    files took 59 s uncached, 3 s cached). Memory stays bounded: CACHE_BLOCKS x BLOCK bytes.
    """

    BLOCK = 64 * 1024
    CACHE_BLOCKS = 256          # 16 MiB

    def __init__(self, handle: Any, size: int) -> None:
        self._handle = handle
        self.size = size
        self._lock = threading.Lock()
        self._cache: OrderedDict[int, bytes] = OrderedDict()

    def _block(self, index: int) -> bytes:
        data = self._cache.get(index)
        if data is not None:
            self._cache.move_to_end(index)
            return data
        offset = index * self.BLOCK
        data = self._handle.read_buffer_at_offset(min(self.BLOCK, max(0, self.size - offset)), offset)
        self._cache[index] = data
        if len(self._cache) > self.CACHE_BLOCKS:
            self._cache.popitem(last=False)
        return data

    def pread(self, size: int, offset: int) -> bytes:
        size = max(0, min(size, self.size - offset))
        if size == 0:
            return b""
        out = bytearray()
        with self._lock:
            while size > 0:
                index, inner = divmod(offset, self.BLOCK)
                block = self._block(index)
                piece = block[inner:inner + size]
                if not piece:
                    break
                out += piece
                offset += len(piece)
                size -= len(piece)
        return bytes(out)

    def close(self) -> None:
        with self._lock:
            self._cache.clear()
            self._handle.close()


class Window:
    """A file-like view of ``length`` bytes at ``offset`` of a positional reader: one partition.

    libfsntfs and libvshadow read through it (read/seek/tell/get_size); each Window has its own
    position, so the volumes of one image never disturb each other.
    """

    def __init__(self, reader: Any, offset: int, length: int) -> None:
        self._reader = reader
        self.offset = offset
        self.length = length
        self._pos = 0

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = self.length - self._pos
        size = max(0, min(size, self.length - self._pos))
        if size == 0:
            return b""
        data = self._reader.pread(size, self.offset + self._pos)
        self._pos += len(data)
        return data

    def read_buffer_at_offset(self, size: int, offset: int) -> bytes:
        size = max(0, min(size, self.length - offset))
        return self._reader.pread(size, self.offset + offset) if size else b""

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_SET:
            pos = offset
        elif whence == os.SEEK_CUR:
            pos = self._pos + offset
        elif whence == os.SEEK_END:
            pos = self.length + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if pos < 0:
            raise OSError("negative seek position")
        self._pos = pos
        return pos

    def tell(self) -> int:
        return self._pos

    def clone(self) -> Window:
        """Another view of the same bytes with its own position (e.g. for libvshadow)."""
        return Window(self._reader, self.offset, self.length)

    def get_offset(self) -> int:
        return self._pos

    def get_size(self) -> int:
        return self.length

    def close(self) -> None:  # the shared reader is closed by its owner
        pass


# --- containers ---------------------------------------------------------------------------------

def _open_container(path: Path) -> tuple[Any, str]:
    """A positional reader over the media bytes of ``path`` and the container kind."""
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head.startswith(EWF_SIGNATURES):
        import pyewf

        segments = pyewf.glob(str(path))
        handle = pyewf.handle()
        handle.open(segments, "r")
        return _HandleReader(handle, handle.get_media_size()), "e01"
    if head.startswith(QCOW_SIGNATURE):
        import pyqcow

        handle = pyqcow.file()
        handle.open(str(path), "r")
        return _HandleReader(handle, handle.get_media_size()), "qcow2"
    return _RawFile(path), "raw"


# --- partition tables ---------------------------------------------------------------------------

def _read(reader: Any, offset: int, size: int) -> bytes:
    if offset < 0 or offset >= reader.size:
        return b""
    return reader.pread(min(size, reader.size - offset), offset)


def parse_mbr(reader: Any, notes: list[str], sector: int = 512) -> list[Partition]:
    """Primary entries of the MBR, then the logical partitions of an extended partition chain."""
    mbr = _read(reader, 0, 512)
    if len(mbr) < 512 or mbr[510:512] != b"\x55\xaa":
        return []
    parts: list[Partition] = []
    extended: list[int] = []
    for i in range(4):
        entry = mbr[446 + 16 * i: 462 + 16 * i]
        ptype = entry[4]
        start, count = struct.unpack_from("<II", entry, 8)
        if ptype == 0 or count == 0:
            continue
        if ptype in MBR_EXTENDED_TYPES:
            extended.append(start)
            continue
        parts.append(Partition(i + 1, start * sector, count * sector, "mbr", f"0x{ptype:02x}"))
    number = 5
    for ext_start in extended:
        ebr_lba = ext_start
        seen: set[int] = set()
        while ebr_lba and len(seen) < MAX_EBR:
            if ebr_lba in seen:
                notes.append(f"extended partition chain loops at LBA {ebr_lba}; stopped")
                break
            seen.add(ebr_lba)
            ebr = _read(reader, ebr_lba * sector, 512)
            if len(ebr) < 512 or ebr[510:512] != b"\x55\xaa":
                notes.append(f"bad extended boot record at LBA {ebr_lba}")
                break
            ptype = ebr[446 + 4]
            start, count = struct.unpack_from("<II", ebr, 446 + 8)
            if ptype and count:
                parts.append(Partition(number, (ebr_lba + start) * sector, count * sector, "mbr",
                                       f"0x{ptype:02x}"))
                number += 1
            nxt_type = ebr[462 + 4]
            nxt_start = struct.unpack_from("<I", ebr, 462 + 8)[0]
            ebr_lba = ext_start + nxt_start if nxt_type in MBR_EXTENDED_TYPES and nxt_start else 0
    return parts


def _guid(raw: bytes) -> str:
    a, b, c = struct.unpack_from("<IHH", raw, 0)
    return f"{a:08X}-{b:04X}-{c:04X}-{raw[8:10].hex().upper()}-{raw[10:16].hex().upper()}"


def parse_gpt(reader: Any, notes: list[str]) -> list[Partition]:
    """GPT entries (512- or 4096-byte sectors), from the primary header."""
    for sector in (512, 4096):
        hdr = _read(reader, sector, 92)
        if hdr[:8] != GPT_SIGNATURE:
            continue
        entries_lba, count, entry_size = struct.unpack_from("<QII", hdr, 72)
        if not 128 <= entry_size <= 4096 or count > MAX_GPT_ENTRIES:
            notes.append(f"implausible GPT header (entries={count}, entry size={entry_size}); clipped")
            entry_size = max(128, min(entry_size, 4096))
            count = min(count, MAX_GPT_ENTRIES)
        table = _read(reader, entries_lba * sector, count * entry_size)
        parts: list[Partition] = []
        for i in range(min(count, len(table) // entry_size)):
            e = table[i * entry_size:(i + 1) * entry_size]
            if e[:16] == b"\x00" * 16:
                continue
            first, last = struct.unpack_from("<QQ", e, 32)
            if last < first:
                notes.append(f"GPT entry {i + 1} ends before it starts; skipped")
                continue
            name = e[56:128].decode("utf-16-le", "replace").split("\x00", 1)[0]
            parts.append(Partition(i + 1, first * sector, (last - first + 1) * sector, "gpt",
                                   _guid(e[:16]), name))
        return parts
    notes.append("protective MBR but no GPT header found")
    return []


def _holds_windows(src: NtfsSource) -> bool:
    return src.exists("Windows/System32")


def _volume_letters(count: int) -> list[str]:
    letters = [chr(c) for c in range(ord("C"), ord("Z") + 1)]
    return [letters[i] if i < len(letters) else f"v{i + 1}" for i in range(count)]


# --- entry points -------------------------------------------------------------------------------

def open_image(path: str | os.PathLike, *, read_method: str = "image") -> ImageOpenResult:
    """Open ``path`` (see module docstring) and return the NTFS volumes to collect.

    Raises OSError only when the file itself cannot be opened or read; anything about its contents
    (no NTFS, damaged tables, partitions past the end) is reported in ``notes``.
    """
    path = Path(path)
    reader, container = _open_container(path)
    shared = _Shared(reader.close)
    result = ImageOpenResult(container=container)
    base_info = {"image": str(path), "container": container}

    def ntfs_at(offset: int, length: int, volume: str, info: dict[str, Any]) -> NtfsSource | None:
        window = Window(reader, offset, length)
        release = shared.acquire()
        try:
            return NtfsSource(window, volume, read_method=read_method, kind="image",
                              info={**base_info, **info}, closers=[release])
        except NtfsError as exc:
            release()
            result.notes.append(f"{info.get('partition', 'volume')}: {exc}")
            return None

    guard = shared.acquire()  # keep the container open while probing
    try:
        boot = _read(reader, 0, 512)
        if boot[3:11] == NTFS_OEM:
            result.layout = "volume"
            src = ntfs_at(0, reader.size, "C", {"partition": None, "offset": 0})
            if src is not None:
                result.sources.append(src)
            return result
        parts = parse_mbr(reader, result.notes)
        result.layout = "mbr" if parts else "unknown"
        if len(boot) >= 512 and boot[446 + 4] == MBR_GPT_PROTECTIVE:
            result.layout = "gpt"
            parts = parse_gpt(reader, result.notes)
        result.partitions = parts
        if not parts:
            result.notes.append("no NTFS boot sector and no partition table: nothing to collect")
            return result
        candidates: list[tuple[Partition, NtfsSource, bool]] = []
        for part in parts:
            if part.offset + part.length > reader.size:
                result.notes.append(f"partition {part.number} extends past the end of the image; "
                                    "read up to the end")
            if _read(reader, part.offset, 11)[3:11] != NTFS_OEM:
                result.notes.append(f"partition {part.number} ({part.type_id}) is not NTFS; skipped")
                continue
            length = max(0, min(part.length, reader.size - part.offset))
            info = {"partition": part.number, "scheme": part.scheme, "offset": part.offset,
                    "length": part.length, "type": part.type_id, "name": part.name}
            src = ntfs_at(part.offset, length, f"p{part.number}", info)
            if src is not None:
                candidates.append((part, src, _holds_windows(src)))
        windows = [c for c in candidates if c[2]]
        if windows:
            for (_part, src, _), letter in zip(windows, _volume_letters(len(windows)), strict=True):
                src.volume = letter
                src.info["holds_windows"] = True
                result.sources.append(src)
            for part, src, _ in candidates:
                if src not in result.sources:
                    result.notes.append(f"partition {part.number} is NTFS without Windows; skipped")
                    src.close()
        else:
            if candidates:
                result.notes.append("no NTFS partition holds Windows; every NTFS partition is collected")
            for _part, src, _ in candidates:
                src.info["holds_windows"] = False
                result.sources.append(src)
        return result
    finally:
        guard()


def open_image_sources(path: str | os.PathLike) -> list[NtfsSource]:
    """``open_image(path).sources``: what ``triage collect --image FILE`` collects from."""
    return open_image(path).sources
