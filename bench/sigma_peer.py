#!/usr/bin/env python3
"""Agreement: triage's Sigma detections against a Zircolite-style peer, rule by rule, on every event
log of ../shared/corpus/evtx and every SigmaHQ regression case.

The issue's bar: at least the peer's detections, no more false alarms. The peer (tests/_sigma_peer.py)
is pySigma's SQLite backend over the same rules and pipelines, each log's records flattened into an
in-memory table. Groups: each museum whole-machine set as one table (the logs of one machine), every
other corpus log and every regression case's .evtx alone. triage's side is its EVTX parser with the
SigmaHQ rules (the analysis' own path, minus the outputs): matched records per rule.

Printed per group where the two differ: rules the peer fired and triage did not (MISSED), rules both
fired with other record counts (DIFFER), rules only triage fired (EXTRA) with why the peer was silent
(a query naming a column the group's records lack fails as a whole in SQLite; triage lets that field
not match, as the issue asks). Exit status 1 on any MISSED, DIFFER or unexplained EXTRA.

Usage: python3 bench/sigma_peer.py [--no-regression] [--no-corpus]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
# as the script's directory, bench/ would let bench/sigma.py shadow the pySigma package
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(REPO))
sys.path.append(str(REPO / "tests"))  # after site-packages: tests/sigma must not stand in for pySigma
SHARED = (REPO / ".." / "shared").resolve()
SIGMAHQ = [SHARED / "sigma" / d for d in ("rules", "rules-threat-hunting", "rules-emerging-threats")]


def groups(corpus: bool, regression: bool) -> list[tuple[str, list[Path]]]:
    out: list[tuple[str, list[Path]]] = []
    if corpus:
        root = SHARED / "corpus" / "evtx"
        for d in sorted(root.glob("museum-*")):
            out.append((d.relative_to(root.parent).as_posix(), sorted(d.rglob("*.evtx"))))
        out += [(p.relative_to(root.parent).as_posix(), [p]) for p in sorted(root.rglob("*.evtx"))
                if not p.relative_to(root).parts[0].startswith("museum-")]
    if regression:
        reg = SHARED / "sigma" / "regression_data"
        out += [(p.relative_to(reg).as_posix(), [p]) for p in sorted(reg.rglob("*.evtx"))]
    return out


def ours(files: list[Path], key: str) -> Counter:
    """Matched records per rule id, from triage's EVTX parser with the compiled set ``key``."""
    from triage.model import SigmaMatch
    from triage.parsers.base import input_from_file
    from triage.parsers.evtx.parser import EvtxParser

    out: Counter = Counter()
    for path in files:
        item = input_from_file(path, f"Windows/System32/winevt/Logs/{path.name}")
        item.options["evtx_sigma_key"] = key
        for rec in EvtxParser().parse(item):
            if isinstance(rec, SigmaMatch):
                out[rec.rule_id] += rec.count
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--no-regression", action="store_true")
    ap.add_argument("--no-corpus", action="store_true")
    args = ap.parse_args()
    import _sigma_peer as peer

    from triage.sigma.engine import prepare

    rs, _ = prepare([str(d) for d in SIGMAHQ], builtin=False)
    titles = {r.id: r.title for r in rs.rules}
    queries, failed, secs = peer.convert(SIGMAHQ)
    print(f"peer: {len(queries)} SQLite queries from the SigmaHQ rules ({failed} rules not converted) in {secs:.1f} s; "
          f"triage: {rs.loaded} rules")
    totals: Counter = Counter()
    t0 = time.perf_counter()
    for label, files in groups(not args.no_corpus, not args.no_regression):
        db, records = peer.table(files)
        got = peer.compare(peer.run(db, queries), ours(files, rs.key))
        db.close()
        totals["groups"] += 1
        totals["records"] += records
        for k, v in got.items():
            totals[k] += len(v)
        totals["unexplained"] += sum(1 for _, why in got["extra"] if not why)
        if any(got.values()):
            print(f"{label} ({records} records)")
            for r in got["missed"]:
                print(f"  MISSED {titles.get(r, r)} ({r})")
            for r, a, b in got["differ"]:
                print(f"  DIFFER {titles.get(r, r)}: triage {a}, peer {b}")
            for r, why in got["extra"]:
                print(f"  EXTRA  {titles.get(r, r)}: {why or 'the peer ran it and found nothing: DISAGREE'}")
    print(f"\n{totals['groups']} groups, {totals['records']:,} records in {time.perf_counter() - t0:.0f} s: "
          f"missed {totals['missed']}, counts differ {totals['differ']}, triage only {totals['extra']} "
          f"({totals['unexplained']} where the peer ran the rule)")
    ok = not (totals["missed"] or totals["differ"] or totals["unexplained"])
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
