#!/usr/bin/env python3
"""Benchmark: Sigma's own record work, without the EVTX parse around it.

The records of some event logs are bucketed once (as the EVTX parser does), then queued and flushed
through ``LogHits`` in batches, as the parser's hot loop does — pre-filter, decode of the candidates,
evaluation — ``--repeat`` times; printed: the minimum CPU time (the least disturbed run on a shared
machine). Baseline in the same run: the same records with the pre-filter bypassed (every record
decoded and every rule of its bucket evaluated). Both must find the same matches.

Usage: python3 bench/sigma_flush.py [--repeat 15] [LOG_DIR ...]   (default: the museum sets of
../shared/corpus/evtx; the rules: the SigmaHQ set of ../shared/sigma)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path
from typing import Any

# bench/sigma.py says where the rules are, and keeps bench/ from shadowing the pySigma package
_spec = importlib.util.spec_from_file_location("bench_sigma", Path(__file__).resolve().parent / "sigma.py")
assert _spec is not None and _spec.loader is not None
bench_sigma = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_sigma)
SHARED, SIGMAHQ = bench_sigma.SHARED, bench_sigma.SIGMAHQ


def queued(engine: Any, log_dir: Path) -> list[tuple[Any, Any, str, str, int]]:
    """(bucket, record id, written time, JSON text, search offset 0) of every record some rule can
    match, as LogHits queues them."""
    from evtx import PyEvtxParser

    from triage.sigma.flatten import flatten

    items: list[tuple[Any, Any, str, str, int]] = []
    for f in sorted(log_dir.rglob("*.evtx")):
        try:
            for rec in PyEvtxParser(str(f)).records_json():
                if rec is None:
                    continue
                fl = flatten(json.loads(rec["data"]))
                b = engine.bucket(fl.get("Channel"), fl.get("EventID"), fl.get("Provider_Name"))
                if b is not None:
                    items.append((b, rec["event_record_id"], rec["timestamp"], rec["data"], 0))
        except Exception:  # a damaged log: the records read so far count
            continue
    return items


def flush_all(engine: Any, items: list[tuple[Any, Any, str, str, int]], prefilter: bool) -> tuple[float, int]:
    """(CPU seconds, matches) of one pass; without the pre-filter every rule of a bucket is evaluated."""
    from triage.sigma.hits import BATCH, LogHits

    hits = LogHits(engine, "bench")
    t0 = time.process_time()
    if prefilter:
        for i in range(0, len(items), BATCH):
            hits.queue.extend(items[i:i + BATCH])
            hits.flush()
    else:
        for b, rid, written, data, _ in items:
            hits._evaluate(b, list(b.rules), rid, written, data)
    return time.process_time() - t0, sum(h.count for h in hits.by_rule.values())


def setup(description: str) -> tuple[argparse.Namespace, list[Path], Any] | None:
    """Command line (--repeat, LOG_DIR ...), the log folders (default: the museum sets) and the
    engine of the SigmaHQ set; None without ../shared."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("logs", nargs="*", type=Path)
    args = ap.parse_args()
    dirs = args.logs or sorted((SHARED / "corpus" / "evtx").glob("museum-*"))
    if not dirs or not SIGMAHQ[0].is_dir():
        print("needs ../shared (corpus and sigma)", file=sys.stderr)
        return None
    from triage.sigma.engine import prepare

    _, engine = prepare([str(p) for p in SIGMAHQ], builtin=False)
    return args, dirs, engine


def main() -> int:
    ready = setup(__doc__.split("\n")[0])
    if ready is None:
        return 2
    args, dirs, engine = ready
    for d in dirs:
        items = queued(engine, d)
        flush_all(engine, items, True)  # buckets' test closures and caches built before timing
        fast = [flush_all(engine, items, True) for _ in range(args.repeat)]
        slow = [flush_all(engine, items, False) for _ in range(max(1, args.repeat // 5))]
        tf, ts = min(t for t, _ in fast), min(t for t, _ in slow)
        same = fast[0][1] == slow[0][1]
        print(f"{d.name}: {len(items):,} records queued; flush CPU min {tf:.4f} s "
              f"({tf / max(len(items), 1) * 1e6:.1f} us a record); without the pre-filter {ts:.4f} s: "
              f"{ts / tf:.1f}x; matches {fast[0][1]} {'same' if same else 'DIFFER: ' + str(slow[0][1])}")
        if not same:
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
