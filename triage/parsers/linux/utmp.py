"""wtmp / btmp / utmp (login records) and lastlog (last login per uid), read with ``struct``.

Layout (glibc, x86-64 and the other 64-bit Linux ABIs, 384 bytes per record): ut_type int16 + pad,
ut_pid int32, ut_line char[32], ut_id char[4], ut_user char[32], ut_host char[256], ut_exit
(int16, int16), ut_session int32, ut_tv (int32 seconds, int32 microseconds, UTC), ut_addr_v6 int32[4],
20 bytes unused. lastlog: one 292-byte record per uid (ll_time int32, ll_line char[32], ll_host
char[256]), a sparse file indexed by uid. A file whose size is no multiple of the record size is
read up to its last whole record and reported.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar

from triage.model import ArtifactRecord, Issue, Record
from triage.parsers.base import ParseInput, Parser

UTMP = struct.Struct("<hxxi32s4s32s256shhiii16s20s")
LASTLOG = struct.Struct("<i32s256s")
TYPES = {0: "empty", 1: "run_level", 2: "boot_time", 3: "new_time", 4: "old_time", 5: "init_process",
         6: "login_process", 7: "user_process", 8: "dead_process", 9: "accounting"}
MAX_RECORDS = 2_000_000
MAX_LASTLOG_UIDS = 100_000


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def _addr(raw: bytes) -> str | None:
    if not raw.strip(b"\0"):
        return None
    if raw[4:].strip(b"\0"):
        return str(ipaddress.IPv6Address(raw))
    return str(ipaddress.IPv4Address(raw[:4]))


def _time(sec: int, usec: int = 0) -> datetime | None:
    if sec <= 0:
        return None
    try:
        return datetime.fromtimestamp(sec, UTC).replace(microsecond=max(0, min(usec, 999_999)))
    except (OverflowError, OSError, ValueError):
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class LoginRecord(ArtifactRecord):
    """One utmp-format record: a login, a logout, a boot or a failed login (btmp)."""

    record_type: ClassVar[str] = "linux/utmp/record"
    artifact: ClassVar[str] = "linux_logins"
    title: ClassVar[str] = "Linux login records (wtmp, btmp, utmp)"
    description: ClassVar[str] = (
        "Binary login accounting: wtmp holds logins, logouts and boots (what 'last' shows), btmp failed "
        "logins ('lastb'), utmp the sessions open at collection. Times are the records' own UTC seconds. "
        "Root can edit these files; a gap in wtmp is itself worth a look.")
    columns: ClassVar[tuple[tuple[str, str], ...]] = (
        ("time", "Time (UTC)"), ("log", "File"), ("type", "Type"), ("user", "User"), ("line", "Terminal"),
        ("host", "From host"), ("address", "Address"), ("pid", "PID"))
    docs: ClassVar[dict[str, str]] = {
        "time": "ut_tv: when the record was written (login, logout, boot), UTC",
        "log": "wtmp, btmp or utmp (which file: logins, failed logins, open sessions)",
        "type": "ut_type by name: user_process (login), dead_process (logout), boot_time, run_level ...",
        "user": "ut_user (for btmp: the name that was tried)",
        "line": "ut_line: the terminal (pts/0, tty1, ssh:notty)",
        "host": "ut_host: the remote host or display",
        "address": "ut_addr_v6: the remote address, IPv4 or IPv6",
        "pid": "ut_pid: the login process",
        "index": "record number in the file, from 0",
    }

    time: datetime | None
    log: str
    type: str
    user: str
    line: str
    host: str
    address: str | None
    pid: int
    index: int

    def times(self) -> list[tuple[datetime, str]]:
        what = {"btmp": "Failed login", "utmp": "Session open"}.get(self.log, "Login record")
        return [(self.time, f"{what} ({self.type})")] if self.time else []

    def message(self) -> str:
        return f"{self.log} {self.type} user={self.user} line={self.line} host={self.host or '-'}"


@dataclass(frozen=True, slots=True, kw_only=True)
class LastLogin(ArtifactRecord):
    """lastlog: the last login of one uid."""

    record_type: ClassVar[str] = "linux/lastlog"
    artifact: ClassVar[str] = "linux_lastlog"
    title: ClassVar[str] = "Linux last login per account (lastlog)"
    description: ClassVar[str] = ("One entry per uid that ever logged in on a terminal: when, on which "
                                  "terminal and from where (the uid maps to a name through /etc/passwd).")
    columns: ClassVar[tuple[tuple[str, str], ...]] = (("uid", "UID"), ("last_login", "Last login (UTC)"),
                                                      ("line", "Terminal"), ("host", "From"))
    docs: ClassVar[dict[str, str]] = {"uid": "user id (the record's index in the file)",
                                      "last_login": "ll_time: the uid's last login, UTC",
                                      "line": "ll_line: terminal", "host": "ll_host: remote host"}
    uid: int
    last_login: datetime | None
    line: str
    host: str

    def times(self) -> list[tuple[datetime, str]]:
        return [(self.last_login, "Last login (lastlog)")] if self.last_login else []

    def message(self) -> str:
        return f"lastlog uid={self.uid} line={self.line} host={self.host or '-'}"


class UtmpParser(Parser):
    name = "linux_utmp"
    patterns = ("var/log/wtmp*", "var/log/btmp*", "var/run/utmp", "run/utmp")

    def parse(self, item: ParseInput) -> Iterator[Record | Issue]:
        log = item.rel_path.rsplit("/", 1)[-1].split(".", 1)[0]
        with item.open() as fh:
            for index in range(MAX_RECORDS + 1):
                raw = fh.read(UTMP.size)
                if not raw:
                    return
                if index == MAX_RECORDS:
                    yield item.issue(f"more than {MAX_RECORDS} records: the rest was not read", "warning")
                    return
                if len(raw) < UTMP.size:
                    yield item.issue(f"{len(raw)} trailing bytes after record {index - 1} (not a whole "
                                     f"{UTMP.size}-byte record): file truncated or not utmp", "warning",
                                     f"offset {index * UTMP.size}")
                    return
                (typ, pid, line, _id, user, host, _t, _e, _sess, sec, usec, addr, _u) = UTMP.unpack(raw)
                if typ not in TYPES:
                    yield item.issue(f"record {index}: unknown ut_type {typ}: not a utmp record", "warning",
                                     f"record {index}")
                    continue
                if typ == 0:
                    continue
                yield LoginRecord(source=item.source(f"record {index} (offset {index * UTMP.size})"),
                                  time=_time(sec, usec), log=log, type=TYPES[typ], user=_text(user),
                                  line=_text(line), host=_text(host), address=_addr(addr), pid=pid, index=index)


class LastlogParser(Parser):
    name = "linux_lastlog"
    patterns = ("var/log/lastlog",)

    def parse(self, item: ParseInput) -> Iterator[Record | Issue]:
        with item.open() as fh:
            for uid in range(MAX_LASTLOG_UIDS + 1):
                raw = fh.read(LASTLOG.size)
                if len(raw) < LASTLOG.size:
                    if raw:
                        yield item.issue(f"{len(raw)} trailing bytes: file truncated", "warning")
                    return
                if uid == MAX_LASTLOG_UIDS:
                    yield item.issue(f"uids above {MAX_LASTLOG_UIDS} were not read", "warning")
                    return
                sec, line, host = LASTLOG.unpack(raw)
                if sec == 0 and not line.strip(b"\0"):
                    continue
                yield LastLogin(source=item.source(f"uid {uid} (offset {uid * LASTLOG.size})"), uid=uid,
                                last_login=_time(sec), line=_text(line), host=_text(host))
