"""The core model: typed records every parser produces and every consumer (summary, findings,
timeline, fleet, report) reads, plus the severity and outcome vocabularies.

Why one module at the bottom: the parsers, the scanners, the findings rules, the report and the fleet
store are written separately but must agree on field names and on the words they use for severity
and outcome. This module imports nothing of triage, so every layer can import it and none has to
import a layer above it (``tests/test_layering.py`` checks that). Each record carries ``source``
(which bundle file and which record inside it) so every fact in every output is traceable.
Timestamps are timezone-aware UTC datetimes; each field name says what the time means
(``last_write``, ``last_runs``...).

Errors are data: a parser yields :class:`Issue` for anything it could not read and goes on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar


class Severity(StrEnum):
    """How much a finding deserves an analyst's time, most urgent first (YARA rule metadata, the
    findings rules, the report and the fleet score use these words; Sigma's 'informational' maps to
    INFO)."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"


# The severities as plain strings, most urgent first, and each one's rank (0 = most urgent).
SEVERITIES: tuple[str, ...] = tuple(s.value for s in Severity)
SEVERITY_RANK: dict[str, int] = {s: i for i, s in enumerate(SEVERITIES)}


class IssueSeverity(StrEnum):
    """Severity of an :class:`Issue`: ERROR (a file or part of it was lost), WARNING (read with
    doubts), INFO (worth knowing, nothing lost)."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class Outcome(StrEnum):
    """What happened to one file the collector planned to read (the manifest's ``outcome``)."""

    COLLECTED = "collected"                      # whole file in the bundle, hashed while read
    PARTIAL = "partial"                          # changed size while read (growing log): what was read is kept
    MISSING = "missing"                          # pattern matched nothing / vanished between listing and reading
    FAILED = "failed"                            # could not be read (locked, permission, I/O); error says why
    SKIPPED_BUDGET = "skipped_budget"            # did not fit the global --max-size / --max-time budget
    SKIPPED_SIZE = "skipped_size"                # larger than the artifact's per-file cap
    SKIPPED_DUPLICATE = "skipped_duplicate"      # e.g. a shadow-copy file identical to the live copy
    SKIPPED_INTERRUPTED = "skipped_interrupted"  # planned, not reached: the collection was interrupted


@dataclass(frozen=True, slots=True, kw_only=True)
class Source:
    """Provenance of a fact: the bundle member and the record inside it.

    bundle_path: member name in the bundle, e.g. 'files/C/Windows/System32/config/SYSTEM'.
    locator: where inside that file, e.g. 'record 1402', 'key ...\\Run value Updater', 'visits.id=17'.
    user: the user profile the file belongs to, when the profile expansion knew it.
    """

    bundle_path: str
    locator: str | None = None
    user: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"bundle_path": self.bundle_path, "locator": self.locator, "user": self.user}


@dataclass(frozen=True, slots=True, kw_only=True)
class Issue:
    """Something that could not be read or looked wrong; never raised, always reported.

    severity: 'error' (a file or part of it was lost), 'warning' (read with doubts), 'info'.
    """

    severity: str
    message: str
    source: Source | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "bundle_path": self.source.bundle_path if self.source else None,
            "locator": self.source.locator if self.source else None,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    """Base of every parsed fact."""

    record_type: ClassVar[str] = "record"
    source: Source


@dataclass(frozen=True, slots=True, kw_only=True)
class HostFact(Record):
    """One fact about the host: key in {'hostname','os_product','os_build','os_version','install_date',
    'timezone','timezone_bias_minutes','last_shutdown','domain','registered_owner', ...}."""

    record_type: ClassVar[str] = "windows/registry/host_fact"
    key: str
    value: Any


@dataclass(frozen=True, slots=True, kw_only=True)
class UserAccount(Record):
    """A user known to the host (ProfileList in SOFTWARE, SAM, or a Users folder)."""

    record_type: ClassVar[str] = "windows/registry/user"
    name: str
    sid: str | None = None
    profile_path: str | None = None
    last_write: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Autorun(Record):
    """Something that starts automatically.

    category: 'run' (Run/RunOnce keys), 'service', 'winlogon', 'ifeo', 'appinit', 'task',
    'startup_folder', 'lsa', 'boot_execute', 'appcert', 'winsock', 'print_monitor', 'print_provider',
    'network_provider', 'active_setup', 'shell_extension', 'cmd_autorun', 'office_addin',
    'logon_script', 'com_hijack' (registry_asep.py), 'other'.
    location: where it is configured, e.g. 'HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run'
    or 'HKU\\tony\\...\\Run' or 'C:\\Windows\\System32\\Tasks\\X' or a startup-folder path.
    command: the command line / image path as stored (unexpanded).
    last_write: last-write time of the key (or file mtime) that holds it, UTC.
    details: category-specific extras (service start_type, service_dll, task triggers/author...).
    """

    record_type: ClassVar[str] = "windows/autorun"
    category: str
    location: str
    name: str
    command: str
    user: str | None = None
    last_write: datetime | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Execution(Record):
    """Evidence that a program ran (prefetch, Amcache, ...).

    kind: 'prefetch', 'amcache', 'shimcache', 'bam'. last_runs newest first.
    """

    record_type: ClassVar[str] = "windows/execution"
    kind: str
    executable: str
    path: str | None = None
    run_count: int | None = None
    last_runs: tuple[datetime, ...] = ()
    sha1: str | None = None
    prefetch_hash: str | None = None
    prefetch_version: int | None = None
    referenced_files: tuple[str, ...] = ()
    volumes: tuple[dict[str, Any], ...] = ()
    raw_path: str | None = None  # the path as recorded when ``path`` shows a drive letter (analyze/volumes.py)


@dataclass(frozen=True, slots=True, kw_only=True)
class EventLogStats(Record):
    """Per-log statistics for one .evtx file."""

    record_type: ClassVar[str] = "windows/evtx/stats"
    channel: str | None
    records: int
    errors: int
    first: datetime | None
    last: datetime | None
    computers: dict[str, int] = field(default_factory=dict)
    event_ids: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Event(Record):
    """A notable event-log record, typed.

    category: 'logon', 'logon_failed', 'explicit_logon', 'rdp', 'service_install', 'task_created',
    'log_cleared', 'account_change', 'group_change', 'process', 'powershell', 'powershell_script',
    'defender', 'network', 'firewall', 'vpn', 'ncsi', 'other'.
    computer: the record's Computer field (may differ from the host name: flag, never drop).
    fields: the typed fields of that kind (e.g. logon_type, ip, account, command_line, script_block).
    """

    record_type: ClassVar[str] = "windows/evtx/event"
    timestamp: datetime
    channel: str
    provider: str | None
    event_id: int
    record_id: int | None
    computer: str | None
    category: str
    description: str
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class SigmaMatch(Record):
    """The records of one event log that one Sigma rule matched (one per rule and log; the host's
    finding sums them). ``source`` is the log; ``samples`` the first matched records, each
    {record_id, time (TimeCreated, UTC), written (the record header's time, only where it differs),
    event_id, fields (the fields the rule tests, as logged)}.

    The rule's author travels with every match: the Detection Rule License of the public rule sets
    requires it."""

    record_type: ClassVar[str] = "windows/evtx/sigma_match"
    rule_id: str
    title: str
    level: str
    author: str
    tags: tuple[str, ...]
    origin: str
    rule_path: str
    channel: str | None
    count: int
    first: datetime | None
    last: datetime | None
    samples: tuple[dict[str, Any], ...] = ()
    # for the correlation rules naming this rule (triage.sigma.correlate): its matched records,
    # each {time, record_id, event_id, values: the fields those rules read}, up to a cap
    events: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectivityEvent(Record):
    """A change of network state, for off-network windows.

    kind: 'connected', 'disconnected' (NetworkProfile 10000/10001), 'ncsi' (internet reachability),
    'firewall_profile', 'vpn_connected', 'vpn_disconnected'.
    network_category: 'domain' | 'private' | 'public' | None (NetworkProfile Category 2/1/0).
    """

    record_type: ClassVar[str] = "windows/network/connectivity"
    timestamp: datetime
    kind: str
    network: str | None = None
    network_category: str | None = None
    event_id: int | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class BrowserHistoryStats(Record):
    """Per-database browser statistics."""

    record_type: ClassVar[str] = "browser/history/stats"
    browser: str
    user: str | None
    urls: int
    visits: int
    first_visit: datetime | None
    last_visit: datetime | None
    downloads: int


@dataclass(frozen=True, slots=True, kw_only=True)
class BrowserVisit(Record):
    record_type: ClassVar[str] = "browser/history/visit"
    browser: str
    user: str | None
    timestamp: datetime
    url: str
    title: str | None = None
    transition: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class BrowserDownload(Record):
    """A download; start/end UTC. danger_type is Chromium's enum name where known."""

    record_type: ClassVar[str] = "browser/history/download"
    browser: str
    user: str | None
    start: datetime | None
    end: datetime | None
    url: str | None
    target_path: str | None
    received_bytes: int | None = None
    total_bytes: int | None = None
    danger_type: str | None = None
    state: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PEInfo(Record):
    record_type: ClassVar[str] = "windows/pe"
    path: str
    size: int
    md5: str
    sha1: str
    sha256: str
    imphash: str | None
    compile_time: datetime | None
    machine: str | None
    is_dll: bool
    signed: bool
    sections: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandHistory(Record):
    """A line from a shell history (PSReadLine ConsoleHost_history.txt, bash_history)."""

    record_type: ClassVar[str] = "shell/history"
    shell: str
    user: str | None
    line_number: int
    command: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RecycleBinItem(Record):
    """A Recycle Bin $I record: what was deleted, when, how big."""

    record_type: ClassVar[str] = "windows/recyclebin"
    original_path: str
    deleted: datetime | None
    size: int | None
    user_sid: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding(Record):
    """A reason for an analyst to look: severity in 'critical','high','medium','low','info'.

    rule: stable identifier of the rule that produced it (used for scoring and stacking).
    evidence: list of {bundle_path, locator, ...} dicts; when: time of the activity (UTC) if known.
    """

    record_type: ClassVar[str] = "finding"
    rule: str
    severity: str
    title: str
    reason: str
    evidence: tuple[dict[str, Any], ...] = ()
    when: datetime | None = None
    off_network: bool | None = None
    attack: tuple[str, ...] = ()
    noise: str | None = None  # why this is known-benign background (ranked below real suspects), else None
    count: int = 1            # how many entries/records this one finding groups


@dataclass(frozen=True, slots=True, kw_only=True)
class ArtifactRecord(Record):
    """One entry of a named host artifact (ShimCache, BAM, UserAssist, USB devices...).

    Why one base: each artifact is one parser module with its own typed dataclass, and the summary
    (``artifacts.<artifact>``), the timeline and the report handle every subclass the same way, so a new
    artifact needs no change in any consumer. Subclasses set the class variables and override
    :meth:`times` (every timestamp with what it means) and :meth:`message` (one timeline line).

    artifact: the key under ``summary.json`` ``artifacts``; title / description: report heading and a
    sentence saying what the artifact proves (and what it does not); columns: (field, label) pairs the
    report shows, in order.
    """

    artifact: ClassVar[str] = "artifact"
    title: ClassVar[str] = "Artifact"
    description: ClassVar[str] = ""
    columns: ClassVar[tuple[tuple[str, str], ...]] = ()

    def times(self) -> list[tuple[datetime, str]]:
        return []

    def message(self) -> str:
        return self.record_type

    def activity_times(self) -> list[tuple[datetime, str]]:
        """The subset of :meth:`times` that dates something done ON the host (a run, a connection, a folder
        opened), for the report's activity chart; times of files' own metadata (ShimCache's file
        modification time, a folder's creation time) are timeline rows but not host activity."""
        return self.times()

    def execution(self) -> tuple[str, str | None, int | None, tuple[datetime, ...]] | None:
        """(executable, path, run count, run times newest first) when the entry is evidence of a program
        having run or been seen, for summary.json's ``executions`` list (which the fleet store stacks);
        None otherwise. Run times only where the artifact records a run time."""
        return None
