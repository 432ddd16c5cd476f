"""Modules a batch worker needs, imported once in the fork server so every worker starts warm.

Why: the analysis imports its parsers, the report, YARA and Sigma lazily (a single-host command
should not pay for what it does not use). In a batch every worker needs all of them, and workers
are recycled every ``--max-tasks-per-child`` bundles; importing in each new worker cost about a
tenth of a CPU-second per worker. The fork server imports this module once; its children inherit
the loaded modules. Import only: nothing here may start a thread or open a file of the batch.
A module that cannot be imported is skipped: the analysis reports a missing dependency itself.
"""

from __future__ import annotations

import importlib

WARM_MODULES = (
    "triage.analyze.host", "triage.analyze.findings", "triage.analyze.network", "triage.analyze.summary",
    "triage.analyze.timeline", "triage.analyze.member_stream", "triage.bundle.reader", "triage.bundle.verify",
    "triage.bundle.inflate", "triage.report.html", "triage.scan.rules", "triage.scan.yara",
    "triage.sigma.engine", "triage.sigma.load", "triage.sigma.findings", "triage.sigma.hits",
)


def warm() -> list[str]:
    """Import the analysis' modules and every parser; returns the names that could not be imported."""
    missing = []
    for name in WARM_MODULES:
        try:
            importlib.import_module(name)
        except Exception:
            missing.append(name)
    try:
        from triage.parsers import all_parsers

        all_parsers()
    except Exception:
        missing.append("triage.parsers")
    return missing


warm()
