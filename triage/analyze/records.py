"""Compatibility shim: the record dataclasses moved to :mod:`triage.model` (the core model that
imports nothing of triage). New code imports ``triage.model``; this module stays until every branch
has switched, so modules written against the old path keep importing."""

from __future__ import annotations

from triage.model import (  # noqa: F401 -- re-exported names
    SEVERITIES,
    SEVERITY_RANK,
    ArtifactRecord,
    Autorun,
    BrowserDownload,
    BrowserHistoryStats,
    BrowserVisit,
    CommandHistory,
    ConnectivityEvent,
    Event,
    EventLogStats,
    Execution,
    Finding,
    HostFact,
    Issue,
    IssueSeverity,
    Outcome,
    PEInfo,
    Record,
    RecycleBinItem,
    Severity,
    SigmaMatch,
    Source,
    UserAccount,
)
