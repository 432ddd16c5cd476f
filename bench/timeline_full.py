#!/usr/bin/env python3
"""Benchmark: ``--timeline full`` vs the default highlights timeline on the same host, same run.

Why: the full timeline reads every event log a second time and writes a row per record; it must
stay streamed (peak memory close to the highlights run's, whatever the log size) and its cost
should be visible. Lays out one make-host-tree host (--scale K makes each event log K times
bigger), collects it once, then analyzes it alternately in each mode, each analysis in its own
child process (so its peak RSS is its own), and prints wall time, timeline rows, peak RSS and the
ratios full/highlights.

Usage: python3 bench/timeline_full.py [--scale 8] [--repeat 2] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
MAKE_HOST_TREE = REPO / ".." / "shared" / "tools" / "make-host-tree"

_CHILD = """
import json, resource, sys, time
sys.path.insert(0, {repo!r})
from triage.analyze.host import analyze_bundle
t0 = time.perf_counter()
a = analyze_bundle({bundle!r}, {out!r}, yara=False, options={{"timeline": {mode!r}, "background": False}})
print(json.dumps({{"s": time.perf_counter() - t0, "rows": a.counts["timeline_rows"],
                  "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def analyze(bundle: Path, out: Path, mode: str) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    code = _CHILD.format(repo=str(REPO), bundle=str(bundle), out=str(out), mode=mode)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=int, default=8, help="make-host-tree --scale K")
    ap.add_argument("--repeat", type=int, default=2, help="runs per mode (alternating); the best is reported")
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()
    from triage.cli import main as triage_main

    work = args.workdir or Path(tempfile.mkdtemp(prefix="triage-bench-timeline-"))
    tree, bundles = work / f"tree{args.scale}", work / f"bundle{args.scale}"
    if not (tree / "host-000").is_dir():
        subprocess.run([sys.executable, str(MAKE_HOST_TREE), "--out", str(tree), "--quiet", "--hosts=1", "--seed=0",
                        "--filler-mb=1", "--no-sparse", f"--scale={args.scale}"], check=True)
    if not sorted(bundles.glob("*.zip")):
        bundles.mkdir(parents=True, exist_ok=True)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            triage_main(["collect", "--target", str(tree / "host-000"), "--output", str(bundles), "--quiet"])
    bundle = sorted(bundles.glob("*.zip"))[0]
    logs = sum(f.stat().st_size for f in (tree / "host-000").rglob("*.evtx"))
    print(f"host: {logs / 2**20:.1f} MiB of event logs (scale {args.scale}), bundle {bundle.stat().st_size / 2**20:.1f} MiB")
    best: dict[str, dict] = {}
    for _ in range(args.repeat):
        for mode in ("highlights", "full"):
            r = analyze(bundle, work / f"out-{mode}", mode)
            print(f"  {mode:10s}: {r['s']:6.2f} s, {r['rows']:>9,} timeline rows, peak RSS {r['rss_mib']:6.1f} MiB")
            if mode not in best or r["s"] < best[mode]["s"]:
                best[mode] = {**r, "rss_mib": min(r["rss_mib"], best.get(mode, r)["rss_mib"])}
    h, f = best["highlights"], best["full"]
    print(f"best highlights: {h['s']:.2f} s, {h['rows']:,} rows, {h['rss_mib']:.1f} MiB")
    print(f"best full      : {f['s']:.2f} s, {f['rows']:,} rows, {f['rss_mib']:.1f} MiB")
    print(f"ratio full/highlights: time {f['s'] / h['s']:.2f}x, rows {f['rows'] / max(h['rows'], 1):.1f}x, "
          f"peak RSS {f['rss_mib'] / h['rss_mib']:.2f}x")
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
