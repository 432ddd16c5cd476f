"""Registry parser cost against the bare library, on the corpus hives, in the same run.

Why: the registry parser reads targeted keys (plus every service) with python-registry and replays
transaction logs with regipy; it should cost a fraction of one bare full walk of the hive. Figures:
  * bare walk:  python-registry, every key and every value's raw data (what any full read costs);
  * triage:     triage.parsers.registry.RegistryParser over the same file (logs replayed if dirty);
  * replay:     the regipy log replay alone, for the dirty hives;
  * regipy walk (baseline the team measured as ~100x slower), on the smallest NTUSER.DAT only;
  * artifacts:  what the artifact modules (ShimCache, BAM, UserAssist, ... — registry_artifacts.py)
                add: the parser with and without them (median of --repeat runs each, interleaved), and
                the emitters alone on an already opened hive. Budget (issue 15): at most 0.5 s on an
                11 MB SYSTEM hive.
Ratios printed: triage / bare walk per hive and overall; added artifact time / bare walk.

    python3 bench/registry.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from Registry import Registry  # noqa: E402

from triage.parsers.base import input_from_file  # noqa: E402
from triage.parsers.registry import artifacts as registry_artifacts  # noqa: E402
from triage.parsers.registry.hive import find_logs, read_base_block, replay_logs  # noqa: E402
from triage.parsers.registry.parser import RegistryParser  # noqa: E402

CORPUS = (REPO / ".." / "shared" / "corpus").resolve()
HIVES = ["registry/win10-dirty-system/SYSTEM", "registry/win7-wks-win732bita/SYSTEM",
         "registry/win10-dirty-ntuser/NTUSER.DAT", "registry/plaso-win7-nfury/NTUSER.DAT",
         "registry/notatin-patrick/NTUSER.DAT", "registry/synthetic-software/SOFTWARE",
         "registry/amcache/win10-Amcache.hve", "registry/goldpaper-win10-usrclass/UsrClass.dat"]


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


_TABLES = ("SYSTEM_EMITTERS", "SOFTWARE_EMITTERS", "NTUSER_EMITTERS", "USRCLASS_EMITTERS")


def without_artifacts(path: Path) -> tuple[int, float]:
    """The parser with every artifact emitter table emptied (what it cost before the artifacts)."""
    saved = {t: getattr(registry_artifacts, t) for t in _TABLES}
    try:
        for t in _TABLES:
            setattr(registry_artifacts, t, ())
        return triage_parse(path)
    finally:
        for t, v in saved.items():
            setattr(registry_artifacts, t, v)


def emitters_alone(path: Path) -> tuple[int, float]:
    """Only the artifact emitters, on a hive opened (and replayed) beforehand."""
    from triage.parsers.registry.autoruns import Context
    from triage.parsers.registry.hive import NTUSER, SOFTWARE, SYSTEM, USRCLASS, companion_names, open_hive
    from triage.parsers.registry.parser import profile_user, root_name

    logs = tuple(p for p in path.parent.iterdir() if p.name.lower().startswith(path.name.lower() + ".log"))
    item = input_from_file(path, path.name, companions=logs)
    hive = open_hive(path, companion_names(item.companions)).hive
    user = profile_user(item, hive.base.embedded_name) if hive.kind in (NTUSER, USRCLASS) else None
    hive.root_name = root_name(hive.kind, user)
    ctx = Context(item=item, hive=hive, user=user)
    fn = {SYSTEM: registry_artifacts.system_artifacts, SOFTWARE: registry_artifacts.software_artifacts,
          NTUSER: registry_artifacts.user_artifacts,
          USRCLASS: registry_artifacts.usrclass_artifacts}.get(hive.kind)
    t = time.perf_counter()
    n = sum(1 for _ in fn(ctx)) if fn else 0
    return n, time.perf_counter() - t


def _cpu(fn, path: Path) -> tuple[int, float]:
    """(result count, CPU seconds of this process): other work on a shared machine does not count."""
    t = time.process_time()
    n, _wall = fn(path)
    return n, time.process_time() - t


def artifact_cost(repeat: int) -> None:
    print(f"\nartifact modules' added cost, CPU seconds of this process (median of {repeat}, interleaved "
          "with/without; the box is shared, so wall time is not used here):")
    print(f"{'hive':45} {'MiB':>5} {'bare s':>7} {'without s':>9} {'with s':>7} {'added s':>8} "
          f"{'emitters s':>10} {'records':>7} {'added/bare':>10}")
    for rel in HIVES:
        path = CORPUS / rel
        bare, off, on, alone = [], [], [], []
        n = 0
        for _ in range(repeat):
            bare.append(_cpu(bare_walk, path)[1])
            off.append(_cpu(without_artifacts, path)[1])
            on.append(_cpu(triage_parse, path)[1])
            n, ta = _cpu(emitters_alone, path)
            alone.append(ta)
        b, w0, w1, a = (statistics.median(x) for x in (bare, off, on, alone))
        print(f"{rel:45} {path.stat().st_size / 2**20:5.1f} {b:7.3f} {w0:9.3f} {w1:7.3f} {w1 - w0:8.3f} "
              f"{a:10.4f} {n:7d} {(w1 - w0) / b:10.3f}")


def triage_parse(path: Path) -> tuple[int, float]:
    logs = tuple(p for p in path.parent.iterdir() if p.name.lower().startswith(path.name.lower() + ".log"))
    t = time.perf_counter()
    n = sum(1 for _ in RegistryParser().parse(input_from_file(path, path.name, companions=logs)))
    return n, time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5, help="runs per hive for the artifact-cost medians")
    args = ap.parse_args()
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
    artifact_cost(max(1, args.repeat))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
