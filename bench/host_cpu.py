#!/usr/bin/env python3
"""CPU seconds per host of a batch worker's analysis: this tree vs a base tree, same bundles, interleaved.

Why: the fleet's wall time is the workers' CPU per host (two workers on two cores) plus the
coordinating process; on a shared box wall times move by 20 % or more from run to run, CPU time
much less. Each run analyzes every bundle of BUNDLES sequentially in one fresh process, exactly as a
batch worker does (``triage.fleet.batch.analyze_task`` with background=False: YARA and Sigma on),
with the fork server's warm imports done first (``triage.fleet.preload``), and prints the CPU
seconds (user + system of the process) per host. Runs alternate base / this tree ``--repeat``
times; the medians and their ratio are printed, then every host's summary.json of the last two
runs is compared (run times aside): the speed-up must not change what the analysis says.

    git archive main | tar -x -C /tmp/base
    python3 bench/host_cpu.py --base /tmp/base --bundles DIR_OF_BUNDLES [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# Runs in the child: analyze every bundle of argv[1] into argv[2], print the CPU per host.
CHILD = r"""
import resource, sys
import triage.fleet.preload  # the fork server's warm imports
import triage.fleet.batch as b

def run_local(items, out_dir, options, jobs, on_result, **kw):
    options = {**options, "background": False}
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    for it in items:
        on_result(b.analyze_task(it.path, str(out_dir), b._task_options(it, options)))
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime
    print(f"HOSTCPU {len(items)} {cpu / max(len(items), 1):.4f} {r1.ru_maxrss}", file=sys.stderr)

b.run_local = run_local
from triage.cli import main
main(["analyze", "--jobs", "1", "--quiet", "-o", sys.argv[2], sys.argv[1]])
"""


def one_run(tree: Path, bundles: Path, out: Path) -> tuple[int, float, int]:
    """(hosts, CPU seconds per host, peak RSS KiB) of one fresh process on ``tree``'s code."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    shutil.rmtree(out, ignore_errors=True)  # a store from an earlier run would skip every bundle
    done = subprocess.run([sys.executable, "-c", CHILD, str(bundles), str(out)], cwd=tree, env=env,
                          capture_output=True, text=True)
    m = re.search(r"HOSTCPU (\d+) ([\d.]+) (\d+)", done.stderr)
    if m is None:
        sys.exit(f"host_cpu: the run on {tree} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return int(m.group(1)), float(m.group(2)), int(m.group(3))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", type=Path, required=True, help="the base tree (e.g. git archive main | tar -x)")
    ap.add_argument("--bundles", type=Path, required=True, help="a folder of bundles (.zip + .zip.sha256)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    sys.path.insert(0, str(REPO / "bench"))
    from compare_summaries import differences, summaries

    with tempfile.TemporaryDirectory(prefix="triage-host-cpu-") as tmp:
        return measure(args, Path(tmp), differences, summaries)


def measure(args: argparse.Namespace, work: Path, differences, summaries) -> int:
    cpu: dict[str, list[float]] = {"base": [], "this": []}
    rss: dict[str, int] = {}
    hosts = 0
    for i in range(args.repeat):
        for name, tree in (("base", args.base.resolve()), ("this", REPO)):
            hosts, per_host, peak = one_run(tree, args.bundles, work / f"{name}-{i % 2}")
            cpu[name].append(per_host)
            rss[name] = max(rss.get(name, 0), peak)
            print(f"  run {i + 1} {name}: {per_host:.3f} CPU-s per host (load {os.getloadavg()[0]:.2f})", flush=True)
    b, t = statistics.median(cpu["base"]), statistics.median(cpu["this"])
    print(f"host CPU, {hosts} hosts, medians of {args.repeat}: base {b:.3f} s, this tree {t:.3f} s = "
          f"{t / b:.2f}x ({(t - b) / b * 100:+.1f} %); peak RSS base {rss['base'] // 1024} MiB, "
          f"this tree {rss['this'] // 1024} MiB")
    last = (args.repeat - 1) % 2
    before, after = summaries(work / f"base-{last}"), summaries(work / f"this-{last}")
    differing = sum(1 for h in set(before) & set(after) if differences(before[h], after[h]))
    print(f"summaries: {len(set(before) & set(after))} hosts compared, {differing} differ, "
          f"{len(set(before) ^ set(after))} on one side only")
    return 1 if differing or set(before) ^ set(after) else 0


if __name__ == "__main__":
    raise SystemExit(main())
