"""``triage decrypt FILE.tbe --key NAME.key [--output DIR]``: restore the plain bundle.

Exit: 0 every file decrypted, 1 one that does not authenticate, 4 a truncated one decrypted with
``--allow-truncated`` (what is authentic), 2 a bad key, passphrase or output directory.

The plain bundle gets its real name back (it was hidden inside the encrypted header) and a
``.sha256`` sidecar, and is written only after every segment authenticated.
"""

from __future__ import annotations

import sys
from pathlib import Path

from triage.ship.crypto import DecryptError
from triage.ship.decrypt import decrypt_file
from triage.ship.keys import load_private_key, private_key_is_encrypted
from triage.ship.passphrase import add_passphrase_arguments, passphrase_from_args
from triage.terminal import safe


def configure(parser) -> None:
    parser.add_argument("encrypted", nargs="+", help="encrypted bundle(s) (.tbe)")
    parser.add_argument("--key", required=True, help="analyst private key (from triage keygen)")
    parser.add_argument("--output", "-o", default=".", help="directory for the plain bundle(s) (default: .)")
    parser.add_argument("--allow-truncated", action="store_true",
                        help="decrypt what is authentic in an interrupted (truncated) bundle, for recovery")
    add_passphrase_arguments(parser)


def run(args) -> int:
    out = Path(args.output)
    if not out.is_dir():
        print(f"triage decrypt: {out}: not a directory", file=sys.stderr)
        return 2
    try:
        passphrase = passphrase_from_args(args, needed=private_key_is_encrypted(args.key))
        key = load_private_key(args.key, passphrase)
    except (ValueError, OSError) as exc:
        print(f"triage decrypt: {exc}", file=sys.stderr)
        return 2
    failures = truncated = 0
    for src in args.encrypted:
        try:
            result = decrypt_file(src, out, key, allow_truncated=args.allow_truncated)
        except (DecryptError, ValueError, OSError) as exc:
            print(f"triage decrypt: {safe(src)}: {safe(exc)}", file=sys.stderr)
            failures += 1
            continue
        note = " (TRUNCATED: final segment missing; run triage recover on it)" if result.truncated else ""
        truncated += bool(result.truncated)
        print(f"{safe(src)} -> {safe(result.path)} ({result.size} bytes, sha256 {result.sha256}){note}")
    return 1 if failures else (4 if truncated else 0)  # exit_codes: EVIDENCE, PARTIAL, OK
