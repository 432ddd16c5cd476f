#!/usr/bin/env python3
"""Benchmark: instructions executed by an analysis (a) without Sigma and (c) with the SigmaHQ rules.

`bench/sigma.py` times analyses; on a shared 2-core box single runs swing by 2x and the museum sets'
(c)/(a) median moves by 0.1x between runs, more than one change to the engine wins. Instruction
counts do not swing: each case runs in its own interpreter under valgrind's callgrind, which counts
every instruction the process executes (its threads included). Three processes import triage and
analyse a set once with (a) and once with (c) (warm-up: imports, the compiled set, buckets,
Hyperscan databases); then the second does N more (a) analyses and the third N more (c). The
difference to the first process, divided by N, is one analysis. Baseline in the same run: (a).

What it does not show: time per instruction. (c) touches more memory than (a) (the rule set, a
1.45 MiB Hyperscan database for Sysmon process creation), so its time ratio is higher than this
one; the two together say how much of a ratio is work and how much is memory.

Needs valgrind (`apt-get install valgrind`); about two minutes a set for N=2.
Usage: python3 bench/sigma_instructions.py [--only SUBSTRING] [--n 2]   (the museum sets of ../shared)
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

_spec = importlib.util.spec_from_file_location("bench_sigma", Path(__file__).resolve().parent / "sigma.py")
assert _spec is not None and _spec.loader is not None
bench_sigma = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_sigma)

CHILD = """
import json, shutil, sys
from pathlib import Path
from triage.analyze.host import analyze_bundle
bundle, out, modes, n, extra = Path(sys.argv[1]), Path(sys.argv[2]), json.loads(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
for m in "ac":
    shutil.rmtree(out, ignore_errors=True)
    analyze_bundle(bundle, out, yara=False, options=dict(modes[m]))
for _ in range(n if extra in "ac" else 0):
    shutil.rmtree(out, ignore_errors=True)
    analyze_bundle(bundle, out, yara=False, options=dict(modes[extra]))
"""


def instructions(bundle: Path, out: Path, n: int, extra: str) -> int:
    """Instructions callgrind counted for one child (warm-up, then ``n`` analyses of ``extra``)."""
    import json

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(bench_sigma.REPO),
                                                                       os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, "-c",
                           CHILD, str(bundle), str(out), json.dumps(bench_sigma.MODES), str(n), extra],
                          env=env, capture_output=True, text=True, check=True)
    m = re.search(r"Collected\s*:\s*(\d+)", done.stderr)
    if m is None:
        raise RuntimeError(f"callgrind printed no count: {done.stderr[-400:]}")
    return int(m.group(1))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", default="", help="only the museum sets whose name holds this")
    ap.add_argument("--n", type=int, default=2, help="analyses counted per case (default 2)")
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    work = args.workdir or Path(tempfile.mkdtemp(prefix="triage-bench-instructions-"))
    for label, bundle, _files in bench_sigma.museum_hosts(work):
        if args.only not in label:
            continue
        with ThreadPoolExecutor(max_workers=3) as pool:
            runs = {x: pool.submit(instructions, bundle, work / f"out-{x}", args.n, x) for x in ("-", "a", "c")}
            base, a, c = (runs[x].result() for x in ("-", "a", "c"))
        per_a, per_c = (a - base) / args.n, (c - base) / args.n
        print(f"{label}: instructions per analysis (a) {per_a / 1e9:.3f} G, (c) {per_c / 1e9:.3f} G, "
              f"(c)/(a) {per_c / per_a:.3f}x (+{(per_c - per_a) / 1e9:.3f} G)", flush=True)
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
