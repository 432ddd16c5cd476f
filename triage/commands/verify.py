"""`triage verify BUNDLE...`: exit 0 when every bundle is intact, 1 with a precise list otherwise.

A file that is not a bundle at all (by its first bytes: :mod:`triage.bundle.kind`) is reported as
"NOT A BUNDLE", not as an interrupted collection to recover. Problems quote member names written on
the suspect host, so every line goes through :func:`triage.terminal.safe`.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from triage import exit_codes as X
from triage.bundle.kind import file_kind
from triage.bundle.verify import Problems, VerifyReport, verify_bundle
from triage.terminal import safe


def configure(p) -> None:
    p.add_argument("bundles", nargs="+", metavar="BUNDLE")
    p.add_argument("--key", metavar="KEY", help="private key, to check every segment of an encrypted bundle")
    p.add_argument("--json", action="store_true", help="print the reports as JSON (a list, one per bundle)")
    p.add_argument("--passphrase-file", metavar="FILE",
                   help="passphrase of a protected --key (first line; or set TRIAGE_KEY_PASSPHRASE)")


def verify_encrypted_bundle(path: str, private_key: Any = None) -> VerifyReport:
    """An encrypted bundle's check, by the shipping layer (structure; every segment with the key), as the
    same report a plain bundle gets. Dispatched from here so that triage.bundle never imports triage.ship."""
    report = VerifyReport(path=str(path), encrypted=True)
    try:
        from triage.ship.decrypt import verify_encrypted
    except ImportError:  # a build without 'cryptography'
        report.problems = ["encrypted bundle: this build cannot read encrypted bundles (no 'cryptography')"]
        return report
    sub = verify_encrypted(Path(path), private_key)
    problems = Problems()
    problems.extend(getattr(sub, "problems", []))
    report.problems = problems.final()
    report.sha256 = getattr(sub, "sha256", None)
    report.incomplete = bool(getattr(sub, "incomplete", False))
    report.checked = int(getattr(sub, "checked", 0))
    report.ok = not report.problems
    return report


def verify_path(path: str | Path, private_key: Any = None) -> VerifyReport:
    """Verify a plain or an encrypted bundle, dispatching on its first bytes (what ``triage verify`` does)."""
    if file_kind(path).kind == "encrypted":
        return verify_encrypted_bundle(str(path), private_key)
    return verify_bundle(path)


def run(args) -> int:

    key = None
    if args.key:
        from triage.ship.keys import load_private_key, private_key_is_encrypted
        from triage.ship.passphrase import passphrase_from_args

        try:
            key = load_private_key(args.key, passphrase_from_args(args, needed=private_key_is_encrypted(args.key)))
        except ValueError as exc:
            print(f"triage: error: --key {args.key}: {safe(exc)}", file=sys.stderr)
            return X.USAGE
    worst = X.OK
    missing = False
    reports = []
    for path in args.bundles:
        if not os.path.lexists(path):
            reports.append({"path": str(path), "ok": False, "state": "missing", "problems": ["no such file"]})
            print(f"triage verify: error: {safe(path)}: no such file", file=sys.stderr)
            missing = True
            continue
        kind = file_kind(path)
        if kind.kind in ("not_a_bundle", "unreadable"):
            reports.append({"path": str(path), "ok": False, "state": kind.kind, "problems": [kind.reason]})
            if not args.json:
                print(f"{'NOT A BUNDLE' if kind.kind == 'not_a_bundle' else 'UNREADABLE'}  {safe(path)}")
                print(f"  - {safe(kind.reason)}")
            worst = X.EVIDENCE
            continue
        r = verify_encrypted_bundle(path, key) if kind.kind == "encrypted" else verify_bundle(path)
        state = "OK" if r.ok else ("INCOMPLETE" if r.incomplete else "FAILED")
        reports.append({**r.to_dict(), "state": state.lower()})
        if not args.json:
            print(f"{state}  {safe(path)}  sha256={r.sha256}  files checked={r.checked}")
            for p in r.problems:
                print(f"  - {safe(p)}")
        if not r.ok:
            worst = X.EVIDENCE
    if args.json:
        json.dump(reports, sys.stdout, indent=2, ensure_ascii=True)
        print()
    return X.USAGE if missing else worst
