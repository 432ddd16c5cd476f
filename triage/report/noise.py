"""Known-benign background and grouped counts in the report.

Why a module apart from the findings section: the analysis (triage/analyze/ranking.py) marks a
finding as known-benign with ``noise`` (the reason, severity lowered to info) and groups duplicates
with ``count``. Both are read from a summary that may be old (no such keys) or hostile (a count
of "lots" or -5), so they are read defensively (triage.verdict's is_noise/count_of, the same reading the verdict
uses) and the findings section and the verdict block show them the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from triage.report.escape import e
from triage.verdict import count_of, is_noise


def total(findings: Iterable[Mapping[str, Any]]) -> int:
    """The records a set of findings stands for: the sum of their counts."""
    return sum(count_of(f) for f in findings)


def times(n: int) -> str:
    """The "×N" badge for a grouped count; nothing for a single record."""
    return f'<span class="badge count" title="{n} entries or records grouped">×{n}</span>' if n > 1 else ""


def reason(f: Mapping[str, Any]) -> str:
    """Why the analysis called a finding known-benign, escaped, for the noise group."""
    return f'<div class="noise-why">known-benign: {e(f.get("noise"))}</div>'


def split(findings: Iterable[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(real suspects, known-benign background), each in its given order; non-dict entries dropped."""
    real: list[dict[str, Any]] = []
    noise: list[dict[str, Any]] = []
    for f in findings:
        if isinstance(f, dict):
            (noise if is_noise(f) else real).append(f)
    return real, noise


__all__ = ["count_of", "is_noise", "reason", "split", "times", "total"]
