"""``triage keygen --out NAME``: an analyst X25519 key pair (NAME.key, mode 0600, and NAME.pub).

The .pub file goes to whoever runs collections (``triage collect --encrypt-to NAME.pub``); the
.key file never leaves the analyst's side. A passphrase encrypts the private key at rest.
"""

from __future__ import annotations

import sys
from pathlib import Path

from triage.ship.keys import generate_key_pair, key_id, save_key_pair
from triage.ship.passphrase import add_passphrase_arguments, passphrase_from_args


def configure(parser) -> None:
    parser.add_argument("--out", required=True, metavar="NAME",
                        help="write NAME.key (private, mode 0600) and NAME.pub (public)")
    add_passphrase_arguments(parser, new=True)


def run(args) -> int:
    base = Path(args.out)
    private_path = base.with_name(base.name + ".key")
    public_path = base.with_name(base.name + ".pub")
    for p in (private_path, public_path):
        if p.exists():
            print(f"triage keygen: {p} exists; not overwriting a key", file=sys.stderr)
            return 2  # exit_codes.USAGE: nothing was changed
    try:
        passphrase = passphrase_from_args(args, confirm=True)
    except ValueError as exc:
        print(f"triage keygen: {exc}", file=sys.stderr)
        return 2
    private, public = generate_key_pair()
    save_key_pair(private, private_path, public_path, passphrase)
    print(f"private key: {private_path} (keep it; mode 0600{', passphrase-protected' if passphrase else ''})")
    print(f"public key:  {public_path} (give it to collectors: --encrypt-to {public_path.name})")
    print(f"key id:      {key_id(public)}")
    return 0
