"""Event logs handed to worker processes while the analysis thread parses the rest of the host.

Why: on one host the event logs are most of the parsing time (200 MiB of logs is about 2 s of
engine time on one core; every other artifact together is a fraction of that) and the engine's
iterator is single-threaded. So, for one bundle analyzed on a multi-core machine, each log is cut
into windows of chunks (:mod:`triage.parsers.evtx.windows`) and parsed by a process pool, while
the analysis thread goes on with hives, prefetch and browsers; the windows are merged in file order
when the analysis thread reaches them, so the output is the sequential output.

A feeder thread verifies the bundle and, in that same pass, makes each log readable by the workers:
a stored member is read in place from the bundle (the workers open the bundle read-only at the
member's offset); a deflated one is written to a private temporary file (0400) as it is inflated
and hashed, its windows queued as their chunks land, and the file deleted once merged and scanned. At most ``SPILL_AHEAD_BYTES`` of such
copies wait at a time, so temporary space stays bounded whatever the size of the logs.

Batch runs over many bundles do not use this (their pool already runs one bundle per core).
"""

from __future__ import annotations

import gc
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

from triage.bundle.inflate import data_offset, open_member
from triage.bundle.manifest import ManifestEntry

# Below this many bytes of event logs a host is parsed in-process: starting workers would cost
# more than it saves.
PARALLEL_MIN_BYTES = 24 << 20
SPILL_AHEAD_BYTES = 1 << 30


def worker_count(options: dict[str, Any]) -> int:
    """Workers for event-log windows: option ``evtx_workers`` or one per core (0/1 = in-process)."""
    value = options.get("evtx_workers")
    if value is not None:
        return max(int(value), 0)
    return os.cpu_count() or 1


def make_pool(workers: int) -> ProcessPoolExecutor | None:
    """A process pool for window jobs, or None where processes cannot be started (a daemonic
    worker, e.g. inside a batch pool).

    POSIX: fork, and the workers are started here, before the analysis starts any thread (YARA,
    spill prefetch, the feeder), so nothing is forked mid-lock; forked workers already hold the
    parser modules and never re-run the caller's main script. Elsewhere: spawn."""
    if workers < 2 or multiprocessing.current_process().daemon:
        return None
    import triage.parsers.evtx.windows  # noqa: F401 - loaded once, inherited by the forked workers

    fork = "fork" in multiprocessing.get_all_start_methods() and sys.platform.startswith("linux")
    ctx = multiprocessing.get_context("fork" if fork else "spawn")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx)
    if fork:
        # Frozen while forking: the workers' collector then never walks the objects they inherit
        # (a compiled Sigma set is ~10^5 of them), which costs CPU and copies every page it
        # touches (Python's gc docs advise freeze() before fork()). The parent unfreezes at once,
        # unless something was frozen already: gc.unfreeze() thaws everything, and the Sigma
        # engine's frozen rule set (triage.sigma.engine._engine) handed back to the collector made
        # every later analysis of the process pay full collections through it (90-110 ms each on
        # museum-win10-aptsimulatorvm after one big host). What is live now then stays frozen as
        # well: reclaimed by reference counting as usual, only a cycle among it outlives its use.
        frozen_before = gc.get_freeze_count()
        gc.freeze()
        try:
            pool.submit(int).result()  # forks every worker now (a fork pool starts them all at once)
        finally:
            if not frozen_before:
                gc.unfreeze()
    return pool


@dataclass
class Planned:
    """One log queued for the workers: where its bytes are, its windows, its temporary copy.

    users: who still needs the temporary copy (the merge, and the YARA scan when it reads the copy
    instead of inflating the member again); the copy is deleted when the last one is done."""

    index: int
    entry: ManifestEntry
    src: Any = None                       # LogSource, once readable
    futures: list[tuple[int, int, Future]] = field(default_factory=list)
    tmpdir: str | None = None
    error: BaseException | None = None
    ready: threading.Event = field(default_factory=threading.Event)
    spilled: int = 0
    users: int = 1
    member: str = field(init=False)       # the log's member name in the bundle

    def __post_init__(self) -> None:
        # the plan queues only entries stored in the bundle; one without a member is a caller's bug
        if self.entry.bundle_path is None:
            raise ValueError(f"planned log {self.index} has no member in the bundle")
        self.member = self.entry.bundle_path


class EvtxFanout:
    """Queues logs for the pool in bundle order (see the module docstring).

    The feeder thread verifies the bundle (:func:`triage.bundle.verify.verify_bundle`) and takes each
    log's private copy from that same pass (one inflate for hash and copy); the report is in
    :attr:`report` after :meth:`join_verify`. Logs that pass did not deliver (unreadable, missing,
    an encrypted bundle) are then made readable the plain way, or reported.
    """

    def __init__(self, bundle_path: Path, pool: ProcessPoolExecutor, planned: list[Planned],
                 items: dict[int, Any], window_chunks: int, *, shared_copies: bool = False) -> None:
        self.bundle_path, self.pool, self.window_chunks = bundle_path, pool, window_chunks
        self.planned = {p.index: p for p in planned}
        self.by_member = {p.member: p for p in planned}
        self.order = list(planned)
        self.items = items
        self.stop = threading.Event()
        self.room = threading.Condition()
        self.lock = threading.Lock()
        self.waiting_bytes = 0
        self.report: Any = None
        self.verify_error: BaseException | None = None
        self.verified = threading.Event()
        self._zf: zipfile.ZipFile | None = None
        self.released: set[str] = set()
        self.shared = shared_copies
        if shared_copies:
            for p in planned:
                p.users += 1
        self.thread = threading.Thread(target=self._run, name="triage-evtx-feeder", daemon=True)
        self.thread.start()

    # -- feeder thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        from triage.bundle.verify import verify_bundle

        try:
            try:
                self.report = verify_bundle(self.bundle_path, copy_out=self._copy_out)
            except Exception as exc:  # reported by the analysis as "verification could not run"
                self.verify_error = exc
            finally:
                self.verified.set()
            self._rest()
        finally:
            if self._zf is not None:
                self._zf.close()
            self.verified.set()
            for p in self.order:
                p.ready.set()

    def _rest(self) -> None:
        """Logs the verification pass did not make readable: inflate them here."""
        for p in self.order:
            if p.ready.is_set():
                continue
            try:
                if self.stop.is_set():
                    continue
                p.src = self._readable(self._zip(), p)
                self._submit(p)
            except BaseException as exc:  # reported by the analysis thread, which parses it itself
                p.error = exc
            finally:
                p.ready.set()

    def _submit(self, p: Planned, start_chunk: int = 0) -> None:
        """Queue the log's windows from chunk ``start_chunk`` on (0: all of them, anew)."""
        from triage.parsers.evtx.windows import submit_windows

        if start_chunk == 0:
            p.futures = []
        p.futures.extend(submit_windows(self.pool.submit, p.src, self.items[p.index], self.window_chunks,
                                        start_chunk))

    def _copy_out(self, entry: ManifestEntry):
        """verify_bundle's hook: a file to receive this member's bytes (logs we plan for), or None."""
        p = self.by_member.get(entry.bundle_path) if entry.bundle_path is not None else None
        if p is None or p.ready.is_set() or self.stop.is_set():
            return None
        try:
            stored = self._stored_source(p)
        except Exception:
            stored = None
        if stored is not None:  # read in place by the workers: no copy; queue it right away
            p.src = stored
            try:
                self._submit(p)
            except BaseException as exc:
                p.error = exc
            p.ready.set()
            return None
        try:
            dest = self._new_copy(p, entry.size or 0)
            out = open(dest, "xb")  # noqa: SIM115 - closed in done()
        except OSError as exc:
            p.error = exc
            p.ready.set()
            return None
        copy = _StreamingCopy(self, p, dest, out, entry.size or 0)
        return copy, copy.done

    def _zip(self) -> zipfile.ZipFile:
        """The feeder's own handle on the bundle (opened once: a host has hundreds of logs)."""
        if self._zf is None:
            self._zf = zipfile.ZipFile(self.bundle_path)
        return self._zf

    def _stored_source(self, p: Planned):
        from triage.parsers.evtx.windows import LogSource

        info = self._zip().getinfo(p.member)
        if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:
            return None
        with open(self.bundle_path, "rb") as fh:
            base = data_offset(fh, info)
        return LogSource(str(self.bundle_path), base, info.file_size)

    def _new_copy(self, p: Planned, size: int) -> Path:
        with self.room:  # bounded temporary space: wait until earlier copies are merged and deleted
            while self.waiting_bytes > 0 and self.waiting_bytes + size > SPILL_AHEAD_BYTES \
                    and not self.stop.is_set():
                self.room.wait(0.2)
            self.waiting_bytes += size
        p.spilled = size
        p.tmpdir = tempfile.mkdtemp(prefix="triage-evtx-")
        return Path(p.tmpdir) / "log.evtx"

    def _readable(self, zf: zipfile.ZipFile, p: Planned):
        from triage.parsers.evtx.windows import LogSource

        stored = self._stored_source(p)
        if stored is not None:
            return stored
        info = zf.getinfo(p.member)
        dest = self._new_copy(p, info.file_size)
        with open_member(str(self.bundle_path), zf, info) as src, open(dest, "xb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
        os.chmod(dest, 0o400)
        return LogSource(str(dest), 0, info.file_size)

    # -- analysis thread / YARA thread -----------------------------------------------------------

    def take(self, index: int) -> Planned:
        p = self.planned[index]
        p.ready.wait()
        return p

    def copy_path(self, bundle_path: str) -> str | None:
        """For the YARA thread: the private copy of a planned log (waits until it is written), or
        None (not planned, read in place, or not copied): then it reads the member itself."""
        p = self.by_member.get(bundle_path)
        if p is None:
            return None
        p.ready.wait()
        return p.src.path if p.src is not None and p.tmpdir else None

    def release(self, bundle_path: str) -> None:
        """The YARA thread is done with this log's copy (once per log; later calls do nothing)."""
        p = self.by_member.get(bundle_path)
        with self.lock:
            if p is None or not self.shared or bundle_path in self.released:
                return
            self.released.add(bundle_path)
        self._drop(p)

    def release_rest(self) -> None:
        """The YARA thread has finished (or failed): it holds no copy any more."""
        for bundle_path in list(self.by_member):
            self.release(bundle_path)

    def done(self, index: int) -> None:
        """The log is merged (cancel what is left of its windows, drop the merge's hold on the copy)."""
        p = self.planned.get(index)
        if p is None:
            return
        for _, _, fut in p.futures:
            fut.cancel()
        self._drop(p)

    def _drop(self, p: Planned) -> None:
        with self.lock:
            if p.users <= 0:
                return
            p.users -= 1
            if p.users:
                return
        if p.tmpdir:
            shutil.rmtree(p.tmpdir, ignore_errors=True)
            p.tmpdir = None
        with self.room:
            self.waiting_bytes -= p.spilled
            p.spilled = 0
            self.room.notify_all()

    def join_verify(self) -> Any:
        """Wait for the verification pass; returns its report (raises what stopped it)."""
        self.verified.wait()
        if self.verify_error is not None:
            raise self.verify_error
        return self.report

    def close(self) -> None:
        self.stop.set()
        with self.room:
            self.room.notify_all()
        self.thread.join()
        for p in self.order:
            while p.users > 0:
                self._drop(p)


class _StreamingCopy:
    """The file the verification pass writes a log's private copy to. Each window is queued as soon
    as its chunks are on disk (flushed), so the workers start on a log while it is still being
    inflated instead of after; the rest are queued when the copy is complete. The window sizes
    come from the manifest's size; if the member turns out to have another size, every window is
    queued again from the real file (and the verification reports the difference)."""

    def __init__(self, fan: EvtxFanout, p: Planned, dest: Path, out: Any, expected: int) -> None:
        from triage.parsers.evtx.windows import CHUNK_SIZE, HEADER_SIZE, LogSource, job_args

        self.fan, self.p, self.dest, self.out = fan, p, dest, out
        self.written = 0
        self.header, self.chunk = HEADER_SIZE, CHUNK_SIZE
        self.src = LogSource(str(dest), 0, expected)
        self.args = job_args(fan.items[p.index])
        self.next_first = 0
        self.step = max(int(fan.window_chunks), 1)
        p.futures = []

    def write(self, block: bytes) -> None:
        from triage.parsers.evtx.windows import submit_window

        self.out.write(block)
        self.written += len(block)
        ready = min(max(self.written - self.header, 0) // self.chunk, self.src.slots)
        if ready - self.next_first >= self.step:
            self.out.flush()  # the workers read the file: what they are sent must be on it
            while ready - self.next_first >= self.step:
                self.p.futures.append(submit_window(self.fan.pool.submit, self.src, self.args, self.next_first,
                                                    self.step))
                self.next_first += self.step

    def done(self, error: BaseException | None) -> None:
        from triage.parsers.evtx.windows import LogSource

        p = self.p
        try:
            self.out.close()
            os.chmod(self.dest, 0o400)
            if error is not None:
                raise error
            size = self.dest.stat().st_size
            if size != self.src.size:  # the manifest lied about the size: start over from the file
                for _, _, fut in p.futures:
                    fut.cancel()
                p.src = LogSource(str(self.dest), 0, size)
                self.fan._submit(p)
            else:
                p.src = self.src
                self.fan._submit(p, start_chunk=self.next_first)
        except BaseException as exc:
            for _, _, fut in p.futures:
                fut.cancel()
            p.src, p.error = None, exc
        finally:
            p.ready.set()
