"""The bench fleet's bundles, built once and kept in a cache keyed by everything that makes them.

Why: a 1,000-host fleet takes minutes to lay out (``make-host-tree``) and collect (the real
collector, one process per host), more than the analysis being measured. The bundles depend only
on the generator script, the corpus it draws from, its arguments and the collector's code, so they
are kept under ``CACHE/<key>/bundles`` and a re-run with the same inputs reuses them. The directory
trees are deleted once collected (only the bundles are kept). A build is written under
``<key>.partial`` and renamed when complete, so an interrupted build is never taken for a finished one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO / ".." / "shared"
GENERATOR = SHARED / "tools" / "make-host-tree"
CORPUS = SHARED / "corpus"
# the collector's code (what writes a bundle; not the analysis side of triage/bundle): a change there
# can change the bundles
COLLECTOR_SOURCES = ("triage/collect", "triage/collector_main.py", "triage/profile.py", "profiles",
                     "triage/bundle/__init__.py", "triage/bundle/writer.py", "triage/bundle/manifest.py",
                     "triage/bundle/names.py")


def default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "triage-bench" / "fleet"


def generator_args(hosts: int) -> list[str]:
    """make-host-tree's arguments for an N-host bench fleet (two hosts get a planted Run value)."""
    planted = planted_hosts(hosts)
    return [f"--hosts={hosts}", "--seed=11", "--link=hardlink", "--no-sparse", "--filler-mb=1",
            f"--plant-run-key={planted[0]}:Updater=C:\\Users\\Public\\updater.exe",
            f"--plant-run-key={planted[1]}:SyncHelper=powershell -w hidden -enc SQBFAFgA...", "--quiet"]


def planted_hosts(hosts: int) -> tuple[int, int]:
    return hosts // 40, hosts * 3 // 4


def _hash_tree(h: Any, root: Path, *, contents: bool) -> None:
    """File names (and sizes, or contents) under ``root`` in a stable order."""
    files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
    for f in files:
        if "__pycache__" in f.parts:
            continue
        h.update(str(f.relative_to(root.parent)).encode() + b"\0")
        if contents:
            h.update(hashlib.sha256(f.read_bytes()).digest())
        else:
            h.update(str(f.stat().st_size).encode() + b"\0")


def cache_key(hosts: int) -> str:
    """Generator script, its arguments, the corpus (names and sizes) and the collector's sources."""
    h = hashlib.sha256()
    h.update(GENERATOR.read_bytes())
    h.update("\0".join(generator_args(hosts)).encode())
    _hash_tree(h, CORPUS, contents=False)
    for rel in COLLECTOR_SOURCES:
        _hash_tree(h, REPO / rel, contents=True)
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class BuiltFleet:
    bundles: Path        # one folder per host, each holding that host's bundle
    cached: bool         # True when reused from an earlier run
    make_s: float        # seconds to lay the trees out (0 when cached)
    collect_s: float     # seconds to collect them (0 when cached)


def build_fleet(hosts: int, cache: Path, py: str = sys.executable) -> BuiltFleet:
    """The bundles of an N-host fleet: from the cache, or built (and cached) now."""
    key = cache_key(hosts)
    done = cache / f"{hosts}-{key}"
    if (done / "built.json").is_file():
        return BuiltFleet(done / "bundles", True, 0.0, 0.0)
    work = cache / f"{hosts}-{key}.partial"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    t0 = time.perf_counter()
    subprocess.run([py, str(GENERATOR), "--out", str(work / "trees"), *generator_args(hosts)], check=True)
    make_s = time.perf_counter() - t0
    names = sorted(p.name for p in (work / "trees").iterdir() if p.name.startswith("host-"))

    def collect(name: str) -> None:
        proc = subprocess.run([py, "-m", "triage", "collect", "--target", str(work / "trees" / name),
                               "--output", str(work / "bundles" / name), "--quiet"],
                              cwd=REPO, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"collect {name} failed ({proc.returncode}): {proc.stderr[-2000:]}")

    t0 = time.perf_counter()
    with ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        list(pool.map(collect, names))
    collect_s = time.perf_counter() - t0
    shutil.rmtree(work / "trees")
    (work / "built.json").write_text(json.dumps({"hosts": hosts, "key": key, "make_s": round(make_s, 1),
                                                 "collect_s": round(collect_s, 1)}))
    shutil.rmtree(done, ignore_errors=True)
    work.rename(done)
    return BuiltFleet(done / "bundles", False, make_s, collect_s)


if __name__ == "__main__":  # build (or find) a fleet ahead of a bench run: fleet_build.py N
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    print(build_fleet(n, default_cache()))
