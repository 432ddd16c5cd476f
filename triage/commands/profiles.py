"""`triage profiles list` / `triage profiles show NAME|FILE`."""

from __future__ import annotations

import sys


def configure(p) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    sub.add_parser("list", help="list the available profiles")
    show = sub.add_parser("show", help="show a profile's artifacts, resolved, in priority order")
    show.add_argument("name", metavar="NAME|FILE")


def run(args) -> int:
    from triage.profile import ProfileError, available_profiles, load_profile
    from triage.units import human_size

    if args.action == "list":
        for name, path in available_profiles().items():
            try:
                prof = load_profile(str(path))
                print(f"{name:<18} {len(prof.artifacts):>3} artifacts  {prof.description}")
            except ProfileError as exc:
                print(f"{name:<18} INVALID: {exc}")
        return 0
    try:
        prof = load_profile(args.name)
    except ProfileError as exc:
        print(f"triage: error: {exc}", file=sys.stderr)
        return 2
    print(f"{prof.name} ({prof.os}) - {prof.description}\nfile: {prof.source_file}\nsha256: {prof.sha256}\n")
    for a in prof.ordered():
        cap = human_size(a.max_file_size) if a.max_file_size else "none"
        print(f"[{a.priority:>3}] {a.name}  (cap {cap})\n      {a.description}")
        for pat in a.patterns:
            print(f"      - {pat.raw}" + ("   (per user)" if pat.per_user else ""))
        if a.companions:
            print(f"      companions: {', '.join(a.companions)}")
        if a.streams:
            print(f"      streams: {', '.join(a.streams)}")
    return 0
