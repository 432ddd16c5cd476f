"""Running the parsers over a bundle: the plan (which parser reads which member), one parser
under its caps and guard, and the event-log windows fanned out to worker processes.

Why a guard per parser: a parser that crashes, loops or runs away loses its one file (an Issue with
a short traceback), never the host.
"""

from __future__ import annotations

import functools
import time
import traceback
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from triage.analyze.materialize import (
    MAX_RECORDS_PER_FILE,
    MAX_SECONDS_PER_FILE,
    PREFETCH_SPILLS,
    Materializer,
    SpillPrefetcher,
)
from triage.analyze.state import AnalysisData
from triage.bundle.manifest import HAS_DATA, ManifestEntry
from triage.model import Issue, Record


def short_traceback(exc: BaseException, limit: int = 4) -> str:
    lines = traceback.format_exception(type(exc), exc, exc.__traceback__, limit=-limit)
    text = "".join(lines).strip()
    return text[-1500:]


def signature_ok(parser: Any, open_fn) -> bool:
    sigs = getattr(parser, "signatures", ()) or ()
    if not sigs:
        return True
    need = max(off + len(magic) for off, magic in sigs)
    with open_fn() as fh:
        head = fh.read(need)
    return any(head[off:off + len(magic)] == magic for off, magic in sigs)


def run_parser(parser: Any, item: Any, data: AnalysisData, strict: bool,
                out: tuple[list, list] | None = None) -> None:
    """Run one parser over one file into ``out`` (records, issues; default: the host's lists)."""
    name = parser.name
    records, issues = out if out is not None else (data.records, data.issues)
    t0 = time.perf_counter()
    n = 0
    try:
        refusal = getattr(item.materialize, "refusal", None)
        if refusal is not None:   # checked on a few streamed bytes and the declared size: no copy yet
            why = refusal(parser, item.options)
        else:
            why = None if signature_ok(parser, item.open) else (
                f"{name}: file does not start with the expected signature; not parsed")
        if why is not None:
            issues.append(item.issue(why, severity="warning"))
            return
        max_records = int(item.options.get("max_records_per_file") or MAX_RECORDS_PER_FILE)
        max_seconds = float(item.options.get("max_seconds_per_file") or MAX_SECONDS_PER_FILE)
        deadline = t0 + max_seconds
        gen = parser.parse(item)
        try:
            for i, obj in enumerate(gen):
                if isinstance(obj, Issue):
                    issues.append(obj)
                elif isinstance(obj, Record):
                    records.append(obj)
                    n += 1
                if n >= max_records or (i & 255 == 0 and time.perf_counter() > deadline):
                    why = f"{n} records" if n >= max_records else f"{max_seconds:.0f} s"
                    issues.append(item.issue(f"{name}: stopped after {why} on this one file (per-file "
                                                  "cap); the rest of it was not parsed", severity="warning"))
                    break
        finally:
            close = getattr(gen, "close", None)
            if close is not None:
                close()
    except Exception as exc:  # a parser bug loses one file, never the host
        if strict:
            raise
        issues.append(item.issue(f"{name} parser crashed after {n} records: "
                                      f"{type(exc).__name__}: {exc}\n{short_traceback(exc)}"))
    finally:
        data.records_per_parser[name] += n
        data.files_per_parser[name] += 1
        data.seconds_per_parser[name] += time.perf_counter() - t0


@dataclass
class Plan:
    """Which parsers read which members: work[i] = (entry, rel_path, parsers), with its
    materializer and ParseInput at the same index."""

    work: list[tuple[ManifestEntry, str, list[Any]]]
    mats: list[Materializer]
    items: list[Any]


def plan_bundle(reader: Any, data: AnalysisData, strict: bool, options: dict[str, Any]) -> Plan:
    from triage.analyze.member_stream import member_stream
    from triage.parsers import IMPORT_ERRORS, ParseInput, all_parsers

    parsers = []
    for cls in all_parsers():
        try:
            parsers.append(cls())
        except Exception as exc:
            if strict:
                raise
            data.issues.append(Issue(severity="error", message=f"parser {getattr(cls, 'name', cls)} "
                                     f"could not start: {type(exc).__name__}: {exc}"))
    data.parser_import_errors = dict(IMPORT_ERRORS)
    companions: dict[str, list[ManifestEntry]] = defaultdict(list)
    for e in data.entries:
        if e.companion_of and e.bundle_path and e.outcome in HAS_DATA:
            companions[e.companion_of].append(e)
    work: list[tuple[ManifestEntry, str, list[Any]]] = []
    for entry in data.entries:
        if entry.outcome not in HAS_DATA or not entry.bundle_path or entry.role == "companion":
            continue
        rel = entry.rel_path
        if rel is None and entry.bundle_path.startswith("volatile/"):
            rel = entry.bundle_path   # the live snapshot (parsers/linux/live.py)
        if rel is None:
            continue
        chosen = [p for p in parsers if p.matches(rel)]
        if not chosen:
            data.unsupported.append(entry.bundle_path)
            continue
        work.append((entry, rel, chosen))
    from triage.parsers.linux.clock import host_options

    options = {**options, **host_options(reader, data.entries)}  # the host's zone for Linux local times
    mats = [Materializer(reader, entry, companions.get(entry.bundle_path or "", []), chosen, options)
            for entry, _, chosen in work]
    items = [ParseInput(entry=entry, rel_path=rel, companions=mat.companions, open=mat.open, materialize=mat,
                        options=dict(options), stream=functools.partial(member_stream, mat))
             for (entry, rel, _), mat in zip(work, mats, strict=True)]
    return Plan(work, mats, items)


def parse_bundle(reader: Any, data: AnalysisData, strict: bool, options: dict[str, Any],
                  plan: Plan | None = None, fan: Any = None) -> None:
    """Run every parser over every member it claims. With ``fan`` (an EvtxFanout: one bundle on a
    multi-core machine), event logs are parsed by worker processes in windows of chunks while this
    thread parses the rest; outputs are kept per member and added in bundle order either way."""
    plan = plan or plan_bundle(reader, data, strict, options)
    work, mats, items = plan.work, plan.mats, plan.items
    outputs: list[tuple[list, list]] = [([], []) for _ in work]
    deferred = set(fan.planned) if fan is not None else set()
    background = options.get("background", True)
    prefetch = SpillPrefetcher(reader, [m for i, m in enumerate(mats) if i not in deferred and PREFETCH_SPILLS
                                         and background and m.spill_worthy() and m.wanted()])
    try:
        for i, ((_entry, _rel, chosen), mat) in enumerate(zip(work, mats, strict=True)):
            if i in deferred:
                continue
            try:
                prefetch.adopt(mat)
                for parser in chosen:
                    run_parser(parser, items[i], data, strict, outputs[i])
            finally:
                mat.cleanup()
        for i in sorted(deferred):
            merge_fanned(fan, i, work[i][2], items[i], mats[i], data, strict, outputs[i])
    finally:
        prefetch.close()
    for (entry, _rel, chosen), (records, issues) in zip(work, outputs, strict=True):
        data.records.extend(records)
        data.issues.extend(issues)
        data.parsed.setdefault(entry.bundle_path or "", []).extend(p.name for p in chosen)


class WindowedEvtx:
    """The evtx parser's face for a log already queued to the workers: parse() merges the windows."""

    name = "evtx"

    def __init__(self, futures: list, signatures: tuple, timeout: float) -> None:
        self.futures, self.signatures, self.timeout = futures, signatures, timeout

    def parse(self, item: Any):
        from triage.parsers.evtx.windows import merge_windows

        return merge_windows(item, self.futures, self.timeout)


def start_fanout(reader: Any, plan: Plan, pool: Any, options: dict[str, Any], *, shared_copies: bool) -> Any:
    """Queue the plan's event logs for the pool (None: no logs); the fanout's feeder also verifies
    the bundle, taking the logs' private copies from that pass."""
    from triage.analyze.fanout import EvtxFanout, Planned
    from triage.parsers.evtx.windows import WINDOW_CHUNKS

    planned = [Planned(i, entry) for i, (entry, _rel, chosen) in enumerate(plan.work)
               if [p.name for p in chosen] == ["evtx"]]
    if not planned:
        return None
    chunks = int(options.get("evtx_window_chunks") or WINDOW_CHUNKS)
    return EvtxFanout(Path(reader.path), pool, planned, dict(enumerate(plan.items)), chunks,
                      shared_copies=shared_copies)


def merge_fanned(fan: Any, i: int, chosen: list, item: Any, mat: Materializer, data: AnalysisData, strict: bool,
                  out: tuple[list, list]) -> None:
    """Collect one log from the workers; if it never reached them, parse it here."""
    try:
        planned = fan.take(i)
        parser = chosen[0]
        if planned.src is not None and planned.error is None:
            if planned.tmpdir:  # the feeder's private copy serves this thread's reads as well (the
                mat.path = Path(planned.src.path)  # fanout, not the materializer, deletes it)
            max_seconds = float(item.options.get("max_seconds_per_file") or MAX_SECONDS_PER_FILE)
            parser = WindowedEvtx(planned.futures, getattr(chosen[0], "signatures", ()), max_seconds)
        run_parser(parser, item, data, strict, out)
    finally:
        fan.done(i)
        mat.cleanup()



def evtx_pool(entries: list[ManifestEntry], options: dict[str, Any]) -> Any:
    """A process pool for event-log windows when it pays: one bundle analyzed in the foreground
    (not a batch worker), several cores, and enough event-log bytes. Started before any of the
    analysis' threads (YARA, spill prefetch)."""
    from triage.analyze.fanout import PARALLEL_MIN_BYTES, make_pool, worker_count

    if not options.get("background", True):
        return None
    workers = worker_count(options)
    evtx_bytes = sum(e.size or 0 for e in entries
                     if e.outcome in HAS_DATA and (e.bundle_path or "").lower().endswith(".evtx"))
    if workers < 2 or (evtx_bytes < PARALLEL_MIN_BYTES and options.get("evtx_workers") is None):
        return None
    try:
        return make_pool(min(workers, 8))
    except Exception:  # no process support here (a sandbox): parse in-process
        return None


def stop_pool(pool: Any, force: bool = False) -> None:
    """Shut the pool down; a worker still busy (stuck on a window or job that timed out) is
    stopped, not waited for (at once with ``force``)."""
    if pool is None:
        return
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in procs:
        if proc.is_alive():
            if not force:
                proc.join(timeout=2)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=2)
