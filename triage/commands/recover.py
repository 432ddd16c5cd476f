"""`triage recover BUNDLE`: write a new, verifiable bundle holding every file finished before an interruption.

Exit codes (:mod:`triage.exit_codes`): 0 when every file the journal knew of was recovered, 4 when
some were lost (listed), 1 when the input is not a bundle or nothing could be recovered.
"""

from __future__ import annotations

import sys

from triage import exit_codes as X
from triage.terminal import safe


def configure(p) -> None:
    p.add_argument("bundle", metavar="BUNDLE")
    p.add_argument("--output", "-o", metavar="DIR", help="where to write the recovered bundle (default: beside it)")


def run(args) -> int:
    from triage.bundle.kind import file_kind
    from triage.bundle.recover import recover_bundle

    kind = file_kind(args.bundle)
    if kind.kind == "unreadable":
        print(f"triage recover: error: {safe(args.bundle)} {safe(kind.reason)}", file=sys.stderr)
        return X.USAGE
    if not kind.is_bundle:
        print(f"triage recover: {safe(args.bundle)}: {safe(kind.reason)}; nothing to recover", file=sys.stderr)
        return X.EVIDENCE
    dest, record = recover_bundle(args.bundle, args.output)
    rec = record["recovery"]
    print(f"recovered {rec['files_recovered']} file(s) into {safe(dest)}")
    for lost in rec["files_lost"]:
        print(f"  lost: {safe(lost['path'])}: {safe(lost['reason'])}")
    print(f"verify it with: triage verify {safe(dest)}")
    if not rec["files_recovered"] and rec["files_lost"]:
        return X.EVIDENCE
    return X.PARTIAL if rec["files_lost"] else X.OK
