"""What one host's analysis holds while it runs (:class:`AnalysisData`) and what it returns
(:class:`HostAnalysis`), plus the safe names used for its output folder.

Why apart from the runner: the parsers' tests, the summary builder and the batch need these types
without pulling in the process pools and threads of :mod:`triage.analyze.host`.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from triage.bundle.manifest import ManifestEntry
from triage.model import Finding, Issue, Record

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._\-$%#@+=, ()\[\]{}~]")
_UNSAFE_HOST = re.compile(r"[^A-Za-z0-9._-]")


def safe_basename(name: str, default: str = "file") -> str:
    """A file name safe to create inside a private directory, from a hostile bundle name.

    Takes the last component across both separator styles, replaces anything outside a small set
    of characters, refuses '.'/'..' and empty names and caps the length. Character-wise replacement
    keeps companion names in step (``SYSTEM`` / ``SYSTEM.LOG1``, ``History`` / ``History-journal``).
    """
    base = re.split(r"[\\/]", name or "")[-1]
    base = _UNSAFE_NAME.sub("_", base).strip(" ")
    if base in ("", ".", "..") or set(base) == {"."}:
        base = default
    if len(base) > 160:
        base = base[:160]
    return base


def safe_hostname(name: str | None) -> str:
    """Directory-safe host name (hostile input: path separators, dots, markup, control characters)."""
    text = _UNSAFE_HOST.sub("_", str(name or "")).strip("._-")
    return text[:64] or "host"


@dataclass
class HostAnalysis:
    """What :func:`analyze_bundle` produced for one bundle.

    summary: the summary dict written to summary.json. out_dir: the host's output directory.
    counts: records/findings/issues totals and findings per severity (for batch progress lines).
    refused: True when the bundle failed verification and ``force`` was not given (nothing parsed).
    manifest_entries: the bundle's manifest entries as its reader read them (None when the bundle
    could not be opened), so a batch worker does not open the bundle again to list its files.
    """

    summary: dict[str, Any]
    out_dir: Path
    counts: dict[str, Any] = field(default_factory=dict)
    refused: bool = False
    manifest_entries: list[ManifestEntry] | None = None

    @property
    def hostname(self) -> str:
        return self.summary.get("host", {}).get("hostname") or ""

    @property
    def summary_path(self) -> Path:
        return self.out_dir / "summary.json"

    @property
    def report_path(self) -> Path:
        return self.out_dir / "report.html"

    @property
    def timeline_path(self) -> Path:
        return self.out_dir / "timeline.jsonl"


@dataclass
class AnalysisData:
    """Everything the summary, timeline and report are made from (the in-memory state of one host)."""

    bundle_path: Path
    bundle_sha256: str | None = None
    verified: bool = False
    verify_problems: list[str] = field(default_factory=list)
    verify_incomplete: bool = False
    forced: bool = False
    refused: bool = False
    collection: dict[str, Any] = field(default_factory=dict)
    entries: list[ManifestEntry] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    yara_hits: list[Any] = field(default_factory=list)
    windows: list[dict[str, Any]] = field(default_factory=list)
    parsed: dict[str, list[str]] = field(default_factory=dict)       # bundle_path -> parser names
    unsupported: list[str] = field(default_factory=list)              # bundle paths no parser took
    records_per_parser: Counter = field(default_factory=Counter)
    files_per_parser: Counter = field(default_factory=Counter)
    seconds_per_parser: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    timings: dict[str, float] = field(default_factory=dict)
    hostname: str = ""
    parser_import_errors: dict[str, str] = field(default_factory=dict)
    yara_enabled: bool = False
    network_known: bool = False
    sigma_ruleset: Any = None  # triage.sigma.load.RuleSet when Sigma rules were evaluated
    timeline: str = "highlights"  # or 'full': every event-log record (analyze --timeline full)



def host_dir_name(hostname: str, sha256: str | None) -> str:
    return f"{safe_hostname(hostname)}_{(sha256 or '0' * 12)[:12]}"
