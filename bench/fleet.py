#!/usr/bin/env python3
"""Fleet benchmark: N make-host-tree hosts (hard-linked), each collected once with the real
collector, analyzed with ``triage analyze --jobs 2`` and, as the baseline of the same run, with one
worker (``--jobs 1``, on all N hosts or the first ``--baseline-hosts``).

The bundles are built once and cached by everything that makes them (bench/fleet_build.py: the
generator, its arguments, the corpus, the collector's code), so a re-run measures only the analysis.

Prints: hosts per minute for each (whole command, and the analysis phase alone), the speed-up of
--jobs 2 over one worker (floor 1.7x), CPU seconds per host (the workers' own, and the whole command's
with the parent's hashing, inserts and fleet steps: less sensitive to other load on the box than wall
time), the load average before and after each run, the peak RSS of each worker process, the time of
each stacking query on the N-host store (floor: under 1 s each), the store's bytes per host (floor:
200 KB), the analysis folder per host, the size of index.html and its load time in headless
Chromium beside a blank page loaded in the same run, and the projection to 1,000 hosts (goal: 5 min).
Exit status 1 when a floor is missed.

    python3 bench/fleet.py                 # 200 hosts
    python3 bench/fleet.py --hosts 1000    # the issue-19 figure
    python3 bench/fleet.py --hosts 1000 --baseline-hosts 200   # one-worker baseline on a fifth of them
    python3 bench/fleet.py --hosts 20      # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO / ".." / "shared"
sys.path.insert(0, str(REPO))

from fleet_build import build_fleet, default_cache, planted_hosts  # noqa: E402  (bench/ is on the path)

from triage.fleet import index, ioc, score, stacking  # noqa: E402

SPEEDUP_FLOOR = 1.7
QUERY_FLOOR_S = 1.0
STORE_FLOOR_BYTES = 200 * 1024


def store_bytes(db: Path) -> int:
    """fleet.sqlite's size with its WAL folded in (what stays on disk after the run)."""
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return db.stat().st_size


def tree_bytes(root: Path) -> int:
    return sum(f.stat().st_size for f in root.rglob("*") if f.is_file())


def page_load_ms(page_path: Path, work: Path) -> tuple[float, float] | None:
    """(load of index.html, load of a blank page) in ms, headless Chromium, same browser, same run;
    None without Chromium/Playwright."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    chromium = os.environ.get("TRIAGE_CHROMIUM", "/usr/bin/chromium")
    if not Path(chromium).exists():
        return None
    blank = work / "blank.html"
    blank.write_text("<!DOCTYPE html><html><head><meta charset='utf-8'><title>b</title></head><body></body></html>")
    times = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1360, "height": 900})
        for name, path in (("blank", blank), ("index", page_path), ("blank", blank), ("index", page_path)):
            page.goto(path.resolve().as_uri(), wait_until="load")
            t = page.evaluate("() => performance.getEntriesByType('navigation')[0].loadEventEnd")
            times.setdefault(name, []).append(t)
        browser.close()
    return min(times["index"]), min(times["blank"])


def children_cpu() -> float:
    """CPU seconds of this process' finished children (user + system). For ``triage analyze`` that is
    the coordinating process only: its pool workers are children of the fork server, which reaps
    them, and their CPU is in fleet.sqlite (:func:`cpu_seconds`)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run(cmd: list[str]) -> tuple[float, str, float]:
    """(wall seconds, stdout, CPU seconds of the command's own process)."""
    t0, c0 = time.perf_counter(), children_cpu()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return elapsed, proc.stdout, children_cpu() - c0


def analysis_seconds(stdout: str) -> float:
    m = re.search(r"analysis ([\d.]+) ?s", stdout)
    return float(m.group(1)) if m else float("nan")


def cpu_seconds(db: Path) -> float:
    """CPU time of all analyses (every thread of the worker processes)."""
    conn = sqlite3.connect(db)
    total = conn.execute("SELECT SUM(cpu_s) FROM bundles").fetchone()[0] or 0.0
    conn.close()
    return float(total)


def worker_memory(db: Path) -> list[int]:
    """Peak RSS of each worker process (ru_maxrss of the worker at its last task)."""
    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT worker, MAX(peak_rss_bytes) FROM bundles WHERE worker IS NOT NULL"
                        " GROUP BY worker").fetchall()
    conn.close()
    return sorted(r[1] for r in rows)


def best_of(fn, n: int = 3) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def analyze_run(py: str, inputs: list[Path], out: Path, jobs: int) -> dict:
    """One ``triage analyze`` over ``inputs`` into ``out``, with the load average around it."""
    load_before = os.getloadavg()
    wall, stdout, cpu_parent = run([py, "-m", "triage", "analyze", *map(str, inputs), "--output", str(out),
                                 "--jobs", str(jobs)])
    return {"wall_s": wall, "analysis_s": analysis_seconds(stdout), "cpu_s": cpu_seconds(out / "fleet.sqlite"),
            "cpu_parent_s": cpu_parent, "cpu_all_s": cpu_parent + cpu_seconds(out / "fleet.sqlite"), "rss": worker_memory(out / "fleet.sqlite"), "stdout": stdout,
            "hosts": count_bundles(inputs), "load": (load_before, os.getloadavg())}


def count_bundles(inputs: list[Path]) -> int:
    return sum(1 for p in inputs for _ in (p.rglob("*.zip") if p.is_dir() else [p]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hosts", type=int, default=200)
    ap.add_argument("--baseline-hosts", type=int, metavar="M",
                    help="run the one-worker baseline on the first M hosts only (default: all of them)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/triage-bench-fleet"))
    ap.add_argument("--cache", type=Path, default=default_cache(),
                    help="where built fleets are kept between runs (default: %(default)s)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    work = args.work.resolve()
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    py = sys.executable
    planted = planted_hosts(args.hosts)

    built = build_fleet(args.hosts, args.cache.resolve(), py)
    hosts_dirs = sorted(p for p in built.bundles.iterdir() if p.name.startswith("host-"))
    bundle_bytes = sum(p.stat().st_size for p in built.bundles.rglob("*.zip"))
    base_n = min(args.baseline_hosts or len(hosts_dirs), len(hosts_dirs))

    results = {2: analyze_run(py, [built.bundles], work / "out-jobs2", 2),
               1: analyze_run(py, hosts_dirs[:base_n], work / "out-jobs1", 1)}
    # incremental re-run over the same store: every bundle is known, nothing is analyzed again
    rerun_s, rerun_out, _ = run([py, "-m", "triage", "analyze", str(built.bundles), "--output",
                                 str(work / "out-jobs2"), "--jobs", "2"])
    rerun_skipped = re.search(r"skipped \(already\s+analyzed\): (\d+)", rerun_out)

    # stacking and the other fleet steps on the N-host store
    conn = sqlite3.connect(work / "out-jobs2" / "fleet.sqlite")
    conn.row_factory = sqlite3.Row
    total_hosts = stacking.fleet_hosts(conn)
    rows = {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
            for t in ("autoruns", "executions", "browser_domains", "events", "files", "findings")}
    query_s = {kind: best_of(lambda k=kind: stacking.stack(conn, k)) for kind in stacking.STACKS}
    threshold = stacking.rare_threshold(None, total_hosts)
    steps = {
        "rare items + findings": best_of(lambda: stacking.record_rare(conn, threshold), 1),
        "IOC sweep (3 IOCs)": best_of(lambda: ioc.sweep(conn, ioc.parse_ioc_text(
            "regval:-w hidden -enc\nfilename:updater.exe\ndomain:example.com\n", "bench")[0]), 1),
        "scores": best_of(lambda: score.compute_scores(conn), 1),
        "index.html": best_of(lambda: index.write_index(conn, work / "out-jobs2", rare_threshold=threshold,
                                                        ioc_files=[]), 1),
    }
    ranking = [r["name"] for r in conn.execute("SELECT name FROM hosts ORDER BY score DESC LIMIT 2")]
    conn.close()
    out2 = work / "out-jobs2"
    db_bytes = store_bytes(out2 / "fleet.sqlite")
    hosts_bytes = tree_bytes(out2 / "hosts")
    page_bytes = (out2 / "index.html").stat().st_size
    load = page_load_ms(out2 / "index.html", work)

    n = args.hosts
    mib = 1024 * 1024
    rate = {j: results[j]["hosts"] / results[j]["analysis_s"] * 60 for j in (1, 2)}
    rate_wall = {j: results[j]["hosts"] / results[j]["wall_s"] * 60 for j in (1, 2)}
    speedup = rate[2] / rate[1]
    print(f"fleet benchmark: {n} hosts, {os.cpu_count()} cores, bundles {bundle_bytes / mib:.0f} MiB in all"
          f" ({bundle_bytes / n / mib:.1f} MiB per host)")
    if built.cached:
        print(f"  bundles reused from the cache ({built.bundles.parent})")
    else:
        print(f"  bundles built now and cached: make-host-tree {built.make_s:.1f}s; collect {built.collect_s:.1f}s"
              f" = {n / built.collect_s * 60:.0f} hosts/min")
    for jobs in (2, 1):
        r = results[jobs]
        rss, h = r["rss"], r["hosts"]
        (b1, b5, _), (a1, a5, _) = r["load"]
        print(f"  analyze --jobs {jobs} ({h} hosts{'' if h == n else ', the baseline sample'}):"
              f" {r['wall_s']:.1f}s for the whole command = {rate_wall[jobs]:.1f} hosts/min;"
              f" analysis phase {r['analysis_s']:.1f}s = {rate[jobs]:.1f} hosts/min;"
              f" CPU per host {r['cpu_s'] / h:.3f}s in the workers + {r['cpu_parent_s'] / h:.3f}s in the"
              f" coordinating process (hashing, inserts, fleet steps) = {r['cpu_all_s'] / h:.3f}s; {len(rss)} worker processes, peak RSS per worker max"
              f" {max(rss) / mib:.0f} MiB, median {statistics.median(rss) / mib:.0f} MiB;"
              f" load average (1/5 min) before {b1:.2f}/{b5:.2f}, after {a1:.2f}/{a5:.2f}")
    busy1 = results[1]["cpu_s"] / results[1]["analysis_s"]
    busy2 = results[2]["cpu_s"] / results[2]["analysis_s"]
    print(f"  speed-up --jobs 2 vs one worker (hosts/min of the analysis phase): {speedup:.2f}x"
          f" (floor {SPEEDUP_FLOOR}x) {'OK' if speedup >= SPEEDUP_FLOOR else 'BELOW FLOOR'};"
          f" cores kept busy by the workers: --jobs 1 {busy1:.2f}, --jobs 2 {busy2:.2f}")
    print(f"  incremental re-run over the same store: {rerun_s:.1f}s,"
          f" {rerun_skipped.group(1) if rerun_skipped else '?'} bundles skipped as already analyzed")
    print(f"  store: {total_hosts} hosts, rows: " + ", ".join(f"{t} {c}" for t, c in rows.items()))
    for kind, s in query_s.items():
        print(f"  stacking query {kind:<16} {s * 1000:8.1f} ms {'OK' if s < QUERY_FLOOR_S else 'ABOVE 1 s FLOOR'}")
    for step, s in steps.items():
        print(f"  {step:<31} {s * 1000:8.1f} ms")
    print(f"  store: fleet.sqlite {db_bytes / mib:.1f} MiB = {db_bytes / n / 1024:.0f} KiB per host (floor"
          f" {STORE_FLOOR_BYTES // 1024} KiB) {'OK' if db_bytes / n <= STORE_FLOOR_BYTES else 'ABOVE FLOOR'};"
          f" analysis folder {hosts_bytes / mib:.0f} MiB = {hosts_bytes / n / mib:.2f} MiB per host")
    print(f"  index.html {page_bytes / 1024:.0f} KiB ({page_bytes / n:.0f} bytes per host)"
          + (f"; load in headless Chromium {load[0]:.0f} ms vs a blank page {load[1]:.0f} ms in the same run"
             f" ({load[0] / max(load[1], 1):.1f}x)" if load else "; Chromium not available: load not measured"))
    per_min = rate_wall[2]
    cpu_host = results[2]["cpu_all_s"] / n
    print(f"  projection: 1,000 hosts with --jobs 2 in {1000 / per_min:.1f} min at this run's {per_min:.1f}"
          f" hosts/min for the whole command (goal: 5 min); by CPU, {cpu_host:.3f} CPU-s per host for the whole"
          f" command = {1000 * cpu_host / 60 / 2:.1f} min on 2 otherwise idle cores")
    print(f"  top two hosts: {', '.join(ranking)} (planted: host-{planted[0]:03d}, host-{planted[1]:03d})")
    per_host_s = results[1]["cpu_s"] / results[1]["hosts"]  # CPU of one worker per host
    print(f"  extrapolation: one worker spends {per_host_s:.2f} CPU-s per host; 10,000 hosts on a Dask cluster of"
          f" W single-threaded workers take about {per_host_s * 10000 / 3600:.1f} h / W"
          f" (e.g. {per_host_s * 10000 / 60 / 64:.0f} min on 64 workers), if shared storage keeps up")
    print(json.dumps({"hosts": n, "baseline_hosts": base_n, "speedup": round(speedup, 3),
                      "cores_busy": [round(busy1, 2), round(busy2, 2)],
                      "hosts_per_min": {j: round(rate[j], 1) for j in (1, 2)},
                      "hosts_per_min_whole_command": {j: round(rate_wall[j], 1) for j in (1, 2)},
                      "cpu_s_per_host_workers": {j: round(results[j]["cpu_s"] / results[j]["hosts"], 3) for j in (1, 2)},
                      "cpu_s_per_host_all": {j: round(results[j]["cpu_all_s"] / results[j]["hosts"], 3) for j in (1, 2)},
                      "load_after": {j: [round(x, 2) for x in results[j]["load"][1]] for j in (1, 2)},
                      "peak_rss_mib": {j: round(max(results[j]["rss"]) / mib) for j in (1, 2)},
                      "query_ms": {k: round(v * 1000, 1) for k, v in query_s.items()},
                      "store_bytes_per_host": round(db_bytes / n), "index_bytes": page_bytes,
                      "index_load_ms": [round(x) for x in load] if load else None}))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    ok = (speedup >= SPEEDUP_FLOOR and all(s < QUERY_FLOOR_S for s in query_s.values())
          and db_bytes / n <= STORE_FLOOR_BYTES)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
