"""Analyze one bundle: verify → parse every collected file → YARA → findings → summary, timeline, report.

Why one function: the single-host CLI, the batch runner (``triage analyze --jobs``) and the fleet
builder all need exactly the same per-host work; :func:`analyze_bundle` is that work and nothing
else (no printing, no process management). It never raises for bad evidence: a tampered bundle is
refused (unless ``force``) with a summary saying why, and a parser that crashes loses its one file
(an Issue with a short traceback), never the host.

Memory: records of one host are kept (they are small typed facts); file contents are streamed from
the zip and never held. A parser that needs a real path gets a private temporary copy of the file and
its companions (hive logs, SQLite journals), deleted as soon as that parser is done.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import shutil
import tempfile
import threading
import time
import traceback
import zipfile
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from triage.analyze.records import Finding, HostFact, Issue, Record, Source
from triage.bundle.manifest import HAS_DATA, ManifestEntry

# Characters kept in a file name made from hostile text; everything else becomes '_'.
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._\-$%#@+=, ()\[\]{}~]")
_UNSAFE_HOST = re.compile(r"[^A-Za-z0-9._-]")


def safe_basename(name: str, default: str = "file") -> str:
    """A file name safe to create inside a private directory, from a hostile bundle name.

    Takes the last component across both separator styles, replaces anything outside a small set
    of characters, refuses '.'/'..' and empty names and caps the length. Character-wise replacement
    keeps companion names in step (``SYSTEM`` / ``SYSTEM.LOG1``, ``History`` / ``History-journal``).
    """
    base = re.split(r"[\\/]", name or "")[-1]
    base = _UNSAFE_NAME.sub("_", base).strip(" ")
    if base in ("", ".", "..") or set(base) == {"."}:
        base = default
    if len(base) > 160:
        base = base[:160]
    return base


def safe_hostname(name: str | None) -> str:
    """Directory-safe host name (hostile input: path separators, dots, markup, control characters)."""
    text = _UNSAFE_HOST.sub("_", str(name or "")).strip("._-")
    return text[:64] or "host"


@dataclass
class HostAnalysis:
    """What :func:`analyze_bundle` produced for one bundle.

    summary: the summary dict written to summary.json. out_dir: the host's output directory.
    counts: records/findings/issues totals and findings per severity (for batch progress lines).
    refused: True when the bundle failed verification and ``force`` was not given (nothing parsed).
    """

    summary: dict[str, Any]
    out_dir: Path
    counts: dict[str, Any] = field(default_factory=dict)
    refused: bool = False

    @property
    def hostname(self) -> str:
        return self.summary.get("host", {}).get("hostname") or ""

    @property
    def summary_path(self) -> Path:
        return self.out_dir / "summary.json"

    @property
    def report_path(self) -> Path:
        return self.out_dir / "report.html"

    @property
    def timeline_path(self) -> Path:
        return self.out_dir / "timeline.jsonl"


@dataclass
class AnalysisData:
    """Everything the summary, timeline and report are made from (the in-memory state of one host)."""

    bundle_path: Path
    bundle_sha256: str | None = None
    verified: bool = False
    verify_problems: list[str] = field(default_factory=list)
    verify_incomplete: bool = False
    forced: bool = False
    refused: bool = False
    collection: dict[str, Any] = field(default_factory=dict)
    entries: list[ManifestEntry] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    yara_hits: list[Any] = field(default_factory=list)
    windows: list[dict[str, Any]] = field(default_factory=list)
    parsed: dict[str, list[str]] = field(default_factory=dict)       # bundle_path -> parser names
    unsupported: list[str] = field(default_factory=list)              # bundle paths no parser took
    records_per_parser: Counter = field(default_factory=Counter)
    files_per_parser: Counter = field(default_factory=Counter)
    seconds_per_parser: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    timings: dict[str, float] = field(default_factory=dict)
    hostname: str = ""
    parser_import_errors: dict[str, str] = field(default_factory=dict)
    yara_enabled: bool = False
    network_known: bool = False
    sigma_ruleset: Any = None  # triage.sigma.load.RuleSet when Sigma rules were evaluated


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


def _size_cap(parser: Any, options: dict[str, Any]) -> int | None:
    """The most bytes ``parser`` will read of one member (None: no cap), the same caps the parsers
    apply themselves once they hold the file — here applied before anything is copied out."""
    if parser.name == "registry":
        from triage.parsers.registry_hive import DEFAULT_MAX_HIVE_BYTES
        return int(options.get("max_hive_bytes") or DEFAULT_MAX_HIVE_BYTES)
    if parser.name == "prefetch":
        from triage.parsers.prefetch import MAX_FILE_SIZE
        return MAX_FILE_SIZE
    return None


class _Materializer:
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
        cap = _size_cap(parser, options if options is not None else self.options)
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


def _short_traceback(exc: BaseException, limit: int = 4) -> str:
    lines = traceback.format_exception(type(exc), exc, exc.__traceback__, limit=-limit)
    text = "".join(lines).strip()
    return text[-1500:]


def _signature_ok(parser: Any, open_fn) -> bool:
    sigs = getattr(parser, "signatures", ()) or ()
    if not sigs:
        return True
    need = max(off + len(magic) for off, magic in sigs)
    with open_fn() as fh:
        head = fh.read(need)
    return any(head[off:off + len(magic)] == magic for off, magic in sigs)


def _run_parser(parser: Any, item: Any, data: AnalysisData, strict: bool,
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
            why = None if _signature_ok(parser, item.open) else (
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
                                      f"{type(exc).__name__}: {exc}\n{_short_traceback(exc)}"))
    finally:
        data.records_per_parser[name] += n
        data.files_per_parser[name] += 1
        data.seconds_per_parser[name] += time.perf_counter() - t0


@dataclass
class _Plan:
    """Which parsers read which members: work[i] = (entry, rel_path, parsers), with its
    materializer and ParseInput at the same index."""

    work: list[tuple[ManifestEntry, str, list[Any]]]
    mats: list[_Materializer]
    items: list[Any]


def _plan(reader: Any, data: AnalysisData, strict: bool, options: dict[str, Any]) -> _Plan:
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
        if rel is None:
            continue
        chosen = [p for p in parsers if p.matches(rel)]
        if not chosen:
            data.unsupported.append(entry.bundle_path)
            continue
        work.append((entry, rel, chosen))
    mats = [_Materializer(reader, entry, companions.get(entry.bundle_path, []), chosen, options)
            for entry, _, chosen in work]
    items = [ParseInput(entry=entry, rel_path=rel, companions=mat.companions, open=mat.open, materialize=mat,
                        options=dict(options)) for (entry, rel, _), mat in zip(work, mats, strict=True)]
    return _Plan(work, mats, items)


def _parse_bundle(reader: Any, data: AnalysisData, strict: bool, options: dict[str, Any],
                  plan: _Plan | None = None, fan: Any = None) -> None:
    """Run every parser over every member it claims. With ``fan`` (an EvtxFanout: one bundle on a
    multi-core machine), event logs are parsed by worker processes in windows of chunks while this
    thread parses the rest; outputs are kept per member and added in bundle order either way."""
    plan = plan or _plan(reader, data, strict, options)
    work, mats, items = plan.work, plan.mats, plan.items
    outputs: list[tuple[list, list]] = [([], []) for _ in work]
    deferred = set(fan.planned) if fan is not None else set()
    background = options.get("background", True)
    prefetch = _SpillPrefetcher(reader, [m for i, m in enumerate(mats) if i not in deferred and PREFETCH_SPILLS
                                         and background and m.spill_worthy() and m.wanted()])
    try:
        for i, ((_entry, _rel, chosen), mat) in enumerate(zip(work, mats, strict=True)):
            if i in deferred:
                continue
            try:
                prefetch.adopt(mat)
                for parser in chosen:
                    _run_parser(parser, items[i], data, strict, outputs[i])
            finally:
                mat.cleanup()
        for i in sorted(deferred):
            _merge_fanned(fan, i, work[i][2], items[i], mats[i], data, strict, outputs[i])
    finally:
        prefetch.close()
    for (entry, _rel, chosen), (records, issues) in zip(work, outputs, strict=True):
        data.records.extend(records)
        data.issues.extend(issues)
        data.parsed.setdefault(entry.bundle_path, []).extend(p.name for p in chosen)


class _WindowedEvtx:
    """The evtx parser's face for a log already queued to the workers: parse() merges the windows."""

    name = "evtx"

    def __init__(self, futures: list, signatures: tuple, timeout: float) -> None:
        self.futures, self.signatures, self.timeout = futures, signatures, timeout

    def parse(self, item: Any):
        from triage.parsers.evtx_windows import merge_windows

        return merge_windows(item, self.futures, self.timeout)


def _start_fanout(reader: Any, plan: _Plan, pool: Any, options: dict[str, Any], *, shared_copies: bool) -> Any:
    """Queue the plan's event logs for the pool (None: no logs); the fanout's feeder also verifies
    the bundle, taking the logs' private copies from that pass."""
    from triage.analyze.fanout import EvtxFanout, Planned
    from triage.parsers.evtx_windows import WINDOW_CHUNKS

    planned = [Planned(i, entry) for i, (entry, _rel, chosen) in enumerate(plan.work)
               if [p.name for p in chosen] == ["evtx"]]
    if not planned:
        return None
    chunks = int(options.get("evtx_window_chunks") or WINDOW_CHUNKS)
    return EvtxFanout(Path(reader.path), pool, planned, dict(enumerate(plan.items)), chunks,
                      shared_copies=shared_copies)


def _merge_fanned(fan: Any, i: int, chosen: list, item: Any, mat: _Materializer, data: AnalysisData, strict: bool,
                  out: tuple[list, list]) -> None:
    """Collect one log from the workers; if it never reached them, parse it here."""
    try:
        planned = fan.take(i)
        parser = chosen[0]
        if planned.src is not None and planned.error is None:
            if planned.tmpdir:  # the feeder's private copy serves this thread's reads as well (the
                mat.path = Path(planned.src.path)  # fanout, not the materializer, deletes it)
            max_seconds = float(item.options.get("max_seconds_per_file") or MAX_SECONDS_PER_FILE)
            parser = _WindowedEvtx(planned.futures, getattr(chosen[0], "signatures", ()), max_seconds)
        _run_parser(parser, item, data, strict, out)
    finally:
        fan.done(i)
        mat.cleanup()


class _SpillPrefetcher:
    """Inflates the next big deflated member to its private temp file while the current one parses.

    Why: inflating 200 MiB of event logs takes about a second of zlib time, which releases the GIL;
    done one file ahead in a thread it hides behind the (Python-bound) parsing. At most two spilled
    files wait besides the one in use; each is deleted by its materializer's cleanup, and close()
    deletes any the analysis never reached. Uses its own BundleReader (ZipFile handles are not
    shared between threads); bundles without a central directory are not prefetched.
    """

    def __init__(self, reader: Any, mats: list[_Materializer]) -> None:
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

    def _run(self, path: Path, mats: list[_Materializer]) -> None:
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

    def adopt(self, mat: _Materializer) -> None:
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


class _YaraJob:
    """YARA over the bundle's members in a background thread, while the parsers run.

    Why a thread: yara-python's match and zlib's inflate release the GIL, the parsers are mostly
    Python, so on a multi-core box the bundle scan costs little wall time next to parsing. The thread
    uses its own BundleReader (a ZipFile handle is not safe to share between threads). Record
    content (decoded script blocks, command lines) is scanned afterwards, in :meth:`finish`.
    """

    def __init__(self, bundle_path: Path, rules: Iterable[str], scanner: Any, jobs: int,
                 background: bool = True, fan: Any = None) -> None:
        self.bundle_path, self.rules, self.scanner, self.jobs = bundle_path, list(rules), scanner, jobs
        self.background = background
        self.fan = fan  # an EvtxFanout whose private copies of the event logs are scanned as files
        self.items: list[Any] = []
        self.error: BaseException | None = None
        self.module: Any = None
        self.thread = threading.Thread(target=self._run, name="triage-yara", daemon=True)

    def start(self, data: AnalysisData) -> bool:
        try:
            from triage.scan import yara as yscan
        except ImportError as exc:
            data.issues.append(Issue(severity="info", message=f"YARA scanning not available: {exc}"))
            return False
        self.module = yscan
        data.yara_enabled = True
        if self.background:
            self.thread.start()
        else:  # a batch worker: the pool already keeps every core busy, overlap would only contend
            self._run()
        return True

    def _run(self) -> None:
        try:
            from triage.bundle.reader import BundleReader

            if self.scanner is None:
                self.scanner = self.module.YaraScanner(self.rules)
            # rule files that did not compile are reported by every host, batch or not
            self.items.extend(self.scanner.issues)
            fan = self.fan
            with BundleReader(self.bundle_path) as reader:
                self.items.extend(self.scanner.scan_bundle(
                    reader, jobs=self.jobs, local_copy=fan.copy_path if fan is not None else None,
                    release=fan.release if fan is not None else None))
        except BaseException as exc:  # reported by finish(), in the analysis thread
            self.error = exc
        finally:
            if self.fan is not None:
                self.fan.release_rest()

    def finish(self, data: AnalysisData, strict: bool) -> None:
        if self.background:
            self.thread.join()
        try:
            if self.error is not None:
                raise self.error
            items = list(self.items) + list(self.scanner.scan_records(data.records))
            hits = []
            for obj in items:
                if isinstance(obj, Issue):
                    data.issues.append(obj)
                else:
                    hits.append(obj)
            hits = self.module.settle_hive_hits(hits)  # hive hits a decoded value confirms
            from triage.scan.yara_process import attribute

            data.yara_hits = hits = attribute(hits, self.bundle_path)  # hits on volatile data: which process
            data.findings.extend(self.module.findings_from_hits(hits))
        except Exception as exc:
            if strict:
                raise
            data.issues.append(Issue(severity="error", message=f"YARA scan failed: {type(exc).__name__}: "
                                     f"{exc}\n{_short_traceback(exc)}"))


def _evtx_pool(entries: list[ManifestEntry], options: dict[str, Any]) -> Any:
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


def _stop_pool(pool: Any, force: bool = False) -> None:
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


def _verify_into(data: AnalysisData, bundle_path: Path, force: bool, strict: bool, fan: Any) -> None:
    """Verify the bundle (or take the fanout's verification) into ``data``; refuse it unless forced."""
    t0 = time.perf_counter()
    try:
        if fan is not None:
            report = fan.join_verify()
        else:
            from triage.bundle.verify import verify_bundle

            report = verify_bundle(bundle_path)
        data.verified = bool(report.ok)
        data.verify_problems = [str(p) for p in (report.problems or [])]
        data.verify_incomplete = bool(getattr(report, "incomplete", False))
        data.bundle_sha256 = getattr(report, "sha256", None) or data.bundle_sha256
    except Exception as exc:
        if strict:
            raise
        data.verified = False
        data.verify_problems = [f"verification could not run: {type(exc).__name__}: {exc}"]
    data.timings["verify_s"] = time.perf_counter() - t0  # with a fanout: the wait beyond parsing
    if not data.verified:
        sev = "error" if not force else "warning"
        what = "analyzed anyway (--force)" if force else "refused (use --force to analyze anyway)"
        problems = "; ".join(data.verify_problems[:5]) or "unknown problem"
        data.issues.append(Issue(severity=sev, message=f"bundle failed verification, {what}: {problems}",
                                 source=Source(bundle_path=bundle_path.name)))
        data.refused = not force


def _drop_results(data: AnalysisData, bundle_issues: list[Issue]) -> None:
    """A refused bundle keeps its verification verdict, the reader's problems, and nothing else."""
    keep = [i for i in data.issues if i.message.startswith(("Sigma", "YARA"))] + bundle_issues + [
        i for i in data.issues if i.message.startswith("bundle failed verification")]
    fresh = AnalysisData(bundle_path=data.bundle_path, bundle_sha256=data.bundle_sha256, verified=False,
                         verify_problems=data.verify_problems, verify_incomplete=data.verify_incomplete,
                         forced=data.forced, refused=True, collection=data.collection, issues=keep,
                         timings=data.timings, sigma_ruleset=data.sigma_ruleset)
    data.__dict__.update(fresh.__dict__)


def _pick_hostname(data: AnalysisData) -> str:
    for r in data.records:
        if isinstance(r, HostFact) and r.key == "hostname" and r.value:
            return str(r.value)
    if data.collection.get("hostname"):
        return str(data.collection["hostname"])
    stem = data.bundle_path.name
    for suffix in (".zip",):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
    stem = re.sub(r"_\d{8}T\d{6}Z$", "", stem)
    return stem or "host"


def host_dir_name(hostname: str, sha256: str | None) -> str:
    return f"{safe_hostname(hostname)}_{(sha256 or '0' * 12)[:12]}"


def analyze_bundle(bundle_path: str | os.PathLike, out_dir: str | os.PathLike, *, force: bool = False,
                   rules: Iterable[str] = (), yara: bool = True, strict: bool = False,
                   options: dict[str, Any] | None = None, yara_scanner: Any = None,
                   yara_jobs: int = 1) -> HostAnalysis:
    """Analyze one bundle into ``out_dir/hosts/<host>_<sha12>/`` (summary.json, timeline.jsonl,
    timeline.csv, report.html) and return what was made.

    force: analyze even if verification failed (the summary records verified=false and why).
    rules: extra YARA rule files/directories. yara: run YARA at all. strict: re-raise parser
    exceptions (tests). options: passed to parsers through ``ParseInput.options``.
    yara_scanner: a ready ``triage.scan.yara.YaraScanner`` (batch runs compile rules once and pass it;
    ``rules`` is then ignored). yara_jobs: processes for scanning bundle members.
    """

    t_start = time.perf_counter()
    bundle_path = Path(bundle_path)
    out_root = Path(out_dir)
    data = AnalysisData(bundle_path=bundle_path, forced=force)

    # 1. open; 2. verify (hashes every member; an interrupted bundle is reported as incomplete);
    # 3. parse unless refused. With a worker pool (one big bundle, several cores) the verification
    # runs in the fanout's feeder thread and yields the event logs' private copies from the same
    # inflate; its verdict is applied when parsing is done, and a refused bundle's results are
    # dropped, so the outcome is the one of verifying first.
    opts = dict(options or {})
    _prepare_sigma(data, opts, strict)
    reader = None
    pool = fan = None
    try:
        from triage.bundle.reader import BundleReader

        reader = BundleReader(bundle_path)
        reader.__enter__()
        pool = _evtx_pool(list(reader.entries), opts) if getattr(reader, "zip", None) is not None else None
    except Exception as exc:
        if strict:
            raise
        reader_error: Exception | None = exc
    else:
        reader_error = None
    try:
        plan = None
        if pool is not None:
            data.entries = list(reader.entries)
            plan = _plan(reader, data, strict, opts)
            fan = _start_fanout(reader, plan, pool, opts, shared_copies=bool(yara))
            if fan is None:  # no event logs after all: verify first, as without a pool
                data.entries, data.unsupported, data.issues = [], [], []
                plan = None
        if fan is None:
            _verify_into(data, bundle_path, force, strict, None)
        if reader_error is not None:
            raise reader_error
        data.collection = dict(reader.collection or {})
        data.bundle_sha256 = data.bundle_sha256 or getattr(reader, "sha256", None)
        bundle_issues = [Issue(severity="warning", message=f"bundle reader: {problem}",
                               source=Source(bundle_path=bundle_path.name))
                         for problem in getattr(reader, "problems", None) or []]
        data.issues.extend(bundle_issues)
        if not data.refused:
            data.entries = list(reader.entries)
            if not getattr(reader, "complete", True):
                data.issues.append(Issue(severity="warning", message="bundle is incomplete (interrupted "
                                         "collection): entries come from the journal",
                                         source=Source(bundle_path=bundle_path.name)))
            job = None
            t0 = time.perf_counter()
            try:
                job = (_YaraJob(bundle_path, rules, yara_scanner, yara_jobs,
                                background=opts.get("background", True), fan=fan) if yara else None)
                if job is not None and not job.start(data):
                    job = None
                if job is None and fan is not None:
                    fan.release_rest()  # nobody will scan the logs' copies
                _parse_bundle(reader, data, strict, opts, plan, fan)
            finally:
                data.timings["parse_s"] = time.perf_counter() - t0
                if fan is not None:
                    fan.close()
                if job is not None:  # even when parsing failed: its hits are still evidence
                    t0 = time.perf_counter()
                    job.finish(data, strict)
                    data.timings["yara_wait_s"] = time.perf_counter() - t0  # beyond the parse time
            if fan is not None:
                _verify_into(data, bundle_path, force, strict, fan)
                if data.refused:  # what was parsed from a bundle that fails verification is dropped
                    _drop_results(data, bundle_issues)
    except Exception as exc:
        if strict:
            raise
        data.issues.append(Issue(severity="error", message=f"bundle could not be read: "
                                 f"{type(exc).__name__}: {exc}\n{_short_traceback(exc)}",
                                 source=Source(bundle_path=bundle_path.name)))
    except BaseException:
        _stop_pool(pool)
        raise
    finally:
        if fan is not None:
            fan.close()
        if reader is not None:
            with contextlib.suppress(Exception):
                reader.__exit__(None, None, None)
    _stop_pool(pool)
    return _conclude(data, out_root, t_start, strict)


def _prepare_sigma(data: AnalysisData, opts: dict[str, Any], strict: bool) -> None:
    """Load the Sigma rules (the built-in pack unless ``sigma_builtin`` is False, plus ``sigma_paths``;
    a batch passes ``sigma_ruleset`` compiled once) and hand the parsers their key. Rule-loading
    problems become issues of the host, so a batch reports them too."""
    if opts.get("sigma") is False:
        return
    try:
        from triage.sigma.engine import register
        from triage.sigma.load import load_rules, ruleset_by_key

        rs = opts.get("sigma_ruleset") or ruleset_by_key(opts.get("sigma_key")) or load_rules(
            opts.get("sigma_paths") or (), builtin=opts.get("sigma_builtin", True))
        register(rs)
    except Exception as exc:
        if strict:
            raise
        data.issues.append(Issue(severity="error", message=f"Sigma rules could not be loaded: "
                                 f"{type(exc).__name__}: {exc}"))
        return
    opts.pop("sigma_ruleset", None)
    opts["evtx_sigma_key"] = rs.key
    data.sigma_ruleset = rs
    if rs.skipped:
        data.issues.append(Issue(severity="warning", message=(
            f"Sigma: {len(rs.skipped)} of {rs.loaded + len(rs.skipped)} rules not evaluated; "
            + "; ".join(f"{n} x {why}" for why, n in list(rs.reasons().items())[:5])
            + " (triage rules check --sigma lists them)")))


def _conclude(data: AnalysisData, out_root: Path, t_start: float, strict: bool) -> HostAnalysis:
    """Findings, then the outputs: timeline, summary.json, report.html. (Tried: the timeline in a
    pool worker beside the summary; pickling the host's records there and back cost more.)"""
    from triage.analyze import findings as findings_mod
    from triage.analyze import summary as summary_mod
    from triage.analyze.findings_artifacts import ALL_RULES

    data.hostname = _pick_hostname(data)

    # 3. off-network windows, findings
    t0 = time.perf_counter()
    data.windows = findings_mod.network_windows(data.records, data.issues)
    try:
        data.findings.extend(findings_mod.evaluate(data.records, hostname=data.hostname, rules=ALL_RULES))
    except Exception as exc:
        if strict:
            raise
        data.issues.append(Issue(severity="error", message=f"findings rules failed: "
                                 f"{type(exc).__name__}: {exc}\n{_short_traceback(exc)}"))
    if data.sigma_ruleset is not None:
        from triage.sigma import findings as sigma_findings

        data.findings.extend(sigma_findings.findings(data.records))
    data.network_known = findings_mod.network_known()
    data.findings = findings_mod.mark_off_network(data.findings, data.windows, data.network_known,
                                                   findings_mod.log_span(data.records)[1])
    data.timings["findings_s"] = time.perf_counter() - t0

    # 4. outputs
    host_out = out_root / "hosts" / host_dir_name(data.hostname, data.bundle_sha256)
    host_out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    from triage.analyze import timeline as timeline_mod

    tl_counts = timeline_mod.write_timeline(data.records, data.findings, host_out, host=data.hostname)
    data.timings["timeline_s"] = time.perf_counter() - t0
    data.timings["total_s"] = time.perf_counter() - t_start
    summary = summary_mod.build_summary(data, timeline_rows=tl_counts)
    t0 = time.perf_counter()
    tmp = host_out / "summary.json.tmp"
    # compact: json's C encoder only runs without indent (indent=1 took ~0.1 s on a big host); jq
    # or any viewer pretty-prints it
    tmp.write_text(json.dumps(summary, ensure_ascii=False, default=str), encoding="utf-8")
    os.replace(tmp, host_out / "summary.json")
    try:
        from triage.report.html import write_report

        write_report(summary, host_out / "report.html")
    except Exception as exc:
        if strict:
            raise
        data.issues.append(Issue(severity="error", message=f"report.html failed: {type(exc).__name__}: {exc}"))
    data.timings["report_s"] = time.perf_counter() - t0

    sev = Counter(f.severity for f in data.findings)
    counts = {"records": len(data.records), "findings": len(data.findings), "issues": len(data.issues),
              "timeline_rows": tl_counts, "severity": dict(sev)}
    return HostAnalysis(summary=summary, out_dir=host_out, counts=counts, refused=data.refused)
