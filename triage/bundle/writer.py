"""Streaming bundle writer.

Why it looks like this:
- The zip is written as a stream (data descriptors, no seeking back), through a wrapper that hashes
  every byte written. The bundle's own SHA-256 (the ``.sha256`` sidecar) therefore costs no second
  read, and the same writer can write into an encrypting stream.
- Each source byte is read once: a reader thread fills a small queue; for each chunk the file's
  SHA-256 runs in this thread while a writer thread compresses/CRCs/writes it (hashlib, zlib and
  file writes release the GIL, so on two cores they overlap).
- After every file a journal member (``meta/journal/NNNNNN.json``) holds its manifest entry, so a
  bundle cut short by kill -9, a full disk or a pulled stick can still be recovered and checked.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import threading
import time
import zipfile
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import IO

from triage.bundle import JOURNAL_PREFIX

CHUNK = 4 * 1024 * 1024
COMPRESSION = {"store": zipfile.ZIP_STORED, "deflate": zipfile.ZIP_DEFLATED}
FSYNC_EVERY_SECONDS = 2.0
IN_FLIGHT = 3 * 3  # futures outstanding (chunks x lanes) before the caller waits


class HashingOutput:
    """Write-only, non-seekable stream that hashes what passes through (makes zipfile stream).

    The bundle's own SHA-256 runs in a thread of its own, fed in write order: it then overlaps the
    per-file hash (main thread) and the CRC + write (writer thread) instead of adding to them.
    """

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self._sha256 = hashlib.sha256()
        self._hasher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bundle-sha256")
        self._pending: list = []
        self.pos = 0

    def write(self, data) -> int:
        data = bytes(data)  # the hasher reads it later: it must not be a view of a reused buffer
        self._pending.append(self._hasher.submit(self._sha256.update, data))
        if len(self._pending) > 8:
            self._pending.pop(0).result()
        self.raw.write(data)
        self.pos += len(data)
        return len(data)

    @property
    def sha256(self):
        for fut in self._pending:
            fut.result()
        self._pending.clear()
        return self._sha256

    def tell(self) -> int:
        return self.pos

    def seekable(self) -> bool:
        return False

    def seek(self, *args):
        raise OSError("bundle output is a stream")

    def flush(self) -> None:
        self.raw.flush()

    def fsync(self) -> None:
        self.raw.flush()
        try:
            os.fsync(self.raw.fileno())
        except (AttributeError, OSError, ValueError):
            pass

    def close(self) -> None:
        self.raw.close()
        self._hasher.shutdown()


class CollectionInterrupted(Exception):
    """Raised by the SIGTERM handler; Ctrl-C raises KeyboardInterrupt. Both end a member cleanly."""


class StreamResult:
    __slots__ = ("size", "hashes", "error", "complete", "interrupted")

    def __init__(self) -> None:
        self.size = 0
        self.hashes: dict[str, str] = {}
        self.error: str | None = None
        self.complete = True
        self.interrupted: BaseException | None = None


class BundleWriter:
    """Writes members into a streamed ZIP64 bundle and hashes both members and the whole file."""

    def __init__(self, raw: IO[bytes], *, compression: str = "deflate", level: int = 1,
                 hashes: tuple[str, ...] = ("sha256",)) -> None:
        if compression not in COMPRESSION:
            raise ValueError(f"compression must be one of {', '.join(COMPRESSION)}")
        self.out = HashingOutput(raw)
        self.compression = COMPRESSION[compression]
        self.level = level if compression == "deflate" else None
        self.hashes = tuple(dict.fromkeys(("sha256", *hashes)))
        self.zip = zipfile.ZipFile(self.out, "w", compression=self.compression, compresslevel=self.level,
                                   allowZip64=True)
        self.names: set[str] = set()
        self.journal_seq = 0
        # one single-thread lane per job so each sees its chunks in order: the zip write (CRC,
        # compression, output hash hand-off) and each extra digest; the file's SHA-256 runs in the caller
        self._write_lane = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bundle-write")
        self._hash_lanes = {h: ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"bundle-{h}")
                            for h in self.hashes if h != "sha256"}
        self._last_sync = time.monotonic()
        self.closed = False

    # -- members ---------------------------------------------------------------------------------
    def unique_name(self, name: str) -> str:
        if name not in self.names:
            return name
        stem, dot, ext = name.rpartition(".")
        i = 1
        while True:
            candidate = f"{stem}~{i}.{ext}" if dot and "/" not in ext else f"{name}~{i}"
            if candidate not in self.names:
                return candidate
            i += 1

    def _zinfo(self, name: str, mtime: datetime | None, size_hint: int | None) -> zipfile.ZipInfo:
        when = (mtime or datetime.now(UTC)).astimezone(UTC)
        date_time = (max(1980, when.year), when.month, when.day, when.hour, when.minute, when.second)
        if when.year < 1980:
            date_time = (1980, 1, 1, 0, 0, 0)
        info = zipfile.ZipInfo(name, date_time=date_time)
        info.compress_type = self.compression
        if self.level is not None:
            # zipfile reads it when opening the member for writing (public as compress_level from 3.13 only)
            info._compresslevel = self.level  # type: ignore[attr-defined]
        info.file_size = size_hint or 0
        info.external_attr = 0o644 << 16
        return info

    def add_bytes(self, name: str, data: bytes, mtime: datetime | None = None) -> StreamResult:
        return self.add_stream(name, [data], mtime=mtime, size_hint=len(data))

    def add_stream(self, name: str, chunks, *, mtime: datetime | None = None,
                   size_hint: int | None = None, limit: int | None = None,
                   stop: threading.Event | None = None) -> StreamResult:
        """Copy an iterable of byte chunks into member ``name``, hashing as it goes.

        ``limit`` stops after that many bytes (growing files: what was planned is what is taken).
        An exception from the chunk source (I/O error mid-file) ends the member cleanly with what
        was read; the result says the copy is incomplete and why.
        """
        if name in self.names:
            raise ValueError(f"duplicate member {name}")
        self.names.add(name)
        result = StreamResult()
        hashers = {h: hashlib.new(h) for h in self.hashes}
        main = hashers.pop("sha256")
        force64 = size_hint is None or size_hint > (1 << 30)
        with self.zip.open(self._zinfo(name, mtime, size_hint), "w", force_zip64=force64) as member:
            pending: deque = deque()
            it = iter(chunks)
            try:
                while True:
                    try:
                        chunk = next(it)
                    except StopIteration:
                        break
                    except OSError as exc:
                        result.error = f"read error after {result.size} bytes: {exc}"
                        result.complete = False
                        break
                    if limit is not None and result.size + len(chunk) > limit:
                        chunk = chunk[: limit - result.size]
                        result.complete = False
                        result.error = f"file grew while read; kept the first {limit} bytes"
                    while len(pending) > IN_FLIGHT:  # bounded memory: a few chunks in flight
                        pending.popleft().result()
                    pending.append(self._write_lane.submit(member.write, chunk))
                    pending.extend(self._hash_lanes[k].submit(h.update, chunk) for k, h in hashers.items())
                    main.update(chunk)
                    result.size += len(chunk)
                    if limit is not None and result.size >= limit:
                        break
                    if stop is not None and stop.is_set():  # checked only between whole chunks
                        raise CollectionInterrupted()
            except (KeyboardInterrupt, CollectionInterrupted) as exc:
                # finish this member with what it holds, so the bundle stays consistent; the caller
                # records the file as partial and then stops
                result.interrupted = exc
                result.complete = False
                result.error = f"interrupted after {result.size} bytes"
            for fut in pending:
                fut.result()
        result.hashes = {"sha256": main.hexdigest(), **{k: h.hexdigest() for k, h in hashers.items()}}
        self._maybe_sync()
        return result

    def journal(self, entry_json: str) -> None:
        """Record one finished file's manifest entry right after its data."""
        self.journal_seq += 1
        name = f"{JOURNAL_PREFIX}{self.journal_seq:06d}.json"
        self.add_bytes(name, entry_json.encode("utf-8"))

    def _maybe_sync(self) -> None:
        now = time.monotonic()
        if now - self._last_sync >= FSYNC_EVERY_SECONDS:
            self.out.fsync()
            self._last_sync = now

    def close(self) -> str:
        """Write the central directory, flush to disk, return the bundle's SHA-256."""
        if not self.closed:
            self.zip.close()
            self.out.fsync()
            self.out.close()
            self._shutdown(wait=True)
            self.closed = True
        return self.out.sha256.hexdigest()

    def abandon(self) -> None:
        """Stop without a central directory (the bundle stays recoverable from its journal)."""
        self.zip.fp = None  # zipfile must not try to write a central directory when collected
        try:
            self.out.fsync()
            abort = getattr(self.out.raw, "abort", None)  # an encrypting stream must stay visibly truncated
            abort() if abort else self.out.close()
        except (OSError, ValueError):
            pass
        self._shutdown(wait=False)
        self.closed = True

    def _shutdown(self, wait: bool) -> None:
        self._write_lane.shutdown(wait=wait)
        for lane in self._hash_lanes.values():
            lane.shutdown(wait=wait)


def read_chunks(fh: IO[bytes], chunk: int = CHUNK, prefetch: int = 3) -> ChunkReader:
    return ChunkReader(fh, chunk, prefetch)


class ChunkReader:
    """Iterates a file's chunks, reading ahead in a thread so I/O overlaps hashing and writing."""

    _END = object()

    def __init__(self, fh: IO[bytes], chunk: int, prefetch: int) -> None:
        self.fh = fh
        self.q: queue.Queue = queue.Queue(maxsize=prefetch)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(chunk,), daemon=True)
        self.thread.start()

    def _run(self, chunk: int) -> None:
        try:
            while not self.stop.is_set():
                data = self.fh.read(chunk)
                if not data:
                    break
                self.q.put(data)
            self.q.put(self._END)
        except BaseException as exc:
            self.q.put(exc)

    def __iter__(self):
        return self

    def __next__(self) -> bytes:
        item = self.q.get()
        if item is self._END:
            raise StopIteration
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self) -> None:
        self.stop.set()
        while self.thread.is_alive():
            try:
                self.q.get_nowait()
            except queue.Empty:
                self.thread.join(0.01)


def json_bytes(obj) -> bytes:
    return json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=True, default=str).encode("utf-8")


OpenFn = Callable[[], IO[bytes]]
