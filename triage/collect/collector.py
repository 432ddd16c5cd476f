"""Collection: plan a profile over one or more sources, then stream every file into one bundle.

The collector never writes to a source, reads each byte once, and records every file it looked at
— collected, missing, failed, skipped by a budget or cap — so nothing is dropped silently. Order is
priority order, so when a budget runs out it is the least important evidence that is left behind.
"""

from __future__ import annotations

import errno
import getpass
import os
import platform
import re
import signal
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

from triage import __version__
from triage.bundle import BUNDLE_FORMAT_VERSION, COLLECTION_NAME, FILES_PREFIX, LOG_NAME, MANIFEST_NAME
from triage.bundle import manifest as M
from triage.bundle.names import member_name, safe_segment
from triage.bundle.reader import START_NAME
from triage.bundle.sidecar import write_sidecar
from triage.bundle.writer import BundleWriter, CollectionInterrupted, json_bytes, read_chunks
from triage.collect.expand import Planned, plan
from triage.collect.source import FileMeta, FileSource
from triage.profile import Profile
from triage.terminal import safe
from triage.units import human_size, iso, utc_now


@dataclass
class CollectOptions:
    profile: Profile
    output_dir: Path
    max_size: int | None = None          # bytes of source data to take, in priority order
    max_time: float | None = None        # seconds
    compression: str = "deflate"
    hashes: tuple[str, ...] = ("sha256",)
    hostname: str | None = None
    operator: str | None = None
    case: str | None = None
    live: bool = False
    progress: bool = True
    command_line: list[str] = field(default_factory=list)
    reference_time: datetime | None = None
    # Given the bundle's final path, returns the raw stream to write into (encryption plugs in here)
    # and the path actually written.
    open_output: Callable[[Path], tuple[IO[bytes], Path]] | None = None
    # Called with (source, planned, rel, meta) before reading; returns a reason to skip (e.g. identical
    # shadow-copy file) or None. An optional ``note_collected(entry)`` attribute hears of every file taken.
    skip_hook: Callable[[FileSource, Planned, str, FileMeta], str | None] | None = None


@dataclass
class CollectResult:
    bundle_path: Path
    sha256: str
    sidecar_path: Path | None
    entries: list[M.ManifestEntry]
    record: dict
    status: str                 # 'complete' | 'interrupted' | 'aborted'
    warnings: list[str]


def bundle_name(hostname: str, when: datetime) -> str:
    host = re.sub(r"[^A-Za-z0-9._-]", "_", hostname)[:64] or "host"
    return f"{host}_{when.strftime('%Y%m%dT%H%M%SZ')}.zip"


class Log:
    """The collection log: timestamped lines kept for meta/collection.log, echoed when verbose."""

    def __init__(self, echo: bool = False) -> None:
        self.lines: list[str] = []
        self.echo = echo

    def __call__(self, level: str, msg: str) -> None:
        line = f"{iso(utc_now())} {level.upper():7} {msg}"
        self.lines.append(line)
        if self.echo or level in ("warning", "error"):
            print(f"triage: {level}: {safe(msg)}", file=sys.stderr)  # paths come from the suspect host


def _host_record(options: CollectOptions, sources: list[FileSource], hostname: str) -> dict:
    now = utc_now()
    local = datetime.now().astimezone()
    rec: dict = {
        "format_version": BUNDLE_FORMAT_VERSION,
        "tool": {"name": "triage", "version": __version__, "python": platform.python_version(),
                 "frozen": bool(getattr(sys, "frozen", False))},
        "hostname": hostname,
        "mode": "live" if options.live else ("image" if sources and sources[0].kind != "directory" else "target"),
        "sources": [{"volume": s.volume, "kind": s.kind, "read_method": s.read_method,
                     "description": getattr(s, "description", None) or str(getattr(s, "root", "")),
                     "info": _jsonable(getattr(s, "info", None))}
                    for s in sources],
        "collector_host": {
            "hostname": platform.node(), "os": platform.platform(), "machine": platform.machine(),
        },
        "timezone": {"name": local.tzname(), "utc_offset_seconds": int((local.utcoffset() or timedelta(0)).total_seconds())},
        "clock": {"system_utc": iso(now), "system_local": local.isoformat(),
                  "reference_time": iso(options.reference_time),
                  "skew_seconds": (now - options.reference_time).total_seconds() if options.reference_time else None,
                  "note": "skew_seconds = host clock minus the responder's --reference-time (positive: host ahead)"},
        "operator": options.operator or _whoami(),
        "case": options.case,
        "command_line": options.command_line,
        "profile": {"name": options.profile.name, "sha256": options.profile.sha256,
                    "source_file": options.profile.source_file, "os": options.profile.os},
        "budgets": {"max_size": options.max_size, "max_time_seconds": options.max_time},
        "compression": options.compression,
        "hashes": list(options.hashes),
    }
    if options.live:
        try:
            import psutil

            rec["boot_time"] = iso(datetime.fromtimestamp(psutil.boot_time(), UTC))
        except Exception as exc:
            rec["boot_time"] = None
            rec["boot_time_error"] = str(exc)
        rec["os"] = platform.platform()
    return rec


def _jsonable(value):
    import json

    try:
        return json.loads(json.dumps(value, default=str)) if value is not None else None
    except (TypeError, ValueError):
        return str(value)


def _whoami() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


def _on_same_volume(source: FileSource, output_dir: Path) -> bool:
    """Whether the bundle would be written to the file system being collected: inside the source's
    tree, or on the same device as a live system or a ``--target`` directory (a mounted suspect disk
    is written to just the same when the output is elsewhere on that mount)."""
    if source.contains(str(output_dir)):
        return True
    root = getattr(source, "root", None)
    if root is None or source.kind not in ("live", "directory"):
        return False
    try:
        return os.stat(root).st_dev == os.stat(output_dir).st_dev
    except OSError:
        return False


class Collector:
    def __init__(self, sources: list[FileSource], options: CollectOptions, volatile: dict[str, object] | None = None,
                 log: Log | None = None) -> None:
        self.sources = sources
        self.opt = options
        self.volatile = volatile or {}
        self.log = log or Log()
        self.entries: list[M.ManifestEntry] = []
        self.warnings: list[str] = []
        self.bytes_taken = 0
        self.seq = 0

    # -- entry bookkeeping ---------------------------------------------------------------------------
    def _entry(self, source: FileSource, p: Planned, rel: str | None, outcome: str, **kw) -> M.ManifestEntry:
        self.seq += 1
        return M.ManifestEntry(
            path=source.original_path(rel) if rel else (p.pattern or ""),
            volume=source.volume, bundle_path=None, artifact=p.artifact.name, priority=p.artifact.priority,
            outcome=outcome, user=p.user, seq=self.seq, **kw)

    def run(self) -> CollectResult:
        opt = self.opt
        started = utc_now()
        t0 = time.monotonic()
        hostname = opt.hostname or (platform.node() if opt.live else
                                    Path(getattr(self.sources[0], "root", "host")).name)
        record = _host_record(opt, self.sources, hostname)
        record["started"] = iso(started)
        opt.output_dir.mkdir(parents=True, exist_ok=True)
        for s in self.sources:
            if _on_same_volume(s, opt.output_dir.resolve()):
                msg = (f"the output directory {opt.output_dir} is on the volume being collected ({s.volume}): "
                       "writing there overwrites free space that may hold deleted evidence; "
                       "use an external drive or a network share")
                self.warnings.append(msg)
                self.log("warning", msg)

        final = opt.output_dir / bundle_name(hostname, started)
        if opt.open_output:
            raw, written_path = opt.open_output(final)
        else:
            raw, written_path = open(final, "xb"), final  # noqa: SIM115 - closed by the writer; "x": never overwrite
        writer = BundleWriter(raw, compression=opt.compression, hashes=opt.hashes)
        self.log("info", f"triage {__version__} collecting with profile {opt.profile.name} into {written_path}")
        # Who/what/when, written first so that even an interrupted bundle says where it came from.
        writer.add_bytes(START_NAME, json_bytes({**record, "status": "started"}))

        plans = []
        for s in self.sources:
            for p in plan(s, opt.profile):
                plans.append((s, p))
        plans.sort(key=lambda sp: (sp[1].artifact.priority, sp[1].artifact.order))
        metas: dict[tuple[int, str], FileMeta | OSError] = {}
        total = 0
        for s, p in plans:
            for rel in ([p.rel, *p.companions] if p.rel else []):
                try:
                    m = s.stat(rel)
                    metas[(id(s), rel)] = m
                    total += m.size
                except OSError as exc:
                    metas[(id(s), rel)] = exc
        self.log("info", f"planned {sum(1 + len(p.companions) for _, p in plans if p.rel)} files, "
                         f"{human_size(total)}, from {len(self.sources)} source(s)")

        bar = _progress(total, opt.progress)
        status = "complete"
        self.stop = threading.Event()
        prev_handlers = _install_stop_handlers(self.stop)
        try:
            self._write_volatile(writer)
            remaining = list(plans)
            while remaining:
                if self.stop.is_set():
                    raise CollectionInterrupted()
                s, p = remaining.pop(0)
                if p.rel is None:
                    self.entries.append(self._entry(s, p, None, M.MISSING, error="no file matched the artifact's paths"))
                    continue
                primary = self._one(writer, s, p, p.rel, metas, t0, bar, role="primary", companion_of=None)
                for c in p.companions:
                    self._one(writer, s, p, c, metas, t0, bar, role="companion",
                              companion_of=primary.bundle_path or primary.path, parent=primary)
        except (KeyboardInterrupt, CollectionInterrupted):
            status = "interrupted"
            self.log("warning", "collection interrupted: finishing the bundle with what was collected so far")
            done = {(e.volume, e.path) for e in self.entries}
            for s, p in [(s, p) for s, p in plans]:
                for rel in ([p.rel, *p.companions] if p.rel else []):
                    if (s.volume, s.original_path(rel)) not in done:
                        self.entries.append(self._entry(s, p, rel, M.SKIPPED_INTERRUPTED))
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EIO, errno.ENODEV, errno.EROFS):
                bar.close()
                writer.abandon()
                self.log("error", f"cannot write the bundle: {exc}")
                print(f"triage: error: cannot write the bundle ({exc}). Every file finished before this point "
                      f"is recoverable: triage recover {written_path}", file=sys.stderr)
                raise SystemExit(1) from None  # exit_codes.EVIDENCE: the bundle could not be written
            raise
        finally:
            bar.close()
            _restore_handlers(prev_handlers)

        finished = utc_now()
        record["finished"] = iso(finished)
        record["duration_seconds"] = round(time.monotonic() - t0, 3)
        record["status"] = status
        record["warnings"] = self.warnings
        record.update(_totals(self.entries))
        manifest = "".join(e.to_json() + "\n" for e in self.entries).encode("utf-8")
        import hashlib

        record["manifest_sha256"] = hashlib.sha256(manifest).hexdigest()
        writer.add_bytes(MANIFEST_NAME, manifest)
        writer.add_bytes(LOG_NAME, ("\n".join(self.log.lines) + "\n").encode("utf-8"))
        writer.add_bytes(COLLECTION_NAME, json_bytes(record))
        sha = writer.close()
        outer = getattr(raw, "sha256", None)
        if isinstance(outer, str):  # encrypted output: the sidecar is for the file on disk, the ciphertext
            record_plain = sha
            sha = outer
            self.log("info", f"plain bundle SHA-256 {record_plain}; encrypted file SHA-256 {sha}")
        sidecar = write_sidecar(written_path, sha)
        return CollectResult(written_path, sha, sidecar, self.entries, record, status, self.warnings)

    def _write_volatile(self, writer: BundleWriter) -> None:
        for name, data in self.volatile.items():
            member = f"volatile/{safe_segment(name)}.json"
            res = writer.add_bytes(member, json_bytes(data))
            self.seq += 1
            e = M.ManifestEntry(path=f"live:{name}", volume="volatile", bundle_path=member, artifact="LiveResponse",
                                priority=0, outcome=M.COLLECTED, size=res.size, read_method="live_api",
                                seq=self.seq, md5=res.hashes.get("md5"), sha1=res.hashes.get("sha1"),
                                sha256=res.hashes.get("sha256"))
            e.times = {"captured": iso(utc_now())}
            writer.journal(e.to_json())
            self.entries.append(e)

    def _one(self, writer: BundleWriter, s: FileSource, p: Planned, rel: str, metas, t0: float, bar,
             *, role: str, companion_of: str | None, parent: M.ManifestEntry | None = None) -> M.ManifestEntry:
        opt = self.opt
        art = p.artifact
        meta = metas.get((id(s), rel))
        kw = {"role": role, "companion_of": companion_of, "read_method": s.read_method}
        if isinstance(meta, OSError) or meta is None:
            outcome = M.MISSING if isinstance(meta, FileNotFoundError) else M.FAILED
            e = self._entry(s, p, rel, outcome, error=str(meta), **kw)
            self.entries.append(e)
            self.log("warning" if outcome == M.FAILED else "info", f"{e.path}: {outcome}: {meta}")
            return e
        base = {"source_size": meta.size, "times": meta.times, "owner": meta.owner, "mode": meta.mode,
                "extra": dict(meta.extra), **kw}
        if parent is not None and parent.outcome not in M.HAS_DATA:
            e = self._entry(s, p, rel, parent.outcome, error=f"companion of a file not collected ({parent.outcome})",
                            **base)
            self.entries.append(e)
            bar.update(meta.size)
            return e
        reason: str | None = None
        outcome = ""
        if art.max_file_size is not None and meta.size > art.max_file_size:
            outcome, reason = M.SKIPPED_SIZE, f"{human_size(meta.size)} exceeds the artifact's cap {human_size(art.max_file_size)}"
        elif opt.max_time is not None and time.monotonic() - t0 > opt.max_time:
            outcome, reason = M.SKIPPED_BUDGET, f"time budget of {opt.max_time:g}s used up"
        elif opt.max_size is not None and self.bytes_taken + meta.size > opt.max_size:
            outcome, reason = M.SKIPPED_BUDGET, (f"{human_size(meta.size)} does not fit the size budget "
                                                 f"({human_size(opt.max_size - self.bytes_taken)} left)")
        elif opt.skip_hook is not None:
            hook_reason = opt.skip_hook(s, p, rel, meta)
            if hook_reason:
                outcome, reason = M.SKIPPED_DUPLICATE, hook_reason
        if outcome:
            e = self._entry(s, p, rel, outcome, error=reason, **base)
            self.entries.append(e)
            self.log("info", f"{e.path}: {outcome}: {reason}")
            bar.update(meta.size)
            return e

        name = writer.unique_name(member_name(FILES_PREFIX, s.volume, rel))
        bar.set_postfix_str(art.name, refresh=False)
        try:
            fh = s.open(rel)
        except OSError as exc:
            outcome = M.MISSING if isinstance(exc, FileNotFoundError) else M.FAILED
            e = self._entry(s, p, rel, outcome, error=f"open failed: {exc}", **base)
            self.entries.append(e)
            self.log("warning", f"{e.path}: {outcome}: {exc}")
            bar.update(meta.size)
            return e
        # a source may say per file how it read it (e.g. the live fallback to raw NTFS) and add facts
        base["read_method"] = getattr(fh, "read_method", None) or s.read_method
        base["extra"].update(getattr(fh, "extra", None) or {})
        reader = read_chunks(fh)
        try:
            res = writer.add_stream(name, reader, mtime=_mtime(meta), size_hint=meta.size, limit=meta.size,
                                    stop=self.stop)
        finally:
            reader.close()
            fh.close()
        outcome = M.COLLECTED
        error = None
        if res.interrupted is not None or res.error and res.error.startswith("read error"):
            outcome, error = M.PARTIAL, res.error
        elif res.error:
            base["extra"]["grew_while_read"] = True
            error = res.error
        elif res.size != meta.size:
            base["extra"]["size_changed_while_read"] = {"stat": meta.size, "read": res.size}
        e = self._entry(s, p, rel, outcome, size=res.size, error=error, **base, **res.hashes)
        e.bundle_path = name
        self.bytes_taken += res.size
        writer.journal(e.to_json())
        self.entries.append(e)
        bar.update(meta.size)
        if opt.skip_hook is not None and hasattr(opt.skip_hook, "note_collected"):
            opt.skip_hook.note_collected(e)
        if res.interrupted is not None:
            raise res.interrupted
        if hasattr(s, "streams") and art.streams:
            self._streams(writer, s, p, rel, e)
        return e

    def _streams(self, writer: BundleWriter, s, p: Planned, rel: str, parent: M.ManifestEntry) -> None:
        """Alternate data streams the artifact asks for (raw NTFS sources expose them)."""
        try:
            names = s.streams(rel)
        except OSError:
            return
        wanted = {n.lower() for n in p.artifact.streams}
        for stream in names:
            if stream.lower() not in wanted:
                continue
            name = writer.unique_name(f"{parent.bundle_path}%3A{safe_segment(stream)}")
            try:
                fh = s.open_stream(rel, stream)
            except OSError as exc:
                self.entries.append(self._entry(s, p, f"{rel}:{stream}", M.FAILED, error=str(exc), role="stream",
                                                companion_of=parent.bundle_path))
                continue
            reader = read_chunks(fh)
            try:
                res = writer.add_stream(name, reader)
            finally:
                reader.close()
                fh.close()
            e = self._entry(s, p, rel, M.COLLECTED, size=res.size, role="stream", companion_of=parent.bundle_path,
                            read_method=getattr(fh, "read_method", s.read_method),
                            extra=dict(getattr(fh, "extra", None) or {}), **res.hashes)
            e.path = f"{parent.path}:{stream}"
            e.bundle_path = name
            writer.journal(e.to_json())
            self.entries.append(e)


def _mtime(meta: FileMeta) -> datetime | None:
    m = meta.times.get("modified")
    try:
        return datetime.fromisoformat(m.replace("Z", "+00:00")) if m else None
    except ValueError:
        return None


def _totals(entries: list[M.ManifestEntry]) -> dict:
    per_artifact: dict[str, Counter] = defaultdict(Counter)
    outcomes: Counter = Counter()
    size = 0
    for e in entries:
        per_artifact[e.artifact][e.outcome] += 1
        outcomes[e.outcome] += 1
        if e.outcome in M.HAS_DATA:
            size += e.size or 0
    return {"totals": {"files": len(entries), "bytes_collected": size, **{k: outcomes.get(k, 0) for k in M.OUTCOMES}},
            "artifacts": {a: dict(c) for a, c in per_artifact.items()}}


def _progress(total: int, enabled: bool):
    try:
        from tqdm import tqdm

        return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, disable=not enabled,
                    desc="collect", dynamic_ncols=True, file=sys.stderr)
    except ImportError:  # pragma: no cover - tqdm is an install requirement
        class _Null:
            def update(self, n): pass
            def set_postfix_str(self, *a, **k): pass
            def close(self): pass
        return _Null()


def _install_stop_handlers(stop: threading.Event) -> dict:
    """Ctrl-C and SIGTERM ask the collector to stop: the file being copied is closed cleanly (kept
    as partial), the rest is recorded as not collected, and the bundle is finished. The request is a
    flag checked between chunks, never an exception thrown into the middle of a copy, so a member and
    its manifest entry always agree. A second Ctrl-C interrupts at once."""
    def handler(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print("\ntriage: stopping: finishing the current file and the bundle (Ctrl-C again to abort)",
              file=sys.stderr)
    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[sig] = signal.signal(sig, handler)
        except (ValueError, OSError, AttributeError):  # not the main thread / platform without it
            pass
    return previous


def _restore_handlers(previous: dict) -> None:
    for sig, handler in previous.items():
        try:
            signal.signal(sig, handler)
        except (ValueError, OSError, TypeError):
            pass


def collect(sources: list[FileSource], options: CollectOptions, volatile: dict | None = None,
            log: Log | None = None) -> CollectResult:
    return Collector(sources, options, volatile, log).run()


def summary_table(result: CollectResult) -> str:
    """The closing table: per artifact collected / missing / failed / skipped, then the bundle."""
    rows = [("artifact", "collected", "missing", "failed", "skipped", "bytes")]
    per: dict[str, list[int]] = {}
    for e in result.entries:
        r = per.setdefault(e.artifact, [0, 0, 0, 0, 0])
        if e.outcome in M.HAS_DATA:
            r[0] += 1
            r[4] += e.size or 0
        elif e.outcome == M.MISSING:
            r[1] += 1
        elif e.outcome == M.FAILED:
            r[2] += 1
        else:
            r[3] += 1
    for name, (c, m, f, s, b) in per.items():
        rows.append((name, str(c), str(m), str(f), str(s), human_size(b)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(col.ljust(w) if i == 0 else col.rjust(w) for i, (col, w) in enumerate(zip(r, widths, strict=True)))
             for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    status = result.status
    left_out = sum(1 for e in result.entries if e.outcome in (M.SKIPPED_BUDGET, M.SKIPPED_INTERRUPTED, M.FAILED))
    if status == "complete" and left_out:  # finished, but not everything planned is in it
        status = f"partial ({left_out} planned file{'' if left_out == 1 else 's'} not collected)"
    lines += ["", f"bundle:  {result.bundle_path}", f"sha256:  {result.sha256}", f"status:  {status}"]
    if result.warnings:
        lines += [f"WARNING: {w}" for w in result.warnings]
    return "\n".join(lines)
