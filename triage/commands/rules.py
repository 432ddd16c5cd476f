"""``triage rules``: check (compile + lint) and list the YARA and Sigma rules analysis would use.

Why a check command: a rule that does not compile is skipped at analysis time (reported, not fatal),
and a rule without a good atom silently slows every scan by an order of magnitude; both are cheaper
to catch before a batch of bundles than during it.
"""

from __future__ import annotations

import argparse
import sys

from triage.scan.lint import LintSyntaxError, lint_file, parse_rules
from triage.scan.rules import compile_rules, pack_dir


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    check = sub.add_parser("check", help="compile and lint the rule pack and extra rules (exit 1 on errors)")
    lst = sub.add_parser("list", help="list every rule: namespace, name, severity, ATT&CK, description")
    for p in (check, lst):
        p.add_argument("--rules", action="append", default=[], metavar="PATH",
                       help="extra rule file or folder (repeatable); each file gets its own namespace")
        p.add_argument("--no-pack", action="store_true", help="leave out the shipped YARA rule pack")
        p.add_argument("--sigma", action="append", default=[], metavar="PATH",
                       help="extra Sigma rule file or folder (repeatable), as for analyze --sigma")
        p.add_argument("--no-builtin-sigma", action="store_true", help="leave out triage's own Sigma rules")
    check.add_argument("--strict", action="store_true", help="warnings (slow patterns) also fail the check")
    parser.set_defaults(action=None)


def run(args: argparse.Namespace) -> int:
    if args.action is None:
        print("usage: triage rules {check,list} [--rules PATH ...]", file=sys.stderr)
        return 2
    from triage.sigma import command as sigma_command

    compiled = compile_rules(args.rules, include_pack=not args.no_pack, use_cache=False)
    builtin = not args.no_builtin_sigma
    if args.action == "list":
        status = _list(compiled)
        sigma_command.list_rules(args.sigma, builtin=builtin)
        return status
    status = _check(compiled, strict=args.strict)
    errors, warnings = sigma_command.check(args.sigma, builtin=builtin)
    return 1 if status or errors or (args.strict and warnings) else 0


def _list(compiled) -> int:
    for issue in compiled.issues:
        where = f"{issue.source.bundle_path}: " if issue.source else ""
        print(f"{issue.severity}: {where}{issue.message}", file=sys.stderr)
    if compiled.rules is None:
        return 1
    for f in compiled.loaded:
        try:
            rules = parse_rules(f.text)
        except LintSyntaxError as exc:
            print(f"warning: {f.path}: cannot list ({exc})", file=sys.stderr)
            continue
        for r in rules:
            meta = r.meta
            print(f"{f.namespace}\t{r.name}\t{meta.get('severity', '-')}\t{meta.get('attack', '-')}\t"
                  f"{meta.get('description', '')}")
    return 0


def _check(compiled, *, strict: bool) -> int:
    errors = warnings = 0
    for issue in compiled.issues:
        where = f"{issue.source.bundle_path}: " if issue.source else ""
        print(f"{issue.severity}: {where}{issue.message}")
        if issue.severity == "error":
            errors += 1
        else:
            warnings += 1
    for w in compiled.warnings:
        print(f"warning: yara: {w}")
        warnings += 1
    bad_files = {i.source.bundle_path for i in compiled.issues if i.source and i.severity == "error"}
    for f in compiled.files:
        if str(f.path) in bad_files:
            continue  # yara's own error says more than the linter could
        for m in lint_file(f.path):
            print(m)
            if m.severity == "error":
                errors += 1
            else:
                warnings += 1
    n_rules = sum(1 for _ in compiled.rules) if compiled.rules is not None else 0
    pack = pack_dir()
    print(f"{len(compiled.files)} rule files ({n_rules} rules compiled; pack: {pack or 'not found'}): "
          f"{errors} error(s), {warnings} warning(s)")
    if errors or (strict and warnings):
        return 1
    return 0
