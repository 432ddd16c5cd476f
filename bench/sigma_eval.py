#!/usr/bin/env python3
"""Benchmark: evaluating the candidate records (``LogHits._evaluate``), generated rule functions
against the closure trees they replace.

The records of each museum set's event logs are bucketed and pre-filtered once, as the EVTX parser
does; the (record, candidate rules) pairs the pre-filter passes are then evaluated --repeat times,
interleaved: (gen) with the buckets' rule functions (triage.sigma.codegen), (baseline) with the same
buckets' rules as closure trees (triage.sigma.match.closure, what evaluated them before; both sides
decode, pick or flatten and lower-case alike, so the ratio is the rule functions' own). Printed per
set: CPU ms of the whole ``_evaluate`` pass (decode, lean flatten, lower-casing, rule tests, samples)
and of the rule tests alone, minimum over the runs (the least disturbed on a shared machine), and
the ratio gen/baseline. Both must report the same matches (rules, counts, times, samples).
Floor: the rule tests of all sets together at most 0.7x the baseline.

Usage: python3 bench/sigma_eval.py [--repeat 15] [LOG_DIR ...]   (default: the museum sets of
../shared/corpus/evtx; the rules: the SigmaHQ set of ../shared/sigma)
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path
from typing import Any

# bench/sigma_flush.py queues a log's records as the parser does; bench/ goes after site-packages,
# where bench/sigma.py cannot shadow the pySigma package
sys.path.append(str(Path(__file__).resolve().parent))

FLOOR = 0.7


class _Closures(dict):
    """rule index -> its closure tree (the baseline), built when first asked for."""

    def __init__(self, trees: dict[int, Any]) -> None:
        super().__init__()
        self.trees = trees

    def __missing__(self, i: int) -> Any:
        from triage.sigma.match import closure

        test = self[i] = closure(self.trees[i])
        return test


def candidates(items: list[tuple[Any, Any, str, str, int]]) -> list[tuple[Any, list[int], Any, str, str]]:
    """(bucket, candidate rules, record id, written time, JSON text) the pre-filter passes."""
    by_bucket: dict[Any, list[tuple[Any, Any, str, str, int]]] = {}
    for item in items:
        by_bucket.setdefault(item[0], []).append(item)
    out = []
    for b, pending in by_bucket.items():
        for (_, rid, written, data, _), c in zip(pending, b.candidates_many([item[3] for item in pending]),
                                                  strict=True):
            if c is not None:
                out.append((b, c, rid, written, data))
    return out


def evaluate(engine: Any, work: list[tuple[Any, list[int], Any, str, str]]) -> tuple[float, list]:
    """(CPU seconds, what was found) of one ``_evaluate`` pass."""
    from triage.sigma.hits import LogHits

    hits = LogHits(engine, "bench")
    t0 = time.process_time()
    for b, c, rid, written, data in work:
        hits._evaluate(b, c, rid, written, data)
    spent = time.process_time() - t0
    return spent, [(m.rule_id, m.count, m.first, m.last, m.samples) for m in hits.records()]


def tests_only(events: list[tuple[Any, list[int], Any]]) -> float:
    """CPU seconds of the rule tests alone (records already flattened and lower-cased)."""
    t0 = time.process_time()
    for b, c, ev in events:
        b.match(ev, c)
    return time.process_time() - t0


def main() -> int:
    from sigma_flush import SHARED, SIGMAHQ, queued

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("logs", nargs="*", type=Path, default=sorted((SHARED / "corpus" / "evtx").glob("museum-*")))
    args = ap.parse_args()
    if not args.logs or not SIGMAHQ[0].is_dir():
        print("needs ../shared (corpus and sigma)", file=sys.stderr)
        return 2
    from triage.sigma.engine import event, prepare
    from triage.sigma.flatten import decode, flatten
    from triage.sigma.lean import plan

    _, engine = prepare([str(p) for p in SIGMAHQ], builtin=False)
    print(f"load {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    total = {"gen": 0.0, "baseline": 0.0}
    ok = True
    for d in args.logs:
        gen = candidates(queued(engine, d))
        swap = {b: dataclasses.replace(b, tests=_Closures(b.trees or {})) for b in {w[0] for w in gen}}
        base = [(swap[b], *rest) for b, *rest in gen]
        runs: dict[str, list[float]] = {"gen": [], "baseline": []}
        tests: dict[str, list[float]] = {"gen": [], "baseline": []}
        found = {}
        evs = {name: [(b, c, event(flatten(decode(data), plan(b.plans, b.trees, c)))) for b, c, _, _, data in work]
               for name, work in (("gen", gen), ("baseline", base))}
        for _ in range(max(1, args.repeat) + 1):  # the first pass builds the tests and plans: not counted
            for name, work in (("gen", gen), ("baseline", base)):
                spent, found[name] = evaluate(engine, work)
                runs[name].append(spent)
                tests[name].append(tests_only(evs[name]))
        best = {k: min(v[1:]) * 1000 for k, v in runs.items()}
        tbest = {k: min(v[1:]) * 1000 for k, v in tests.items()}
        for k in total:
            total[k] += tbest[k]
        same = found["gen"] == found["baseline"]
        ok = ok and same
        print(f"{d.name}: {len(gen):,} candidate records; _evaluate CPU min {best['gen']:.1f} ms vs baseline "
              f"{best['baseline']:.1f} ms ({best['gen'] / best['baseline']:.2f}x); rule tests alone "
              f"{tbest['gen']:.1f} vs {tbest['baseline']:.1f} ms ({tbest['gen'] / tbest['baseline']:.2f}x); "
              f"{sum(m[1] for m in found['gen'])} matches, {'same' if same else 'DIFFERENT'}")
    ratio = total["gen"] / total["baseline"] if total["baseline"] else 1.0
    passed = ok and ratio <= FLOOR
    print(f"rule tests, all sets: {total['gen']:.1f} vs {total['baseline']:.1f} ms = {ratio:.2f}x "
          f"(floor {FLOOR}x): {'PASS' if passed else 'FAIL'}")
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
