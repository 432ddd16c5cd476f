"""Event logs handed to worker processes while the analysis thread parses the rest of the host.

Why: on one host the event logs are most of the parsing time (200 MiB of logs is about 2 s of
engine time on one core; every other artifact together is a fraction of that) and the engine's
iterator is single-threaded. So, for one bundle analyzed on a multi-core machine, each log is cut
into windows of chunks (:mod:`triage.parsers.evtx_windows`) and parsed by a process pool, while
the analysis thread goes on with hives, prefetch and browsers; the windows are merged in file order
when the analysis thread reaches them, so the output is the sequential output.

A feeder thread makes each log readable by the workers: a stored member is read in place from the
bundle (the workers open the bundle read-only at the member's offset); a deflated one is inflated
once into a private temporary file (0400, deleted when merged). At most ``SPILL_AHEAD_BYTES`` of such
copies wait at a time, so temporary space stays bounded whatever the size of the logs.

Batch runs over many bundles do not use this (their pool already runs one bundle per core).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import shutil
import sys
import tempfile
import threading
import zipfile
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from triage.bundle.inflate import MemberStream, wants_fast
from triage.bundle.manifest import ManifestEntry

# Below this many bytes of event logs a host is parsed in-process: starting workers would cost
# more than it saves.
PARALLEL_MIN_BYTES = 24 << 20
SPILL_AHEAD_BYTES = 1 << 30
_LOCAL_HEADER = 30


def worker_count(options: dict[str, Any]) -> int:
    """Workers for event-log windows: option ``evtx_workers`` or one per core (0/1 = in-process)."""
    value = options.get("evtx_workers")
    if value is not None:
        return max(int(value), 0)
    return os.cpu_count() or 1


def make_pool(workers: int) -> ProcessPoolExecutor | None:
    """A process pool for window jobs, or None where processes cannot be started (a daemonic
    worker, e.g. inside a batch pool). forkserver on POSIX (safe with the analysis' threads),
    spawn elsewhere."""
    if workers < 2 or multiprocessing.current_process().daemon:
        return None
    methods = multiprocessing.get_all_start_methods()
    method = "forkserver" if "forkserver" in methods and sys.platform != "darwin" else "spawn"
    ctx = multiprocessing.get_context(method)
    if method == "forkserver":
        with contextlib.suppress(Exception):
            ctx.set_forkserver_preload(["triage.parsers.evtx_windows"])
    return ProcessPoolExecutor(max_workers=workers, mp_context=ctx)


@dataclass
class Planned:
    """One log queued for the workers: where its bytes are, its windows, its temporary copy."""

    index: int
    entry: ManifestEntry
    src: Any = None                       # LogSource, once readable
    futures: list[tuple[int, int, Future]] = field(default_factory=list)
    tmpdir: str | None = None
    error: BaseException | None = None
    ready: threading.Event = field(default_factory=threading.Event)
    spilled: int = 0


class EvtxFanout:
    """Queues logs for the pool in bundle order (see the module docstring)."""

    def __init__(self, bundle_path: Path, pool: ProcessPoolExecutor, planned: list[Planned],
                 items: dict[int, Any], window_chunks: int) -> None:
        self.bundle_path, self.pool, self.window_chunks = bundle_path, pool, window_chunks
        self.planned = {p.index: p for p in planned}
        self.order = list(planned)
        self.items = items
        self.stop = threading.Event()
        self.room = threading.Condition()
        self.waiting_bytes = 0
        self.thread = threading.Thread(target=self._run, name="triage-evtx-feeder", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        from triage.parsers.evtx_windows import submit_windows

        try:
            zf = zipfile.ZipFile(self.bundle_path)
        except Exception as exc:
            for p in self.order:
                p.error = exc
                p.ready.set()
            return
        with zf:
            for p in self.order:
                if self.stop.is_set():
                    p.ready.set()
                    continue
                try:
                    p.src = self._readable(zf, p)
                    p.futures = submit_windows(self.pool.submit, p.src, self.items[p.index], self.window_chunks)
                except BaseException as exc:  # reported by the analysis thread, which parses it itself
                    p.error = exc
                finally:
                    p.ready.set()

    def _readable(self, zf: zipfile.ZipFile, p: Planned):
        from triage.parsers.evtx_windows import LogSource

        info = zf.getinfo(p.entry.bundle_path)
        if info.compress_type == zipfile.ZIP_STORED and not info.flag_bits & 0x1:
            with open(self.bundle_path, "rb") as fh:
                fh.seek(info.header_offset)
                head = fh.read(_LOCAL_HEADER)
            if head[:4] != b"PK\x03\x04":
                raise zipfile.BadZipFile(f"{info.filename}: bad local file header")
            base = info.header_offset + _LOCAL_HEADER + int.from_bytes(head[26:28], "little") + \
                int.from_bytes(head[28:30], "little")
            return LogSource(str(self.bundle_path), base, info.file_size)
        with self.room:  # bounded temporary space: wait until earlier copies are merged and deleted
            while self.waiting_bytes > 0 and self.waiting_bytes + info.file_size > SPILL_AHEAD_BYTES \
                    and not self.stop.is_set():
                self.room.wait(0.2)
            self.waiting_bytes += info.file_size
        p.spilled = info.file_size
        p.tmpdir = tempfile.mkdtemp(prefix="triage-evtx-")
        dest = Path(p.tmpdir) / "log.evtx"
        src = MemberStream(str(self.bundle_path), info) if wants_fast(info) else zf.open(info)
        with src, open(dest, "xb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
        os.chmod(dest, 0o400)
        return LogSource(str(dest), 0, info.file_size)

    def take(self, index: int) -> Planned:
        p = self.planned[index]
        p.ready.wait()
        return p

    def done(self, index: int) -> None:
        """The log is merged: delete its temporary copy and make room for the next."""
        p = self.planned.pop(index, None)
        if p is None:
            return
        for _, _, fut in p.futures:
            fut.cancel()
        if p.tmpdir:
            shutil.rmtree(p.tmpdir, ignore_errors=True)
            p.tmpdir = None
        with self.room:
            self.waiting_bytes -= p.spilled
            p.spilled = 0
            self.room.notify_all()

    def close(self) -> None:
        self.stop.set()
        with self.room:
            self.room.notify_all()
        self.thread.join()
        for index in list(self.planned):
            self.done(index)
