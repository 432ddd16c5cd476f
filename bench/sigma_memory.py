#!/usr/bin/env python3
"""Benchmark: Sigma's memory as the logs grow (issue 12: "memory flat as logs grow").

What it does (one run): bench hosts of two or more sizes (make-host-tree --scale, as bench/sigma.py
builds its 200 MiB host), each collected once; each analyzed in a fresh process (a) without Sigma
(the baseline) and (c) with the 2,858 SigmaHQ rules (built-in pack off), YARA off, the compiled set
read from the cache a first process filled. Printed per size: peak RSS of (a) and (c) and what
Sigma adds, (c) - (a). Sigma's memory must not grow with the logs: the rule set and its buckets are
a constant, records are queued a batch at a time (1,024) and each rule keeps a count, two times and
its first 25 records, however many match. Floor: (c) - (a) on the biggest host within 32 MiB of
(c) - (a) on the smallest (the buckets a bigger host's logs open are the only growth allowed).
Exit status 1 on FAIL. A peak is ru_maxrss, Linux's high-water mark: the analysing process's, or
the biggest EVTX pool worker's when a host is big enough to fan its logs out (the workers run the
Sigma pass of the logs they parse), whichever is higher.

Usage: python3 bench/sigma_memory.py [--mb 40 160] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
FLOOR_MIB = 32

_CHILD = r"""
import json, resource, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from triage.analyze.host import analyze_bundle
opts = json.loads(sys.argv[4])
res = analyze_bundle(Path(sys.argv[2]), Path(sys.argv[3]), yara=False, options=opts)
records = sum(x["records"] for x in res.summary.get("event_logs") or [])
matched = sum(m.get("count") or 0 for m in (res.summary.get("sigma") or {}).get("matches") or [])
print(json.dumps({"rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "worker_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
                  "records": records, "matched": matched}))
"""


def _bench_sigma():
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_sigma", HERE / "sigma.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def analyze(bundle: Path, out: Path, opts: dict) -> dict:
    """One analysis in a fresh interpreter: its peak RSS and what it read."""
    done = subprocess.run([sys.executable, "-c", _CHILD, str(REPO), str(bundle), str(out), json.dumps(opts)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"analysis failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mb", type=float, nargs="+", default=[40.0, 160.0], help="sizes of the bench hosts' logs")
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()
    bs = _bench_sigma()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="triage-bench-sigma-mem-"))
    work.mkdir(parents=True, exist_ok=True)
    hosts = [bs.bench_host(work, mb) for mb in sorted(args.mb)]
    analyze(hosts[0][1], work / "an", bs.MODES["c"])  # fills the compiled set's cache
    added = []
    for label, bundle, files in hosts:
        mib = sum(f.stat().st_size for f in files) / 2**20
        got = {m: analyze(bundle, work / "an", bs.MODES[m]) for m in "ac"}
        a, c = (max(got[m]["rss_kib"], got[m]["worker_kib"]) / 1024 for m in "ac")
        added.append(c - a)
        workers = (f" (EVTX pool workers at most {got['a']['worker_kib'] / 1024:.0f} / {got['c']['worker_kib'] / 1024:.0f}"
                   " MiB)" if got["c"]["worker_kib"] else "")
        print(f"{label}: {mib:.0f} MiB of logs, {got['a']['records']:,} records; peak RSS (a) {a:.0f} MiB, "
              f"(c) {c:.0f} MiB{workers}: Sigma adds {c - a:.0f} MiB ({got['c']['matched']:,} records matched)")
    growth = added[-1] - added[0]
    ok = growth <= FLOOR_MIB
    print(f"Sigma's memory from the smallest to the biggest host: {growth:+.0f} MiB "
          f"(floor +{FLOOR_MIB} MiB): {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
