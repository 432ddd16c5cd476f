"""Collector throughput against the read-and-hash ceiling, in the same run.

    python bench/collect.py [--scale 96] [--runs 3] [--keep DIR]

Builds a ~1 GB host with ../shared/tools/make-host-tree --scale, lists the files the windows-triage
profile selects, then alternates:
  ceiling: tar -cf - <same files> | openssl dgst -sha256      (read everything once, hash it once)
  triage collect --compression store                          (read once, SHA-256 per file, CRC, write
                                                               the zip, SHA-256 of the bundle)
  triage collect --compression deflate                        (the default)
and prints medians, MB/s and the ratios. Floor (issue 2): stored mode <= 1.5x the ceiling.
Page cache: every contender reads the same warm files (alternating runs), so the comparison is fair.
"""

from __future__ import annotations

import argparse
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


def timed(cmd, **kw) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, **kw)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=int, default=96)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--keep", help="reuse/keep the host tree in this directory")
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

    out = work / "out"
    results: dict[str, list[float]] = {"ceiling": [], "store": [], "deflate": []}
    tar = f"tar -cf - -T {listing} | openssl dgst -sha256"
    for _ in range(args.runs):
        results["ceiling"].append(timed(["bash", "-c", tar], cwd=host))
        for mode in ("store", "deflate"):
            shutil.rmtree(out, ignore_errors=True)
            results[mode].append(timed([sys.executable, "-m", "triage", "collect", "--target", str(host), "--output",
                                        str(out), "--quiet", "--compression", mode], cwd=REPO))
    shutil.rmtree(out, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in results.items()}
    for k, v in med.items():
        print(f"{k:<8} median {v:6.2f} s  {mb / v:7.0f} MB/s  runs: {', '.join(f'{x:.2f}' for x in results[k])}")
    print(f"ratio store/ceiling:   {med['store'] / med['ceiling']:.2f}x  (floor: <= 1.5x)")
    print(f"ratio deflate/ceiling: {med['deflate'] / med['ceiling']:.2f}x")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
