"""Artifact parsers. Importing this package registers every parser (explicit imports = the registry).

A parser module that cannot import its third-party library (not installed) is skipped here and
the host analysis reports the artifact as unsupported instead of crashing.
"""

from __future__ import annotations

import importlib

from triage.parsers.base import ParseInput, Parser

_MODULES = (
    "triage.parsers.evtx.parser",
    "triage.parsers.registry.parser",
    "triage.parsers.registry.regback",
    "triage.parsers.tasks",
    "triage.parsers.prefetch",
    "triage.parsers.browser.chromium",
    "triage.parsers.browser.firefox",
    "triage.parsers.pe",
    "triage.parsers.recyclebin",
    "triage.parsers.history",
    "triage.parsers.startup",
    "triage.parsers.defender_mplog",
    "triage.parsers.defender_history",
    "triage.parsers.setupapi",
    "triage.parsers.windows_timeline",
    "triage.parsers.ps_transcript",
    "triage.parsers.job_files",
    "triage.parsers.wmi_repository",
    "triage.parsers.bits_queue",
    "triage.parsers.lnk",
    "triage.parsers.jumplist",
    "triage.parsers.srum",
    "triage.parsers.linux.all",
    "triage.parsers.linux.journal",
)

IMPORT_ERRORS: dict[str, str] = {}


def all_parsers() -> list[type[Parser]]:
    """Every parser class whose module imports, in registration order."""
    for name in _MODULES:
        if name in IMPORT_ERRORS:
            continue
        try:
            importlib.import_module(name)
        except ImportError as exc:
            IMPORT_ERRORS[name] = str(exc)
    return list(Parser.registry)


__all__ = ["IMPORT_ERRORS", "ParseInput", "Parser", "all_parsers"]
