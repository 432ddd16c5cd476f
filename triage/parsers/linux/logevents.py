"""What a Linux log line means: sshd logins, sudo, su, console logins, account changes, cron runs.

Why separate from the readers: the same messages reach the classic text logs (auth.log, secure,
syslog, messages) and the systemd journal; :func:`classify` reads (program, message) from either and
:class:`LogEvent` is the one record both produce, so findings correlate them the same way.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from triage.model import ArtifactRecord

# category -> what it proves (also the report's wording)
CATEGORIES = {
    "ssh_accepted": "sshd accepted a login",
    "ssh_failed": "sshd refused a password/key",
    "ssh_invalid_user": "sshd: login attempt for a user that does not exist",
    "sudo": "command run through sudo",
    "sudo_failed": "sudo refused (wrong password or not in sudoers)",
    "su": "su to another user",
    "su_failed": "su refused",
    "login": "console/graphical login session opened",
    "login_failed": "console login refused",
    "user_added": "account created",
    "user_deleted": "account deleted",
    "group_added": "group created",
    "group_member_added": "user added to a group",
    "password_changed": "password changed",
    "cron_run": "cron started a job",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class LogEvent(ArtifactRecord):
    """One classified line of a Linux log or one journal entry."""

    record_type: ClassVar[str] = "linux/log/event"
    artifact: ClassVar[str] = "linux_log_events"
    title: ClassVar[str] = "Linux logins, sudo, su and account changes (logs and journal)"
    description: ClassVar[str] = (
        "Lines of auth.log/secure/syslog/messages and journal entries that record a login (sshd, console), "
        "a refused login, sudo/su use or an account or group change (cron job starts: their own section). Classic syslog lines "
        "carry no year or zone: 'zone' says which zone was assumed and 'year_inferred' that the year was "
        "counted back from the file's modification time. A log can be edited by root: absence proves little.")
    columns: ClassVar[tuple[tuple[str, str], ...]] = (
        ("timestamp", "Time (UTC)"), ("category", "What"), ("user", "User"), ("source_ip", "From"),
        ("target_user", "As"), ("command", "Command"), ("program", "Program"), ("zone", "Zone assumed"))
    docs: ClassVar[dict[str, str]] = {
        "timestamp": "when the line was logged, UTC (from the local time, the zone and the inferred year)",
        "time_logged": "the time as written in the log, verbatim (local time; no year for classic syslog)",
        "zone": "the zone the local time was read in and where it came from",
        "year_inferred": "true when the log gives no year and it was counted back from the file's mtime",
        "hostname": "host name in the line",
        "program": "logging program (sshd, sudo, su, useradd, CRON ...)",
        "pid": "process id in the line",
        "category": "what the line records: " + ", ".join(CATEGORIES),
        "user": "the account that logged in / ran sudo / was created",
        "target_user": "sudo/su: the account the command ran as",
        "source_ip": "sshd: the client address",
        "port": "sshd: the client port",
        "method": "sshd: password, publickey, keyboard-interactive ...",
        "command": "sudo/cron: the command line",
        "text": "the message, verbatim (cut at 500 characters)",
    }

    timestamp: datetime | None
    time_logged: str
    zone: str
    year_inferred: bool
    hostname: str | None
    program: str
    pid: int | None
    category: str
    user: str | None = None
    target_user: str | None = None
    source_ip: str | None = None
    port: int | None = None
    method: str | None = None
    command: str | None = None
    text: str = ""

    def times(self) -> list[tuple[datetime, str]]:
        return [(self.timestamp, f"Log: {CATEGORIES.get(self.category, self.category)}")] if self.timestamp else []

    def message(self) -> str:
        bits = [self.category, self.user and f"user={self.user}", self.source_ip and f"from={self.source_ip}",
                self.target_user and f"as={self.target_user}", self.command and f"cmd={self.command[:200]}"]
        return f"{self.program}: " + " ".join(b for b in bits if b)


@dataclass(frozen=True, slots=True, kw_only=True)
class CronRun(LogEvent):
    """A cron job start (CRON "(user) CMD (command)"): its own section, because on a busy host these lines
    outnumber the logins and would crowd them out of the listed entries."""

    record_type: ClassVar[str] = "linux/log/cron_run"
    artifact: ClassVar[str] = "linux_cron_runs"
    title: ClassVar[str] = "Linux cron job runs (logs and journal)"
    description: ClassVar[str] = ("Each line where cron logged starting a job: who and what. The schedule itself "
                                  "is in the cron section; a command here that no crontab holds was removed since.")
    columns: ClassVar[tuple[tuple[str, str], ...]] = (("timestamp", "Time (UTC)"), ("user", "User"),
                                                      ("command", "Command"), ("zone", "Zone assumed"))


def event_class(category: str) -> type[LogEvent]:
    """The record class for a classified line."""
    return CronRun if category == "cron_run" else LogEvent


_Fields = dict[str, Any]
_SSH_ACCEPT = re.compile(r"^Accepted (\S+) for (\S+) from (\S+) port (\d{1,5})")
_SSH_FAIL = re.compile(r"^Failed (\S+) for (?:invalid user )?(\S*) from (\S+) port (\d{1,5})")
_SSH_INVALID = re.compile(r"^Invalid user (\S*) from (\S+)(?: port (\d{1,5}))?")
_SUDO = re.compile(r"^\s*(\S+) : (?:(.*?) ; )?TTY=(\S+) ; PWD=(.*?) ; USER=(\S+) ;(?: .*?;)? COMMAND=(.*)$")
_SUDO_DENY = re.compile(r"^\s*(\S+) : (?:.*?)(?:user NOT in sudoers|incorrect password attempts?|"
                        r"command not allowed)")
_SESSION = re.compile(r"^pam_unix\(([\w\-]+):session\): session opened for user ([^\s(]+)(?:\(uid=\d+\))?"
                      r"(?: by ([^\s(]*)(?:\(uid=\d+\))?)?")
_AUTHFAIL = re.compile(r"^pam_unix\(([\w\-]+):auth\): authentication failure;.*?(?: user=(\S+))?$")
_SU_OK = re.compile(r"^(?:\(to (\S+)\) (\S+) on|Successful su for (\S+) by (\S+))")
_SU_FAIL = re.compile(r"^FAILED SU \(to (\S+)\) (\S+) on")
_LOGIN_FAIL = re.compile(r"^FAILED LOGIN \(\d+\)(?: on '?\S+'?)?(?: FROM '?\S*'?)? FOR '?([^\s',]+)")
_ROOT_LOGIN = re.compile(r"^ROOT LOGIN\s+ON")
_USERADD = re.compile(r"^new user: name=([^,]+), UID=(\d+), GID=(\d+), home=([^,]*), shell=([^,]*)")
_GROUPADD = re.compile(r"^new group: name=([^,]+), GID=(\d+)")
_USERDEL = re.compile(r"^delete user '([^']+)'")
_GROUPMEM = re.compile(r"^(?:add|add member) '([^']+)' to (?:shadow )?group '([^']+)'")
_PASSWD = re.compile(r"^pam_unix\((?:passwd|chpasswd|chage):chauthtok\): password changed for (\S+)")
_CRON = re.compile(r"^\((\S+)\) CMD \((.*)\)\s*$")
_LOGIN_SERVICES = {"login", "gdm-password", "lightdm", "sddm", "gdm-autologin", "xrdp-sesman", "remote"}


def _sshd(msg: str) -> tuple[str, _Fields] | None:
    if m := _SSH_ACCEPT.match(msg):
        return "ssh_accepted", {"method": m[1], "user": m[2], "source_ip": m[3], "port": int(m[4])}
    if m := _SSH_FAIL.match(msg):
        return "ssh_failed", {"method": m[1], "user": m[2], "source_ip": m[3], "port": int(m[4])}
    if m := _SSH_INVALID.match(msg):
        return "ssh_invalid_user", {"user": m[1], "source_ip": m[2], "port": int(m[3]) if m[3] else None}
    return None


def _sudo(msg: str) -> tuple[str, _Fields] | None:
    if m := _SUDO.match(msg):
        if m[2] and ("NOT in sudoers" in m[2] or "incorrect password" in m[2] or "not allowed" in m[2]):
            return "sudo_failed", {"user": m[1], "target_user": m[5], "command": m[6]}
        return "sudo", {"user": m[1], "target_user": m[5], "command": m[6]}
    if m := _SUDO_DENY.match(msg):
        return "sudo_failed", {"user": m[1]}
    return None


def _su(msg: str) -> tuple[str, _Fields] | None:
    if m := _SU_FAIL.match(msg):
        return "su_failed", {"target_user": m[1], "user": m[2]}
    if m := _SU_OK.match(msg):
        return "su", {"target_user": m[1] or m[3], "user": m[2] or m[4]}
    return None


def _accounts(msg: str) -> tuple[str, _Fields] | None:
    if m := _USERADD.match(msg):
        return "user_added", {"user": m[1], "command": f"uid={m[2]} gid={m[3]} home={m[4]} shell={m[5]}"}
    if m := _GROUPADD.match(msg):
        return "group_added", {"user": None, "target_user": m[1], "command": f"gid={m[2]}"}
    if m := _USERDEL.match(msg):
        return "user_deleted", {"user": m[1]}
    if m := _GROUPMEM.match(msg):
        return "group_member_added", {"user": m[1], "target_user": m[2]}
    return None


_BY_PROGRAM: dict[str, Callable[[str], tuple[str, _Fields] | None]] = {
    "sshd": _sshd, "sudo": _sudo, "su": _su, "useradd": _accounts, "groupadd": _accounts,
    "userdel": _accounts, "usermod": _accounts, "gpasswd": _accounts, "adduser": _accounts,
}


def classify(program: str, msg: str) -> tuple[str, _Fields] | None:
    """(category, fields) for a line worth a record, None for the rest."""
    prog = program.rsplit("/", 1)[-1]
    fn = _BY_PROGRAM.get(prog) or _BY_PROGRAM.get(prog.lower())
    if fn is not None and (hit := fn(msg)) is not None:
        return hit
    if m := _PASSWD.match(msg):
        return "password_changed", {"user": m[1]}
    if m := _SESSION.match(msg):
        service, user, by = m[1], m[2], m[3] or None
        if service in ("su", "su-l"):
            return "su", {"target_user": user, "user": by}
        if service in _LOGIN_SERVICES:
            return "login", {"user": user, "method": service}
        return None
    if prog == "login" and (m := _LOGIN_FAIL.match(msg)):
        return "login_failed", {"user": m[1]}
    if prog == "login" and _ROOT_LOGIN.match(msg):
        return "login", {"user": "root", "method": "login"}
    if prog.lower() == "cron" and (m := _CRON.match(msg)):
        return "cron_run", {"user": m[1], "command": m[2]}
    if (m := _AUTHFAIL.match(msg)) and m[1] in ("su", "su-l"):
        return "su_failed", {"user": m[2]}
    return None
