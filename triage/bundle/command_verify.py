"""`triage verify BUNDLE...`: exit 0 when every bundle is intact, 1 with a precise list otherwise."""

from __future__ import annotations

import json
import sys


def configure(p) -> None:
    p.add_argument("bundles", nargs="+", metavar="BUNDLE")
    p.add_argument("--key", metavar="KEY", help="private key, to check every segment of an encrypted bundle")
    p.add_argument("--json", action="store_true", help="print the reports as JSON")
    p.add_argument("--passphrase-file", metavar="FILE",
                   help="passphrase of a protected --key (first line; or set TRIAGE_KEY_PASSPHRASE)")


def run(args) -> int:
    from triage.bundle.verify import verify_bundle

    key = None
    if args.key:
        from triage.ship.crypto import load_private_key, private_key_is_encrypted
        from triage.ship.passphrase import passphrase_from_args

        try:
            key = load_private_key(args.key, passphrase_from_args(args, needed=private_key_is_encrypted(args.key)))
        except ValueError as exc:
            print(f"triage: error: --key {args.key}: {exc}", file=sys.stderr)
            return 2
    worst = 0
    reports = []
    for path in args.bundles:
        r = verify_bundle(path, private_key=key)
        reports.append(r.to_dict())
        if not args.json:
            state = "OK" if r.ok else ("INCOMPLETE" if r.incomplete else "FAILED")
            print(f"{state}  {path}  sha256={r.sha256}  files checked={r.checked}")
            for p in r.problems:
                print(f"  - {p}")
        if not r.ok:
            worst = 1
    if args.json:
        json.dump(reports, sys.stdout, indent=2)
        print()
    return worst
