"""Batch analysis: one task per bundle, on a local process pool or a Dask cluster.

Why a plain process pool by default: a Dask LocalCluster costs about a second to start (15x a
``ProcessPoolExecutor``) and importing dask alone 0.3 s, so dask is imported only when the user
gives ``--dask-scheduler``. The same module-level :func:`analyze_task` runs in both, so Dask pickles
it by reference (workers must be able to import ``triage``: install the package on them) and the
results are identical.

Why processes and not threads: parsers of hostile input may crash or balloon; a worker is recycled
after ``max_tasks_per_child`` bundles (memory stays bounded), can be capped with an address-space
limit, and a worker that dies takes only its own bundle with it: bundles that were in flight when a
pool broke are retried one at a time in a fresh single-worker pool, and the one that kills that too
is recorded as failed. Bad bundles are data (``status='failed'`` + error), never the end of a batch.

The parent never parses bundle contents: it only hashes the bytes (to skip bundles already
analyzed with the same analyzer version) and reads the ``summary.json`` the worker wrote.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import resource
import socket
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import triage
from triage.fleet.store import fleet_host_name, host_info, summary_rows

ENCRYPTED_SUFFIX = ".tbe"          # triage.ship encrypted bundle (see triage/ship/crypto.py)
ENCRYPTED_MAGIC = b"TRIAGEBE"      # its first bytes, whatever the file is called
BUNDLE_SUFFIX = ".zip"


@dataclass(frozen=True, slots=True)
class BundleInput:
    """A bundle file found in the inputs, hashed (the SHA-256 of the whole file is its identity)."""

    path: str
    size: int
    sha256: str


def _is_encrypted(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(len(ENCRYPTED_MAGIC)) == ENCRYPTED_MAGIC
    except OSError:
        return False


def find_inputs(paths: Iterable[str | Path], exclude: Path | None = None) -> tuple[list[Path], list[Path]]:
    """Bundle files and encrypted bundles among the given files and directories (searched recursively).

    Returns (bundles, encrypted), each sorted and without duplicates. Directories are searched for
    ``*.zip`` and ``*.tbe``; a file given explicitly is taken whatever its name. Encrypted bundles
    (by their magic, not only their name) are not analyzed: they need ``triage decrypt`` first.
    ``exclude`` (the output directory) is never searched.
    """
    found: set[Path] = set()
    skip = exclude.resolve() if exclude else None
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            for f in p.rglob("*"):
                name = f.name.lower()
                if not (name.endswith(BUNDLE_SUFFIX) or name.endswith(ENCRYPTED_SUFFIX)) or not f.is_file():
                    continue
                r = f.resolve()
                if skip and (r == skip or skip in r.parents):
                    continue
                found.add(r)
        elif p.is_file():
            found.add(p.resolve())
    encrypted = {f for f in found if f.name.lower().endswith(ENCRYPTED_SUFFIX) or _is_encrypted(f)}
    return sorted(found - encrypted), sorted(encrypted)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def analyzer_version(options: dict) -> str:
    """What decides whether an earlier result can be reused: the analyzer's version plus the
    options that change results (rules files by content, yara on/off)."""
    try:
        from triage.analyze import host as host_module
        version = str(getattr(host_module, "ANALYZER_VERSION", triage.__version__))
    except ImportError:
        version = triage.__version__
    h = hashlib.sha256()
    h.update(b"yara=%d;" % bool(options.get("yara", True)))
    h.update(b"strict=%d;" % bool(options.get("strict", False)))
    h.update(f"sigma={options.get('sigma_key') if options.get('sigma', True) else 'off'};".encode())
    if options.get("timeline") == "full":  # the full timeline is another output: not reused from highlights
        h.update(b"timeline=full;")
    for rule in sorted(options.get("rules") or ()):
        h.update(rule.encode() + b"\0")
        rp = Path(rule)
        files = sorted(rp.rglob("*")) if rp.is_dir() else [rp]
        for f in files:
            if f.is_file():
                h.update(f.name.encode() + b"\0" + hashlib.sha256(f.read_bytes()).digest())
    return f"{version}+{h.hexdigest()[:12]}"


def _manifest_files(bundle_path: str, entries: list | None = None) -> list[dict]:
    """Hashes of every collected file, from the bundle manifest (for the IOC sweep): ``entries``
    as the analysis read them, else read again from the bundle."""
    from triage.bundle.manifest import HAS_DATA
    from triage.bundle.reader import BundleReader

    if entries is None:
        with BundleReader(bundle_path) as reader:
            entries = list(reader.entries)
    return [{"path": e.path, "bundle_path": e.bundle_path, "artifact": e.artifact, "user": e.user,
             "size": e.size, "sha256": e.sha256, "sha1": e.sha1, "md5": e.md5,
             "times": {"modified": (e.times or {}).get("modified")}}
            for e in entries if e.outcome in HAS_DATA]


def _host_dir_of(analysis, out_dir: Path) -> Path | None:
    value = getattr(analysis, "out_dir", None)
    return Path(value) if value else None


_SCANNERS: dict[tuple[str, ...], object] = {}


def _yara_scanner(rules: tuple[str, ...]):
    """Compile the YARA rules once per worker process, not once per bundle."""
    if rules not in _SCANNERS:
        try:
            from triage.scan.yara import YaraScanner

            _SCANNERS[rules] = YaraScanner(list(rules))
        except Exception:  # analyze_bundle then compiles (and reports the problem) itself
            return None
    return _SCANNERS[rules]


def analyze_task(bundle_path: str, out_dir: str, options: dict) -> dict:
    """Analyze one bundle; never raises. Module level so Dask can pickle it by reference.

    options: sha256, size, analyzer_version (from the parent) and force, rules, yara, strict
    (passed to ``analyze_bundle``). Returns a picklable dict: status ('ok'|'failed'), host,
    host_dir (relative to out_dir), error, issues, host_info + rows (for fleet.sqlite), timing fields
    (duration_s, cpu_s, peak_rss_bytes, worker).
    """
    started = time.perf_counter()
    cpu_started = time.process_time()  # every thread of this worker process
    out = Path(out_dir)
    result: dict = {"path": bundle_path, "sha256": options["sha256"], "size": options.get("size"),
                    "analyzer_version": options["analyzer_version"], "status": "failed", "host": None,
                    "host_dir": None, "error": None, "issues": []}
    try:
        from triage.analyze.host import analyze_bundle

        analysis = analyze_bundle(bundle_path, out, force=bool(options.get("force")),
                                  rules=tuple(options.get("rules") or ()), yara=bool(options.get("yara", True)),
                                  strict=bool(options.get("strict", False)),
                                  options={"background": bool(options.get("background", True)),
                                           **{k: options[k] for k in ("sigma", "sigma_paths", "sigma_builtin", "sigma_key", "timeline")
                                              if k in options}},
                                  yara_scanner=_yara_scanner(tuple(options.get("rules") or ()))
                                  if options.get("yara", True) else None)
        summary = getattr(analysis, "summary", None) or {}
        hostname = fleet_host_name(summary)
        host_dir = _host_dir_of(analysis, out)
        if host_dir is not None:
            try:
                result["host_dir"] = str(host_dir.resolve().relative_to(out.resolve()))
            except ValueError:
                result["host_dir"] = str(host_dir)
        if hostname and host_dir is not None and not getattr(analysis, "refused", False):
            result.update(status="ok", host=str(hostname))
            files: list[dict] = []
            try:
                files = _manifest_files(bundle_path, getattr(analysis, "manifest_entries", None))
            except Exception as exc:  # the summary already says what was wrong with the bundle
                result["issues"].append({"severity": "warning", "message": f"manifest unreadable: {exc}"})
            # rows ready for fleet.sqlite, made here so the parent of a big batch only inserts
            result["host_info"] = host_info(summary, files)
            result["rows"] = summary_rows(summary, files)
        else:
            errors = [i for i in summary.get("issues") or () if isinstance(i, dict) and i.get("severity") == "error"]
            result["error"] = "; ".join(str(i.get("message")) for i in errors[:3]) or "no host in the analysis"
            result["issues"] = errors[:20]
    except MemoryError:
        result["error"] = "out of memory while analyzing (worker memory limit)"
    except Exception as exc:
        tb = traceback.format_exc(limit=6)
        result["error"] = f"{type(exc).__name__}: {exc}"
        result["issues"] = [{"severity": "error", "message": f"analysis raised: {tb[-2000:]}"}]
    result["duration_s"] = round(time.perf_counter() - started, 3)
    result["cpu_s"] = round(time.process_time() - cpu_started, 3)
    result["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    result["worker"] = f"{socket.gethostname()}:{os.getpid()}"
    return result


def _failed(item: BundleInput, options: dict, error: str) -> dict:
    return {"path": item.path, "sha256": item.sha256, "size": item.size,
            "analyzer_version": options["analyzer_version"], "status": "failed", "host": None,
            "host_dir": None, "error": error, "issues": [{"severity": "error", "message": error}]}


def _init_worker(memory_limit: int | None) -> None:
    """Pool initializer: cap the worker's address space so one hostile bundle cannot eat the machine."""
    if memory_limit:
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))


def _task_options(item: BundleInput, options: dict) -> dict:
    return {**options, "sha256": item.sha256, "size": item.size}


def _pool(jobs: int, memory_limit: int | None, max_tasks_per_child: int) -> ProcessPoolExecutor:
    ctx = multiprocessing.get_context("forkserver")
    # Import the analyzer once in the fork server: every recycled worker then starts warm.
    ctx.set_forkserver_preload(["triage.fleet.batch", "triage.fleet.preload"])
    return ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, max_tasks_per_child=max_tasks_per_child,
                               initializer=_init_worker, initargs=(memory_limit,))


def _refill(pool: ProcessPoolExecutor, queue: deque, inflight: dict, window: int, task: Callable,
            out_dir: Path, options: dict) -> bool:
    """Keep ``window`` tasks in flight; False when the pool turned out to be broken."""
    while queue and len(inflight) < window:
        item = queue.popleft()
        try:
            inflight[pool.submit(task, item.path, str(out_dir), _task_options(item, options))] = item
        except BrokenProcessPool:
            queue.appendleft(item)
            return False
    return True


def run_local(items: list[BundleInput], out_dir: Path, options: dict, jobs: int,
              on_result: Callable[[dict], None], *, memory_limit: int | None = None,
              max_tasks_per_child: int = 32, task: Callable[[str, str, dict], dict] = analyze_task) -> None:
    """Run :func:`analyze_task` for every item on a process pool; ``on_result`` gets each result
    in the parent as soon as it is done (so an interrupted batch keeps what it finished).

    At most ``jobs + 1`` tasks are in flight, so when a worker dies the suspects are the few bundles
    that were running or next; each of them is retried alone, the queue goes on in a fresh pool. ``task`` must be a module-level
    function (it is pickled by reference); tests pass one that crashes.
    """
    queue = deque(items)
    suspects: list[BundleInput] = []
    # A batch runs one bundle per worker on one core each: the pool is what uses the cores. A bundle's
    # own background threads (YARA beside the parsers, inflating the next member) only pay when there
    # is nothing else to run, i.e. a single bundle; in a batch they would contend with the other workers
    # (and make --jobs N use more cores than asked for).
    options = {**options, "background": len(items) <= 1}
    window = jobs + 1  # one queued beyond the running ones, so a finishing worker finds its next bundle
    while queue:
        with _pool(min(jobs, len(queue)), memory_limit, max_tasks_per_child) as pool:
            inflight: dict = {}
            broken = False

            while (queue or inflight) and not broken:
                broken = not _refill(pool, queue, inflight, window, task, out_dir, options)
                done, _ = wait(inflight, return_when=FIRST_COMPLETED)
                finished = [(fut, inflight.pop(fut)) for fut in done]
                if not any(isinstance(f.exception(), BrokenProcessPool) for f, _ in finished):
                    # refill before storing results: the workers never wait for the parent
                    broken = not _refill(pool, queue, inflight, window, task, out_dir, options) or broken
                for fut, item in finished:
                    try:
                        result = fut.result()
                    except BrokenProcessPool:
                        broken = True
                        suspects.append(item)
                        continue
                    except Exception as exc:  # pickling trouble or the like: still data
                        result = _failed(item, options, f"{type(exc).__name__}: {exc}")
                    on_result(result)
            suspects.extend(inflight.values())
    # Each bundle that was in flight when a worker died runs alone: the culprit fails alone.
    for item in suspects:
        try:
            with _pool(1, memory_limit, 1) as pool:
                result = pool.submit(task, item.path, str(out_dir), _task_options(item, options)).result()
        except BrokenProcessPool:
            result = _failed(item, options, "the analysis worker died on this bundle (crash or memory limit)")
        on_result(result)


def run_dask(items: list[BundleInput], out_dir: Path, options: dict, scheduler: str,
             on_result: Callable[[dict], None]) -> None:
    """Same tasks on a Dask distributed cluster; bundles and out_dir must be on storage the
    workers see at the same paths. A task whose worker died repeatedly (``KilledWorker``) is
    recorded as failed like a local crash."""
    from distributed import Client, as_completed

    if not items:
        return
    with Client(scheduler, timeout="30s") as client:
        futures = client.map(analyze_task, [it.path for it in items], [str(out_dir)] * len(items),
                             [_task_options(it, options) for it in items],
                             key=[f"triage-analyze-{it.sha256[:16]}-{i}" for i, it in enumerate(items)],
                             pure=False)
        by_key = {f.key: it for f, it in zip(futures, items, strict=True)}
        for fut in as_completed(futures):
            try:
                on_result(fut.result())
            except Exception as exc:
                on_result(_failed(by_key[fut.key], options, f"dask: {type(exc).__name__}: {exc}"))
            fut.release()
