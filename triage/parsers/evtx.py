"""Windows event logs (.evtx): per-log statistics, typed notable events and network connectivity.

Engine: pyevtx-rs (PyPI ``evtx``), the Rust parser. It reads every chunk with a valid ElfChnk
signature, also those beyond the file header's chunk count, which is stale in most logs copied off
a live system (python-evtx trusts that count and misses records; it is also ~1000x slower).

Cost model: the whole analysis must stay within 2x of bare engine iteration, so per record the
parser only pattern-matches the System block of the engine's JSON (event id, provider, channel,
computer) for the statistics, and pays ``json.loads`` only for the few records whose (provider,
event id) is in the extraction table (:mod:`triage.parsers.evtx_events`). The file is streamed from
the bundle; nothing holds more than one record, except PowerShell 4104 script blocks waiting for
their remaining parts.

Errors are data: an unreadable file is one Issue; every chunk or record the engine cannot parse is
an Issue (and counted in ``EventLogStats.errors``); a file that ends inside a chunk (truncated copy)
gets an Issue naming the records lost, which the engine itself passes over silently.
"""

from __future__ import annotations

import json
import re
import struct
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

from evtx import PyEvtxParser

from triage.analyze.records import ConnectivityEvent, Event, EventLogStats, Issue, Record
from triage.parsers import evtx_events as ee
from triage.parsers.base import Parser, ParseInput

FILE_MAGIC = b"ElfFile\x00"
CHUNK_MAGIC = b"ElfChnk\x00"
HEADER_SIZE = 4096
CHUNK_SIZE = 65536
# Issues per file beyond which record errors are only counted (a hostile file can hold millions).
MAX_RECORD_ISSUES = 1000
# Consecutive engine errors after which the file is given up (guards against a non-advancing engine).
MAX_CONSECUTIVE_ERRORS = 100_000
UNPARSED = "<unparsed>"

_STR = r'"((?:[^"\\]|\\.)*)"'
# The System block as pyevtx-rs serializes it: Provider first, EventID (plain, or with Qualifiers),
# then fixed fields up to Channel and Computer. Anything else falls back to json.loads.
_SYSTEM = re.compile(
    r'\{"Event":\{(?:"#attributes":\{[^{}]*\},)?"System":\{"Provider":\{"#attributes":\{(?:"Name":' + _STR
    + r')?[^{}]*\}\},"EventID":(?:(\d+)|\{"#attributes":\{[^{}]*\},"#text":(\d+)\})'
    r'(.*?)"Channel":(?:' + _STR + r'|null),"Computer":(?:' + _STR + r'|null)', re.S)
_CHUNK_NO = re.compile(r"chunk number (\d+)", re.I)


def _unescape(s: str | None) -> str | None:
    if s is None or "\\" not in s:
        return s
    try:
        return json.loads(f'"{s}"')
    except ValueError:
        return s


def system_fields(data: str) -> tuple[str | None, int | str, str | None, str | None]:
    """(provider, event id, channel, computer) of one record's JSON, cheaply.

    Event id is '<unparsed>' when the JSON cannot be read at all.
    """
    m = _SYSTEM.match(data)
    if m is not None and 'Data":' not in m.group(4):
        eid = int(m.group(2) or m.group(3))
        return _unescape(m.group(1)), eid, _unescape(m.group(5)), _unescape(m.group(6))
    try:
        system = json.loads(data)["Event"]["System"]
        eid = ee.text(system.get("EventID"))
        provider = (system.get("Provider") or {}).get("#attributes", {}).get("Name")
        return provider, int(eid), system.get("Channel"), system.get("Computer")
    except (ValueError, KeyError, TypeError, AttributeError):
        return None, UNPARSED, None, None


def ts_key(s: str) -> str:
    """pyevtx-rs timestamp text ('2022-02-05T21:49:54.18Z UTC', 1-7 fraction digits or none) ->
    fixed-width 'YYYY-MM-DDTHH:MM:SS.fffffff' that sorts as time."""
    if len(s) > 20 and s[19] == ".":
        z = s.find("Z", 20)
        frac = s[20:z] if z > 0 else s[20:]
        return f"{s[:19]}.{frac[:7].ljust(7, '0')}"
    return f"{s[:19]}.0000000"


def key_datetime(key: str) -> datetime | None:
    """ts_key text -> aware UTC datetime truncated to the microsecond (None if it is not a time)."""
    try:
        return datetime(int(key[0:4]), int(key[5:7]), int(key[8:10]), int(key[11:13]), int(key[14:16]),
                        int(key[17:19]), int(key[20:26]), tzinfo=UTC)
    except ValueError:
        return None


def channel_from_name(rel_path: str) -> str | None:
    """'.../Microsoft-Windows-VPN%4Operational.evtx' -> 'Microsoft-Windows-VPN/Operational' (the
    file name is the channel name with '/' stored as '%4'); used only when a log has no records."""
    name = PurePosixPath(rel_path.replace("\\", "/")).name
    if not name.lower().endswith(".evtx"):
        return None
    return name[:-5].replace("%4", "/") or None


@dataclass
class _Script:
    """A PowerShell 4104 script block being reassembled from MessageNumber/MessageTotal parts."""

    script_block_id: str
    total: int
    first_record: int
    timestamp: datetime
    computer: str | None
    channel: str
    provider: str | None
    path: str | None = None
    parts: dict[int, str] = field(default_factory=dict)
    record_ids: list[int] = field(default_factory=list)


class EvtxParser(Parser):
    """Every record of every valid chunk of one .evtx file -> EventLogStats, Events,
    ConnectivityEvents and Issues."""

    name = "evtx"
    patterns = ("*.evtx",)
    signatures = ((0, FILE_MAGIC),)

    def parse(self, item: ParseInput) -> Iterator[Record | Issue]:
        return _LogReader(item).run()


class _LogReader:
    def __init__(self, item: ParseInput) -> None:
        self.item = item
        self.scripts: dict[str, _Script] = {}
        self.issue_count = 0

    # -- file level ------------------------------------------------------------------------------

    def run(self) -> Iterator[Record | Issue]:
        item = self.item
        try:
            with item.open() as fh:
                header = fh.read(HEADER_SIZE)
                size = item.entry.size if item.entry.size is not None else fh.seek(0, 2)
        except OSError as exc:
            yield item.issue(f"event log could not be read: {type(exc).__name__}: {exc}")
            return
        if len(header) < 128 or header[:8] != FILE_MAGIC:
            yield item.issue("not an event log (no ElfFile signature)" if len(header) >= 8
                             else f"not an event log: only {len(header)} bytes")
            return
        yield from self._partial_chunk(size)
        try:
            fh = item.open()
        except OSError as exc:
            yield item.issue(f"event log could not be read: {type(exc).__name__}: {exc}")
            return
        with fh:
            yield from self._records(fh)

    def _partial_chunk(self, size: int) -> Iterator[Issue]:
        """A file that ends inside a chunk: the engine skips that chunk without a word; say so."""
        tail = (size - HEADER_SIZE) % CHUNK_SIZE if size > HEADER_SIZE else 0
        if not tail:
            return
        offset = size - tail
        detail = ""
        try:
            with self.item.open() as fh:
                fh.seek(offset)
                head = fh.read(24)
            if head[:8] == CHUNK_MAGIC:
                first, last = struct.unpack_from("<QQ", head, 8)
                if last >= first:
                    detail = f"; its header lists records {first}-{last} ({last - first + 1} records) that are lost"
        except (OSError, ValueError):
            pass
        yield self.item.issue(f"file ends inside a chunk (truncated copy?): the last {tail} bytes at offset "
                              f"{offset} are an incomplete chunk and were not read{detail}",
                              locator=f"offset {offset}")

    # -- records ---------------------------------------------------------------------------------

    def _records(self, fh: Any) -> Iterator[Record | Issue]:
        item = self.item
        threads = int(item.options.get("evtx_threads", 0) or 0)
        try:
            records = PyEvtxParser(fh, number_of_threads=threads).records_json()
        except Exception as exc:  # the engine raises RuntimeError/OSError for unreadable headers
            yield item.issue(f"event log could not be opened: {type(exc).__name__}: {exc}")
            return

        counts: Counter[tuple[str | None, int | str, str | None]] = Counter()
        notable_ids, notable_channels = ee.NOTABLE_IDS, ee.NOTABLE_CHANNELS
        providers: dict[str | None, str] = {}
        channel_notable: dict[str | None, bool] = {}
        tmin = tmax = None
        errors = consecutive = 0
        last_rid: int | None = None
        while True:
            try:
                rec = next(records)
            except StopIteration:
                break
            except Exception as exc:
                errors += 1
                consecutive += 1
                yield from self._record_error(exc, last_rid, errors)
                if consecutive >= MAX_CONSECUTIVE_ERRORS:
                    yield item.issue(f"gave up after {consecutive} consecutive read errors")
                    break
                continue
            consecutive = 0
            last_rid = rec["event_record_id"]
            data = rec["data"]
            provider, eid, channel, computer = system_fields(data)
            counts[(channel, eid, computer)] += 1
            tkey = ts_key(rec["timestamp"])
            if tmin is None or tkey < tmin:
                tmin = tkey
            if tmax is None or tkey > tmax:
                tmax = tkey
            by_channel = channel_notable.get(channel)
            if by_channel is None:
                by_channel = channel_notable[channel] = (channel or "").lower() in notable_channels
            if eid in notable_ids or by_channel:
                prov = providers.get(provider)
                if prov is None:
                    prov = providers[provider] = ee.normalize_provider(provider)
                try:
                    yield from self._notable(prov, provider, eid, channel, computer, last_rid, tkey, data)
                except Exception as exc:  # a shape the table did not expect: lose the typing, not the file
                    yield item.issue(f"record could not be typed: {type(exc).__name__}: {exc}", "warning",
                                     f"record {last_rid}")
            if eid == UNPARSED:
                yield item.issue("record data could not be decoded", "warning", f"record {last_rid}")

        yield from self._flush_scripts()
        if errors > MAX_RECORD_ISSUES:
            yield item.issue(f"{errors - MAX_RECORD_ISSUES} further read errors not listed ({errors} in all)")
        yield self._stats(counts, errors, tmin, tmax)

    def _record_error(self, exc: Exception, last_rid: int | None, n: int) -> Iterator[Issue]:
        if n > MAX_RECORD_ISSUES:
            return
        msg = str(exc)
        m = _CHUNK_NO.search(msg)
        locator = f"chunk {m.group(1)}" if m else (f"after record {last_rid}" if last_rid is not None else None)
        what = "chunk could not be read" if m else "record could not be read"
        yield self.item.issue(f"{what}: {type(exc).__name__}: {msg}", "error", locator)

    def _stats(self, counts: Counter, errors: int, tmin: str | None, tmax: str | None) -> EventLogStats:
        channels: Counter[str] = Counter()
        computers: Counter[str] = Counter()
        event_ids: Counter[str] = Counter()
        for (channel, eid, computer), n in counts.items():
            if channel is not None:
                channels[channel] += n
            if computer is not None:
                computers[computer] += n
            event_ids[str(eid)] += n
        channel = channels.most_common(1)[0][0] if channels else channel_from_name(self.item.rel_path)
        return EventLogStats(source=self.item.source(), channel=channel, records=sum(counts.values()),
                             errors=errors, first=key_datetime(tmin) if tmin else None,
                             last=key_datetime(tmax) if tmax else None, computers=dict(computers),
                             event_ids=dict(event_ids))

    # -- typing ----------------------------------------------------------------------------------

    def _notable(self, prov: str, provider: str | None, eid: int | str, channel: str | None,
                 computer: str | None, rid: int, tkey: str, data: str) -> Iterator[Record]:
        key = (prov, eid)
        spec = ee.NOTABLE.get(key)
        conn = ee.CONNECTIVITY.get(key)
        script = eid == ee.POWERSHELL_SCRIPT_EVENT and prov in ee.POWERSHELL_SCRIPT_PROVIDERS
        by_channel = ee.NOTABLE_CHANNELS.get((channel or "").lower())
        if not (spec or conn or script or by_channel):
            return
        ts = key_datetime(tkey)
        if ts is None:
            return
        values = ee.event_data(json.loads(data)["Event"])
        source = self.item.source(f"record {rid}")
        chan = channel or ""
        if conn is not None:
            kw = conn(values)
            details = {**kw.pop("details"), "computer": computer, "channel": channel, "provider": provider}
            yield ConnectivityEvent(source=source, timestamp=ts, event_id=eid, details=details, **kw)
        elif script:
            yield from self._script_part(values, rid, ts, computer, chan, provider)
        elif spec is not None:
            fields = spec.extract(values)
            yield Event(source=source, timestamp=ts, channel=chan, provider=provider, event_id=eid, record_id=rid,
                        computer=computer, category=spec.category, description=spec.describe(fields),
                        fields=fields)
        elif by_channel is not None:
            category, prefix = by_channel
            yield Event(source=source, timestamp=ts, channel=chan, provider=provider, event_id=eid, record_id=rid,
                        computer=computer, category=category, description=f"{prefix} {eid}",
                        fields={"data": values})

    def _script_part(self, values: dict[str, Any], rid: int, ts: datetime, computer: str | None,
                     channel: str, provider: str | None) -> Iterator[Event]:
        sbid = ee.clean(values.get("ScriptBlockId")) or f"record-{rid}"
        number = ee.as_int(values.get("MessageNumber")) or 1
        total = max(ee.as_int(values.get("MessageTotal")) or 1, 1)
        part = values.get("ScriptBlockText")
        script = self.scripts.get(sbid)
        if script is None:
            script = self.scripts[sbid] = _Script(sbid, total, rid, ts, computer, channel, provider)
        script.path = script.path or ee.clean(values.get("Path"))
        if number not in script.parts:
            script.parts[number] = part if isinstance(part, str) else ""
            script.record_ids.append(rid)
        if len(script.parts) >= script.total:
            del self.scripts[sbid]
            yield self._script_event(script)

    def _flush_scripts(self) -> Iterator[Event]:
        """Script blocks whose other parts were never logged (or were rolled out of the log)."""
        for script in self.scripts.values():
            yield self._script_event(script)
        self.scripts.clear()

    def _script_event(self, s: _Script) -> Event:
        numbers = sorted(s.parts)
        complete = numbers == list(range(1, s.total + 1))
        text = "".join(s.parts[n] for n in numbers)
        missing = [n for n in range(1, s.total + 1) if n not in s.parts] if not complete else []
        fields = {"script_block_id": s.script_block_id, "script_block": text, "path": s.path,
                  "message_total": s.total, "parts_found": len(numbers), "complete": complete,
                  "missing_parts": missing[:100], "record_ids": sorted(s.record_ids)}
        preview = " ".join(text.split())[:100]
        state = "" if complete else f", {len(numbers)} of {s.total} parts found"
        desc = f"PowerShell script block {s.script_block_id} ({s.total} part{'s' * (s.total > 1)}{state}): {preview}"
        return Event(source=self.item.source(f"record {s.first_record}"), timestamp=s.timestamp, channel=s.channel,
                     provider=s.provider, event_id=ee.POWERSHELL_SCRIPT_EVENT, record_id=s.first_record,
                     computer=s.computer, category="powershell_script", description=desc, fields=fields)
