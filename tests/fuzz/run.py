"""Run one fuzz target under atheris (libFuzzer, coverage-guided), seeded from ../shared/corpus.

    python tests/fuzz/run.py TARGET [--seconds N] [--out DIR] [libFuzzer options...]
    python tests/fuzz/run.py --list

Exit status 0: no finding in the time given. Otherwise libFuzzer's status, with the input that
crashed saved as ``DIR/crash-<sha1>`` (copy it to ``tests/fuzz/regressions/TARGET/`` once fixed,
and ``test_fuzz_regressions.py`` replays it forever after). The CI run (``test_fuzz_ci.py``) gives
each target a few seconds; longer runs are documented in tests/fuzz/README.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent))

with atheris.instrument_imports(include=["triage"]):
    import targets

    import triage.bundle.reader
    import triage.bundle.recover
    import triage.bundle.verify
    import triage.parsers

    triage.parsers.all_parsers()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("target", nargs="?")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--out", type=Path, help="where findings and the growing corpus go (default: a temp dir)")
    args, extra = ap.parse_known_args()
    if args.list or not args.target:
        print("\n".join(targets.TARGETS))
        return 0
    target = targets.TARGETS[args.target]
    out = args.out or Path(tempfile.mkdtemp(prefix=f"fuzz-{args.target}-"))
    seeds = out / "corpus"
    n = targets.write_seeds(args.target, seeds)
    print(f"fuzz {args.target}: {n} seed(s), {args.seconds} s, findings in {out}", flush=True)

    def one(data: bytes) -> None:
        target.run(data)

    argv = [sys.argv[0], f"-max_total_time={args.seconds}", "-timeout=20", "-rss_limit_mb=1536",
            "-max_len=300000", f"-artifact_prefix={out}/", "-print_final_stats=1", *extra, str(seeds)]
    try:
        atheris.Setup(argv, one)
        atheris.Fuzz()
    finally:
        targets.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
