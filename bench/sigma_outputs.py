#!/usr/bin/env python3
"""Benchmark: what Sigma matches cost in a host's outputs (timeline, summary, report.html, summary.json).

Why apart from bench/sigma.py: a whole analysis moves by tens of milliseconds on a shared machine,
more than the outputs' share of Sigma; here the outputs alone are timed, on the analysis data of
one real analysis, so a change of a millisecond shows.

What it does (one run: every figure shares the machine and the moment):
  inputs: each museum whole-machine set of ../shared/corpus/evtx laid out as a host and collected
  once (as bench/sigma.py does); each analyzed once (a) without Sigma and once (c) with the 2,858
  SigmaHQ rules (built-in pack off), YARA off, keeping the analysis data and the summary;
  subject: the output steps on the (c) data — write_host_timeline (timeline.jsonl + .csv),
  build_summary, write_report (report.html), json.dumps + write of summary.json;
  baseline: the same steps on the (a) data (the host without its Sigma matches);
  with --base REV: the same again with that git revision's triage (``git archive`` into a temp
  dir, nothing checked out), rounds alternating between the two trees.
Each tree runs in its own worker process, (a) and (c) interleaved, --repeat times per round; the
minimum is reported (other users' load only ever adds CPU time). Prints per step (a), (c), the
difference and the ratio, and per host Sigma's output cost per matched record. Floor: all outputs
(c) within 1.5x of (a) (issue 12's floor, applied to the outputs). Exit status 1 on FAIL.

Usage: python3 bench/sigma_outputs.py [--repeat 15] [--rounds 3] [--base main] [--workdir DIR]
                                     [--bundle BUNDLE.zip ...]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
FLOOR = 1.5
STEPS = ("timeline", "summary", "report", "summary.json")


def _bench_sigma() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_sigma", HERE / "sigma.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def worker(tree: Path, bundles: list[tuple[str, str]], repeat: int, tmp: Path) -> dict[str, Any]:
    """CPU seconds of each output step, (a) and (c) interleaved, with ``tree``'s triage."""
    sys.path.insert(0, str(tree))
    import triage.analyze.timeline_full as timeline_full
    import triage.report.html as html
    from triage.analyze import summary as summary_mod
    from triage.analyze.host import analyze_bundle

    modes = _bench_sigma().MODES
    kept: dict[str, Any] = {}
    write_timeline, write_report = timeline_full.write_host_timeline, html.write_report

    def keep_data(data: Any, out: Path) -> Any:
        kept["data"] = data
        return write_timeline(data, out)

    def keep_summary(summary: dict[str, Any], path: Any) -> Any:
        kept["summary"] = summary
        return write_report(summary, path)

    # the analysis calls these by module attribute: wrapped, they hand over its data and summary
    timeline_full.write_host_timeline, html.write_report = keep_data, keep_summary  # type: ignore[assignment]
    out: dict[str, Any] = {}
    for label, bundle in bundles:
        got = {}
        for m in "ac":
            shutil.rmtree(tmp / "an", ignore_errors=True)
            res = analyze_bundle(Path(bundle), tmp / "an", yara=False, options=dict(modes[m]))
            got[m] = (kept["data"], kept["summary"], res.summary)
        (tmp / "tl").mkdir(parents=True, exist_ok=True)
        steps = {
            "timeline": lambda d, s: write_timeline(d, tmp / "tl"),
            "summary": lambda d, s: summary_mod.build_summary(d),
            "report": lambda d, s: write_report(s, tmp / "report.html"),
            "summary.json": lambda d, s: (tmp / "summary.json").write_text(
                json.dumps(s, ensure_ascii=False, default=str), encoding="utf-8"),
        }
        cpu: dict[str, dict[str, list[float]]] = {k: {"a": [], "c": []} for k in steps}
        for _ in range(repeat):
            for k, fn in steps.items():
                for m in "ac":
                    data, summary, _ = got[m]
                    t0 = time.process_time()
                    fn(data, summary)
                    cpu[k][m].append(time.process_time() - t0)
        sg = got["c"][2].get("sigma") or {}
        out[label] = {"cpu": cpu, "rules": len(sg.get("matches") or []),
                      "records": sum(len(x.get("records") or []) for x in sg.get("matches") or [])}
    return out


def run_worker(tree: Path, bundles: list[tuple[str, str]], repeat: int, work: Path) -> dict[str, Any]:
    """One worker process (its own imports: the tree's triage, nothing left from the other tree)."""
    spec = json.dumps({"tree": str(tree), "bundles": bundles, "repeat": repeat, "tmp": str(work / "w")})
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", spec],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(tree)})
    if done.returncode != 0:
        raise SystemExit(f"worker for {tree} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def merge(into: dict[str, Any], got: dict[str, Any]) -> None:
    for label, x in got.items():
        dst = into.setdefault(label, {"cpu": {k: {"a": [], "c": []} for k in STEPS}})
        dst.update(rules=x["rules"], records=x["records"])
        for k in STEPS:
            for m in "ac":
                dst["cpu"][k][m] += x["cpu"][k][m]


def report(name: str, res: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """Print one tree's figures; return per host the (c)/(a) ratio and the (c)-(a) ms of all outputs."""
    print(f"\n{name}")
    totals = {}
    for label, x in res.items():
        print(f"  {label}: {x['rules']} Sigma rules matched, {x['records']} records kept")
        ta = tc = 0.0
        for k in STEPS:
            a, c = min(x["cpu"][k]["a"]) * 1000, min(x["cpu"][k]["c"]) * 1000
            ta, tc = ta + a, tc + c
            print(f"    {k:13s} (a) {a:7.2f} ms  (c) {c:7.2f} ms  diff {c - a:6.2f} ms  {c / a:5.2f}x")
        per = (tc - ta) * 1000 / max(1, x["records"])
        print(f"    {'all outputs':13s} (a) {ta:7.2f} ms  (c) {tc:7.2f} ms  diff {tc - ta:6.2f} ms  "
              f"{tc / ta:5.2f}x (floor {FLOOR}x: {'PASS' if tc / ta <= FLOOR else 'FAIL'}); "
              f"{per:.0f} us per matched record kept")
        totals[label] = (tc / ta, tc - ta)
    return totals


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=15, help="interleaved (a)/(c) runs per round")
    ap.add_argument("--rounds", type=int, default=3, help="worker rounds per tree (alternating with --base)")
    ap.add_argument("--base", default=None, help="a git revision to compare with (e.g. main)")
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--bundle", action="append", default=[], type=Path,
                    help="one more collected bundle to measure (e.g. bench/sigma.py's bench host)")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        spec = json.loads(args.worker)
        tmp = Path(spec["tmp"])
        tmp.mkdir(parents=True, exist_ok=True)
        print(json.dumps(worker(Path(spec["tree"]), [tuple(b) for b in spec["bundles"]], spec["repeat"], tmp)))
        return 0

    sys.path.insert(0, str(REPO))
    if not (REPO / ".." / "shared" / "corpus" / "evtx").is_dir():
        print("no ../shared/corpus/evtx: nothing to measure")
        return 2
    work = args.workdir or Path(tempfile.mkdtemp(prefix="triage-bench-sigma-out-"))
    work.mkdir(parents=True, exist_ok=True)
    bundles = [(label, str(bundle)) for label, bundle, _ in _bench_sigma().museum_hosts(work)]
    bundles += [(b.name, str(b.resolve())) for b in args.bundle]
    trees = {"this tree": REPO}
    if args.base:
        base = work / "base"
        shutil.rmtree(base, ignore_errors=True)
        base.mkdir()
        archive = subprocess.run(["git", "-C", str(REPO), "archive", args.base], check=True, capture_output=True)
        subprocess.run(["tar", "-x", "-C", str(base)], input=archive.stdout, check=True)
        if not (work / "shared").exists():
            os.symlink((REPO / ".." / "shared").resolve(), work / "shared")  # the base's ../shared
        trees = {f"base {args.base}": base, **trees}
    print(f"load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}; {args.rounds} rounds of "
          f"{args.repeat} interleaved (a)/(c) runs per tree; CPU ms, minimum")
    results: dict[str, dict[str, Any]] = {name: {} for name in trees}
    for _ in range(args.rounds):
        for name, tree in trees.items():
            merge(results[name], run_worker(tree, bundles, args.repeat, work))
    totals = {name: report(name, res) for name, res in results.items()}
    ok = all(ratio <= FLOOR for ratio, _ in totals["this tree"].values())
    if args.base:
        print(f"\nSigma's output cost, (c) - (a), base {args.base} -> this tree:")
        for label, (_, diff) in totals["this tree"].items():
            print(f"  {label}: {totals[f'base {args.base}'][label][1]:.2f} ms -> {diff:.2f} ms")
    print("\n" + ("PASS" if ok else "FAIL"))
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
