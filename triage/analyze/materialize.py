"""Materialising bundle members for parsers: a private temporary copy (with companions such as
hive logs and SQLite journals) when a parser needs a real path, and a thread that inflates the next
big member while the current one parses.

Why: zipfile's seek on a deflated member re-inflates from its start, and many readers seek; one
sequential inflate to a temp file costs far less. Every copy is deleted when its parser is done.
"""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import tempfile
import threading
import zipfile
from pathlib import Path
from typing import IO, Any

from triage.analyze.state import safe_basename
from triage.bundle.manifest import ManifestEntry

# Deflated members bigger than this are copied once to a private temp file when a parser opens them:
# zipfile's seek on a deflated member re-inflates from the member's start on every backward seek,
# and readers such as the evtx engine and the chunk-tail check seek. One sequential inflate to a temp
# file, then plain seekable reads, costs far less; the copy is deleted when the parser is done.
SPILL_MIN_BYTES = 4 << 20
# Per-file caps: a runaway parser (a loop in a hostile file, a log of absurd size) loses its file,
# not the host's memory or the batch's time. Override through options (max_records_per_file, ...).
MAX_RECORDS_PER_FILE = 5_000_000
MAX_SECONDS_PER_FILE = 1800.0
PREFETCH_SPILLS = True  # inflate the next big member in a thread while the current one parses


def size_cap(parser: Any, options: dict[str, Any]) -> int | None:
    """The most bytes ``parser`` will read of one member (None: no cap), the same caps the parsers
    apply themselves once they hold the file — here applied before anything is copied out."""
    if parser.name == "registry":
        from triage.parsers.registry.hive import DEFAULT_MAX_HIVE_BYTES
        return int(options.get("max_hive_bytes") or DEFAULT_MAX_HIVE_BYTES)
    if parser.name == "prefetch":
        from triage.parsers.prefetch import MAX_FILE_SIZE
        return MAX_FILE_SIZE
    return None


class Materializer:
    """Gives a parser its member: streamed from the zip, or (big deflated members, ``materialize``)
    a private temp copy made once, with the companions beside it under their original base names.

    Before any copy, :meth:`refusal` checks the member against each parser: magic numbers first (a
    few bytes streamed from the bundle), then the size the manifest and the zip directory declare
    against the parser's cap. Why: a 4 MB bundle can hold a 4 GiB member; copying it out to learn
    that it is no hive, or too big to parse, would spend 4 GB of temp disk and the time to write it."""

    def __init__(self, reader: Any, entry: ManifestEntry, companions: list[ManifestEntry],
                 parsers: list[Any] | None = None, options: dict[str, Any] | None = None) -> None:
        self.reader, self.entry, self.companions = reader, entry, companions
        self.parsers, self.options = parsers or [], options or {}
        self.dir: str | None = None
        self.path: Path | None = None
        self.taken: set[str] = set()
        self.with_companions = False
        self._head: bytes | None = None

    def _declared_size(self) -> int:
        size = self.entry.size if isinstance(self.entry.size, int) else 0
        zf = getattr(self.reader, "zip", None)
        if zf is not None:
            with contextlib.suppress(KeyError):
                size = max(size, zf.getinfo(self.entry.bundle_path).file_size)
        return size

    def refusal(self, parser: Any, options: dict[str, Any] | None = None) -> str | None:
        """Why ``parser`` must not read this member (None: it may), decided without copying it."""
        sigs = getattr(parser, "signatures", ()) or ()
        if sigs:
            if self._head is None:
                need = max(off + len(magic) for off, magic in sigs)
                try:   # from the copy when there is one already, else a few bytes streamed from the zip
                    with (open(self.path, "rb") if self.path is not None
                          else self.reader.open(self.entry.bundle_path)) as fh:
                        self._head = fh.read(max(need, 64))
                except (KeyError, OSError, EOFError, ValueError, zipfile.BadZipFile) as exc:
                    return f"{parser.name}: member unreadable: {exc}; not parsed"
            if not any(self._head[off:off + len(magic)] == magic for off, magic in sigs):
                return f"{parser.name}: file does not start with the expected signature; not parsed"
        cap = size_cap(parser, options if options is not None else self.options)
        size = self._declared_size()
        if cap is not None and size > cap:
            return (f"{parser.name}: {size} bytes (declared), above this parser's {cap}-byte cap; "
                    "not copied out, not parsed")
        return None

    def wanted(self) -> bool:
        """Whether some parser will read this member (the prefetch thread copies only those)."""
        return any(self.refusal(p) is None for p in self.parsers)

    def spill_with(self, reader: Any) -> tuple[str, Path]:
        """Copy the primary member into a new private dir using ``reader`` (the prefetch thread's);
        returns (dir, path) for :meth:`adopt`-style hand-over."""
        tmpdir = tempfile.mkdtemp(prefix="triage-mat-")
        name = safe_basename((self.entry.path or self.entry.bundle_path or "file").replace("\\", "/"), "file")
        dest = Path(tmpdir) / name
        try:
            with reader.open(self.entry.bundle_path) as src, open(dest, "xb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
            os.chmod(dest, 0o400)
        except BaseException:
            shutil.rmtree(tmpdir, ignore_errors=True)
            raise
        return tmpdir, dest

    def spill_worthy(self) -> bool:
        return self._spill_worthy()

    def _spill_worthy(self) -> bool:
        if self.entry.bundle_path in getattr(self.reader, "cache", {}):
            return False  # held in memory already (triage.bundle.member_cache): seeking is free
        zf = getattr(self.reader, "zip", None)
        if zf is None:
            return True  # a bundle without a central directory: members are not seekable at all
        try:
            info = zf.getinfo(self.entry.bundle_path)
        except KeyError:
            return False
        return info.compress_type != zipfile.ZIP_STORED and info.file_size >= SPILL_MIN_BYTES

    def _primary(self) -> Path:
        if self.path is None:
            self.dir = tempfile.mkdtemp(prefix="triage-mat-")
            self.path = self._copy(self.entry, self.taken, "file")
        return self.path

    def open(self) -> IO[bytes]:
        if self.path is not None or self._spill_worthy():
            return open(self._primary(), "rb")
        return self.reader.open(self.entry.bundle_path)

    def __call__(self) -> Path:
        path = self._primary()
        if not self.with_companions:
            self.with_companions = True
            for comp in self.companions:
                with contextlib.suppress(Exception):  # a missing companion is not fatal for the primary
                    self._copy(comp, self.taken, "companion")
        return path

    def _copy(self, entry: ManifestEntry, taken: set[str], default: str) -> Path:
        assert self.dir is not None
        original = entry.path or entry.bundle_path or default
        name = safe_basename(original.replace("\\", "/"), default)
        if name.lower() in taken:
            name = f"{len(taken)}_{name}"
        taken.add(name.lower())
        dest = Path(self.dir) / name
        # dest is inside our own mkdtemp dir by construction (no separators, not '.' / '..')
        with self.reader.open(entry.bundle_path) as src, open(dest, "xb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
        os.chmod(dest, 0o400)
        return dest

    def cleanup(self) -> None:
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
        self.dir, self.path = None, None
        self.taken, self.with_companions = set(), False



class SpillPrefetcher:
    """Inflates the next big deflated member to its private temp file while the current one parses.

    Why: inflating 200 MiB of event logs takes about a second of zlib time, which releases the GIL;
    done one file ahead in a thread it hides behind the (Python-bound) parsing. At most two spilled
    files wait besides the one in use; each is deleted by its materializer's cleanup, and close()
    deletes any the analysis never reached. Uses its own BundleReader (ZipFile handles are not
    shared between threads); bundles without a central directory are not prefetched.
    """

    def __init__(self, reader: Any, mats: list[Materializer]) -> None:
        self.queue: queue.Queue = queue.Queue(maxsize=1)
        self.stop = threading.Event()
        self.pending = {id(m) for m in mats}
        self.thread = None
        if mats and getattr(reader, "zip", None) is not None:
            self.thread = threading.Thread(target=self._run, args=(Path(reader.path), mats),
                                           name="triage-spill", daemon=True)
            self.thread.start()
        else:
            self.pending.clear()

    def _run(self, path: Path, mats: list[Materializer]) -> None:
        from triage.bundle.reader import BundleReader

        try:
            with BundleReader(path) as own:
                for m in mats:
                    if self.stop.is_set():
                        return
                    result: tuple[Any, ...]
                    try:
                        result = (id(m), *m.spill_with(own), None)
                    except Exception as exc:  # reported when the parser opens the member itself
                        result = (id(m), None, None, exc)
                    while not self.stop.is_set():
                        try:
                            self.queue.put(result, timeout=0.2)
                            break
                        except queue.Full:
                            continue
                    else:
                        if result[1]:
                            shutil.rmtree(result[1], ignore_errors=True)
                        return
        except Exception:
            return

    def adopt(self, mat: Materializer) -> None:
        """Hand the prefetched copy (if this member was scheduled) to its materializer."""
        if id(mat) not in self.pending or self.thread is None:
            return
        self.pending.discard(id(mat))
        while True:
            try:
                key, tmpdir, path, _exc = self.queue.get(timeout=1.0)
                break
            except queue.Empty:
                if not self.thread.is_alive():
                    return
        if key == id(mat) and path is not None:
            mat.dir, mat.path = tmpdir, path
            mat.taken.add(path.name.lower())
        elif tmpdir:
            shutil.rmtree(tmpdir, ignore_errors=True)

    def close(self) -> None:
        self.stop.set()
        if self.thread is not None:
            while self.thread.is_alive() or not self.queue.empty():
                try:
                    item = self.queue.get(timeout=0.1)
                except queue.Empty:
                    continue
                if item[1]:
                    shutil.rmtree(item[1], ignore_errors=True)
