#!/usr/bin/env python3
"""Compare the summary.json of every host in two ``triage analyze`` output folders, minus run times.

Why: speed work must not change what the analysis says. Analyze the same bundles with the code
before and after a change (e.g. ``git archive BASE | tar -x -C /tmp/base`` and
``PYTHONPATH=/tmp/base python -m triage analyze BUNDLES -o /tmp/before``), then:

    python3 bench/compare_summaries.py /tmp/before /tmp/after

Host folders are matched by name (host name + bundle hash). Ignored: the time the summary was
generated and the per-stage/per-parser timings. Prints each difference (first 300 characters of
each side) and exits 1 when any host differs or a host is missing on one side.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

RUN_TIME_KEYS = frozenset({"generated", "timings", "seconds_per_parser"})


def without_run_times(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_run_times(v) for k, v in value.items() if k not in RUN_TIME_KEYS}
    if isinstance(value, list):
        return [without_run_times(v) for v in value]
    return value


def summaries(out: Path) -> dict[str, Path]:
    return {p.parent.name: p for p in (out / "hosts").glob("*/summary.json")}


def differences(a: Path, b: Path) -> list[str]:
    """One line per top-level key that differs between two summary.json files (run times ignored)."""
    x = without_run_times(json.loads(a.read_text("utf-8")))
    y = without_run_times(json.loads(b.read_text("utf-8")))
    return [f"{key}: {json.dumps(x.get(key))[:300]} | {json.dumps(y.get(key))[:300]}"
            for key in sorted(set(x) | set(y)) if x.get(key) != y.get(key)]


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    before, after = summaries(Path(argv[0])), summaries(Path(argv[1]))
    missing = sorted(set(before) ^ set(after))
    for name in missing:
        print(f"{name}: only in {'the first' if name in before else 'the second'} folder")
    differing = 0
    for name in sorted(set(before) & set(after)):
        diffs = differences(before[name], after[name])
        differing += bool(diffs)
        for line in diffs:
            print(f"{name}: {line}")
    print(f"{len(set(before) & set(after))} hosts compared, {differing} differ, {len(missing)} on one side only")
    return 1 if differing or missing or not before else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
