"""One event log parsed as windows of chunks in worker processes, merged back in file order.

Why: the EVTX engine's Python iterator runs on one core, and a host's logs are dominated by one
file (Security.evtx is 60-70% of the bytes on most hosts), so parallelism across files alone leaves
a core idle. An EVTX chunk is self-contained (its own string and template tables, its own record
numbers), so the file header followed by any run of whole chunks is itself a valid log that the
engine reads exactly as it reads those chunks in the whole file. :class:`ChunkWindow` presents such
a run without copying anything; :func:`window_job` parses one in a worker; :func:`merge_windows`
runs the file-level checks on the whole log and merges the windows' records, statistics and
PowerShell script-block parts in file order, so the result is the one the sequential parser gives
(tests/parsers/test_evtx_windows.py checks that on every corpus log).

A window that fails (a worker crashed or was killed) loses its chunks, not the file: the merge
reports which chunks, and the statistics say how many records were read.
"""

from __future__ import annotations

import dataclasses
import io
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from triage.model import EventLogStats, Issue, Record, SigmaMatch
from triage.parsers.base import ParseInput
from triage.parsers.evtx.parser import CHUNK_SIZE, HEADER_SIZE, MAX_RECORD_ISSUES, Partial, _LogReader

# Chunks per window: 128 x 64 KiB = 8 MiB, ~10k records (~60 ms of work); enough per task that
# scheduling and pickling stay small, small enough that the last windows keep every worker busy.
WINDOW_CHUNKS = 128


@dataclass(frozen=True)
class LogSource:
    """Where a log's bytes are: ``path`` from offset ``base`` for ``size`` bytes (a private spilled
    copy with base 0, or the bundle itself for a stored member, read in place and never written)."""

    path: str
    base: int
    size: int

    @property
    def slots(self) -> int:
        return max(self.size - HEADER_SIZE, 0) // CHUNK_SIZE


class ChunkWindow(io.RawIOBase):
    """Read-only view: the log's file header, then chunks [first, first + count) of it."""

    def __init__(self, src: LogSource, first: int, count: int) -> None:
        super().__init__()
        self.src, self.first = src, first
        count = max(0, min(count, src.slots - first))
        self.length = min(src.size, HEADER_SIZE) + count * CHUNK_SIZE
        self.pos = 0
        self.fh = open(src.path, "rb", buffering=0)  # noqa: SIM115 - closed in close()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            offset += self.pos
        elif whence == io.SEEK_END:
            offset += self.length
        self.pos = max(offset, 0)
        return self.pos

    def readinto(self, b: Any) -> int:
        n = min(len(b), self.length - self.pos)
        if n <= 0:
            return 0
        if self.pos < HEADER_SIZE:
            n = min(n, HEADER_SIZE - self.pos)
            offset = self.src.base + self.pos
        else:
            offset = self.src.base + HEADER_SIZE + self.first * CHUNK_SIZE + (self.pos - HEADER_SIZE)
        self.fh.seek(offset)
        got = self.fh.readinto(memoryview(b)[:n]) or 0
        self.pos += got
        return got

    def close(self) -> None:
        if not self.closed:
            self.fh.close()
        super().close()


@dataclass
class WindowResult:
    """What a worker sends back for one window: its records and issues in record order, the
    statistics and pending script blocks to merge, and the seconds it took."""

    items: list[Record | Issue]
    partial: Partial | None
    seconds: float


def window_job(src: LogSource, item_args: tuple[Any, str, dict[str, Any]], first: int, count: int) -> WindowResult:
    """Parse chunks [first, first + count) of the log (runs in a worker process)."""
    t0 = time.perf_counter()
    entry, rel_path, options = item_args
    item = ParseInput(entry=entry, rel_path=rel_path, companions=[],
                      open=lambda: ChunkWindow(src, first, count), materialize=lambda: None,  # type: ignore[arg-type,return-value]
                      options=options)
    reader = _LogReader(item)
    reader.chunk_base = first
    with ChunkWindow(src, first, count) as fh:
        items = list(reader._records(fh, final=False))
    return WindowResult(items, reader.partial, time.perf_counter() - t0)


def job_args(item: ParseInput) -> tuple[Any, str, dict[str, Any]]:
    """What a worker needs of the ParseInput (plain data: entry, path, the evtx options)."""
    options = {k: v for k, v in item.options.items() if k.startswith("evtx_")}
    return (item.entry, item.rel_path, options)


def submit_window(submit: Callable[..., Future], src: LogSource, args: tuple, first: int,
                  count: int) -> tuple[int, int, Future]:
    count = max(0, min(count, src.slots - first))
    return first, count, submit(window_job, src, args, first, count)


def submit_windows(submit: Callable[..., Future], src: LogSource, item: ParseInput,
                   window_chunks: int = WINDOW_CHUNKS, start: int = 0) -> list[tuple[int, int, Future]]:
    """Queue every window of the log from chunk ``start`` on; returns (first chunk, chunk count,
    future) in file order."""
    args = job_args(item)
    step = max(int(window_chunks), 1)
    return [submit_window(submit, src, args, first, step) for first in range(start, src.slots, step)]


def merge_sigma(parts: list[SigmaMatch]) -> list[SigmaMatch]:
    """The windows' Sigma matches of one log, one per rule: counts summed, earliest first, latest last,
    samples in file order up to the cap (what the sequential parser keeps)."""
    from triage.sigma.correlate import MAX_EVENTS
    from triage.sigma.hits import MAX_SAMPLES

    by_rule: dict[tuple[str, str], list[SigmaMatch]] = {}
    for m in parts:
        by_rule.setdefault((m.rule_id, m.rule_path), []).append(m)
    out = []
    for ms in by_rule.values():
        firsts = [m.first for m in ms if m.first is not None]
        lasts = [m.last for m in ms if m.last is not None]
        samples = tuple(s for m in ms for s in m.samples)[:MAX_SAMPLES]
        events = tuple(e for m in ms for e in m.events)[:MAX_EVENTS]
        out.append(dataclasses.replace(ms[0], count=sum(m.count for m in ms), first=min(firsts, default=None),
                                       last=max(lasts, default=None), samples=samples, events=events,
                                       channel=next((m.channel for m in ms if m.channel), None)))
    return sorted(out, key=lambda m: (m.rule_id, m.rule_path))


def merge_windows(item: ParseInput, futures: list[tuple[int, int, Future]],
                  timeout: float | None = None) -> Iterator[Record | Issue]:
    """The sequential parser's output, from the windows' results (``item.open`` is the whole log,
    read here only for the file-level checks: header, chunk headers, truncation)."""
    reader = _LogReader(item)
    try:
        chunks = yield from reader.preamble()
        if isinstance(chunks, bool):  # False: the log cannot be read (preamble said why)
            return
        counts: Counter = Counter()
        sigma: list[SigmaMatch] = []
        errors = listed = 0
        first_key: str | None = None
        last_key: str | None = None
        deadline = None if timeout is None else time.monotonic() + timeout
        for first, count, fut in futures:
            try:
                left = None if deadline is None else max(deadline - time.monotonic(), 0.001)
                res: WindowResult = fut.result(timeout=left)
            except BaseException as exc:  # worker crashed, killed, timed out, or the pool broke
                if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                    raise
                yield item.issue(f"chunks {first}-{first + count - 1} could not be parsed (worker process: "
                                 f"{type(exc).__name__}: {exc}); their records are missing from this analysis",
                                 "error", f"chunk {first}")
                continue
            for obj in res.items:
                if isinstance(obj, SigmaMatch):  # one per rule and log, as the sequential parser gives
                    sigma.append(obj)
                else:
                    yield obj
            part = res.partial
            if part is None:
                continue
            counts.update(part.counts)
            errors += part.errors
            listed += min(part.errors, MAX_RECORD_ISSUES)
            if part.first is not None and (first_key is None or part.first < first_key):
                first_key = part.first
            if part.last is not None and (last_key is None or part.last > last_key):
                last_key = part.last
            for script in part.scripts.values():
                event = reader.scripts.merge(script)
                if event is not None:
                    yield event
        yield from reader.scripts.flush()
        yield from merge_sigma(sigma)
        if errors > listed:
            yield item.issue(f"{errors - listed} further read errors not listed ({errors} in all)")
        stats: EventLogStats = reader.stats(dict(counts), errors, first_key, last_key)
        if chunks is not None and stats.records < sum(n for _, _, n in chunks):
            yield from reader._silent_losses(chunks)
        yield stats
    finally:
        for _, _, fut in futures:
            fut.cancel()
