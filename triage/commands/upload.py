"""``triage upload BUNDLE --to URL --token T``: resumable, verified upload; prints the receipt.

Exit (:mod:`triage.exit_codes`): 0 every bundle stored, 5 some upload failed (the local bundle is
kept; running again resumes), 2 a command line it cannot act on (bad option, no such file).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from triage import exit_codes as X
from triage.ship.client import UploadError, add_upload_arguments, options_from_args, upload_file
from triage.terminal import safe


def configure(parser) -> None:
    parser.add_argument("bundle", nargs="+", help="bundle file(s) (.zip or encrypted .tbe)")
    add_upload_arguments(parser)


def run(args) -> int:
    try:
        options = options_from_args(args)
    except (ValueError, OSError) as exc:
        print(f"triage upload: {exc}", file=sys.stderr)
        return X.USAGE
    failures = 0
    missing = 0
    for bundle in args.bundle:
        path = Path(bundle)
        if not path.is_file():
            print(f"triage upload: {safe(path)}: not a file", file=sys.stderr)
            missing += 1
            continue
        try:
            receipt = upload_file(path, options)
        except UploadError as exc:
            print(f"triage upload: {safe(path.name)}: {safe(exc)} (the local bundle is kept; run again to resume)",
                  file=sys.stderr)
            failures += 1
            continue
        print(json.dumps(receipt, indent=2, sort_keys=True), flush=True)
    return X.USAGE if missing else X.UPLOAD_FAILED if failures else X.OK
