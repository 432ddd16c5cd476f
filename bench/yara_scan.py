"""YARA throughput: the ``yara`` command-line tool vs triage's scan stage, same rules, same files, same run.

Why: analysis scans every file of every bundle, and the floor is "triage's scan stage takes no more
than 1.2x the time of ``yara -r -p 2``". One yara-python process is ~1.8x the CLI's time, so triage's
file scan runs in worker processes (``YaraScanner.scan_paths_parallel``), each loading the compiled
rules once.

What is timed (alternating the two, median of --rounds; CPU seconds too, steadier
than wall time on a busy machine):
  cli     ``yara -C -r -p JOBS <rules compiled by yarac> <dir>`` (the Debian ``yara`` package),
          output counted, not printed;
  triage  ``YaraScanner(...).scan_paths_parallel(files, jobs=JOBS)`` over the same files, with the
          rules already compiled (from the compile cache, as in an analysis batch): once raw files
          only (the same work as the CLI: the floor is measured on this), once as the analysis runs
          it, also scanning MAM-compressed prefetch decompressed (work the CLI does not do).
Input: a bundle collected by triage from a make-host-tree host (event logs made --scale times bigger),
extracted once to a temp dir (or --dir DIR: any directory). Rules: the shipped pack plus --rules.
MB = 10^6 bytes of input files.

    python3 bench/yara_scan.py                   # ~200 MB: one host at --scale 16
    python3 bench/yara_scan.py --scale 4 --rounds 3
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Keep this folder off the path so no file here can shadow yara-python.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(REPO))

from triage.bundle.reader import BundleReader  # noqa: E402
from triage.scan.rules import compile_rules  # noqa: E402
from triage.scan.yara import YaraHit, YaraScanner  # noqa: E402

MAKE_HOST_TREE = REPO / ".." / "shared" / "tools" / "make-host-tree"
FLOOR = 1.2


def build_files(work: Path, scale: int) -> Path:
    """make-host-tree host -> triage collect -> bundle -> files extracted under work/files."""
    hosts = work / "hosts"
    subprocess.run([sys.executable, str(MAKE_HOST_TREE), "--out", str(hosts), "--hosts", "1", "--seed", "0",
                    "--scale", str(scale), "--no-sparse", "--filler-mb", "0", "--quiet"], check=True)
    out = work / "bundle"
    subprocess.run([sys.executable, "-m", "triage", "collect", "--target", str(hosts / "host-000"),
                    "--output", str(out), "--compression", "store"], check=True, cwd=REPO,
                   stdout=subprocess.DEVNULL)
    (bundle,) = out.glob("*.zip")
    dest = work / "files"
    with BundleReader(bundle) as reader:
        for name, _user in YaraScanner.bundle_members(reader):
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            with reader.open(name) as src, target.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
    shutil.rmtree(hosts)
    return dest


def _cpu() -> float:
    """CPU seconds of this process plus its finished children (the CLI, the scan workers)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def run_cli(compiled: Path, root: Path, jobs: int) -> tuple[float, int]:
    t0 = time.perf_counter()
    proc = subprocess.run(["yara", "-C", "-r", "-p", str(jobs), str(compiled), str(root)],
                          capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"yara failed ({proc.returncode}): {proc.stderr.strip()}")
    return elapsed, sum(1 for ln in proc.stdout.splitlines() if ln.strip())


def run_triage(scanner: YaraScanner, files: list[Path], root: Path, jobs: int) -> tuple[float, int, int]:
    t0 = time.perf_counter()
    file_hits = decoded_hits = 0
    for item in scanner.scan_paths_parallel(files, jobs=jobs, root=root):
        if isinstance(item, YaraHit):
            if item.target == "file":
                file_hits += 1
            else:
                decoded_hits += 1
    return time.perf_counter() - t0, file_hits, decoded_hits


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", type=Path, help="scan this directory instead of an extracted bundle")
    ap.add_argument("--scale", type=int, default=16, help="make-host-tree --scale for the bundle (default 16)")
    ap.add_argument("--rules", action="append", default=[], help="extra rule file or folder (repeatable)")
    ap.add_argument("--jobs", type=int, default=2, help="CLI threads and triage worker processes (default 2)")
    ap.add_argument("--rounds", type=int, default=7, help="timed rounds of each, alternating (default 5)")
    args = ap.parse_args()
    if shutil.which("yara") is None or shutil.which("yarac") is None:
        print("the yara command-line tools are missing (Debian package 'yara')", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory(prefix="triage-bench-yara-") as tmp:
        work = Path(tmp)
        root = args.dir or build_files(work, args.scale)
        files = sorted(p for p in root.rglob("*") if p.is_file())
        total = sum(p.stat().st_size for p in files)

        compiled = compile_rules(args.rules)
        for issue in compiled.issues:
            print(f"rules: {issue.severity}: {issue.message}", file=sys.stderr)
        scanner = YaraScanner(compiled=compiled)
        yarc = work / "rules-cli.yarc"  # yarac's own format: the CLI's libyara may differ from yara-python's
        subprocess.run(["yarac", *[f"{f.namespace}:{f.path}" for f in compiled.loaded], str(yarc)], check=True)
        n_rules = sum(1 for _ in compiled.rules)

        print(f"input: {len(files)} files, {total / 1e6:.1f} MB ({root}); rules: {n_rules} from "
              f"{len(compiled.loaded)} files; jobs: {args.jobs}; rounds: {args.rounds}")
        run_cli(yarc, root, args.jobs)          # warm the page cache and both code paths once
        run_triage(scanner, files, root, args.jobs)
        raw_only = YaraScanner(compiled=compiled, decode_prefetch=False)
        cli_t, raw_t, full_t, cli_cpu, raw_cpu, full_cpu = [], [], [], [], [], []
        cli_hits = raw_hits = full_hits = full_decoded = 0
        for _ in range(args.rounds):
            c0 = _cpu()
            t, cli_hits = run_cli(yarc, root, args.jobs)
            cli_t.append(t)
            c1 = _cpu()
            t, raw_hits, _ = run_triage(raw_only, files, root, args.jobs)
            raw_t.append(t)
            c2 = _cpu()
            t, full_hits, full_decoded = run_triage(scanner, files, root, args.jobs)
            full_t.append(t)
            c3 = _cpu()
            cli_cpu.append(c1 - c0)
            raw_cpu.append(c2 - c1)
            full_cpu.append(c3 - c2)
        med = statistics.median
        cli_med = med(cli_t)
        rows = [(f"yara CLI (yara -C -r -p {args.jobs})", cli_t, cli_cpu, f"hits {cli_hits}"),
                (f"triage scan, raw files (jobs={args.jobs})", raw_t, raw_cpu, f"hits {raw_hits}"),
                (f"triage scan stage + decoded prefetch (jobs={args.jobs})", full_t, full_cpu,
                 f"hits {full_hits} raw + {full_decoded} decoded")]
        for name, ts, cpu, hits in rows:
            print(f"{name:<52} median {med(ts):.3f}s (min {min(ts):.3f}s) {total / 1e6 / med(ts):7.1f} MB/s  "
                  f"cpu {med(cpu):.2f}s  {hits}")
        ratio = med(raw_t) / cli_med
        print(f"ratio triage/CLI wall time, same work (raw files): {ratio:.2f}x "
              f"(floor {FLOOR}x: {'OK' if ratio <= FLOOR else 'ABOVE FLOOR'}); min/min "
              f"{min(raw_t) / min(cli_t):.2f}x; cpu {med(raw_cpu) / med(cli_cpu):.2f}x")
        print(f"ratio with decoded prefetch (work the CLI does not do): {med(full_t) / cli_med:.2f}x; "
              f"cpu {med(full_cpu) / med(cli_cpu):.2f}x; load average {os.getloadavg()[0]:.1f} on "
              f"{os.cpu_count()} CPUs")
        if cli_hits != raw_hits:
            print(f"note: raw-file hit counts differ (CLI {cli_hits}, triage {raw_hits})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
