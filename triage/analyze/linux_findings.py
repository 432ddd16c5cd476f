"""Findings for Linux hosts: correlations over the records of triage/parsers/linux.

Why a module of its own: the Windows rules (findings.py) read registry/event-log records; these read
the Linux ones, with the same shape (one small documented function per rule, evidence naming the
bundle member and locator of every record a finding rests on) and are run by :func:`evaluate`
with the Windows rules (host.py passes both tables to ``findings.evaluate``). None of them raises on odd data: a missing field does not match.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta

from triage.analyze.findings import Context, _finding, _short, evidence
from triage.model import CommandHistory, Finding, Record
from triage.parsers.linux.accounts import LinuxAccount, ShadowEntry
from triage.parsers.linux.cron import CronJob
from triage.parsers.linux.live import LiveProcess
from triage.parsers.linux.logevents import CronRun, LogEvent
from triage.parsers.linux.login_hooks import LoginHook
from triage.parsers.linux.ssh_keys import AuthorizedKey
from triage.parsers.linux.systemd_units import SystemdUnit
from triage.parsers.linux.utmp import LoginRecord
from triage.units import iso

BRUTE_FORCE_MIN_FAILURES = 5
BRUTE_FORCE_WINDOW = timedelta(hours=24)
RECENT_CHANGE = timedelta(days=7)
# Directories any user (or the logged-in user) can write: what runs from there was put there by
# someone without root, or by root to hide.
TEMP_PLACES = re.compile(r"(?:^|[\s\"'=:;(])(?:/tmp/|/var/tmp/|/dev/shm/|/run/user/\d+/|/dev/mqueue/)")
HOME_PLACES = re.compile(r"(?:^|[\s\"'=:;(])(?:/home/[^/\s]+/|/root/|~/|\$HOME/)")
REVERSE_SHELL = re.compile(
    r"/dev/(?:tcp|udp)/[^\s/]+/\d+"                                   # bash -i >& /dev/tcp/h/p 0>&1
    r"|\b(?:nc|ncat|netcat)\b[^|;&]*\s-[a-z]*[ec]\s"                  # nc -e /bin/sh h p, ncat -c
    r"|\bsocat\b[^|;&]*\bexec:"                                       # socat exec:'bash -li' tcp:h:p
    r"|\bpty\.spawn\("                                                # python -c 'import pty;pty.spawn(...)'
    r"|\bsocket\b.*\bconnect\b.*\b(?:dup2|subprocess|spawn|exec)"     # python/perl socket+dup2 one-liners
    r"|\b(?:curl|wget)\b[^|;]*\|\s*(?:sudo\s+)?(?:ba|z|da)?sh\b"      # curl ... | sh
    r"|\bmkfifo\b[^;]*;.*\bnc\b"                                      # mkfifo /tmp/f; nc ... </tmp/f
    r"|\bsh\s+-i\b.*[<>]&"                                            # sh -i >& ...
    r"|\bbase64\s+(?:-d|--decode)\b[^|]*\|\s*(?:ba)?sh\b",            # echo ... | base64 -d | sh
    re.IGNORECASE)


def reverse_shell(text: str | None) -> bool:
    return bool(text) and bool(REVERSE_SHELL.search(text[:8192]))  # type: ignore[index]


def _persistence(ctx: Context) -> Iterator[tuple[Record, str, str]]:
    """(record, command, where) of every cron job, systemd Exec line and login hook line."""
    for c in ctx.of(CronJob):
        yield c, c.command, f"cron job in {c.path} ({c.schedule})"
    for u in ctx.of(SystemdUnit):
        for line in u.exec:
            yield u, line.split("=", 1)[-1], f"{u.scope} systemd unit {u.unit}"
    for h in ctx.of(LoginHook):
        yield h, h.command, f"{h.hook} hook {h.path} line {h.line}"
    for k in ctx.of(AuthorizedKey):
        if k.command:
            yield k, k.command, f"forced command of an authorized key of {k.user} ({k.fingerprint})"


def rule_ssh_brute_force_success(ctx: Context) -> Iterator[Finding]:
    """At least BRUTE_FORCE_MIN_FAILURES failed sshd logins from one address, then an accepted one from
    it within BRUTE_FORCE_WINDOW (logs and journal; btmp/wtmp when no log recorded failures)."""
    failures: dict[str, list[tuple[datetime, Record]]] = defaultdict(list)
    successes: list[tuple[str, datetime, Record, str | None]] = []
    for e in ctx.of(LogEvent):
        if e.source_ip and e.timestamp:
            if e.category in ("ssh_failed", "ssh_invalid_user"):
                failures[e.source_ip].append((e.timestamp, e))
            elif e.category == "ssh_accepted":
                successes.append((e.source_ip, e.timestamp, e, e.user))
    logged = set(failures)
    for r in ctx.of(LoginRecord):
        addr = r.address or r.host
        if not addr or not r.time:
            continue
        if r.log == "btmp" and addr not in logged:
            failures[addr].append((r.time, r))
        elif r.log == "wtmp" and r.type == "user_process" and r.line.startswith(("pts", "ssh")):
            successes.append((addr, r.time, r, r.user))
    done: set[str] = set()
    for addr, when, rec, user in sorted(successes, key=lambda s: s[1]):
        if addr in done:
            continue
        before = sorted((t, f) for t, f in failures.get(addr, ()) if when - BRUTE_FORCE_WINDOW <= t <= when)
        if len(before) < BRUTE_FORCE_MIN_FAILURES:
            continue
        done.add(addr)
        f = _finding("linux_ssh_brute_force_success", "high", "SSH login after a password-guessing burst",
                     f"{len(before)} failed SSH logins from {addr} between {iso(before[0][0])} and "
                     f"{iso(before[-1][0])}, then a successful login as {user} at {iso(when)}",
                     rec, when, ("T1110", "T1078"), role="accepted login", source_ip=addr, user=user)
        extra = (evidence(before[0][1], role="first failure"), evidence(before[-1][1], role="last failure"))
        yield replace(f, evidence=f.evidence + extra)


def rule_uid0_account(ctx: Context) -> Iterator[Finding]:
    """An account other than root with uid 0 (passwd), or an account created with uid 0 (logs)."""
    for a in ctx.of(LinuxAccount):
        if a.uid == 0 and a.name != "root":
            yield _finding("linux_uid0_account", "critical", f"Second superuser account '{a.name}'",
                           f"/etc/passwd gives '{a.name}' uid 0 (root's powers), shell {a.shell}", a, None,
                           ("T1136.001", "T1078.003"), account=a.name)
    for e in ctx.of(LogEvent):
        if e.category == "user_added" and (e.command or "").startswith("uid=0 "):
            yield _finding("linux_uid0_account", "critical", f"Account '{e.user}' created with uid 0",
                           f"{e.program} logged: {_short(e.text)}", e, e.timestamp, ("T1136.001",), account=e.user)


def rule_empty_password(ctx: Context) -> Iterator[Finding]:
    """A shadow entry with an empty password field: anyone may log in as that account."""
    for s in ctx.of(ShadowEntry):
        if s.password == "empty":
            yield _finding("linux_empty_password", "high", f"Account '{s.name}' has an empty password",
                           "/etc/shadow's password field is empty: login needs no password", s, s.last_change,
                           ("T1098",), account=s.name)


def rule_recent_password_change(ctx: Context) -> Iterator[Finding]:
    """A password (shadow's last-change day) changed within RECENT_CHANGE of the newest login record or log
    event of the host: around the time of the activity being triaged. Low: admins change passwords too."""
    times = [e.timestamp for e in ctx.of(LogEvent) if e.timestamp]
    times += [r.time for r in ctx.of(LoginRecord) if r.time]
    if not times:
        return
    end = max(times)
    for s in ctx.of(ShadowEntry):
        if s.last_change and s.password in ("set", "empty") and end - RECENT_CHANGE <= s.last_change <= end:
            yield _finding("linux_recent_password_change", "low", f"Password of '{s.name}' changed recently",
                           f"/etc/shadow: changed on {s.last_change.date().isoformat()} (day granularity), within "
                           f"{RECENT_CHANGE.days} days of the host's last login/log event ({iso(end)})", s,
                           s.last_change, ("T1098",), account=s.name)


def rule_persistence_writable(ctx: Context) -> Iterator[Finding]:
    """Cron, systemd, login hooks and forced key commands that run something from /tmp, /var/tmp,
    /dev/shm (high) or a home directory (medium)."""
    for rec, command, where in _persistence(ctx):
        temp = TEMP_PLACES.search(command)
        # a shell start-up file reading the user's own dotfiles is normal; one running from /tmp is not
        home = HOME_PLACES.search(command) and not (isinstance(rec, LoginHook) and rec.hook == "shell-start")
        if not (temp or home):
            continue
        sev = "high" if temp else "medium"
        place = "a world-writable temporary directory" if temp else "a home directory"
        yield _finding("linux_persistence_writable_path", sev, f"Persistence runs from {place}",
                       f"{where} runs: {_short(command)}", rec, getattr(rec, "file_modified", None),
                       ("T1053.003", "T1543.002", "T1546.004"), command=_short(command, 300))


def rule_reverse_shell(ctx: Context) -> Iterator[Finding]:
    """Reverse-shell and download-and-run command lines in histories, persistence, sudo'd commands and
    running processes."""
    sources: list[tuple[Record, str | None, str, datetime | None]] = []
    sources += [(h, h.command, f"{h.shell} history of {h.user} line {h.line_number}", None)
                for h in ctx.of(CommandHistory)]
    sources += [(r, c, w, getattr(r, "file_modified", None)) for r, c, w in _persistence(ctx)]
    sources += [(e, e.command, f"{e.category} by {e.user} ({e.program})", e.timestamp)
                for e in ctx.of(LogEvent) + ctx.of(CronRun) if e.category in ("sudo", "cron_run")]
    sources += [(p, p.cmdline, f"running process {p.pid} ({p.user})", p.started) for p in ctx.of(LiveProcess)]
    seen: set[tuple[str, str]] = set()
    for rec, command, where, when in sources:
        if not reverse_shell(command):
            continue
        key = (rec.source.bundle_path, command or "")
        if key in seen:
            continue
        seen.add(key)
        sev = "critical" if isinstance(rec, LiveProcess) else "high"
        yield _finding("linux_reverse_shell", sev, "Reverse shell or download-and-run command line",
                       f"{where}: {_short(command or '')}", rec, when, ("T1059.004", "T1105"),
                       command=_short(command or "", 300))


def rule_deleted_binary_running(ctx: Context) -> Iterator[Finding]:
    """Processes whose executable was deleted from disk while they ran, or that run from an anonymous
    memory file (memfd: nothing on disk at all), from the live snapshot; one finding per image."""
    by_image: dict[tuple[str | None, str | None], list[LiveProcess]] = defaultdict(list)
    for p in ctx.of(LiveProcess):
        if p.exe_deleted:
            by_image[(p.exe, p.exe_sha256)].append(p)
    for (exe, sha), procs in by_image.items():
        p = procs[0]
        memfd = (exe or "").startswith("/memfd:")
        what = "runs from an anonymous memory file (memfd)" if memfd else "runs a deleted executable"
        pids = ", ".join(str(x.pid) for x in procs[:20]) + (" ..." if len(procs) > 20 else "")
        yield _finding("linux_deleted_binary_running", "high", f"{len(procs)} process(es) {what}",
                       f"{exe} is no longer on disk while process(es) {pids} ({p.user}) run it: {_short(p.cmdline)}",
                       p, p.started, ("T1070.004", "T1620") if memfd else ("T1070.004",), exe=exe, sha256=sha,
                       processes=len(procs))


RULES: tuple[tuple[str, Callable[[Context], Iterable[Finding]]], ...] = (
    ("linux_ssh_brute_force_success", rule_ssh_brute_force_success),
    ("linux_uid0_account", rule_uid0_account),
    ("linux_empty_password", rule_empty_password),
    ("linux_recent_password_change", rule_recent_password_change),
    ("linux_persistence_writable_path", rule_persistence_writable),
    ("linux_reverse_shell", rule_reverse_shell),
    ("linux_deleted_binary_running", rule_deleted_binary_running),
)


