"""Event-log throughput: bare pyevtx-rs iteration vs the triage evtx parser vs python-evtx.

Why: the analyzer's floor is "whole evtx analysis within 2x of the bare engine iteration". This
bench measures, on the same files in the same run, records/s of
  * bare:      PyEvtxParser(stream).records_json() iterated, nothing else done;
  * pipeline:  triage.parsers.evtx.EvtxParser (stats + typed events + connectivity + Issues);
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

from triage.analyze.records import EventLogStats, Issue  # noqa: E402
from triage.parsers.base import input_from_file  # noqa: E402
from triage.parsers.evtx import EvtxParser  # noqa: E402

MAKE_HOST_TREE = REPO / ".." / "shared" / "tools" / "make-host-tree"


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


def best_of(rounds: int, fn, *args):
    best, result = None, None
    for _ in range(rounds):
        t0 = time.perf_counter()
        result = fn(*args)
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    return best, result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=int, default=24, help="make-host-tree --scale (24 gives ~200 MB of logs)")
    ap.add_argument("--tree", type=Path, help="reuse/make the host tree here (default: a temp dir)")
    ap.add_argument("--threads", type=int, default=0, help="pyevtx-rs worker threads (0 = library default)")
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
          f"threads={args.threads or 'default'}")

    t_bare, n_bare = best_of(args.rounds, bare, files, args.threads)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t_pipe, (n_pipe, kinds) = best_of(args.rounds, pipeline, files, args.threads)
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if n_pipe != n_bare:
        print(f"WARNING: record counts differ: bare {n_bare}, pipeline {n_pipe}")
    sample = max(files, key=lambda f: f.stat().st_size)
    n_py, t_py = python_evtx(sample, args.python_evtx_records)

    r_bare, r_pipe, r_py = n_bare / t_bare, n_pipe / t_pipe, n_py / t_py
    print(f"bare pyevtx-rs : {n_bare:>9} records in {t_bare:7.2f} s = {r_bare:>10.0f} rec/s, "
          f"{size / 1e6 / t_bare:6.1f} MB/s")
    print(f"triage evtx    : {n_pipe:>9} records in {t_pipe:7.2f} s = {r_pipe:>10.0f} rec/s, "
          f"{size / 1e6 / t_pipe:6.1f} MB/s")
    print(f"python-evtx    : {n_py:>9} records in {t_py:7.2f} s = {r_py:>10.0f} rec/s (sample of {sample.name})")
    print(f"outputs        : {dict(kinds.most_common())}")
    print(f"max RSS        : {rss_before / 1024:.0f} MiB before pipeline, {rss_after / 1024:.0f} MiB after")
    print(f"ratio pipeline/bare time : {t_pipe / t_bare:.2f}x  (floor: <= 2.00x)")
    print(f"ratio bare/python-evtx speed : {r_bare / r_py:.0f}x")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
