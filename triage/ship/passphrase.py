"""Passphrases for private keys: from a file, an environment variable, or the terminal.

Never from a command-line argument: that would sit in shell history and the process list.
"""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path

ENV = "TRIAGE_KEY_PASSPHRASE"


def add_passphrase_arguments(parser, new: bool = False) -> None:
    parser.add_argument("--passphrase-file", metavar="FILE",
                        help=f"read the key passphrase from FILE's first line (or set {ENV})")
    if new:
        parser.add_argument("--ask-passphrase", action="store_true",
                            help="prompt for a passphrase to protect the private key")


def passphrase_from_args(args, confirm: bool = False, needed: bool = False) -> bytes | None:
    if getattr(args, "passphrase_file", None):
        lines = Path(args.passphrase_file).read_text().splitlines()
        if not lines or not lines[0]:
            raise ValueError(f"{args.passphrase_file}: empty passphrase file")
        return lines[0].encode()
    if os.environ.get(ENV):
        return os.environ[ENV].encode()
    if getattr(args, "ask_passphrase", False) or needed:
        if not sys.stdin.isatty():
            raise ValueError(f"a passphrase is needed: use --passphrase-file or {ENV}")
        first = getpass.getpass("key passphrase: ")
        if confirm and getpass.getpass("again: ") != first:
            raise ValueError("passphrases differ")
        if not first:
            raise ValueError("empty passphrase")
        return first.encode()
    return None
