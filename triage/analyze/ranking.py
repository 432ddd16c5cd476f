"""Ranking a host's findings: severity first, known-benign noise below real suspects (and saying
why it is noise), duplicates grouped with a count.

Why a module apart from the rules: a rule says what is odd about one record; whether that odd
thing is the usual background of a Windows desktop (a per-user updater in AppData, an installer
unpacking into Windows\\Temp) needs the other records too (PE info of the binary, the process
events that show its parent) and is the same judgement for every rule. Noise is never dropped:
it is kept at 'info' with ``noise`` set to the reason, so an analyst can check the call and the
fleet can still stack it.
"""

from __future__ import annotations

import ntpath
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from triage.model import SEVERITY_RANK, Event, Finding, PEInfo, Record

MAX_MERGED_EVIDENCE = 20
NOISE_SEVERITY = "info"
# Rules whose findings name one binary (an autostart's command, an executed path): the ones that
# noise patterns and target grouping apply to.
TARGET_RULES = ("autorun_user_writable", "execution_odd_place")


@dataclass(frozen=True)
class Benign:
    """A known-benign program: where it lives (regex on the command or path) and why it is noise."""

    name: str
    where: re.Pattern[str]
    why: str


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


_LOCAL = r"[\\/]appdata[\\/]local[\\/]"
_ROAMING = r"[\\/]appdata[\\/]roaming[\\/]"
_VER = r"(?:[\d.]+[\\/])?"
BENIGN: tuple[Benign, ...] = (
    Benign("Google Update", _rx(_LOCAL + r"google[\\/]update[\\/]" + _VER + r"googleupdate(?:core|setup|"
                                r"ondemand|broker|comregisters?hell64)?\.exe"),
           "per-user Google Update (installed in the user's profile by Chrome/Google apps)"),
    Benign("Microsoft Edge Update", _rx(_LOCAL + r"microsoft[\\/]edgeupdate[\\/]" + _VER +
                                        r"microsoftedgeupdate(?:core|setup|ondemand|broker|comregistershell64)?\.exe"),
           "per-user Microsoft Edge Update"),
    Benign("OneDrive", _rx(_LOCAL + r"microsoft[\\/]onedrive[\\/]" + _VER + r"(?:i386[\\/])?(?:onedrive|"
                           r"onedrivestandaloneupdater|filecoauth|filecoauthlib(?:64)?|filesyncshell(?:64)?|"
                           r"microsoft\.sharepoint|filesynchelper|onedriveupdaterservice)\.(?:exe|dll)"),
           "per-user OneDrive (client, updater and its shell/COM handlers live in the user's profile)"),
    Benign("Microsoft Teams", _rx(_LOCAL + r"microsoft[\\/]teams[\\/](?:update\.exe|current[\\/]teams\.exe)"),
           "per-user Microsoft Teams (classic) and its Squirrel updater"),
    Benign("Microsoft Defender", _rx(r"[\\/]programdata[\\/]microsoft[\\/]windows defender[\\/](?:platform|"
                                     r"definition updates)[\\/]"),
           "Microsoft Defender's own platform / definition folder (ProgramData, writable by SYSTEM only)"),
    Benign("Zoom", _rx(_ROAMING + r"zoom[\\/]bin(?:_\d+)?[\\/](?:zoom|zoomlauncher|installer|cpthost|"
                       r"zoomoutlookims|aomhost64|zwebview2agent)\.exe"),
           "per-user Zoom client and its updater"),
)
# Installers: what msiexec / TrustedInstaller and setup programs unpack and run. The Windows
# Installer cache is writable by SYSTEM only; Windows\Temp setups are noise when their name says
# installer, or when a process event shows msiexec/TrustedInstaller started them.
_INSTALLER_CACHE = _rx(r"[\\/]windows[\\/]installer[\\/]")
_WINDOWS_TEMP = _rx(r"[\\/]windows[\\/]temp[\\/]")
_INSTALLER_NAME = _rx(r"(?:setup|install|unins\d*|update|upgrade|patch|dismhost|msi[0-9a-f]{0,8}|"
                      r"\{?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}?)[^\\/]*\.(?:exe|tmp|msi|dll)$")
_INSTALLER_PARENTS = ("msiexec.exe", "trustedinstaller.exe", "tiworker.exe")
# Installer names that do not start with the word: 'VSCodeSetup-x64-1.53.2.tmp' (Inno Setup's copy),
# 'vc_redist.x64.exe' / 'vcredist_x86.exe' (the Visual C++ runtime installers many setups chain).
_INSTALLER_WORD = _rx(r"(?:setup|install|redist)[^\\/]*\.(?:exe|tmp|msi)$")
# WiX Burn bootstrappers copy themselves to Temp\{GUID}\.cr (the 'clean room') and run the bundle
# engine from Temp\{GUID}\.be: the layout of most modern installers' chained setups.
_BURN = _rx(r"[\\/]windows[\\/]temp[\\/]\{[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}"
            r"[\\/]\.(?:be|cr|ba\d*)[\\/][^\\/]+\.exe$")


def _tail(path: str) -> str:
    """Lower-case path without drive, volume prefix or quotes: 'users\\x\\appdata\\...' ."""
    p = path.strip().strip('"').replace("/", "\\").lower()
    p = re.sub(r"^(?:[a-z]:|\\volume\{[^}]*\}|\\device\\harddiskvolume\d+|\\\\\?\\[a-z]:|files\\[a-z])\\", "", p)
    return p.lstrip("\\")


def _target(f: Finding) -> str | None:
    ev = f.evidence[0] if f.evidence else {}
    value = ev.get("command") or ev.get("path")
    if not isinstance(value, str) or not value:
        return None
    if value.startswith('"'):
        end = value.find('"', 1)
        return value[1:end] if end > 0 else value[1:]
    m = re.match(r"(.+?\.(?:exe|dll|com|scr|bat|cmd|tmp|msi))(?:\s|,|$)", value, re.IGNORECASE)
    return m.group(1) if m else value


class NoiseJudge:
    """Decides, from the host's other records, whether a finding is known-benign background."""

    def __init__(self, records: Iterable[Record]) -> None:
        self.signed: dict[str, bool] = {}
        self.parents: dict[str, set[str]] = {}
        for r in records:
            if isinstance(r, PEInfo):
                self.signed[_tail(r.path)] = r.signed
            elif isinstance(r, Event) and r.category == "process":
                image, parent = r.fields.get("image"), r.fields.get("parent")
                if isinstance(image, str) and isinstance(parent, str):
                    self.parents.setdefault(_tail(image), set()).add(ntpath.basename(parent).lower())

    def why(self, f: Finding) -> str | None:
        if f.rule not in TARGET_RULES or f.severity in ("critical",):
            return None
        target = _target(f)
        if not target:
            return None
        tail = _tail(target)
        signed = self.signed.get(tail)
        for b in BENIGN:
            if b.where.search("\\" + tail):
                if signed is False:
                    return None  # a known name without a signature is how malware hides: not noise
                return b.why + ("; the file is Authenticode-signed (signature present, signer not verified)"
                                if signed else "")
        parents = self.parents.get(tail, set()) & set(_INSTALLER_PARENTS)
        if _INSTALLER_CACHE.search("\\" + tail):
            return "Windows Installer cache (C:\\Windows\\Installer is written by msiexec as SYSTEM only)"
        if _WINDOWS_TEMP.search("\\" + tail) and signed is not False:
            if parents:
                return f"installer in Windows\\Temp started by {', '.join(sorted(parents))}"
            if _BURN.search("\\" + tail):
                return ("installer chain unpacked into Windows\\Temp\\{GUID}\\.be or .cr (the layout of a WiX Burn "
                        "bootstrapper's engine and clean-room copies)")
            name = ntpath.basename(tail)
            if _INSTALLER_NAME.search(name) or _INSTALLER_WORD.search(name):
                return "installer or updater unpacked into Windows\\Temp (its name says setup/install/update)"
        return None


def mark_noise(findings: Iterable[Finding], records: Iterable[Record]) -> list[Finding]:
    """Known-benign findings: severity lowered to info, ``noise`` says why (and the severity the
    rule gave, in the reason, so the call can be checked)."""
    judge = NoiseJudge(records)
    out = []
    for f in findings:
        why = judge.why(f)
        if why is None:
            out.append(f)
        else:
            out.append(replace(f, severity=NOISE_SEVERITY, noise=why,
                               reason=f"{f.reason} [known-benign: {why}; the rule said {f.severity}]"))
    return out


def group_same_target(findings: Iterable[Finding]) -> list[Finding]:
    """One finding per (rule, severity, binary) for the rules that name a binary: OneDrive's 24 COM
    handlers of one DLL are one reason to look (count 24, evidence capped), not 24 cards."""
    groups: dict[tuple[Any, ...], list[Finding]] = {}
    order: list[tuple[Any, ...]] = []
    for i, f in enumerate(findings):
        target = _target(f) if f.rule in TARGET_RULES else None
        key = (f.rule, f.severity, f.noise, _tail(target)) if target else (i,)
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(f)
    return [_merge(groups[k], "{} entries run the same binary") if len(groups[k]) > 1
            else groups[k][0] for k in order]


def _merge(group: list[Finding], why: str) -> Finding:
    """One finding for a group; ``why`` is a format with one {} for the count (goes in the reason)."""
    times = [f.when for f in group if f.when is not None]
    first = min(group, key=lambda f: f.when or datetime.max.replace(tzinfo=UTC))
    count = sum(f.count for f in group)
    evidence = [ev for f in group for ev in f.evidence][:MAX_MERGED_EVIDENCE]
    return replace(first, evidence=tuple(evidence), when=min(times) if times else None, count=count,
                   reason=f"{first.reason} ({why.format(count)})")


def merge_duplicates(findings: Iterable[Finding]) -> list[Finding]:
    """One finding per (rule, severity, title, reason): the same service install or command line
    logged a thousand times is one reason to look, with its places as evidence (capped), the earliest
    time, and the count (in ``count`` and in the reason)."""
    groups: dict[tuple[str, str, str, str], list[Finding]] = {}
    for f in findings:
        groups.setdefault((f.rule, f.severity, f.title, f.reason), []).append(f)
    return [_merge(g, "seen {} times") if len(g) > 1 else g[0] for g in groups.values()]


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Severity first; within one severity real suspects before noise, then by time."""
    far = datetime.max.replace(tzinfo=UTC)

    def key(f: Finding) -> tuple[Any, ...]:
        return (SEVERITY_RANK.get(f.severity, 9), f.noise is not None, f.when if f.when else far, f.rule)

    return sorted(findings, key=key)


def rank(findings: Iterable[Finding], records: Iterable[Record]) -> list[Finding]:
    """The whole pass: duplicates merged, noise marked, same-binary findings grouped, sorted."""
    return sort_findings(group_same_target(mark_noise(merge_duplicates(findings), records)))
