"""Findings from the file artifacts of issue 15 (Defender, WMI repository); same shape as findings.py.

Why a separate module: ``findings.py`` is at its size limit; these rules read the artifact records of
``triage/parsers/defender_*.py`` and ``wmi_repository.py`` and are appended to its rule table by
:data:`ALL_RULES`, which the host analysis evaluates. A .job file whose program lives in a
user-writable place needs no rule here: job_files.py yields an ``Autorun(category='task')``, which
``rule_autorun_user_writable`` already reads.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from triage.analyze.findings import RULES, Context, Rule, _finding, _short
from triage.analyze.findings_regback import REGBACK_RULES
from triage.model import Finding
from triage.parsers.defender_history import DefenderDetection
from triage.parsers.defender_mplog import DefenderLogEntry
from triage.parsers.wmi_repository import WmiPersistence

# Threat-name prefixes Defender uses for tools and settings rather than malware: still worth a look,
# not an alarm on their own.
_LOW_PREFIXES = ("PUA:", "PUADlMgr:", "PUAMiner:", "SettingsModifier:", "Program:", "App:")


def _severity(threat: str | None) -> str:
    return "medium" if threat and threat.startswith(_LOW_PREFIXES) else "high"


def rule_defender_detection(ctx: Context) -> Iterator[Finding]:
    """A Defender detection in DetectionHistory or MPLog. Why: the host's own antivirus saw malware or a
    hacking tool; even when it says 'quarantined', the intruder had it on the host and may have run
    other things Defender did not flag. One finding per threat and resource set (duplicates merge)."""
    for d in ctx.of(DefenderDetection):
        res = "; ".join(d.resources[:3]) or "(no resource recorded)"
        yield _finding("defender_detection", _severity(d.threat), f"Defender detection: {_short(d.threat or '?', 80)}",
                       f"Defender DetectionHistory: {d.threat} on {_short(res, 200)}"
                       + (f" (user {d.user}, process {d.process})" if d.user or d.process else ""),
                       d, d.detected or d.remediated, (), threat=d.threat, resources=list(d.resources[:10]),
                       sha256=d.sha256)
    for e in ctx.of(DefenderLogEntry):
        if e.kind != "detection":
            continue
        res = "; ".join(e.resources[:3]) or "(no resource recorded)"
        yield _finding("defender_detection", _severity(e.threat), f"Defender detection: {_short(e.threat or '?', 80)}",
                       f"Defender MPLog ({e.detection_source}): {e.threat} on {_short(res, 200)}",
                       e, e.logged, (), threat=e.threat, resources=list(e.resources[:10]))


_EXCLUSION_SIZE = re.compile(r"(\w+) exclusion changed, new size in bytes:\s*(\d+)", re.IGNORECASE)


def rule_defender_exclusion_added(ctx: Context) -> Iterator[Finding]:
    """MPLog says a Defender exclusion list changed and is no longer empty (its new size is more than the
    2 bytes of an empty list). Why: intruders exclude their tool folders before dropping tools (T1562.001);
    admins do it too, so this is a reason to look, at medium, with the time of the change. The list itself
    is in the registry (Defender\\Exclusions) and Defender's 5007 events."""
    for e in ctx.of(DefenderLogEntry):
        m = _EXCLUSION_SIZE.search(e.text) if e.kind == "exclusion_change" else None
        if m and int(m.group(2)) > 2:
            yield _finding("defender_exclusion_added", "medium", f"Defender {m.group(1).lower()} exclusions set",
                           f"Defender MPLog: {m.group(1)} exclusion list changed to {m.group(2)} bytes (not empty)",
                           e, e.logged, ("T1562.001",), line=e.text)


def rule_wmi_consumer(ctx: Context) -> Iterator[Finding]:
    """A WMI CommandLineEventConsumer / ActiveScriptEventConsumer with a command or script in the
    repository. Why: permanent WMI subscriptions are fileless persistence (T1546.003) that no Run key,
    service or task list shows; legitimate software rarely uses command-line consumers (the Windows 7
    'BVTConsumer' sample is reported at info)."""
    for w in ctx.of(WmiPersistence):
        if w.command is None:
            continue
        yield _finding("wmi_consumer", "info" if w.known_benign else "high",
                       f"WMI {w.kind} in the repository",
                       f"OBJECTS.DATA offset {w.offset}: {w.kind} running '{_short(w.command, 200)}' "
                       "(found by string scan: confirm with a repository parser)",
                       w, None, ("T1546.003",), command=w.command, strings=list(w.strings[:10]))


ARTIFACT_RULES: tuple[tuple[str, Rule], ...] = (
    ("defender_detection", rule_defender_detection),
    ("defender_exclusion_added", rule_defender_exclusion_added),
    ("wmi_consumer", rule_wmi_consumer),
)
ALL_RULES: tuple[tuple[str, Rule], ...] = RULES + ARTIFACT_RULES + REGBACK_RULES
