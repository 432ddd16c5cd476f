"""Collector throughput against the read-and-hash ceiling, in the same run.

    python bench/collect.py [--scale 96] [--runs 3] [--keep DIR] [--out-dir DIR]

Builds a ~1 GB host with ../shared/tools/make-host-tree --scale, lists the files the windows-triage
profile selects, then alternates:
  ceiling: tar -cf - <same files> | openssl dgst -sha256      (read everything once, hash it once)
  triage collect --compression store                          (read once, SHA-256 per file, CRC, write
                                                               the zip, SHA-256 of the bundle)
  triage collect --compression deflate                        (the default)
and prints medians (wall time and CPU time), MB/s and the ratios. Floor (issue 2): stored mode
<= 1.5x the ceiling. Page cache: every contender reads the same warm files (alternating runs).
The ceiling writes nothing, so by default the bundle goes to RAM (/dev/shm): that measures the
collector's read-hash-pack pipeline, not the output disk; --out-dir puts it on a disk instead (on
this VM's virtual disk, writeback throttling alone holds writes to ~270-340 MB/s).
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
SHARED = (REPO / ".." / "shared").resolve()
sys.path.insert(0, str(REPO))

from triage.collect.expand import plan  # noqa: E402
from triage.collect.source import DirectorySource  # noqa: E402
from triage.profile import load_profile  # noqa: E402


def timed(cmd, **kw) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system of the child processes) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, **kw)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=int, default=96)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--keep", help="reuse/keep the host tree in this directory")
    ap.add_argument("--out-dir", help="where bundles are written (default: /dev/shm when it exists)")
    args = ap.parse_args()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-collect-"))
    host = work / "host-000"
    if not host.is_dir():
        subprocess.run([sys.executable, str(SHARED / "tools" / "make-host-tree"), "--out", str(work), "--hosts", "1",
                        "--scale", str(args.scale), "--filler-mb", "16", "--quiet"], check=True)
    src = DirectorySource(host)
    files = []
    for p in plan(src, load_profile("windows-triage")):
        if p.rel:
            files += [p.rel, *p.companions]
    total = sum((host / f).stat().st_size for f in files)
    listing = work / "files.txt"
    listing.write_text("\n".join(files) + "\n")
    mb = total / 1e6
    print(f"host: {host}  files: {len(files)}  bytes: {total:,} ({mb:.0f} MB)")

    base = Path(args.out_dir) if args.out_dir else (Path("/dev/shm") if os.path.isdir("/dev/shm") else work)
    out = Path(tempfile.mkdtemp(prefix="bench-collect-out-", dir=base))
    print(f"bundles written to: {out}   load average now: {os.getloadavg()[0]:.2f} (2 cores: >1 means contention)")
    results: dict[str, list[tuple[float, float]]] = {"ceiling": [], "store": [], "deflate": []}
    tar = f"tar -cf - -T {listing} | openssl dgst -sha256"
    for _ in range(args.runs):
        results["ceiling"].append(timed(["bash", "-c", tar], cwd=host))
        for mode in ("store", "deflate"):
            shutil.rmtree(out, ignore_errors=True)
            results[mode].append(timed([sys.executable, "-m", "triage", "collect", "--target", str(host), "--output",
                                        str(out), "--quiet", "--compression", mode], cwd=REPO))
    shutil.rmtree(out, ignore_errors=True)
    wall = {k: statistics.median(w for w, _ in v) for k, v in results.items()}
    cpu = {k: statistics.median(c for _, c in v) for k, v in results.items()}
    for k in results:
        runs = ", ".join(f"{w:.2f}" for w, _ in results[k])
        print(f"{k:<8} median {wall[k]:6.2f} s wall ({mb / wall[k]:5.0f} MB/s), {cpu[k]:6.2f} s CPU   runs: {runs}")
    print(f"ratio store/ceiling:   {wall['store'] / wall['ceiling']:.2f}x wall, "
          f"{cpu['store'] / cpu['ceiling']:.2f}x CPU  (floor: <= 1.5x)")
    print(f"ratio deflate/ceiling: {wall['deflate'] / wall['ceiling']:.2f}x wall, {cpu['deflate'] / cpu['ceiling']:.2f}x CPU")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
