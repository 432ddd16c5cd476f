"""/etc/passwd, /etc/shadow, /etc/group -> accounts; /etc/os-release, /etc/hostname -> host facts.

Why they matter: a second uid-0 account, an account with a login shell that should have none, a
password changed the day of the intrusion (shadow's last-change day) and a user slipped into
sudo/wheel are classic persistence. Password hashes are never copied into the records: only whether
a password is set, locked or empty, and the hash scheme.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import ClassVar

from triage.model import ArtifactRecord, HostFact, Issue, Record, UserAccount
from triage.parsers.base import ParseInput, Parser
from triage.parsers.linux.text import LineStats, lines, stat_issues

MAX_ACCOUNT_LINES = 100_000
NO_LOGIN_SHELLS = ("/usr/sbin/nologin", "/sbin/nologin", "/bin/false", "/usr/bin/false", "/bin/sync")
_SCHEMES = {"1": "md5", "2a": "bcrypt", "2b": "bcrypt", "2y": "bcrypt", "5": "sha256", "6": "sha512",
            "y": "yescrypt", "gy": "gost-yescrypt", "7": "scrypt"}


def _int(text: str) -> int | None:
    return int(text) if re.fullmatch(r"-?\d{1,10}", text.strip()) else None


@dataclass(frozen=True, slots=True, kw_only=True)
class LinuxAccount(ArtifactRecord):
    """One /etc/passwd line."""

    record_type: ClassVar[str] = "linux/passwd"
    artifact: ClassVar[str] = "linux_accounts"
    title: ClassVar[str] = "Linux accounts (/etc/passwd)"
    description: ClassVar[str] = ("Every account: uid 0 means root's powers whatever the name; a login shell "
                                  "on a service account means it can log in.")
    columns: ClassVar[tuple[tuple[str, str], ...]] = (("name", "Name"), ("uid", "UID"), ("gid", "GID"),
                                                      ("home", "Home"), ("shell", "Shell"), ("gecos", "GECOS"))
    docs: ClassVar[dict[str, str]] = {"name": "account name", "uid": "user id (0 = superuser)",
                                      "gid": "primary group id", "gecos": "comment field (full name ...)",
                                      "home": "home directory", "shell": "login shell",
                                      "can_login": "false when the shell is nologin/false",
                                      "line": "line number in /etc/passwd"}
    name: str
    uid: int | None
    gid: int | None
    gecos: str
    home: str
    shell: str
    can_login: bool
    line: int

    def message(self) -> str:
        return f"account {self.name} uid={self.uid} shell={self.shell}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ShadowEntry(ArtifactRecord):
    """One /etc/shadow line, without the hash."""

    record_type: ClassVar[str] = "linux/shadow"
    artifact: ClassVar[str] = "linux_shadow"
    title: ClassVar[str] = "Linux password state (/etc/shadow)"
    description: ClassVar[str] = ("Whether each account has a password, and the day it last changed "
                                  "(shadow keeps a day number, not a time: the timeline shows 00:00 UTC of "
                                  "that day). The hashes are not copied.")
    columns: ClassVar[tuple[tuple[str, str], ...]] = (("name", "Name"), ("password", "Password"),
                                                      ("scheme", "Hash"), ("last_change", "Last change (day, UTC)"))
    docs: ClassVar[dict[str, str]] = {
        "name": "account name", "password": "'set', 'locked', 'empty' (no password!) or 'none' (* / !!)",
        "scheme": "hash scheme of a set password (sha512, yescrypt ...)",
        "last_change": "the day the password last changed (shadow field 3), 00:00 UTC of that day",
        "line": "line number in /etc/shadow"}
    name: str
    password: str
    scheme: str | None
    last_change: datetime | None
    line: int

    def times(self) -> list[tuple[datetime, str]]:
        return [(self.last_change, "Password last changed (day)")] if self.last_change else []

    def message(self) -> str:
        return f"shadow {self.name}: password {self.password}"


@dataclass(frozen=True, slots=True, kw_only=True)
class LinuxGroup(ArtifactRecord):
    """One /etc/group line."""

    record_type: ClassVar[str] = "linux/group"
    artifact: ClassVar[str] = "linux_groups"
    title: ClassVar[str] = "Linux groups (/etc/group)"
    description: ClassVar[str] = "Groups and their listed members (sudo, wheel, adm, docker grant power)."
    columns: ClassVar[tuple[tuple[str, str], ...]] = (("name", "Group"), ("gid", "GID"), ("members", "Members"))
    docs: ClassVar[dict[str, str]] = {"name": "group name", "gid": "group id", "members": "listed members",
                                      "line": "line number in /etc/group"}
    name: str
    gid: int | None
    members: tuple[str, ...]
    line: int

    def message(self) -> str:
        return f"group {self.name}: {', '.join(self.members)}"


def _password_state(field: str) -> tuple[str, str | None]:
    if field == "":
        return "empty", None
    if field in ("*", "!", "!!", "!*", "x"):
        return "none", None
    locked = field.startswith("!")
    h = field.lstrip("!")
    m = re.match(r"^\$([0-9a-z]+)\$", h)
    scheme = _SCHEMES.get(m[1], m[1]) if m else ("des" if len(h) == 13 else None)
    return ("locked" if locked else "set"), scheme


def _day(text: str) -> datetime | None:
    n = _int(text)
    if n is None or n <= 0 or n > 200_000:
        return None
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=n)


class AccountsParser(Parser):
    name = "linux_accounts"
    patterns = ("etc/passwd", "etc/shadow", "etc/group")

    def parse(self, item: ParseInput) -> Iterator[Record | Issue]:
        kind = item.rel_path.rsplit("/", 1)[-1]
        stats = LineStats()
        bad = 0
        for n, line in lines(item, stats, max_lines=MAX_ACCOUNT_LINES):
            if not line.strip() or line.startswith("#"):
                continue
            f = line.split(":")
            src = item.source(f"line {n}")
            if kind == "passwd" and len(f) == 7:
                shell = f[6].strip()
                yield LinuxAccount(source=src, name=f[0], uid=_int(f[2]), gid=_int(f[3]), gecos=f[4], home=f[5],
                                   shell=shell, can_login=bool(shell) and shell not in NO_LOGIN_SHELLS, line=n)
                yield UserAccount(source=src, name=f[0], profile_path=f[5] or None)
            elif kind == "shadow" and len(f) >= 3:
                state, scheme = _password_state(f[1])
                yield ShadowEntry(source=src, name=f[0], password=state, scheme=scheme, last_change=_day(f[2]),
                                  line=n)
            elif kind == "group" and len(f) == 4:
                members = tuple(m for m in f[3].split(",") if m)[:1000]
                yield LinuxGroup(source=src, name=f[0], gid=_int(f[2]), members=members, line=n)
            else:
                bad += 1
        if bad:
            yield item.issue(f"{bad} line(s) of /etc/{kind} do not have the expected fields", "warning")
        yield from stat_issues(item, stats, kind)


class OsReleaseParser(Parser):
    """/etc/os-release, /etc/hostname, /etc/timezone -> the host's OS name, host name and zone (HostFact)."""

    name = "linux_os_release"
    patterns = ("etc/os-release", "usr/lib/os-release", "etc/hostname", "etc/timezone")

    def parse(self, item: ParseInput) -> Iterator[Record | Issue]:
        stats = LineStats()
        if item.rel_path in ("etc/hostname", "etc/timezone"):
            key = item.rel_path[4:]
            for n, line in lines(item, stats, max_lines=5, max_chars=255):
                value = line.strip()
                if value and not value.startswith("#"):
                    yield HostFact(source=item.source(f"line {n}"), key=key, value=value)
                    return
            return
        values: dict[str, tuple[int, str]] = {}
        for n, line in lines(item, stats, max_lines=200, max_chars=1024):
            key, sep, value = line.partition("=")
            if sep and re.fullmatch(r"[A-Z_]+", key):
                values[key] = (n, value.strip().strip("'\""))
        for fact, keys in (("os_product", ("PRETTY_NAME", "NAME")), ("os_version", ("VERSION_ID",)),
                           ("os_build", ("VERSION",))):
            for key in keys:
                if key in values:
                    n, value = values[key]
                    yield HostFact(source=item.source(f"line {n} {key}"), key=fact, value=value)
                    break
        yield from stat_issues(item, stats, "os-release")
