"""`triage recover BUNDLE`: write a new, verifiable bundle holding every file finished before an interruption."""

from __future__ import annotations


def configure(p) -> None:
    p.add_argument("bundle", metavar="BUNDLE")
    p.add_argument("--output", "-o", metavar="DIR", help="where to write the recovered bundle (default: beside it)")


def run(args) -> int:
    from triage.bundle.recover import recover_bundle

    dest, record = recover_bundle(args.bundle, args.output)
    rec = record["recovery"]
    print(f"recovered {rec['files_recovered']} file(s) into {dest}")
    for lost in rec["files_lost"]:
        print(f"  lost: {lost['path']}: {lost['reason']}")
    print(f"verify it with: triage verify {dest}")
    return 0
