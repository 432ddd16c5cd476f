"""Registry parser cost against the bare library, on the corpus hives, in the same run.

Why: the registry parser reads targeted keys (plus every service) with python-registry and replays
transaction logs with regipy; it should cost a fraction of one bare full walk of the hive. Figures:
  * bare walk:  python-registry, every key and every value's raw data (what any full read costs);
  * triage:     triage.parsers.registry.RegistryParser over the same file (logs replayed if dirty);
  * replay:     the regipy log replay alone, for the dirty hives;
  * regipy walk (baseline the team measured as ~100x slower), on the smallest NTUSER.DAT only.
Ratios printed: triage / bare walk per hive and overall.

    python3 bench/registry.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from Registry import Registry  # noqa: E402

from triage.parsers.base import input_from_file  # noqa: E402
from triage.parsers.registry import RegistryParser  # noqa: E402
from triage.parsers.registry_hive import find_logs, read_base_block, replay_logs  # noqa: E402

CORPUS = (REPO / ".." / "shared" / "corpus").resolve()
HIVES = ["registry/win10-dirty-system/SYSTEM", "registry/win7-wks-win732bita/SYSTEM",
         "registry/win10-dirty-ntuser/NTUSER.DAT", "registry/plaso-win7-nfury/NTUSER.DAT",
         "registry/notatin-patrick/NTUSER.DAT", "registry/synthetic-software/SOFTWARE",
         "registry/amcache/win10-Amcache.hve"]


def bare_walk(path: Path) -> tuple[int, float]:
    t = time.perf_counter()
    reg = Registry.Registry(str(path))
    stack, keys = [reg.root()], 0
    while stack:
        k = stack.pop()
        keys += 1
        for v in k.values():
            v.raw_data()
        stack.extend(k.subkeys())
    return keys, time.perf_counter() - t


def triage_parse(path: Path) -> tuple[int, float]:
    logs = tuple(p for p in path.parent.iterdir() if p.name.lower().startswith(path.name.lower() + ".log"))
    t = time.perf_counter()
    n = sum(1 for _ in RegistryParser().parse(input_from_file(path, path.name, companions=logs)))
    return n, time.perf_counter() - t


def main() -> int:
    total_bare = total_triage = 0.0
    print(f"{'hive':45} {'keys':>7} {'bare walk s':>11} {'records':>8} {'triage s':>9} {'ratio':>6}")
    for rel in HIVES:
        path = CORPUS / rel
        keys, tb = bare_walk(path)
        n, tt = triage_parse(path)
        total_bare += tb
        total_triage += tt
        print(f"{rel:45} {keys:7d} {tb:11.3f} {n:8d} {tt:9.3f} {tt / tb:6.2f}")
        base = read_base_block(path.read_bytes()[:4096])
        logs = find_logs(path, [p.name for p in path.parent.iterdir()])
        if base.dirty and logs:
            t = time.perf_counter()
            _, rep = replay_logs(path, logs, base)
            print(f"{'':45} replay alone: {time.perf_counter() - t:.3f} s, {rep.pages} pages")
    print(f"overall: bare walk {total_bare:.3f} s, triage {total_triage:.3f} s, ratio {total_triage / total_bare:.2f}")
    try:
        from regipy.registry import RegistryHive

        small = CORPUS / "registry/plaso-runtests/NTUSER.DAT"
        keys, tb = bare_walk(small)
        t = time.perf_counter()
        n = sum(1 for _ in RegistryHive(str(small)).recurse_subkeys(as_json=False))
        tr = time.perf_counter() - t
        print(f"regipy full walk of {small.name} ({n} keys): {tr:.3f} s vs python-registry {tb:.3f} s "
              f"({tr / tb:.0f}x)")
    except ImportError:
        print("regipy not installed: its walk baseline skipped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
