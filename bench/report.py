#!/usr/bin/env python3
"""Benchmark: rendering report.html from summary.json, against writing summary.json itself.

What it does (one run, so baseline and subject share the machine and the moment):
  1. lays out one make-host-tree host (a Run key planted; ``--scale K`` makes its event logs K times
     bigger), collects it with the real collector and analyzes it once (YARA off) for its summary;
  2. baseline: ``json.dumps`` of that summary (what writing summary.json costs);
  3. subject: ``triage.report.html.render`` of the same summary (verdict, off-network section,
     records view, charts, every table);
  4. for scale, the renderer of main (``git show main:triage/report/html.py``) when git has it.
Runs are interleaved, the median of --repeat is reported, with page sizes and the ratio
report/summary-json. Floor: rendering within 10x of serialising the summary (the report is
a view of it; it must never become the slow part of an analysis). Exit status 1 on FAIL.

Usage: python3 bench/report.py [--scale K] [--repeat N] [--workdir DIR]
(run from the repository root; shared data is reached as ../shared).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(REPO))
SHARED = (REPO / ".." / "shared").resolve()
FLOOR = 10.0


def summary_of(work: Path, scale: int) -> dict[str, Any]:
    from triage.analyze.host import analyze_bundle
    from triage.cli import main

    hosts = work / "hosts"
    subprocess.run([sys.executable, str(SHARED / "tools" / "make-host-tree"), "--out", str(hosts), "--quiet",
                    "--filler-mb", "1", f"--scale={scale}", "--plant-run-key", "0:Updater=C:\\Users\\Public\\u.exe"],
                   check=True)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        main(["collect", "--target", str(hosts / "host-000"), "--output", str(work / "b"), "--quiet"])
    bundle = next((work / "b").glob("*.zip"))
    return analyze_bundle(bundle, work / "out", yara=False).summary


def old_renderer() -> Any:
    try:
        text = subprocess.run(["git", "-C", str(REPO), "show", "main:triage/report/html.py"], check=True,
                              capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    spec = importlib.util.spec_from_loader("old_report_html", loader=None)
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    exec(compile(text, "main:triage/report/html.py", "exec"), mod.__dict__)  # our own file, from git
    return mod.render


def timed(fn: Any, arg: Any) -> tuple[float, int]:
    t0 = time.perf_counter()
    out = fn(arg)
    return time.perf_counter() - t0, len(out.encode("utf-8"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--workdir")
    args = ap.parse_args()
    from triage.report.html import render

    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench-report-"))
    try:
        summary = summary_of(work, args.scale)
        old = old_renderer()
        subjects = {"summary.json (json.dumps)": lambda s: json.dumps(s, ensure_ascii=False, default=str),
                    "report.html (this branch)": render}
        if old is not None:
            subjects["report.html (main)"] = old
        runs: dict[str, list[float]] = {k: [] for k in subjects}
        size: dict[str, int] = {}
        for _ in range(args.repeat):
            for name, fn in subjects.items():
                s, n = timed(fn, summary)
                runs[name].append(s)
                size[name] = n
        print(f"host: {len(summary.get('findings') or [])} findings, {summary['stats']['records']} records, "
              f"{len((summary.get('network') or {}).get('off_network_windows') or [])} off-network windows")
        base = statistics.median(runs["summary.json (json.dumps)"])
        for name in subjects:
            med = statistics.median(runs[name])
            print(f"{name:28s} median {med * 1000:8.1f} ms  {size[name] / 1024:8.0f} KiB  "
                  f"x{med / base:5.2f} of summary.json")
        ratio = statistics.median(runs["report.html (this branch)"]) / base
        ok = ratio <= FLOOR
        print(f"report.html render / summary.json dump = {ratio:.2f} (floor <= {FLOOR:g}): {'PASS' if ok else 'FAIL'}")
        return 0 if ok else 1
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
