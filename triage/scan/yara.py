"""YARA scanning of bundles and of the decoded content the parsers produce.

Why two kinds of scan: raw bytes miss what Windows stores encoded or compressed (a script block is
UTF-16 inside an event-log chunk, split over several records; a Windows 10 prefetch file is MAM
compressed), so besides every bundle file the rules also run over decoded text, and a hit then names
the artifact and the record (its :class:`Source`), not only a file.

API (what ``triage analyze`` uses)::

    from triage.scan.yara import YaraScanner, findings_from_hits, YaraHit
    scanner = YaraScanner(extra_rule_paths=args.rules)   # pack + --rules files, compiled once (cached)
    run_issues = scanner.issues                          # rule files that failed to compile etc.: report once
    for item in scanner.scan_bundle(reader, jobs=2):     # every collected member (+ volatile/*.json),
        ...                                              #   streamed, capped, with a per-file timeout
    for item in scanner.scan_records(records):           # decoded content of typed records
        ...                                              # items are YaraHit or Issue
    hits = settle_hive_hits(hits)                        # raw-hive hits a decoded value confirms
    findings = findings_from_hits(hits)                  # one Finding per rule, severity from meta
    summary["yara"] = [h.to_dict() for h in hits]

- ``scan_bundle(reader, jobs=1)``: ``reader`` is a :class:`triage.bundle.reader.BundleReader` (uses
  ``entries``, ``names()``, ``open()``, ``path``, ``complete``). With ``jobs > 1`` and a complete bundle
  of at least :data:`PARALLEL_MIN_FILES` members, worker processes open the zip themselves (the floor
  of 1.2x the ``yara`` CLI's time needs two processes). A member above ``max_file_size`` is scanned up
  to the cap and an ``Issue(info)`` says so; a timeout is an ``Issue(warning)``; a MAM-compressed
  prefetch file is also scanned decompressed (``target='decoded'``, locator ``decompressed prefetch``).
- ``scan_records(records)``: reads ``Event.fields`` keys in :data:`EVENT_TEXT_FIELDS` (script blocks,
  command lines, service image paths...), ``Autorun.command`` (services included),
  ``BrowserVisit.url``, ``BrowserDownload.url``/``target_path``, ``CommandHistory.command``.
  triage's evtx parser yields whole (reassembled) script blocks; records of single 4104 parts (``fields``
  'script_block_id', 'message_number', 'message_total') from other producers are joined here before
  scanning. Identical texts are scanned once.
- ``scan_paths_parallel(paths, jobs=2)``: plain files (the benchmark, extracted trees); yara maps
  each file itself (no copy through Python) when it is under the cap.

Parallel scans hand files to the workers largest first (one big Security.evtx must not start last),
small files in batches; results come in that deterministic order, not input order. Workers load the
compiled rules from the cache file once each; a pool that breaks (a worker killed) is reported as an
Issue and the rest is scanned in-process. Hits of the pack's rules carry meta description, severity,
attack, reference, date; ``YaraHit.to_dict()`` is the JSON form (``where`` = bundle path + locator).

Rules' ``filesize`` conditions see the scanned buffer (the capped prefix, or the decoded text).

Hits inside registry hives. A raw hive is a heap of UTF-16 names and values of every installed
component, live or deleted, without the key that gives a string its meaning, so a rule's text can sit
there harmlessly (a COM interface named ``IVsSharedMSBuildFilesManagerHierarchy`` holds "FilesMan").
A raw-file hit in a hive or hive log (name of a Windows hive *and* ``regf`` magic: see
:func:`is_hive`) is marked ``hive=True`` and, unless a decoded value of that same hive (an autostart
command, a service image path...) matched the same rule, counts two severity steps lower (critical ->
medium, high -> low, floor low): :func:`settle_hive_hits` sets ``confirmed`` once all hits of a
bundle are known, and :func:`findings_from_hits` applies it.
"""

from __future__ import annotations

import os
import zipfile
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import yara

from triage.bundle.manifest import HAS_DATA
from triage.model import (
    Autorun,
    BrowserDownload,
    BrowserVisit,
    CommandHistory,
    Event,
    Issue,
    Record,
    Source,
)
from triage.parsers.mam import MAM_SIGNATURE, decompress_mam
from triage.scan.rules import CompiledRules, compile_rules
from triage.scan.yara_findings import findings_from_hits, settle_hive_hits
from triage.scan.yara_hit import HIVE_NAMES, YaraHit, hive_of, is_hive, lowered, preview

DEFAULT_MAX_FILE_SIZE = 256 * 1024 * 1024
DEFAULT_TIMEOUT = 60                     # seconds per file (yara counts whole seconds)
PARALLEL_MIN_FILES = 16
BATCH_BYTES = 4 * 1024 * 1024           # small files travel to a worker in batches of about this much
BATCH_FILES = 64
MAX_STRINGS_PER_HIT = 20                 # matched-string instances kept per hit
# Event fields that hold decoded commands or scripts (the evtx parser's names).
EVENT_TEXT_FIELDS = ("script_block", "command_line", "parent_command_line", "image_path",
                     "service_file_name", "host_application", "command", "task_xml", "details", "payload")


def _match_tuples(matches: Sequence[Any]) -> list[tuple[str, str, tuple[str, ...], dict, tuple, bool]]:
    """yara Match objects -> plain picklable tuples (workers send these back)."""
    out = []
    for m in matches:
        strings: list[tuple[str, int, str]] = []
        total = 0
        for s in m.strings:
            for inst in s.instances:
                total += 1
                if len(strings) < MAX_STRINGS_PER_HIT:
                    strings.append((s.identifier, inst.offset, preview(inst.matched_data)))
        out.append((m.rule, m.namespace, tuple(m.tags), dict(m.meta), tuple(strings),
                    total > len(strings)))
    return out


def _hits(tuples, source: Source, target: str, **extra) -> Iterator[YaraHit]:
    for rule, ns, tags, meta, strings, truncated in tuples:
        yield YaraHit(rule=rule, namespace=ns, tags=tags, meta=meta, source=source, target=target,
                      strings=strings, strings_truncated=truncated, **extra)


def _scan_buffer(rules: yara.Rules, data: bytes | None, timeout: int, source: Source, target: str,
                 filepath: str | None = None, **extra) -> Iterator[YaraHit | Issue]:
    """Scan bytes, or a whole file on disk by path (yara maps it: no copy into Python)."""
    try:
        if filepath is not None:
            matches = rules.match(filepath=filepath, timeout=timeout)
        else:
            matches = rules.match(data=data, timeout=timeout)
    except yara.TimeoutError:
        yield Issue(severity="warning", message=f"YARA scan timed out after {timeout}s "
                    f"({os.path.getsize(filepath) if filepath is not None else len(data or b'')} bytes, {target}): "
                    "rules may be incomplete for it", source=source)
        return
    except yara.Error as exc:
        yield Issue(severity="error", message=f"YARA scan failed: {exc}", source=source)
        return
    yield from _hits(_match_tuples(matches), source, target, **extra)


def _scan_member(rules: yara.Rules, data: bytes, cap: int, timeout: int,
                 source: Source, filepath: str | None = None,
                 decode_prefetch: bool = True) -> Iterator[YaraHit | Issue]:
    """One file's bytes (read up to cap + 1): the raw scan and, for MAM prefetch, the decoded one.

    With ``filepath`` (a plain file no larger than the cap), ``data`` holds only its first bytes and
    yara scans the file itself."""
    if filepath is None and len(data) > cap:
        data = data[:cap]
        yield Issue(severity="info", message=f"larger than the YARA size cap ({cap} bytes): only the "
                    "first cap bytes were scanned", source=source)
    yield from _scan_buffer(rules, data, timeout, source, "file", filepath=filepath,
                            hive=is_hive(source.bundle_path, data))
    if decode_prefetch and data[:4] == MAM_SIGNATURE:
        if filepath is not None:
            with open(filepath, "rb") as fh:
                data = fh.read(cap)
        decoded, why = decompress_mam(data)
        dsource = Source(bundle_path=source.bundle_path, locator="decompressed prefetch", user=source.user)
        if decoded is None:
            yield Issue(severity="warning", message=f"prefetch not scanned decompressed: {why}",
                        source=dsource)
        else:
            yield from _scan_buffer(rules, decoded, timeout, dsource, "decoded", artifact="prefetch")


# ---------------------------------------------------------------- worker processes

_W: dict[str, Any] = {}


def _worker_init(rules_path: str, cap: int, timeout: int, decode_prefetch: bool = True) -> None:
    _W["rules"] = yara.load(rules_path)
    _W["cap"], _W["timeout"], _W["decode_prefetch"] = cap, timeout, decode_prefetch
    _W["zip"] = None


def _read_path(path: str, cap: int) -> tuple[bytes, str | None]:
    """(bytes, filepath) to scan a plain file with: a file within the cap is scanned by yara from
    its path (mapped, not read into Python), so only its first bytes are read here (enough to
    recognise MAM-compressed prefetch); a bigger one is read up to cap + 1 (scanned truncated)."""
    with open(path, "rb") as fh:
        if os.fstat(fh.fileno()).st_size <= cap:
            return fh.read(8), path
        return fh.read(cap + 1), None


def _worker_read(job: tuple) -> bytes:
    """A bundle member's bytes, up to the cap + 1 (job: ('zip', zip_path, member, user))."""
    from triage.bundle.inflate import open_member

    zpath, member = job[1], job[2]
    if _W["zip"] is None or _W["zip"][0] != zpath:
        if _W["zip"] is not None:
            _W["zip"][1].close()
        _W["zip"] = (zpath, zipfile.ZipFile(zpath))
    zf = _W["zip"][1]
    with open_member(zpath, zf, zf.getinfo(member)) as fh:
        return fh.read(_W["cap"] + 1)


def _worker_scan(job: tuple) -> list[tuple]:
    """job: ('path', fs_path, bundle_path, user) or ('zip', zip_path, member, user).
    Returns ('hit', hit) / ('issue', issue) pairs (records are picklable dataclasses)."""
    source = Source(bundle_path=job[2], user=job[3])
    filepath = None
    try:
        if job[0] == "path":
            data, filepath = _read_path(job[1], _W["cap"])
        else:
            data = _worker_read(job)
    except Exception as exc:  # hostile zip members raise zlib/zipfile/OSError/EOFError...
        return [("issue", Issue(severity="error", message=f"cannot read for YARA: {exc}", source=source))]
    return [("hit" if isinstance(x, YaraHit) else "issue", x)
            for x in _scan_member(_W["rules"], data, _W["cap"], _W["timeout"], source, filepath,
                                      _W["decode_prefetch"])]


def _worker_scan_batch(batch: list[tuple]) -> list[tuple]:
    out: list[tuple] = []
    for job in batch:
        out.extend(_worker_scan(job))
    return out


def _size_of(job: tuple) -> int:
    if job[0] == "path":
        try:
            return os.stat(job[1]).st_size
        except OSError:
            return 0
    return 0


def _pool_context():
    """'fork' when this process runs no other Python thread (starts in ~50 ms, nothing re-imported),
    else 'forkserver' (children start from a clean single-threaded server; ~0.7 s to start, which
    alone is a third of the CLI's time on a 150 MB bundle), else 'spawn' (platforms without fork)."""
    import multiprocessing
    import threading

    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


# ---------------------------------------------------------------- scanner

class YaraScanner:
    """Compiled rules plus the scan limits; reusable across bundles (compile once per batch)."""

    def __init__(self, extra_rule_paths: Iterable[str | Path] = (), *,
                 max_file_size: int = DEFAULT_MAX_FILE_SIZE, timeout: float = DEFAULT_TIMEOUT,
                 include_pack: bool = True, compiled: CompiledRules | None = None,
                 decode_prefetch: bool = True) -> None:
        """decode_prefetch: also scan MAM-compressed prefetch decompressed (the bench turns it off
        for a like-for-like comparison with the yara CLI, which scans raw bytes only)."""
        self.compiled = compiled or compile_rules(list(extra_rule_paths), include_pack=include_pack)
        self.decode_prefetch = decode_prefetch
        self.max_file_size = int(max_file_size)
        self.timeout = max(1, int(round(timeout)))

    @property
    def rules(self) -> yara.Rules | None:
        return self.compiled.rules

    @property
    def issues(self) -> list[Issue]:
        """Problems loading the rules (broken files...): report them once per run."""
        return list(self.compiled.issues)

    # -- files

    def scan_bytes(self, data: bytes, source: Source, target: str = "file",
                   **extra) -> Iterator[YaraHit | Issue]:
        if self.rules is None:
            return
        if target == "file" and "hive" not in extra:
            extra["hive"] = is_hive(source.bundle_path, data)
        yield from _scan_buffer(self.rules, data, self.timeout, source, target, **extra)

    @staticmethod
    def bundle_members(reader) -> list[tuple[str, str | None]]:
        """(bundle_path, user) of every member with data: collected files, then volatile/*.json."""
        out: list[tuple[str, str | None]] = []
        seen: set[str] = set()
        for e in reader.entries:
            if e.bundle_path and e.outcome in HAS_DATA and e.bundle_path not in seen:
                seen.add(e.bundle_path)
                out.append((e.bundle_path, e.user))
        try:
            names = reader.names()
        except Exception:  # a damaged central directory: the entries above are all we have
            names = []
        out.extend((n, None) for n in names
                   if n.startswith("volatile/") and not n.endswith("/") and n not in seen)
        return out

    def scan_bundle(self, reader, *, jobs: int = 1, local_copy=None, release=None) -> Iterator[YaraHit | Issue]:
        """Every member with data (see bundle_members). local_copy(bundle_path) -> path or None: a
        private inflated copy of the member that the analysis made anyway (its event logs), scanned
        from the file instead of inflating the member again; release(bundle_path) when done with it."""
        if self.rules is None:
            return
        members = self.bundle_members(reader)
        # Workers reopen the zip by its central directory; an interrupted bundle without one is
        # read through the reader (which can walk local headers) in this process.
        has_cd = getattr(reader, "zip", None) is not None if hasattr(reader, "zip") else \
            getattr(reader, "complete", True)
        if jobs > 1 and len(members) >= PARALLEL_MIN_FILES and has_cd:
            zpath = str(reader.path)
            size = {e.bundle_path: e.size or 0 for e in reader.entries if e.bundle_path}
            yield from self._parallel([("zip", zpath, m, u) for m, u in members], jobs,
                                      [size.get(m, 0) for m, _u in members])
            return
        for bundle_path, user in members:
            source = Source(bundle_path=bundle_path, user=user)
            copy = local_copy(bundle_path) if local_copy is not None else None
            try:
                if copy is not None:  # a private inflated copy exists already: yara maps the file
                    try:
                        data, filepath = _read_path(copy, self.max_file_size)
                    except Exception as exc:
                        yield Issue(severity="error", message=f"cannot read for YARA: {exc}", source=source)
                        continue
                    yield from _scan_member(self.rules, data, self.max_file_size, self.timeout, source,
                                            filepath, decode_prefetch=self.decode_prefetch)
                    continue
                try:
                    with reader.open(bundle_path) as fh:
                        data = fh.read(self.max_file_size + 1)
                except Exception as exc:  # damaged member: zlib.error, BadZipFile, EOFError, OSError...
                    yield Issue(severity="error", message=f"cannot read for YARA: {exc}", source=source)
                    continue
                yield from _scan_member(self.rules, data, self.max_file_size, self.timeout, source,
                                        decode_prefetch=self.decode_prefetch)
            finally:
                if copy is not None and release is not None:
                    release(bundle_path)

    def scan_paths_parallel(self, paths: Iterable[str | Path], *, jobs: int = 2,
                            root: str | Path | None = None) -> Iterator[YaraHit | Issue]:
        """Plain files; a hit's bundle_path is the path relative to ``root`` (or as given)."""
        if self.rules is None:
            return
        jobs_list = []
        for p in paths:
            label = os.path.relpath(p, root) if root is not None else str(p)
            jobs_list.append(("path", str(p), label, None))
        yield from self._parallel(jobs_list, jobs)

    def _worker_args(self) -> tuple:
        return (self._rules_file(), self.max_file_size, self.timeout, self.decode_prefetch)

    def _rules_file(self) -> str:
        if self.compiled.cache_path is not None and self.compiled.cache_path.is_file():
            return str(self.compiled.cache_path)
        import tempfile

        fd, tmp = tempfile.mkstemp(suffix=".yarc", prefix="triage-yara-")
        os.close(fd)
        assert self.rules is not None, "only called once the rules compiled"
        self.rules.save(tmp)
        self.compiled.cache_path = Path(tmp)
        return tmp

    def _parallel(self, jobs_list: list[tuple], jobs: int,
                  sizes: Sequence[int] | None = None) -> Iterator[YaraHit | Issue]:
        """Scan jobs in worker processes, largest files first (so one big event log does not start
        last and leave the other workers idle), small files batched to keep IPC out of the way.
        Results come in that (deterministic) order, not in input order."""
        if not jobs_list:
            return
        import multiprocessing

        if multiprocessing.current_process().daemon:
            jobs = 1  # a daemonic pool worker (e.g. a fleet worker) may not start processes of its own
        if jobs <= 1:
            _worker_init(*self._worker_args())
            for job in jobs_list:
                for _kind, item in _worker_scan(job):
                    yield item
            return
        if sizes is None:
            sizes = [_size_of(job) for job in jobs_list]
        order = sorted(range(len(jobs_list)), key=lambda i: (-sizes[i], jobs_list[i][2]))
        batches: list[list[tuple]] = []
        batch: list[tuple] = []
        batch_bytes = 0
        for i in order:
            batch.append(jobs_list[i])
            batch_bytes += min(sizes[i], self.max_file_size)
            if batch_bytes >= BATCH_BYTES or len(batch) >= BATCH_FILES:
                batches.append(batch)
                batch, batch_bytes = [], 0
        if batch:
            batches.append(batch)
        done = 0
        try:
            with ProcessPoolExecutor(max_workers=jobs, mp_context=_pool_context(), initializer=_worker_init,
                                     initargs=self._worker_args()) as ex:
                for result in ex.map(_worker_scan_batch, batches):
                    done += 1
                    for _kind, item in result:
                        yield item
        except Exception as exc:  # BrokenProcessPool, OSError, AssertionError (daemonic parent)...
            # A worker died (killed, out of memory, a libyara crash on one file) or no pool could be
            # started (e.g. this is itself a daemonic pool worker): say so and scan what is left in
            # this process, so the results stay complete. A genuine bug re-raises from the serial run.
            yield Issue(severity="warning", message=f"YARA worker processes failed ({type(exc).__name__}: "
                        f"{exc}); the remaining {sum(map(len, batches[done:]))} files are scanned serially")
            _worker_init(*self._worker_args())
            for batch in batches[done:]:
                for _kind, item in _worker_scan_batch(batch):
                    yield item

    # -- decoded content

    def scan_records(self, records: Iterable[Record]) -> Iterator[YaraHit | Issue]:
        """Scan the decoded text of typed records; a hit's source is the record's source."""
        rules = self.rules
        if rules is None:
            return
        cache: dict[str, list[tuple]] = {}
        fragments: dict[tuple[str, str], dict[int, Event]] = defaultdict(dict)
        totals: dict[tuple[str, str], int] = {}

        def scan(text: str, rec: Record, fld: str, source: Source | None = None
                 ) -> Iterator[YaraHit | Issue]:
            if not text:
                return
            src = source or rec.source
            tuples = cache.get(text)
            if tuples is None:
                try:
                    tuples = _match_tuples(rules.match(data=text.encode("utf-8", "surrogatepass"),
                                                            timeout=self.timeout))
                except yara.TimeoutError:
                    yield Issue(severity="warning", message=f"YARA scan of {fld} timed out after "
                                f"{self.timeout}s", source=src)
                    return
                except yara.Error as exc:
                    yield Issue(severity="error", message=f"YARA scan of {fld} failed: {exc}", source=src)
                    return
                cache[text] = tuples
                if len(cache) > 100_000:
                    cache.clear()
            yield from _hits(tuples, src, "decoded", artifact=rec.record_type, field=fld,
                             when=_record_time(rec))

        for rec in records:
            if isinstance(rec, Event):
                f = rec.fields or {}
                total = _as_int(f.get("message_total"))
                sb_id = f.get("script_block_id")
                # One 4104 record per part (a producer that does not reassemble): join them first.
                # triage's evtx parser already yields whole script blocks (no 'message_number').
                if (rec.category == "powershell_script" and total and total > 1 and sb_id
                        and f.get("message_number") is not None):
                    key = (rec.source.bundle_path, str(sb_id))
                    fragments[key][_as_int(f.get("message_number")) or len(fragments[key]) + 1] = rec
                    totals[key] = total
                    if len(fragments[key]) >= total:
                        yield from self._reassembled(fragments.pop(key), totals.pop(key), scan)
                    continue
                for name in EVENT_TEXT_FIELDS:
                    value = f.get(name)
                    if isinstance(value, str):
                        yield from scan(value, rec, name)
            elif isinstance(rec, Autorun):
                yield from scan(rec.command, rec, "command")
            elif isinstance(rec, BrowserVisit):
                yield from scan(rec.url, rec, "url")
            elif isinstance(rec, BrowserDownload):
                if rec.url:
                    yield from scan(rec.url, rec, "url")
                if rec.target_path:
                    yield from scan(rec.target_path, rec, "target_path")
            elif isinstance(rec, CommandHistory):
                yield from scan(rec.command, rec, "command")
        for key, parts in fragments.items():  # script blocks whose other parts never came
            first = parts[min(parts)]
            yield Issue(severity="info", message=f"PowerShell script block {key[1]}: {len(parts)} of "
                        f"{totals[key]} parts present, scanned as far as reassembled", source=first.source)
            yield from self._reassembled(parts, totals[key], scan)

    @staticmethod
    def _reassembled(parts: dict[int, Event], total: int, scan) -> Iterator[YaraHit | Issue]:
        order = sorted(parts)
        first = parts[order[0]]
        text = "".join(str(parts[n].fields.get("script_block") or "") for n in order)
        locs = [parts[n].source.locator for n in order if parts[n].source.locator]
        locator = (f"{locs[0]}..{locs[-1]}" if len(locs) > 1 else (locs[0] if locs else None))
        locator = f"{locator} (script block {first.fields.get('script_block_id')}, " \
                  f"{len(order)}/{total} parts reassembled)"
        source = Source(bundle_path=first.source.bundle_path, locator=locator, user=first.source.user)
        yield from scan(text, first, "script_block", source)


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _record_time(rec: Record) -> datetime | None:
    for name in ("timestamp", "last_write", "start"):
        value = getattr(rec, name, None)
        if isinstance(value, datetime):
            return value
    return None


def scan_paths_parallel(paths: Iterable[str | Path], *, jobs: int = 2, root: str | Path | None = None,
                        scanner: YaraScanner | None = None) -> Iterator[YaraHit | Issue]:
    """Module-level convenience: scan plain files with the pack (or ``scanner``'s rules)."""
    yield from (scanner or YaraScanner()).scan_paths_parallel(paths, jobs=jobs, root=root)


__all__ = ["DEFAULT_MAX_FILE_SIZE", "DEFAULT_TIMEOUT", "EVENT_TEXT_FIELDS", "HIVE_NAMES", "YaraHit",
           "YaraScanner", "findings_from_hits", "hive_of", "is_hive", "lowered", "scan_paths_parallel",
           "settle_hive_hits"]
