"""The rule pack's own cost: this tree's ``yara_rules/`` vs the pack at a git revision, same files, same run.

Why: the precision changes (context and ``fullword`` on short identifiers, proximity conditions on rules
that combine strings) must not make scanning slower; a proximity condition is evaluated only when its
strings match, but a raw event log full of one string could make it expensive. What is timed: one
in-process ``yara.Rules.match(filepath=...)`` per file with each pack (compiled once, outside the
timing), alternating the two packs for --rounds rounds; CPU seconds of this process (steadier than wall
time on a shared machine) and the median per pack. Input: every file make-host-tree can place from
../shared/corpus (plus --dir DIR), event logs included at their real size.

    python3 bench/yara_pack.py                       # baseline: the pack at main
    python3 bench/yara_pack.py --baseline-rev b92ab2f --rounds 7
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yara

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / ".." / "shared" / "corpus"


def pack_at(rev: str, dest: Path) -> Path:
    """The yara_rules/ folder of a git revision, written under dest."""
    names = subprocess.run(["git", "-C", str(REPO), "ls-tree", "-r", "--name-only", rev, "yara_rules"],
                           capture_output=True, text=True, check=True).stdout.split()
    for name in names:
        if name.endswith(".yar"):
            data = subprocess.run(["git", "-C", str(REPO), "show", f"{rev}:{name}"], capture_output=True,
                                  check=True).stdout
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            (dest / name).write_bytes(data)
    return dest / "yara_rules"


def compile_pack(root: Path) -> yara.Rules:
    files = sorted(root.rglob("*.yar"))
    return yara.compile(filepaths={str(p.relative_to(root)): str(p) for p in files})


def corpus_files() -> list[Path]:
    sys.path.insert(0, str(REPO / "tests"))
    from _host_tree_inventory import load_make_host_tree, placeable_files

    inv = load_make_host_tree(CORPUS.resolve()).Corpus(str(CORPUS.resolve()))
    return [CORPUS / rel for rel in sorted(set().union(*placeable_files(inv).values()))]


def scan(rules: yara.Rules, files: list[Path]) -> tuple[float, int]:
    t0 = time.process_time()
    hits = sum(len(rules.match(filepath=str(p), timeout=60)) for p in files)
    return time.process_time() - t0, hits


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--baseline-rev", default="main", help="git revision of the baseline pack (default main)")
    ap.add_argument("--dir", type=Path, action="append", default=[], help="also scan every file under DIR")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    files = corpus_files() + [p for d in args.dir for p in sorted(d.rglob("*")) if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    with tempfile.TemporaryDirectory(prefix="yara-pack-") as tmp:
        packs = {"baseline": compile_pack(pack_at(args.baseline_rev, Path(tmp))),
                 "this tree": compile_pack(REPO / "yara_rules")}
        times: dict[str, list[float]] = {k: [] for k in packs}
        hits: dict[str, int] = {}
        for _ in range(args.rounds):
            for name, rules in packs.items():
                cpu, hits[name] = scan(rules, files)
                times[name].append(cpu)
    print(f"{len(files)} files, {size / 1e6:.1f} MB; baseline = yara_rules/ at {args.baseline_rev}")
    for name in packs:
        med = statistics.median(times[name])
        print(f"  {name:10s} median {med:.3f} CPU-s ({size / 1e6 / med:.0f} MB/s), "
              f"rounds {', '.join(f'{t:.3f}' for t in times[name])}; {hits[name]} rule matches")
    ratio = statistics.median(times["this tree"]) / statistics.median(times["baseline"])
    print(f"ratio this tree / baseline: {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
