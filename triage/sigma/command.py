"""The Sigma half of ``triage rules check`` and ``triage rules list``.

check: every rule file is parsed and mapped exactly as analysis does it; each rule that would not be
evaluated is listed with its reason (unsupported modifier, unmapped logsource, a correlation naming
a rule the set does not evaluate...), so a
rule set is vetted before a batch, not during it. A skip in triage's own pack is an error; in a user
set it is a warning (public sets hold rules for logs triage does not read).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from triage.sigma.load import load_rules, pack_dir


def check(paths: Sequence[str], *, builtin: bool, out=None) -> tuple[int, int]:
    """Print the check; return (errors, warnings)."""
    out = out or sys.stdout
    rs = load_rules(paths, builtin=builtin, use_cache=False)
    errors = warnings = 0
    for s in rs.skipped:
        sev = "error" if s.origin == "builtin" else "warning"
        errors += sev == "error"
        warnings += sev == "warning"
        what = f" {s.id} ({s.title})" if s.id else ""
        print(f"{sev}: sigma: {s.origin}:{s.path}:{what} not evaluated: {s.reason}", file=out)
    by_origin: dict[str, int] = {}
    for r in rs.rules:
        by_origin[r.origin] = by_origin.get(r.origin, 0)
    ids = {(r.origin, r.id) for r in rs.rules}
    for origin, _ in ids:
        by_origin[origin] += 1
    detail = ", ".join(f"{n} {o}" for o, n in sorted(by_origin.items())) or "none"
    corr = f", {len(rs.correlations)} correlation rules" if rs.correlations else ""
    print(f"Sigma: {rs.files} rule files, {rs.loaded} rules loaded ({detail}{corr}; {len(rs.rules)} log variants), "
          f"{len(rs.skipped)} not evaluated; pack: {pack_dir() if builtin else 'left out'}", file=out)
    for reason, n in list(rs.reasons().items())[:10]:
        print(f"  {n:5d} x {reason}", file=out)
    return errors, warnings


def list_rules(paths: Sequence[str], *, builtin: bool, out=None) -> int:
    """One line per rule: sigma, origin:path, id, level, ATT&CK tags, logsource, title."""
    out = out or sys.stdout
    rs = load_rules(paths, builtin=builtin)
    seen = set()
    for r in rs.rules:
        if (r.origin, r.id) in seen:
            continue
        seen.add((r.origin, r.id))
        tags = ",".join(t for t in r.tags if t.startswith("attack.")) or "-"
        print(f"sigma\t{r.origin}:{r.path}\t{r.id}\t{r.level}\t{tags}\t{r.logsource}\t{r.title}", file=out)
    for c in rs.correlations:
        tags = ",".join(t for t in c.tags if t.startswith("attack.")) or "-"
        print(f"sigma\t{c.origin}:{c.path}\t{c.id}\t{c.level}\t{tags}\tcorrelation:{c.type}\t{c.title}", file=out)
    return len(seen) + len(rs.correlations)
