"""Command-line entry point.

Each sub-command lives in its own module of :mod:`triage.commands` and is imported only when it runs, so that
``triage collect`` never pays for (or ships) the analyzer's imports. A module provides
``configure(parser)`` to add its arguments and ``run(args) -> int`` to do the work.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from types import ModuleType

from triage import __version__
from triage import exit_codes as X
from triage.commands import UsageError
from triage.terminal import safe

__all__ = ["COMMANDS", "UsageError", "build_parser", "main"]

# name -> (module, one-line help). Order is the order shown in --help.
COMMANDS: dict[str, tuple[str, str]] = {
    "collect": ("triage.commands.collect", "collect artifacts from a host or mounted volume into a bundle"),
    "verify": ("triage.commands.verify", "verify a bundle's structure and every file's hash"),
    "recover": ("triage.commands.recover", "rebuild a verifiable bundle from an interrupted one"),
    "profiles": ("triage.commands.profiles", "list collection profiles or show one resolved"),
    "analyze": ("triage.commands.analyze", "analyze bundles: per-host summary, findings, timeline, fleet view"),
    "fleet": ("triage.commands.fleet", "fleet tools: export the fleet store and timelines as Parquet"),
    "rules": ("triage.commands.rules", "check YARA rules (compile and lint)"),
    "keygen": ("triage.commands.keygen", "make an analyst key pair for encrypted bundles"),
    "decrypt": ("triage.commands.decrypt", "decrypt an encrypted bundle"),
    "upload": ("triage.commands.upload", "upload a bundle to an intake server (resumable)"),
    "serve": ("triage.commands.serve", "run the intake server that receives uploaded bundles"),
}


def _top_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="triage",
        description="Fast forensic triage: collect, verify, ship and analyze evidence bundles.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="commands:\n" + "\n".join(f"  {n:<10} {h}" for n, (_, h) in COMMANDS.items())
        + "\n\nRun 'triage COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"triage {__version__}")
    parser.add_argument("command", nargs="?", choices=list(COMMANDS), metavar="COMMAND")
    return parser


def build_parser(name: str) -> tuple[argparse.ArgumentParser, ModuleType]:
    """Return the parser for one sub-command and its module."""
    module = importlib.import_module(COMMANDS[name][0])
    parser = argparse.ArgumentParser(prog=f"triage {name}", description=COMMANDS[name][1])
    module.configure(parser)
    return parser, module


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        top = _top_parser()
        ns = top.parse_args(argv[:1])
        if ns.command is None:
            top.print_help()
            return X.USAGE
    name, rest = argv[0], argv[1:]
    parser, module = build_parser(name)
    args = parser.parse_args(rest)  # exits 2 (USAGE) on a bad command line, as argparse does
    args.argv = ["triage", *argv]
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        print("triage: interrupted", file=sys.stderr)
        return X.INTERRUPTED
    except UsageError as exc:
        print(f"triage {name}: error: {safe(exc)}", file=sys.stderr)
        return X.USAGE
    except OSError as exc:  # a missing input, an unwritable output: say so plainly, no traceback
        print(f"triage: error: {safe(exc)}", file=sys.stderr)
        return X.USAGE
