"""SRUM (System Resource Usage Monitor, ``Windows\\System32\\sru\\SRUDB.dat``) -> network usage per
application per user per hour (artifact ``srum_network``), application resource usage (``srum_app_usage``)
and the id map that names them (``srum_id_map``).

Why: SRUM keeps about 30 days of per-application byte counts even when event logs are gone: the one place
that says *how much* a program sent over which interface, hour by hour (exfiltration, C2 volume, a tool
that ran only once). The database is ESE, read with libesedb (``pyesedb``, LGPL) from a private copy; the
ESE logs travel with it in the bundle but libesedb does not replay them, so a dirty database gets a warning.

Bounded for big and hostile databases: rows are streamed one at a time and summed into buckets per
(hour, app, user[, interface, profile]); at most ``MAX_BUCKETS`` buckets per table are kept and at most
``MAX_ROWS`` rows read, and what is left out is counted in an Issue. Table facts: srum_tables.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

import pyesedb

from triage.model import ArtifactRecord, Issue, Record
from triage.parsers.base import ParseInput, Parser
from triage.parsers.srum_tables import (
    APP_RESOURCE_USAGE,
    ESE_SIGNATURE,
    ID_MAP,
    ID_TYPES,
    NETWORK_USAGE,
    ese_state,
    id_blob_text,
    interface_type,
    ole_date_utc,
)

MAX_SRUM_BYTES = 2 << 30    # real SRUDB.dat files reach a few hundred MB; a bigger member is not copied out
MAX_ROWS = 5_000_000        # per table
MAX_BUCKETS = 50_000        # aggregated entries kept per table
MAX_ID_MAP = 200_000
APP_FIELDS = ("ForegroundCycleTime", "BackgroundCycleTime", "ForegroundBytesRead", "ForegroundBytesWritten",
              "BackgroundBytesRead", "BackgroundBytesWritten")


@dataclass(frozen=True, slots=True, kw_only=True)
class SrumIdMapEntry(ArtifactRecord):
    """One SruDbIdMapTable row: the integer id other SRUM tables use for an application, service, package
    or user SID."""

    record_type: ClassVar[str] = "windows/srum/id_map"
    artifact: ClassVar[str] = "srum_id_map"
    title: ClassVar[str] = "SRUM id map"
    description: ClassVar[str] = ("SruDbIdMapTable: the names behind SRUM's numeric app and user ids. It lists what "
                                  "SRUM has seen over its retention; by itself it dates nothing.")
    columns: ClassVar[tuple[tuple[str, str], ...]] = (("id", "Id"), ("id_type", "Type"), ("value", "Value"))

    id: int
    id_type: str
    value: str | None

    def message(self) -> str:
        return f"SRUM id {self.id} ({self.id_type}) = {self.value}"


@dataclass(frozen=True, slots=True, kw_only=True)
class SrumHourly(ArtifactRecord):
    """What every hourly SRUM entry has: the hour, the SRUM TimeStamps summed into it, and who (app, user)."""

    hour: datetime
    recorded_first: datetime
    recorded_last: datetime
    app_id: int | None
    app: str | None
    user_id: int | None
    user_sid: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class SrumNetworkUsage(SrumHourly):
    """Bytes one application sent and received for one user on one interface in one hour (summed over the
    SRUM rows of that hour). ``hour`` is the UTC hour the SRUM TimeStamps fall in; ``recorded_first`` /
    ``recorded_last`` the TimeStamps themselves (each written at the end of the interval it covers)."""

    record_type: ClassVar[str] = "windows/srum/network_usage"
    artifact: ClassVar[str] = "srum_network"
    title: ClassVar[str] = "SRUM network usage"
    description: ClassVar[str] = (
        "Bytes sent and received per application, user, network interface and hour, as SRUM recorded them "
        "(about 30 days kept). Proves traffic volume by a program; not where it went.")
    columns: ClassVar[tuple[tuple[str, str], ...]] = (
        ("hour", "Hour (UTC)"), ("app", "Application"), ("user_sid", "User SID"), ("interface_type", "Interface"),
        ("l2_profile_id", "Profile id"), ("bytes_sent", "Bytes sent"), ("bytes_received", "Bytes received"))

    interface_luid: int | None
    interface_type: str | None
    l2_profile_id: int | None
    bytes_sent: int
    bytes_received: int
    rows: int

    def times(self) -> list[tuple[datetime, str]]:
        return [(self.recorded_last, "SRUM network usage recorded (end of interval)")]

    def message(self) -> str:
        return (f"SRUM network {self.app or self.app_id}: sent {self.bytes_sent} B, received {self.bytes_received} B"
                f" ({self.interface_type or 'unknown interface'})")


@dataclass(frozen=True, slots=True, kw_only=True)
class SrumAppUsage(SrumHourly):
    """CPU cycles and disk bytes of one application for one user in one hour (summed over that hour's rows),
    foreground and background. Times as in :class:`SrumNetworkUsage`."""

    record_type: ClassVar[str] = "windows/srum/app_usage"
    artifact: ClassVar[str] = "srum_app_usage"
    title: ClassVar[str] = "SRUM application resource usage"
    description: ClassVar[str] = (
        "CPU cycle time and bytes read/written per application, user and hour (foreground/background), as SRUM "
        "recorded them. Proves a program was running in that hour; not what it did.")
    columns: ClassVar[tuple[tuple[str, str], ...]] = (
        ("hour", "Hour (UTC)"), ("app", "Application"), ("user_sid", "User SID"),
        ("foreground_cycle_time", "FG cycles"), ("background_cycle_time", "BG cycles"),
        ("foreground_bytes_read", "FG read"), ("foreground_bytes_written", "FG written"),
        ("background_bytes_read", "BG read"), ("background_bytes_written", "BG written"))

    foreground_cycle_time: int
    background_cycle_time: int
    foreground_bytes_read: int
    foreground_bytes_written: int
    background_bytes_read: int
    background_bytes_written: int
    rows: int

    def times(self) -> list[tuple[datetime, str]]:
        return [(self.recorded_last, "SRUM application usage recorded (end of interval)")]

    def message(self) -> str:
        return f"SRUM app usage {self.app or self.app_id} (user {self.user_sid or self.user_id})"


class _Table:
    """Column positions of one ESE table and typed reads of a record's values (None when unreadable)."""

    def __init__(self, table: Any) -> None:
        self.table = table
        self.index = {c.name: i for i, c in enumerate(table.columns)}
        self.count = table.number_of_records

    def rows(self, limit: int) -> Iterator[tuple[int, Any | None]]:
        """The last ``limit`` records (the newest: SRUM appends), one at a time; None for an unreadable one."""
        for i in range(max(0, self.count - limit), self.count):
            try:
                yield i, self.table.get_record(i)
            except (OSError, ValueError):
                yield i, None

    def int(self, rec: Any, name: str) -> int | None:
        i = self.index.get(name)
        if i is None:
            return None
        try:
            return rec.get_value_data_as_integer(i)
        except (OSError, ValueError, TypeError):
            return None

    def raw(self, rec: Any, name: str) -> bytes | None:
        i = self.index.get(name)
        if i is None:
            return None
        try:
            return rec.get_value_data(i)
        except (OSError, ValueError):
            return None


def _aggregate(t: _Table, buckets: dict[tuple, list], keys: tuple[str, ...], sums: tuple[str, ...]) -> list[str]:
    """Sum ``sums`` per (hour, AppId, UserId, *keys) into buckets [first, last, rows, locator, *sums];
    returns the problems (unreadable rows, rows left out by the caps).

    Past ``MAX_BUCKETS`` the oldest hour's buckets are evicted (and rows of that hour or older are not
    summed any more): the newest activity is what triage wants, whatever order the rows come in."""
    bad = undated = dropped = 0
    by_hour: dict[datetime, dict[tuple, None]] = {}  # insertion-ordered sets of bucket keys
    floor: datetime | None = None  # rows of this hour or older were evicted
    for i, rec in t.rows(MAX_ROWS):
        if rec is None:
            bad += 1
            continue
        when = ole_date_utc(t.raw(rec, "TimeStamp"))
        if when is None:
            undated += 1
            continue
        hour = _hour(when)
        if floor is not None and hour <= floor:
            dropped += 1
            continue
        key = (hour, t.int(rec, "AppId"), t.int(rec, "UserId"), *(t.int(rec, k) for k in keys))
        b = buckets.get(key)
        if b is None:
            b = buckets[key] = [when, when, 0, f"record {i}", *([0] * len(sums))]
            by_hour.setdefault(hour, {})[key] = None
        b[0], b[1], b[2] = min(b[0], when), max(b[1], when), b[2] + 1
        if b[2] == 2:
            b[3] = f"records {b[3].split()[-1]}+"
        for j, name in enumerate(sums):
            b[4 + j] += t.int(rec, name) or 0
        while len(buckets) > MAX_BUCKETS:
            if len(by_hour) == 1:  # one hour alone exceeds the cap: this row's new entry goes
                dropped += buckets.pop(key)[2]
                del by_hour[hour][key]
                break
            floor = min(by_hour)  # always newer than the previous floor: older rows no longer get in
            dropped += sum(buckets.pop(k)[2] for k in by_hour.pop(floor))
    problems = []
    if bad:
        problems.append(f"{bad} records unreadable")
    if undated:
        problems.append(f"{undated} records without a valid TimeStamp skipped")
    if dropped:
        oldest = f"the oldest hours (up to {floor:%Y-%m-%dT%H}:00Z)" if floor else "an hour with too many apps"
        problems.append(f"{dropped} records of {oldest} not summarised: more than {MAX_BUCKETS} hourly entries")
    if t.count > MAX_ROWS:
        problems.append(f"table has {t.count} records; the newest {MAX_ROWS} are read")
    return problems


def _hour(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


class SrumParser(Parser):
    name = "srum"
    patterns = ("windows/system32/sru/srudb.dat",)
    signatures = ((4, ESE_SIGNATURE),)

    def parse(self, item: ParseInput) -> Iterator[Record | Issue]:
        cap = int((item.options or {}).get("max_srum_bytes", MAX_SRUM_BYTES))
        if isinstance(item.entry.size, int) and item.entry.size > cap:
            yield item.issue(f"SRUM database of {item.entry.size} bytes is above the {cap}-byte cap: not parsed")
            return
        try:
            path = item.materialize()
            with open(path, "rb") as fh:
                state = ese_state(fh.read(64))
            db = pyesedb.file()
            db.open(str(path))
        except OSError as exc:
            yield item.issue(f"SRUM database unreadable: {exc}")
            return
        try:
            if state not in ("CleanShutdown", None):
                yield item.issue(f"SRUM database state is {state}: its ESE logs were not replayed (libesedb cannot), "
                                 "the newest rows may be missing", severity="warning")
            tables = {}
            for i in range(db.number_of_tables):
                try:
                    t = db.get_table(i)
                    tables[t.name] = t
                except OSError as exc:
                    yield item.issue(f"SRUM table {i} unreadable: {exc}", severity="warning")
            if ID_MAP not in tables:
                yield item.issue("SRUM database without SruDbIdMapTable: apps and users stay numeric", severity="warning")
            names: dict[int, tuple[str, str | None]] = {}
            for name, read in ((ID_MAP, self._id_map), (NETWORK_USAGE, self._network), (APP_RESOURCE_USAGE, self._apps)):
                if name not in tables:
                    continue
                try:  # a damaged page tree fails here, before any row: the table is lost, not the others
                    table = _Table(tables[name])
                except OSError as exc:
                    yield item.issue(f"SRUM table {name} unreadable: {exc}", locator=name)
                    continue
                yield from read(item, table, names)
        finally:
            db.close()

    @staticmethod
    def _id_map(item: ParseInput, t: _Table, names: dict[int, tuple[str, str | None]]) -> Iterator[Record | Issue]:
        bad = 0
        for i, rec in t.rows(MAX_ID_MAP):
            idx = None if rec is None else t.int(rec, "IdIndex")
            if rec is None or idx is None:
                bad += 1
                continue
            code = t.int(rec, "IdType")
            kind = ID_TYPES.get(code, f"type {code}") if code is not None else "unknown"
            value = id_blob_text(code, t.raw(rec, "IdBlob"))
            names[idx] = (kind, value)
            yield SrumIdMapEntry(source=item.source(f"{ID_MAP} record {i}"), id=idx, id_type=kind, value=value)
        if bad:
            yield item.issue(f"{bad} SruDbIdMapTable records unreadable", severity="warning", locator=ID_MAP)
        if t.count > MAX_ID_MAP:
            yield item.issue(f"SruDbIdMapTable has {t.count} records; the last {MAX_ID_MAP} are read",
                             severity="warning", locator=ID_MAP)

    @staticmethod
    def _network(item: ParseInput, t: _Table, names: dict) -> Iterator[Record | Issue]:
        buckets: dict[tuple, list] = {}
        problems = _aggregate(t, buckets, ("InterfaceLuid", "L2ProfileId"), ("BytesSent", "BytesRecvd"))
        for key, (first, last, rows, loc, sent, recvd) in sorted(buckets.items(), key=lambda kv: kv[0][0], reverse=True):
            hour, app_id, user_id, luid, profile = key
            yield SrumNetworkUsage(
                source=item.source(f"{NETWORK_USAGE} {loc}"), hour=hour, recorded_first=first, recorded_last=last,
                app_id=app_id, app=names.get(app_id, (None, None))[1], user_id=user_id,
                user_sid=names.get(user_id, (None, None))[1], interface_luid=luid, interface_type=interface_type(luid),
                l2_profile_id=profile, bytes_sent=sent, bytes_received=recvd, rows=rows)
        yield from (item.issue(p, severity="warning", locator=NETWORK_USAGE) for p in problems)

    @staticmethod
    def _apps(item: ParseInput, t: _Table, names: dict) -> Iterator[Record | Issue]:
        buckets: dict[tuple, list] = {}
        problems = _aggregate(t, buckets, (), APP_FIELDS)
        for key, (first, last, rows, loc, *sums) in sorted(buckets.items(), key=lambda kv: kv[0][0], reverse=True):
            hour, app_id, user_id = key
            yield SrumAppUsage(
                source=item.source(f"{APP_RESOURCE_USAGE} {loc}"), hour=hour, recorded_first=first,
                recorded_last=last, app_id=app_id, app=names.get(app_id, (None, None))[1], user_id=user_id,
                user_sid=names.get(user_id, (None, None))[1], foreground_cycle_time=sums[0],
                background_cycle_time=sums[1], foreground_bytes_read=sums[2], foreground_bytes_written=sums[3],
                background_bytes_read=sums[4], background_bytes_written=sums[5], rows=rows)
        yield from (item.issue(p, severity="warning", locator=APP_RESOURCE_USAGE) for p in problems)
