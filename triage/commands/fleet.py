"""``triage fleet export --parquet DIR``: the command line over :mod:`triage.fleet.export`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from triage.fleet.export import export_parquet


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["export"], help="export: write the fleet as Parquet")
    p.add_argument("fleet_dir", metavar="FLEET_DIR", help="a directory 'triage analyze --output' wrote")
    p.add_argument("--parquet", metavar="DIR", required=True, help="where to write the Parquet files")
    p.add_argument("--no-timelines", action="store_true", help="tables only, not the hosts' timelines")


def run(args: argparse.Namespace) -> int:
    fleet_dir = Path(args.fleet_dir)
    if not (fleet_dir / "fleet.sqlite").is_file():
        print(f"triage fleet: no fleet.sqlite in {fleet_dir}", file=sys.stderr)
        return 2
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        print("triage fleet export: needs pyarrow (pip install 'triage[export]')", file=sys.stderr)
        return 2
    from triage.fleet.store import open_store

    open_store(fleet_dir / "fleet.sqlite").close()  # an old store is migrated before it is read
    result = export_parquet(fleet_dir, Path(args.parquet), timelines=not args.no_timelines)
    for table, n in result.tables.items():
        print(f"{table:<20} {n:>9} rows  {Path(args.parquet) / (table + '.parquet')}")
    print(f"{'timeline':<20} {result.timeline_rows:>9} rows  {result.timeline_hosts} host(s) under"
          f" {Path(args.parquet) / 'timeline'}")
    for issue in result.issues[:20]:
        print(f"  issue: {issue}")
    return 0
