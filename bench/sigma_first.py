#!/usr/bin/env python3
"""Benchmark: the first analysis in a new process, (a) without Sigma against (c) with the SigmaHQ rules.

`bench/sigma.py` warms up and then measures analyses in one process, as a batch runs them. A responder
who analyses one bundle pays what comes once per process on top: finding and reading the compiled
rule set, building the buckets its logs need, generating the rule functions first used. Here every
run is a new interpreter that imports triage, then times one ``analyze_bundle`` (CPU time of that
call, imports excluded: both modes import the same modules). Baseline in the same run: (a), run in
turn with (c). The compiled set and the Hyperscan databases are cached on disk by a warm-up run, as
after a first use. Prints the medians, the least disturbed runs and their ratio.

Usage: python3 bench/sigma_first.py [--repeat 5] [--workdir DIR]   (the museum sets of ../shared)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

_spec = importlib.util.spec_from_file_location("bench_sigma", Path(__file__).resolve().parent / "sigma.py")
assert _spec is not None and _spec.loader is not None
bench_sigma = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_sigma)

CHILD = """
import json, sys, time
from pathlib import Path
from triage.analyze.host import analyze_bundle
bundle, out, options = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
t0 = time.process_time()
analyze_bundle(Path(bundle), Path(out), yara=False, options=options)
print(time.process_time() - t0)
"""


def first_analysis(bundle: Path, out: Path, options: dict) -> float:
    """CPU seconds of one analyze_bundle in a new interpreter."""
    shutil.rmtree(out, ignore_errors=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(bench_sigma.REPO),
                                                                       os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", CHILD, str(bundle), str(out), json.dumps(options)],
                          env=env, capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="triage-bench-first-"))
    work.mkdir(parents=True, exist_ok=True)
    modes = {"a": bench_sigma.MODES["a"], "c": bench_sigma.MODES["c"]}
    print(f"load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    for label, bundle, _ in bench_sigma.museum_hosts(work):
        first_analysis(bundle, work / "out", modes["c"])  # the compiled set and databases cached on disk
        cpu: dict[str, list[float]] = {m: [] for m in modes}
        for _ in range(max(1, args.repeat)):
            for m, opts in modes.items():
                cpu[m].append(first_analysis(bundle, work / "out", opts))
        a, c = statistics.median(cpu["a"]), statistics.median(cpu["c"])
        print(f"{label}: first analysis CPU (a) median {a:.3f} s, (c) median {c:.3f} s = {c / a:.2f}x; "
              f"least disturbed {min(cpu['c']):.3f} / {min(cpu['a']):.3f} s = {min(cpu['c']) / min(cpu['a']):.2f}x "
              f"(+{min(cpu['c']) - min(cpu['a']):.3f} s)")
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
