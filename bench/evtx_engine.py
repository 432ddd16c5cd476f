"""Event-log throughput: bare pyevtx-rs iteration vs the triage evtx parser vs python-evtx.

Why: the analyzer's floor is "whole evtx analysis within 2x of the bare engine iteration". This
bench measures, on the same files in the same run, records/s of
  * bare:      PyEvtxParser(stream).records_json() iterated, nothing else done;
  * pipeline:  triage.parsers.evtx.parser.EvtxParser (stats + typed events + connectivity + Issues);
  * python-evtx (pure Python, header-trusting) on a small sample only, because it is ~1000x slower;
and prints the figures and the ratios. The logs come from make-host-tree --scale (each corpus log
made K times bigger), built once into a temp dir (or --tree) and reused.

    python3 bench/evtx_engine.py                 # ~200 MB of logs: one host at --scale 24
    python3 bench/evtx_engine.py --scale 4       # quicker
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from evtx import PyEvtxParser  # noqa: E402

from triage.model import EventLogStats, Issue  # noqa: E402
from triage.parsers.base import input_from_file  # noqa: E402
from triage.parsers.evtx.parser import DEFAULT_ENGINE_THREADS, EvtxParser  # noqa: E402

MAKE_HOST_TREE = REPO / ".." / "shared" / "tools" / "make-host-tree"
# Worst case for the pipeline: half of a Sysmon log's records are process creations, each typed
# (JSON decode + Event) — the host trees of make-host-tree --seed 0 hold no Sysmon log.
SYSMON = REPO / ".." / "shared" / "corpus" / "evtx" / "museum-win10-aptsimulatorvm" / \
    "Microsoft-Windows-Sysmon%4Operational.evtx"


def build_tree(out: Path, scale: int) -> list[Path]:
    logs = out / "host-000" / "Windows" / "System32" / "winevt" / "Logs"
    if not logs.is_dir():
        subprocess.run([sys.executable, str(MAKE_HOST_TREE), "--out", str(out), "--hosts", "1", "--seed", "0",
                        "--scale", str(scale), "--no-sparse", "--filler-mb", "0", "--quiet"], check=True)
    return sorted(logs.glob("*.evtx"))


def bare(files: list[Path], threads: int) -> int:
    n = 0
    for f in files:
        with f.open("rb") as fh:
            it = PyEvtxParser(fh, number_of_threads=threads).records_json()
            while True:
                try:
                    next(it)
                except StopIteration:
                    break
                except RuntimeError:
                    continue
                n += 1
    return n


def pipeline(files: list[Path], threads: int) -> tuple[int, Counter]:
    n = 0
    kinds: Counter = Counter()
    parser = EvtxParser()
    for f in files:
        item = input_from_file(f, f"Windows/System32/winevt/Logs/{f.name}")
        item.options["evtx_threads"] = threads
        for rec in parser.parse(item):
            kinds[getattr(rec, "category", None) or type(rec).__name__] += 1
            if isinstance(rec, EventLogStats):
                n += rec.records
            elif isinstance(rec, Issue):
                print("  issue:", rec.message[:120])
    return n, kinds


def python_evtx(path: Path, limit: int) -> tuple[int, float]:
    from Evtx.Evtx import Evtx

    n = 0
    t0 = time.perf_counter()
    with Evtx(str(path)) as log:
        for rec in log.records():
            rec.xml()
            n += 1
            if n >= limit:
                break
    return n, time.perf_counter() - t0


def timed(fn, *args):
    """(wall seconds, CPU seconds of this process incl. the engine's threads, result)."""
    c0, t0 = time.process_time(), time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - t0, time.process_time() - c0, result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=int, default=24, help="make-host-tree --scale (24 gives ~200 MB of logs)")
    ap.add_argument("--tree", type=Path, help="reuse/make the host tree here (default: a temp dir)")
    ap.add_argument("--threads", type=int, default=DEFAULT_ENGINE_THREADS,
                    help="pyevtx-rs worker threads for both runs (0 = one per core; default: the parser's)")
    ap.add_argument("--rounds", type=int, default=2, help="best of N rounds for bare and pipeline")
    ap.add_argument("--python-evtx-records", type=int, default=300, help="records for the python-evtx sample")
    args = ap.parse_args(argv)

    tmp = None
    if args.tree is None:
        tmp = tempfile.TemporaryDirectory(prefix="evtx-bench-")
        args.tree = Path(tmp.name)
    files = build_tree(args.tree, args.scale)
    size = sum(f.stat().st_size for f in files)
    print(f"logs: {len(files)} files, {size / 1e6:.1f} MB under {args.tree} (scale {args.scale}), "
          f"engine threads={args.threads or 'one per core'}")

    # Rounds interleave bare and pipeline so that load from other processes hits both alike; the
    # best wall and best CPU time of each are kept (CPU time is the steadier figure on a busy box).
    w_bare = c_bare = w_pipe = c_pipe = float("inf")
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(args.rounds):
        w, c, n_bare = timed(bare, files, args.threads)
        w_bare, c_bare = min(w_bare, w), min(c_bare, c)
        w, c, (n_pipe, kinds) = timed(pipeline, files, args.threads)
        w_pipe, c_pipe = min(w_pipe, w), min(c_pipe, c)
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if n_pipe != n_bare:
        print(f"WARNING: record counts differ: bare {n_bare}, pipeline {n_pipe}")
    sample = max(files, key=lambda f: f.stat().st_size)
    n_py, t_py = python_evtx(sample, args.python_evtx_records)

    # per-log CPU ratio (one round each), and the Sysmon worst case repeated to a measurable size
    print("per log (CPU s bare / pipeline = ratio):")
    for f in files + ([SYSMON] * 1 if SYSMON.is_file() else []):
        reps = 1 if f != SYSMON else 40
        _, cb, _ = timed(lambda f=f, reps=reps: [bare([f], args.threads) for _ in range(reps)])
        _, cp, _ = timed(lambda f=f, reps=reps: [pipeline([f], args.threads) for _ in range(reps)])
        label = f.name if f != SYSMON else f"corpus {f.name} x{reps} (worst case)"
        print(f"  {label[:72]:<72} {cb:6.2f} / {cp:6.2f} = {cp / cb:4.2f}x")
    r_py = n_py / t_py
    for label, n, w, c in (("bare pyevtx-rs", n_bare, w_bare, c_bare), ("triage evtx", n_pipe, w_pipe, c_pipe)):
        print(f"{label:<15}: {n:>9} records, wall {w:7.2f} s = {n / w:>9.0f} rec/s ({size / 1e6 / w:6.1f} MB/s), "
              f"CPU {c:7.2f} s = {n / c:>9.0f} rec/s")
    print(f"{'python-evtx':<15}: {n_py:>9} records, wall {t_py:7.2f} s = {r_py:>9.0f} rec/s (sample of {sample.name})")
    print(f"outputs        : {dict(kinds.most_common())}")
    print(f"max RSS        : {rss_before / 1024:.0f} MiB before the pipeline rounds, {rss_after / 1024:.0f} MiB after")
    print(f"ratio pipeline/bare : wall {w_pipe / w_bare:.2f}x, CPU {c_pipe / c_bare:.2f}x  (floor: <= 2.00x)")
    print(f"ratio bare/python-evtx speed : {n_bare / w_bare / r_py:.0f}x")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
