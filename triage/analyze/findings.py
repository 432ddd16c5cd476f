"""Rule-based findings: reasons for an analyst to look at a host, each with its evidence.

Why a table of small functions: every rule is one documented function taking the host's records and
yielding :class:`Finding` objects, so a rule can be read, tested (positive and negative) and changed
alone, and a new one is one function plus one line in :data:`RULES`. Rules never raise on odd data:
a record missing a field simply does not match.

Rules read the typed records only (never files), and each finding's ``evidence`` names the bundle
member and locator of every record it rests on.
"""

from __future__ import annotations

import functools
import ipaddress
import ntpath
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from triage.analyze.network import log_span
from triage.analyze.ranking import (  # noqa: F401 - re-exported: rules and tests read them here
    MAX_MERGED_EVIDENCE,
    merge_duplicates,
    rank,
    sort_findings,
)
from triage.model import (  # noqa: F401 - SEVERITIES/SEVERITY_RANK re-exported for the rules and tests
    SEVERITIES,
    SEVERITY_RANK,
    Autorun,
    BrowserDownload,
    CommandHistory,
    Event,
    EventLogStats,
    Execution,
    Finding,
    Issue,
    Record,
    Source,
)
from triage.units import iso

# Places any user can write to: binaries started from here are how commodity malware persists.
USER_WRITABLE = re.compile(
    r"(?:^|[\\/\"'=\s])(?:"
    r"[a-z]:[\\/]users[\\/][^\\/]+[\\/](?:appdata|downloads|desktop|documents)[\\/]"
    r"|[a-z]:[\\/]users[\\/]public[\\/]"
    r"|[a-z]:[\\/]programdata[\\/]"
    r"|[a-z]:[\\/]windows[\\/]temp[\\/]"
    r"|[a-z]:[\\/](?:temp|tmp)[\\/]"
    r"|[a-z]:[\\/]\$recycle\.bin[\\/]"
    r"|%(?:appdata|localappdata|temp|tmp|public|programdata|userprofile)%[\\/]"
    r"|[\\/]appdata[\\/](?:local|roaming|locallow)[\\/]"
    r"|[\\/]local settings[\\/](?:temp|application data)[\\/]"
    r"|[\\/]application data[\\/]"
    r")",
    re.IGNORECASE,
)
# Execution evidence from these places is odd for a managed desktop (prefetch/amcache full paths use
# \VOLUME{...}\ or \DEVICE\HARDDISKVOLUMEn\ prefixes, hence the looser, prefix-free form).
ODD_EXEC_PLACE = re.compile(
    r"[\\/](?:users[\\/]public|appdata[\\/](?:local|roaming|locallow)|windows[\\/]temp|temp|tmp"
    r"|downloads|\$recycle\.bin|recycler|programdata)[\\/]",
    re.IGNORECASE,
)

ACCESSIBILITY_BINARIES = ("sethc.exe", "utilman.exe", "osk.exe", "narrator.exe", "magnify.exe",
                          "displayswitch.exe", "atbroker.exe")


# Well-known software that lives in those places by design (per-user installs, Defender's own
# platform and definition folders, which only SYSTEM can write). Matches are not dropped: they are
# reported at 'info' so stacking across a fleet still sees them, without drowning real findings.
KNOWN_BENIGN = re.compile(
    r"[\\/]programdata[\\/]microsoft[\\/]windows defender[\\/](?:platform|definition updates)[\\/]"
    r"|[\\/]appdata[\\/]local[\\/]microsoft[\\/]onedrive[\\/](?:[\d.]+[\\/])?onedrive(?:standaloneupdater)?\.exe"
    r"|[\\/]appdata[\\/]local[\\/]microsoft[\\/]teams[\\/]update\.exe",
    re.IGNORECASE,
)


def user_writable(text: str | None) -> bool:
    """True when a command or path points into a user-writable directory."""
    return bool(text) and _user_writable(str(text))


@functools.lru_cache(maxsize=65536)
def _user_writable(s: str) -> bool:
    return bool(USER_WRITABLE.search(s))


def known_benign(text: str | None) -> bool:
    """True for the few well-known programs that live in user-writable places by design."""
    return bool(text) and bool(KNOWN_BENIGN.search(str(text)))


# --- PowerShell obfuscation ------------------------------------------------------------------------

_PS_ENC = re.compile(r"(?:^|\s)[-/]e(?:nc(?:odedcommand|odedcomman|odedcomma|odedcomm|odedcom|odedco"
                     r"|odedc|oded|ode|od|o)?|c)?\s+[A-Za-z0-9+/=]{8,}", re.IGNORECASE)
_PS_MARKERS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("-EncodedCommand", _PS_ENC),
    ("FromBase64String", re.compile(r"frombase64string", re.IGNORECASE)),
    ("IEX with a download", re.compile(
        r"(?:\biex\b|invoke-expression).{0,200}?(?:downloadstring|downloaddata|downloadfile|"
        r"invoke-webrequest|\biwr\b|net\.webclient|invoke-restmethod|\birm\b|start-bitstransfer)"
        r"|(?:downloadstring|downloaddata|net\.webclient|invoke-webrequest|\biwr\b|invoke-restmethod)"
        r".{0,200}?(?:\biex\b|invoke-expression)", re.IGNORECASE | re.DOTALL)),
    ("character joining", re.compile(
        r"(?:\[char\]\s*\d+\s*\+\s*){3,}|-join\s*\(?\s*\(?\s*\[char\[\]\]|\[char\[\]\]\s*\(\s*\d+\s*,"
        r"|(?:\[char\]\s*0x[0-9a-f]+\s*\+\s*){3,}", re.IGNORECASE)),
    ("long base64 blob", re.compile(r"[A-Za-z0-9+/]{200,}={0,2}")),
)
_POWERSHELL = re.compile(r"powershell|pwsh|\biex\b|invoke-expression|frombase64string", re.IGNORECASE)


def powershell_obfuscation(text: str | None) -> list[str]:
    """Names of the obfuscation markers found in a PowerShell command line or script block."""
    if not text:
        return []
    return list(_powershell_obfuscation(str(text)))


@functools.lru_cache(maxsize=65536)  # the same command lines repeat thousands of times in big logs
def _powershell_obfuscation(s: str) -> tuple[str, ...]:
    hits = tuple(name for name, rx in _PS_MARKERS if rx.search(s))
    if hits == ("-EncodedCommand",) and not _POWERSHELL.search(s):
        return ()  # '-e <word>' in a non-PowerShell command is not this
    return hits


# --- LOLBins -------------------------------------------------------------------------------------

_SCRIPT_IN_USER_DIR = re.compile(r"\.(?:vbs|vbe|js|jse|wsf|wsh|hta)\b", re.IGNORECASE)
_LOLBINS: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("mshta", re.compile(r"\bmshta(?:\.exe)?\b", re.IGNORECASE), "mshta runs HTML applications/script"),
    ("rundll32", re.compile(
        r"\brundll32(?:\.exe)?[\"']?\s+(?:[^,\s]*(?:javascript:|vbscript:|http[s]?://|\\\\)"
        r"|[^,]*?\\(?:users|programdata|temp|appdata|windows\\temp)\\[^,]*,"
        r"|[^,]*\.(?!dll\b)[a-z0-9]{1,4}\s*,|[^,\s]+\s*,\s*#?\d+\b)",
        re.IGNORECASE), "rundll32 with a script, remote, user-dir, non-DLL or ordinal argument"),
    ("regsvr32", re.compile(r"\bregsvr32(?:\.exe)?\b.*?/i:\S*", re.IGNORECASE),
     "regsvr32 /i: (Squiblydoo scriptlet loading)"),
    ("certutil", re.compile(r"\bcertutil(?:\.exe)?\b.*?[-/](?:urlcache|decode|decodehex)\b", re.IGNORECASE),
     "certutil used to download or decode a file"),
    ("bitsadmin", re.compile(r"\bbitsadmin(?:\.exe)?\b.*?/(?:transfer|addfile)\b", re.IGNORECASE),
     "bitsadmin used to download a file"),
    ("msiexec", re.compile(r"\bmsiexec(?:\.exe)?\b.*?https?://", re.IGNORECASE),
     "msiexec installing a package from a URL"),
)
_WSCRIPT = re.compile(r"\b(?:wscript|cscript)(?:\.exe)?\b", re.IGNORECASE)


def lolbin_abuse(text: str | None) -> list[tuple[str, str]]:
    """(binary, why) for each living-off-the-land abuse pattern in a command line."""
    if not text:
        return []
    return list(_lolbin_abuse(str(text)))


@functools.lru_cache(maxsize=65536)
def _lolbin_abuse(s: str) -> tuple[tuple[str, str], ...]:
    out = [(name, why) for name, rx, why in _LOLBINS if rx.search(s)]
    if _WSCRIPT.search(s) and _SCRIPT_IN_USER_DIR.search(s) and user_writable(s):
        out.append(("wscript/cscript", "Windows Script Host running a script from a user-writable place"))
    return tuple(out)


# --- helpers -------------------------------------------------------------------------------------

def field_value(fields: dict[str, Any] | None, *names: str) -> Any:
    """First present value among names, case-insensitively (evtx field names vary by provider)."""
    if not fields:
        return None
    low = {str(k).lower(): v for k, v in fields.items()}
    for n in names:
        v = low.get(n.lower())
        if v not in (None, "", "-"):
            return v
    return None


def evidence(rec: Record, **extra: Any) -> dict[str, Any]:
    src = rec.source
    ev = {"bundle_path": src.bundle_path, "locator": src.locator}
    if src.user:
        ev["user"] = src.user
    ev.update({k: v for k, v in extra.items() if v is not None})
    return ev


def _first_run(ex: Execution) -> datetime | None:
    return ex.last_runs[0] if ex.last_runs else None


@dataclass
class Context:
    """Records of one host, grouped by type once so each rule iterates only what it reads."""

    hostname: str
    by_type: dict[type, list[Record]] = field(default_factory=lambda: defaultdict(list))
    _commands: list[tuple[Record, str, str]] | None = None

    @classmethod
    def build(cls, records: Iterable[Record], hostname: str) -> Context:
        ctx = cls(hostname=hostname)
        for r in records:
            ctx.by_type[type(r)].append(r)
        return ctx

    def of(self, kind: type) -> list[Any]:
        return self.by_type.get(kind, [])

    def commands(self) -> list[tuple[Record, str, str]]:
        """(record, command text, where) for every command line of the host's autostarts and shell
        histories (made once: several rules read them). Event-log command lines are the Sigma
        pack's (sigma_rules/execution): it sees every record, these rules see what no log holds."""
        if self._commands is None:
            self._commands = list(self._all_commands())
        return self._commands

    def _all_commands(self) -> Iterator[tuple[Record, str, str]]:
        for a in self.of(Autorun):
            if a.command:
                yield a, a.command, f"{a.category} autorun '{a.name}'"
        for h in self.of(CommandHistory):
            if h.command:
                yield h, h.command, f"{h.shell} history line {h.line_number}"


Rule = Callable[[Context], Iterable[Finding]]


def _finding(rule: str, severity: str, title: str, reason: str, rec: Record, when: datetime | None,
             attack: tuple[str, ...], **ev_extra: Any) -> Finding:
    return Finding(source=rec.source, rule=rule, severity=severity, title=title, reason=reason,
                   evidence=(evidence(rec, **ev_extra),), when=when, attack=attack)


def _short(text: str, n: int = 160) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


# --- rules ---------------------------------------------------------------------------------------

def rule_autorun_user_writable(ctx: Context) -> Iterator[Finding]:
    """Autostart (Run key, service, task, Winlogon, startup folder) whose command lives in a
    user-writable place. Why: legitimate software installs under Program Files / System32 (admin
    only); anything persisting from AppData/Temp/Public/ProgramData/Downloads is how commodity
    malware and hands-on-keyboard intruders survive reboots without admin rights."""
    for a in ctx.of(Autorun):
        if a.category == "ifeo":
            continue  # handled by the IFEO rule
        if user_writable(a.command):
            sev = "info" if known_benign(a.command) else "high"
            yield _finding("autorun_user_writable", sev,
                           f"Autostart from a user-writable location: {_short(a.name, 60)}",
                           f"{a.category} entry '{_short(a.name, 60)}' at {_short(a.location, 120)} runs "
                           f"'{_short(a.command)}' from a user-writable directory",
                           a, a.last_write, ("T1547.001",) if a.category == "run" else
                           ("T1543.003",) if a.category == "service" else
                           ("T1053.005",) if a.category == "task" else ("T1547",),
                           command=a.command, name=a.name, location=a.location)


def rule_powershell_obfuscated(ctx: Context) -> Iterator[Finding]:
    """Encoded or obfuscated PowerShell (-EncodedCommand, FromBase64String, IEX of a download,
    [char] joining, long base64 blobs) in autoruns, tasks, event command lines/script blocks or shell
    history. Why: admins rarely need to hide what a script does; loaders almost always do."""
    seen: set[tuple[str, str | None, str]] = set()
    for rec, text, where in ctx.commands():
        markers = powershell_obfuscation(text)
        if not markers:
            continue
        key = (rec.source.bundle_path, rec.source.locator, text[:200])
        if key in seen:
            continue
        seen.add(key)
        when = getattr(rec, "timestamp", None) or getattr(rec, "last_write", None)
        sev = "high" if isinstance(rec, Autorun) or "IEX with a download" in markers else "medium"
        if len(markers) >= 2:
            sev = "high"
        yield _finding("powershell_obfuscated", sev, "Obfuscated PowerShell",
                       f"{where}: {', '.join(markers)} in '{_short(text, 120)}'", rec, when,
                       ("T1059.001", "T1027"), command=_short(text, 2000), markers=markers)


def rule_lolbin(ctx: Context) -> Iterator[Finding]:
    """Living-off-the-land binaries used the way intruders use them: mshta, rundll32 with odd
    arguments, regsvr32 /i:, wscript/cscript of a script in a user directory, certutil
    -urlcache/-decode, bitsadmin /transfer, msiexec from a URL. Why: signed Windows binaries that
    fetch or run code bypass application allow-listing; their benign uses look different."""
    for rec, text, where in ctx.commands():
        for binary, why in lolbin_abuse(text):
            when = getattr(rec, "timestamp", None) or getattr(rec, "last_write", None)
            sev = "high" if isinstance(rec, Autorun) else "medium"
            yield _finding("lolbin", sev, f"LOLBin abuse: {binary}",
                           f"{where}: {why}: '{_short(text, 120)}'", rec, when,
                           ("T1218",), command=_short(text, 2000), binary=binary)


def rule_ifeo_accessibility(ctx: Context) -> Iterator[Finding]:
    """An Image File Execution Options Debugger on an accessibility binary (sethc, utilman, osk,
    narrator, magnify, displayswitch, atbroker). Why: it gives a SYSTEM shell at the logon screen
    without credentials (sticky-keys backdoor); there is no legitimate reason for it. Other IFEO
    debuggers are reported lower: some are debugging leftovers, some are hijacks."""
    for a in ctx.of(Autorun):
        if a.category != "ifeo":
            continue
        target = ntpath.basename(a.name.replace("/", "\\")).lower()
        if not target:
            continue
        value = str((a.details or {}).get("value") or "Debugger")
        if target in ACCESSIBILITY_BINARIES and value.lower() != "globalflag":
            yield _finding("ifeo_accessibility", "critical", f"Accessibility backdoor via IFEO: {target}",
                           f"IFEO Debugger for {target} is '{_short(a.command)}': runs at the logon "
                           "screen as SYSTEM", a, a.last_write, ("T1546.008", "T1546.012"),
                           command=a.command, name=a.name)
        elif a.command:
            yield _finding("ifeo_debugger", "medium", f"IFEO debugger set for {_short(target, 60)}",
                           f"every start of {target} runs '{_short(a.command)}' instead",
                           a, a.last_write, ("T1546.012",), command=a.command, name=a.name)


def rule_execution_odd_place(ctx: Context) -> Iterator[Finding]:
    """Program executed from Temp, AppData, Users\\Public, Downloads, ProgramData or the Recycle Bin
    (prefetch / Amcache paths). Why: installers aside, software runs from Program Files and
    System32; droppers, RATs and tools staged by an intruder run from writable places."""
    for x in ctx.of(Execution):
        path = x.path or ""
        if not path or not ODD_EXEC_PLACE.search(path):
            continue
        recycle = re.search(r"\$recycle\.bin|recycler", path, re.I)
        sev = "high" if recycle else "info" if known_benign(path) else "medium"
        yield _finding("execution_odd_place", sev, f"Executed from an unusual location: {_short(x.executable, 60)}",
                       f"{x.kind} shows {x.executable} ran from '{_short(path)}'"
                       + (f" ({x.run_count} runs)" if x.run_count else ""), x, _first_run(x), ("T1204",),
                       path=path, run_count=x.run_count, raw_path=x.raw_path)


def rule_download_then_run(ctx: Context) -> Iterator[Finding]:
    """An executable downloaded by a browser and then run: the download target's base name matches a
    prefetch/Amcache executable with a run after the download finished. Why: it ties initial access
    (phishing, drive-by, fake installer) to execution on the host."""
    runs: dict[str, list[Execution]] = defaultdict(list)
    for x in ctx.of(Execution):
        if x.executable:
            runs[x.executable.lower()].append(x)
    for d in ctx.of(BrowserDownload):
        if not d.target_path:
            continue
        base = ntpath.basename(d.target_path.replace("/", "\\")).lower()
        if not base or not re.search(r"\.(?:exe|scr|com|pif|msi|bat|cmd|ps1|hta|dll)$", base):
            continue
        done = d.end or d.start
        for x in runs.get(base[:29], []) + (runs.get(base, []) if len(base) > 29 else []):
            after = [t for t in x.last_runs if done is None or t >= done]
            if not after:
                continue
            when = min(after)
            ev = (evidence(d, url=d.url, target_path=d.target_path),
                  evidence(x, executable=x.executable, path=x.path, run=iso(when)))
            yield Finding(source=d.source, rule="download_then_run", severity="high",
                          title=f"Downloaded then executed: {_short(base, 60)}",
                          reason=f"{d.browser} downloaded '{_short(d.target_path, 100)}' from "
                                 f"{_short(d.url or '?', 100)} (finished {iso(done)}); {x.kind} shows it "
                                 f"ran at {iso(when)}",
                          evidence=ev, when=when, attack=("T1204.002", "T1105"))


def _public_ip(text: Any) -> str | None:
    if not text:
        return None
    try:
        ip = ipaddress.ip_address(str(text).strip().strip("[]").split("%")[0])
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return str(ip) if ip.is_global else None


_LOGON_CATS = ("logon", "rdp")
_FAILED_BURST = 10
_FAILED_WINDOW = timedelta(minutes=10)


def rule_logon_public_source(ctx: Context) -> Iterator[Finding]:
    """Successful network (3) or RemoteInteractive/RDP (10) logon from a public IP address. Why: a
    workstation exposed to Internet logons is either misconfigured or being accessed by someone
    outside; RDP from the Internet is a top ransomware entry point. One finding per source IP."""
    first: dict[str, tuple[Event, int, str]] = {}
    for e in ctx.of(Event):
        if e.category not in _LOGON_CATS:
            continue
        lt = field_value(e.fields, "logon_type", "logontype")
        try:
            lt = int(lt) if lt is not None else (10 if e.category == "rdp" else None)
        except (TypeError, ValueError):
            lt = None
        if lt not in (3, 10):
            continue
        ip = _public_ip(field_value(e.fields, "ip", "ipaddress", "source_ip", "source_address", "address"))
        if not ip:
            continue
        if ip in first:
            ev0, n, acct = first[ip]
            first[ip] = (ev0 if ev0.timestamp <= e.timestamp else e, n + 1, acct)
        else:
            first[ip] = (e, 1, str(field_value(e.fields, "account", "targetusername", "user") or "?"))
    for ip, (e, n, acct) in first.items():
        sev = "high" if e.category == "rdp" or field_value(e.fields, "logon_type", "logontype") in (10, "10") \
            else "medium"
        yield _finding("logon_public_source", sev, f"Logon from public IP {ip}",
                       f"{n} network/RDP logon(s) from public address {ip}, first as '{_short(acct, 60)}' at "
                       f"{iso(e.timestamp)}", e, e.timestamp, ("T1133", "T1021.001"), ip=ip, count=n)


def rule_failed_logon_burst(ctx: Context) -> Iterator[Finding]:
    """A burst of failed logons (>= 10 within 10 minutes from one source). Why: password guessing
    and spraying; a burst followed by a success is worse (reported in the reason)."""
    by_src: dict[str, list[Event]] = defaultdict(list)
    for e in ctx.of(Event):
        if e.category == "logon_failed" or (e.event_id == 4625 and e.category in ("other", "logon")):
            src = field_value(e.fields, "ip", "ipaddress", "source_ip", "workstation", "workstationname") or "?"
            by_src[str(src)].append(e)
    for src, events in by_src.items():
        if len(events) < _FAILED_BURST:
            continue
        events.sort(key=lambda x: x.timestamp)
        j = 0
        best = (0, 0)
        for i in range(len(events)):
            while events[i].timestamp - events[j].timestamp > _FAILED_WINDOW:
                j += 1
            if i - j + 1 > best[1] - best[0]:
                best = (j, i + 1)
        n = best[1] - best[0]
        if n < _FAILED_BURST:
            continue
        first_ev = events[best[0]]
        sev = "high" if _public_ip(src) else "medium"
        yield _finding("failed_logon_burst", sev, f"Failed-logon burst from {_short(src, 60)}",
                       f"{n} failed logons within {int(_FAILED_WINDOW.total_seconds() // 60)} minutes from "
                       f"{src} starting {iso(first_ev.timestamp)} ({len(events)} in total)",
                       first_ev, first_ev.timestamp, ("T1110",), source_address=src, count=len(events))


def _short_host(name: str | None) -> str:
    return (name or "").strip().split(".")[0].lower()


def rule_computer_name_mismatch(ctx: Context) -> Iterator[Finding]:
    """Event records whose Computer name differs from the host name. Why: logs copied in from
    another machine, a renamed host, or a mosaic of evidence; timelines built on them may describe
    another computer. Reported once per log, never dropped."""
    host = _short_host(ctx.hostname)
    if not host:
        return
    for s in ctx.of(EventLogStats):
        others = {c: n for c, n in (s.computers or {}).items() if c and _short_host(c) != host}
        if not others:
            continue
        names = ", ".join(f"{_short(c, 60)} ({n})" for c, n in sorted(others.items(), key=lambda kv: -kv[1])[:5])
        yield _finding("computer_name_mismatch", "low", "Event log from another computer name",
                       f"{s.channel or s.source.bundle_path}: records name {names}, not host '{ctx.hostname}' "
                       "(logs moved in, or host renamed)", s, s.first, (),
                       computers=dict(list(others.items())[:20]))


RULES: tuple[tuple[str, Rule], ...] = (
    ("autorun_user_writable", rule_autorun_user_writable),
    ("powershell_obfuscated", rule_powershell_obfuscated),
    ("lolbin", rule_lolbin),
    ("ifeo_accessibility", rule_ifeo_accessibility),
    ("execution_odd_place", rule_execution_odd_place),
    ("download_then_run", rule_download_then_run),
    ("logon_public_source", rule_logon_public_source),
    ("failed_logon_burst", rule_failed_logon_burst),
    ("computer_name_mismatch", rule_computer_name_mismatch),
)


def evaluate(records: Iterable[Record], *, hostname: str = "",
             rules: Iterable[tuple[str, Rule]] = RULES) -> list[Finding]:
    """Run every rule over the host's records, then rank them (triage.analyze.ranking: duplicates
    merged, known-benign noise marked and lowered, same-binary findings grouped, severity order)."""
    records = records if isinstance(records, list) else list(records)
    ctx = Context.build(records, hostname)
    out: list[Finding] = []
    for _name, rule in rules:
        out.extend(rule(ctx))
    return rank(out, records)


# --- off-network windows -------------------------------------------------------------------------

def _window_dict(w: Any) -> dict[str, Any]:
    get = w.get if isinstance(w, dict) else (lambda k, d=None: getattr(w, k, d))
    ev = get("evidence", None)
    if ev is None:
        ev = []
    ev_list = []
    for item in ev if isinstance(ev, list | tuple) else [ev]:
        if hasattr(item, "to_dict") or isinstance(item, Source):
            ev_list.append(item.to_dict())
        elif isinstance(item, dict):
            ev_list.append(item)
        elif hasattr(item, "source") and isinstance(item.source, Source):
            d = item.source.to_dict()
            ts = getattr(item, "timestamp", None)
            if ts is not None:
                d["timestamp"] = iso(ts)
            kind = getattr(item, "kind", None)
            if kind:
                d["kind"] = kind
            ev_list.append(d)
        else:
            ev_list.append({"text": str(item)})
    return {"start": get("start", None), "end": get("end", None), "evidence": ev_list, "_raw": w}


def network_windows(records: list[Record], issues: list[Issue] | None = None) -> list[dict[str, Any]]:
    """Off-network windows from triage.analyze.network (the evtx engineer's module), as dicts with
    start/end datetimes (end None = still off at the end of the logs). Absent module → []."""
    try:
        from triage.analyze import network
    except ImportError:
        return []
    log_start, log_end = log_span(records)
    try:
        wins = network.off_network_windows(records, log_start=log_start, log_end=log_end)
    except Exception as exc:
        if issues is not None:
            issues.append(Issue(severity="error", message=f"off-network windows failed: "
                                f"{type(exc).__name__}: {exc}"))
        return []
    return [_window_dict(w) for w in wins or []]


def in_windows(when: datetime | None, windows: list[dict[str, Any]],
               log_end: datetime | None = None) -> bool | None:
    """True when ``when`` falls in an off-network window (start inclusive, end exclusive); False
    when in none; None when unknown: no time, or after the logs end while a window is still open
    (nothing says what the network was then)."""
    if when is None:
        return None
    unknown = False
    for w in windows:
        start, end = w.get("start"), w.get("end")
        if end is None and log_end is not None and when > log_end:
            if start is not None and start <= when:
                unknown = True
            continue
        raw = w.get("_raw")
        if raw is not None and hasattr(raw, "contains"):
            if raw.contains(when):
                return True
            continue
        if start is not None and start <= when and (end is None or when < end):
            return True
    return None if unknown else False


def mark_off_network(findings: list[Finding], windows: list[dict[str, Any]],
                     known: bool = True, log_end: datetime | None = None) -> list[Finding]:
    """Set ``off_network`` on each finding from its time. None when unknown: the finding has no
    time, or windows cannot be computed (``known`` False)."""
    if not known:
        return list(findings)
    if not windows:
        return [f if f.off_network is not None or f.when is None else replace(f, off_network=False)
                for f in findings]
    return [replace(f, off_network=in_windows(f.when, windows, log_end)) for f in findings]
