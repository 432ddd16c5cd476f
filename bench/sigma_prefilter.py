#!/usr/bin/env python3
"""Benchmark: the Sigma pre-filter alone (``Bucket.candidates_at``: which rules each record can match).

The records of each museum whole-machine set of ../shared/corpus/evtx are bucketed once as the EVTX
parser does and cut into the batches the parser's flush hands over (``BATCH`` records queued, then
grouped per bucket). Each pass computes every batch's candidates; ``--repeat`` passes, interleaved
with the baseline; printed: the minimum CPU ms of a pass (the least disturbed on a shared machine;
the buckets' candidate memos are warm after the first pass, as in a process analysing host after
host) and the (record, rule) candidate pairs.

Baseline in the same run: the same rules' buckets built the way the pre-filter worked before the
per-record scan — one Hyperscan scan per batch for every bucket (each occurrence of a literal a
call into Python), no field-name groups left out (triage.sigma.keynames), records searched from
their start (the current code skips the System block up to Channel, whose offset the parser queues). Its candidates must be
a subset of the current ones (the pre-filter may only add candidates); on these sets they are equal.

Usage: python3 bench/sigma_prefilter.py [--repeat 15] [LOG_DIR ...]
"""

from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path
from typing import Any

_spec = importlib.util.spec_from_file_location("bench_sigma_flush", Path(__file__).resolve().parent / "sigma_flush.py")
assert _spec is not None and _spec.loader is not None
bench_sigma_flush = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_sigma_flush)


def batches(items: list[tuple[Any, Any, str, str, int]]) -> list[tuple[Any, list[str], list[int]]]:
    """(bucket, texts, starts) as LogHits.flush hands them over, BATCH records at a time; starts as
    the parser queues them: where the System block's Channel is (the parser finds it anyway)."""
    from triage.sigma.hits import BATCH

    out: list[tuple[Any, list[str], list[int]]] = []
    for i in range(0, len(items), BATCH):
        grouped: dict[Any, tuple[list[str], list[int]]] = {}
        for b, _, _, data, _ in items[i:i + BATCH]:
            texts, starts = grouped.setdefault(b, ([], []))
            texts.append(data)
            starts.append(max(data.find('"Channel":'), 0))
        out.extend((b, texts, starts) for b, (texts, starts) in grouped.items())
    return out


def baseline_bucket(b: Any) -> Any:
    """``b``'s rules in a bucket built as before: batch scan everywhere, field-name groups kept."""
    from triage.sigma import keynames, prefilter
    from triage.sigma.match import make_bucket

    keep_names, keep_min = keynames.name_text, prefilter.RECORD_SCAN_MIN
    keynames.name_text = lambda trees: ""  # type: ignore[assignment]  # no field names: no group left out
    prefilter.RECORD_SCAN_MIN = 1 << 62
    try:
        trees = b.trees or {}
        # the groups the engine chose for this bucket (field-name ones included: they are left out
        # only when a bucket is built)
        return make_bucket(list(b.rules), b.tests, dict(b.groups or {}), None, "", trees)
    finally:
        keynames.name_text, prefilter.RECORD_SCAN_MIN = keep_names, keep_min  # type: ignore[assignment]


def one_pass(work: list[tuple[Any, list[str], list[int]]], which: dict[int, Any] | None) -> tuple[float, int, list[dict]]:
    """CPU seconds, candidate pairs and the candidates of one pass (``which``: bucket id -> baseline,
    searched without the parser's offsets, as before)."""
    t0 = time.process_time()
    if which is None:
        got = [b.candidates_at(texts, starts) for b, texts, starts in work]
    else:
        got = [which[id(b)].candidates_at(texts) for b, texts, _ in work]
    return time.process_time() - t0, sum(len(c) for at in got for c in at.values()), got


def main() -> int:
    ready = bench_sigma_flush.setup(__doc__.split("\n")[0])
    if ready is None:
        return 2
    args, dirs, engine = ready
    print(f"load {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    status = 0
    for d in dirs:
        work = batches(bench_sigma_flush.queued(engine, d))
        base = {id(b): baseline_bucket(b) for b in {id(b): b for b, _, _ in work}.values()}
        _, _, now = one_pass(work, None)  # memos, lazily built parts: warm before timing
        _, _, before = one_pass(work, base)
        lost = sum(not set(bc or ()) <= set(nc.get(k) or ()) for n, b in zip(now, before, strict=True)
                   for k, bc in b.items() for nc in [n])
        cur: list[float] = []
        old: list[float] = []
        for _ in range(max(1, args.repeat)):
            t, pairs, _ = one_pass(work, None)
            cur.append(t)
            t, base_pairs, _ = one_pass(work, base)
            old.append(t)
        records = sum(len(t) for _, t, _ in work)
        print(f"{d.name}: {records:,} records in {len(work)} batches; candidates_at CPU min {min(cur) * 1000:.2f} ms, "
              f"baseline (batch scan, field-name groups kept) {min(old) * 1000:.2f} ms: {min(old) / min(cur):.2f}x; "
              f"candidate pairs {pairs:,} (baseline {base_pairs:,}); "
              + ("no baseline candidate lost" if not lost else f"LOST in {lost} records"))
        status |= bool(lost)
    print(f"load {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
