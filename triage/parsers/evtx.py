"""Windows event logs (.evtx): per-log statistics, typed notable events and network connectivity.

Engine: pyevtx-rs (PyPI ``evtx``), the Rust parser. It reads every chunk with a valid ElfChnk
signature, also those beyond the file header's chunk count, which is stale in most logs copied off
a live system (python-evtx trusts that count and misses records; it is also ~1000x slower).

Machine logons (4624 of SYSTEM / LOCAL SERVICE / NETWORK SERVICE as service or system logons, and
of the DWM/UMFD virtual accounts) are counted but not typed: see ``_MACHINE_LOGON``; the option
``evtx_all_logons`` types them too.

Cost model: the whole analysis must stay within 2x of bare engine iteration, so per record the
parser only pattern-matches the System block of the engine's JSON (event id, provider, channel,
computer) for the statistics, and pays ``json.loads`` only for the few records whose (provider,
event id) is in the extraction table (:mod:`triage.parsers.evtx_events`). The file is streamed from
the bundle; nothing holds more than one record, except PowerShell 4104 script blocks waiting for
their remaining parts.

Errors are data: an unreadable file is one Issue; every chunk or record the engine cannot parse is
an Issue (and counted in ``EventLogStats.errors``); a file that ends inside a chunk (truncated copy)
gets an Issue naming the records lost, which the engine itself passes over silently; so does each
chunk whose header lists records the engine skips without an error (damaged records in a chunk).

EventLogStats.first/last are the earliest/latest record times (not file order: logs wrap).
"""

from __future__ import annotations

import bisect
import json
import re
import struct
from collections import Counter
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any

from evtx import PyEvtxParser

from triage.model import ConnectivityEvent, Event, EventLogStats, Issue, Record, Source
from triage.parsers import evtx_events as ee
from triage.parsers import evtx_types
from triage.parsers.base import ParseInput, Parser
from triage.timeconv import key_datetime, ts_key

FILE_MAGIC = b"ElfFile\x00"
CHUNK_MAGIC = b"ElfChnk\x00"
HEADER_SIZE = 4096
CHUNK_SIZE = 65536
# Issues per file beyond which record errors are only counted (a hostile file can hold millions).
MAX_RECORD_ISSUES = 1000
# Consecutive engine errors after which the file is given up (guards against a non-advancing engine).
MAX_CONSECUTIVE_ERRORS = 100_000
UNPARSED = "<unparsed>"
# Engine worker threads per file (0 = one per core). One: the pipeline is bound by the Python side
# (~100k records/s against the engine's ~200k/s on one thread), so more engine threads only contend
# for the cores, and the analyzer already runs files and bundles in parallel. Option evtx_threads.
DEFAULT_ENGINE_THREADS = 1

# 4624 logons of the machine itself: service/system logons (type 5/0) of SYSTEM, LOCAL SERVICE,
# NETWORK SERVICE, and the Desktop Window Manager / font driver virtual accounts (S-1-5-90-*,
# S-1-5-96-*, type 2) at every boot. They are most of a Security log (97% of the corpus' 4624s) and
# carry no investigative content: counted in the statistics, not typed as Events, unless the
# option evtx_all_logons is set. TargetUserSid precedes LogonType in the 4624 template.
_MACHINE_LOGON = re.compile(
    r'"TargetUserSid":"(?:S-1-5-(?:18|19|20)"[^{}]*?"LogonType":"?[05]"?[,}]'
    r'|S-1-5-9[06]-[0-9-]+"[^{}]*?"LogonType":"?2"?[,}])')
_CHUNK_NO = re.compile(r"chunk number (\d+)", re.I)
_JSON = json.JSONDecoder()  # raw_decode: no whitespace regex around a part that has none


_PROVIDER = '"Provider":{"#attributes":{'
_NAME = '"Name":"'
_EVENTID = '"EventID":'
_QUALIFIED_ID = '"#text":'
_VERSION = ',"Version":'
_CHANNEL = '"Channel":'
_SECURITY = ',"Security":'
# Decoded-prefix caches are emptied when they grow past this (a hostile log with unique prefixes).
MAX_CACHE = 4096
# System layouts (head and tail texts) remembered besides the last one, tried before decoding.
RECENT_LAYOUTS = 4


@dataclass(frozen=True, slots=True, eq=False)
class _Head:
    """What the start of a System block says: provider, event id, and how the table types it
    (looked up once per distinct head, not per record).

    eq=False: instances are shared through the prefix caches and hashed by identity in the hot loop
    (a generated __hash__ would cost more than the rest of the per-record work)."""

    provider: str | None
    event_id: int | str
    spec: ee.Spec | None = None
    connectivity: Any = None
    script: bool = False
    notable: bool = False
    skip: re.Pattern[str] | None = None  # routine records of this id (evtx_types.SKIP), not typed


@dataclass(frozen=True, slots=True, eq=False)
class _Tail:
    """Channel and Computer of a System block, and the (category, description) that makes every
    record of that channel notable, if any."""

    channel: str | None
    computer: str | None
    by_channel: tuple[str, str] | None = None
    notable: bool = False


_BAD = _Tail(None, None)  # marker: this prefix is not laid out as expected


def _make_head(provider: str | None, eid: int | str) -> _Head:
    norm = ee.normalize_provider(provider)
    spec = ee.NOTABLE.get((norm, eid)) or evtx_types.SPECS.get((norm, eid))
    conn = ee.CONNECTIVITY.get((norm, eid))
    script = eid == ee.POWERSHELL_SCRIPT_EVENT and norm in ee.POWERSHELL_SCRIPT_PROVIDERS
    return _Head(provider, eid, spec, conn, script, bool(spec or conn or script), evtx_types.SKIP.get((norm, eid)))


def _make_tail(channel: str | None, computer: str | None) -> _Tail:
    by_channel = ee.NOTABLE_CHANNELS.get((channel or "").lower())
    return _Tail(channel, computer, by_channel, by_channel is not None)


def _decode_head(head: str) -> _Head | _Tail:
    """'{"Event":{..,"System":{"Provider":{"#attributes":{"Name":"X",..}},"EventID":N,..' -> _Head.

    Plain string searches: a JSON string never contains an unescaped '"Key":', so what is found is
    structure, not text. Escaped names or any other layout -> _BAD (the record is decoded with json).
    """
    p = head.find(_PROVIDER, 0, 200)
    if p < 0:
        return _BAD
    p += len(_PROVIDER)
    provider = None
    if head.startswith(_NAME, p):
        end = head.find('"', p + len(_NAME))
        if end < 0 or "\\" in head[p + len(_NAME):end]:
            return _BAD
        provider, p = head[p + len(_NAME):end], end
    i = head.find(_EVENTID, p)
    if i < 0:
        return _BAD
    i += len(_EVENTID)
    if head.startswith("{", i):
        i = head.find(_QUALIFIED_ID, i)
        if i < 0:
            return _BAD
        i += len(_QUALIFIED_ID)
    j = i
    while head[j:j + 1].isdigit():
        j += 1
    if j == i or head[j:] not in ("", "}"):
        return _BAD
    return _make_head(provider, int(head[i:j]))


def _decode_tail(tail: str) -> _Tail:
    """'"Channel":"Security","Computer":"HOST"' -> _Tail; anything else -> _BAD."""
    try:
        obj = json.loads("{" + tail + "}")
    except ValueError:
        return _BAD
    if not isinstance(obj, dict) or set(obj) != {"Channel", "Computer"}:
        return _BAD
    channel, computer = obj["Channel"], obj["Computer"]
    if not all(v is None or isinstance(v, str) for v in (channel, computer)):
        return _BAD
    return _make_tail(channel, computer)


def _payload(data: str) -> dict[str, Any]:
    """EventData/UserData of a record as a flat dict, decoding only that part of the JSON when the
    record is laid out as usual (System, then EventData or UserData, last): about 2x cheaper than
    decoding the whole record, which is the fallback."""
    for marker in ('},"EventData":', '},"UserData":'):
        k = data.find(marker)
        if k > 0 and data.endswith("}}"):
            part = data[k + len(marker):-2]
            try:
                obj, end = _JSON.raw_decode(part)
            except ValueError:
                break
            if end != len(part):
                break
            return ee.payload_data(obj) if marker[3] == "E" else ee.payload_data(None, obj)
    return ee.event_data(json.loads(data)["Event"])


def _cache(cache: dict, key: str, decode: Any) -> Any:
    if len(cache) >= MAX_CACHE:
        cache.clear()
    value = cache[key] = decode(key)
    return value


def _slow_system(data: str) -> tuple[_Head, _Tail]:
    """System fields of a record the fast path could not read, with json.loads."""
    try:
        system = json.loads(data)["Event"]["System"]
        provider = (system.get("Provider") or {}).get("#attributes", {}).get("Name")
        channel, computer = system.get("Channel"), system.get("Computer")
        head = _make_head(provider if isinstance(provider, str) else None, int(ee.text(system.get("EventID"))))
        return head, _make_tail(channel if isinstance(channel, str) else None,
                                computer if isinstance(computer, str) else None)
    except (ValueError, KeyError, TypeError, AttributeError):
        return _Head(None, UNPARSED), _Tail(None, None)


class _SystemDecoder:
    """(head, tail) of each record's System block, cheaply.

    System is laid out <head: Provider, EventID> ,"Version" ... <tail: "Channel","Computer"> ,"Security".
    Consecutive records mostly repeat the previous head and tail, so those are compared first (two
    prefix compares); otherwise the parts are sliced and looked up in caches of decoded parts.
    Anything laid out otherwise is decoded with json.loads.
    """

    def __init__(self, sigma: Any = None) -> None:
        self.sigma = sigma  # a triage.sigma Engine: each pair gets the bucket of rules it can meet
        self.heads: dict[str, _Head | _Tail] = {}
        self.tails: dict[str, _Tail] = {}
        self.head_text = self.tail_text = "\x00"  # matches no record
        self.head: _Head | _Tail | None = None
        self.tail: _Tail | None = None
        self.pairs: dict[tuple, _Pair] = {}

    def pair(self, data: str) -> _Pair:
        """The counting object for this record's System values (one per distinct provider, event
        id, channel and computer, however many prefix texts decode to them)."""
        head, tail = self.decode(data)
        key = (head.provider, head.event_id, tail.channel, tail.computer)
        found = self.pairs.get(key)
        if found is None:
            found = self.pairs[key] = _Pair(head, tail)
            if self.sigma is not None and not found.unparsed:
                found.sigma = self.sigma.bucket(tail.channel, head.event_id, head.provider)
        return found

    def counts(self) -> dict[tuple[Any, str | None, str | None], int]:
        """Records per (event id, channel, computer)."""
        out: Counter = Counter()
        for p in self.pairs.values():
            if p.n:
                out[(p.head.event_id, p.tail.channel, p.tail.computer)] += p.n
        return dict(out)

    def decode(self, data: str) -> tuple[_Head, _Tail]:
        if data.startswith(self.head_text) and data.startswith(_VERSION, len(self.head_text)):
            head, a = self.head, len(self.head_text)
        else:
            a = data.find(_VERSION, 0, 4096)
            head = None
            if a > 0:
                text = data[:a]
                head = self.heads.get(text) or _cache(self.heads, text, _decode_head)
                if head is not _BAD:
                    self.head_text, self.head = text, head
        # The first '"Channel":' after the head is System's: the keys in between are fixed and a
        # JSON string cannot hold an unescaped '"Channel":'.
        c = data.find(_CHANNEL, a) if a > 0 else -1
        if c > 0 and data.startswith(self.tail_text, c) and data.startswith(_SECURITY, c + len(self.tail_text)):
            tail = self.tail
        else:
            e = data.find(_SECURITY, c) if c > 0 else -1
            tail = None
            if e > 0:
                text = data[c:e]
                tail = self.tails.get(text) or _cache(self.tails, text, _decode_tail)
                if tail is not _BAD:
                    self.tail_text, self.tail = text, tail
        if head is None or tail is None or head is _BAD or tail is _BAD:
            return _slow_system(data)
        return head, tail  # type: ignore[return-value]


class _Pair:
    """The (head, tail) of a run of records and how many records had it: the hot loop counts on
    this object (one attribute increment) instead of hashing a key per record."""

    __slots__ = ("head", "tail", "n", "notable", "unparsed", "sigma")

    def __init__(self, head: _Head, tail: _Tail) -> None:
        self.head, self.tail, self.n = head, tail, 0
        self.sigma: Any = None  # the Sigma rules records of this kind can match (None: none)
        self.notable = head.notable or tail.notable
        self.unparsed = head.event_id == UNPARSED


def _is_panic(exc: BaseException) -> bool:
    """A Rust panic inside the engine surfaces as pyo3's PanicException, a BaseException (so that
    ``except Exception`` does not swallow it): for a parser it is bad input, reported, not fatal."""
    return type(exc).__name__ == "PanicException"


def _listed_records(chunk_header: bytes) -> int:
    """Records a chunk header lists (first..last record number; an empty chunk, with no record
    written past its 512-byte header area, lists none)."""
    if len(chunk_header) < 52:
        return 0
    first, last = struct.unpack_from("<QQ", chunk_header, 8)
    free_space = struct.unpack_from("<I", chunk_header, 48)[0]
    if last < first or free_space <= 512:
        return 0
    return last - first + 1


_CREATED = '"TimeCreated":{"#attributes":{"SystemTime":"'


def created_time(data: str) -> datetime | None:
    """System/TimeCreated/@SystemTime of a record's JSON (the event's time), or None."""
    i = data.find(_CREATED, 0, 4096)
    if i < 0:
        return None
    i += len(_CREATED)
    j = data.find('"', i, i + 40)
    if j < 0:
        return None
    return record_time(data[i:j])


def record_time(text: str) -> datetime | None:
    """pyevtx-rs record time ('2022-02-05T21:49:54.1807942Z UTC') -> aware UTC datetime, truncated
    to the microsecond (Python 3.11's fromisoformat reads 'Z' and truncates extra digits)."""
    try:
        return datetime.fromisoformat(text.removesuffix(" UTC"))
    except ValueError:
        return key_datetime(ts_key(text))


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


class ScriptBlocks:
    """Reassembles PowerShell 4104 script blocks of one log: a long script is logged as
    MessageTotal records sharing a ScriptBlockId, MessageNumber 1..N, each with a slice of the text.

    add() returns the one 'powershell_script' Event when the last missing part arrives; flush()
    returns the blocks still incomplete at the end of the log (parts rolled out or never written),
    flagged complete=False with the missing part numbers. Duplicate parts are ignored.
    """

    def __init__(self, item: ParseInput) -> None:
        self.item = item
        self.pending: dict[str, _Script] = {}

    def add(self, values: dict[str, Any], rid: int, ts: datetime, computer: str | None, channel: str,
            provider: str | None) -> Event | None:
        sbid = ee.clean(ee.text(values.get("ScriptBlockId"))) or f"record-{rid}"
        number = ee.as_int(ee.text(values.get("MessageNumber"))) or 1
        total = max(ee.as_int(ee.text(values.get("MessageTotal"))) or 1, 1)
        part = ee.text(values.get("ScriptBlockText"))
        script = self.pending.get(sbid)
        if script is None:
            script = self.pending[sbid] = _Script(sbid, total, rid, ts, computer, channel, provider)
        script.path = script.path or ee.clean(ee.text(values.get("Path")))
        if number not in script.parts:
            script.parts[number] = part if isinstance(part, str) else ""
            script.record_ids.append(rid)
            if rid < script.first_record:
                script.first_record, script.timestamp = rid, ts
        if len(script.parts) >= script.total:
            del self.pending[sbid]
            return self.event(script)
        return None

    def merge(self, other: _Script) -> Event | None:
        """Fold in the parts of a block that a later window of the same log found (the windows are
        merged in file order, so this is what add() would have done record by record)."""
        script = self.pending.get(other.script_block_id)
        if script is None:
            script = self.pending[other.script_block_id] = other
        else:
            script.path = script.path or other.path
            for (number, part), rid in zip(other.parts.items(), other.record_ids, strict=False):
                if number not in script.parts:
                    script.parts[number] = part
                    script.record_ids.append(rid)
                    if rid < script.first_record and rid == other.first_record:
                        script.first_record, script.timestamp = rid, other.timestamp
        if len(script.parts) >= script.total:
            del self.pending[script.script_block_id]
            return self.event(script)
        return None

    def flush(self) -> list[Event]:
        out = [self.event(s) for s in self.pending.values()]
        self.pending.clear()
        return out

    def event(self, s: _Script) -> Event:
        numbers = sorted(s.parts)
        missing = [n for n in range(1, s.total + 1) if n not in s.parts]
        complete = not missing
        text = "".join(s.parts[n] for n in numbers)
        fields = {"script_block_id": s.script_block_id, "script_block": text, "path": s.path,
                  "message_total": s.total, "parts_found": len(numbers), "complete": complete,
                  "missing_parts": missing[:100], "record_ids": sorted(s.record_ids)}
        preview = " ".join(text.split())[:100]
        state = "" if complete else f", {len(numbers)} of {s.total} parts found"
        desc = f"PowerShell script block {s.script_block_id} ({s.total} part{'s' * (s.total > 1)}{state}): {preview}"
        return Event(source=self.item.source(f"record {s.first_record}"), timestamp=s.timestamp, channel=s.channel,
                     provider=s.provider, event_id=ee.POWERSHELL_SCRIPT_EVENT, record_id=s.first_record,
                     computer=s.computer, category="powershell_script", description=desc, fields=fields)


@dataclass
class Partial:
    """What one window of a log leaves for the merge (triage.parsers.evtx_windows): record counts
    per (event id, channel, computer), read errors, earliest/latest ts_key, pending script blocks."""

    counts: dict[tuple[Any, str | None, str | None], int]
    errors: int
    first: str | None
    last: str | None
    scripts: dict[str, _Script]


def _last_rid(rec: Any) -> int | None:
    """The record number of the last record read (for 'after record N' in error messages)."""
    try:
        return rec["event_record_id"] if rec is not None else None
    except (KeyError, TypeError):
        return None


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
        self.scripts = ScriptBlocks(item)
        self.all_logons = bool(item.options.get("evtx_all_logons"))
        self.bundle_path, self.user = item.bundle_path, item.user
        self.chunk_base = 0  # index of the first chunk of what the engine reads (a window's start)
        self.partial: Partial | None = None
        self.sigma = self.hits = None
        if item.options.get("evtx_sigma_key"):
            from triage.sigma.engine import engine_for
            from triage.sigma.hits import LogHits

            self.sigma = engine_for({"sigma_key": item.options["evtx_sigma_key"]})
            if self.sigma is not None:
                self.hits = LogHits(self.sigma, item.source())

    # -- file level ------------------------------------------------------------------------------

    def run(self) -> Iterator[Record | Issue]:
        chunks = yield from self.preamble()
        if chunks is False:
            return
        try:
            fh = self.item.open()
        except OSError as exc:
            yield self.item.issue(f"event log could not be read: {type(exc).__name__}: {exc}")
            return
        with fh:
            for obj in self._records(fh):
                if isinstance(obj, EventLogStats) and chunks is not None and obj.records < sum(
                        n for _, _, n in chunks):
                    yield from self._silent_losses(chunks)
                yield obj

    def preamble(self) -> Generator[Issue, None, list[tuple[int, int, int]] | None | bool]:
        """File-level checks before the records: signature, header, chunk headers, truncation.
        Returns the chunk list (see :meth:`_chunk_headers`; None if unreadable), or False when the
        file cannot be read as an event log at all (the Issue saying why was yielded)."""
        item = self.item
        try:
            with item.open() as fh:
                header = fh.read(HEADER_SIZE)
                size = item.entry.size if item.entry.size is not None else fh.seek(0, 2)
        except OSError as exc:
            yield item.issue(f"event log could not be read: {type(exc).__name__}: {exc}")
            return False
        if header[:8] != FILE_MAGIC:
            yield item.issue("not an event log (no ElfFile signature)" if len(header) >= 8
                             else f"not an event log: only {len(header)} bytes")
            return False
        if len(header) < 128:
            yield item.issue(f"event log cut short inside its file header ({len(header)} bytes): nothing to read")
            return False
        chunks = yield from self._chunk_headers(size)
        chunks_in_header = struct.unpack_from("<H", header, 42)[0]
        slots = max(size - HEADER_SIZE, 0) // CHUNK_SIZE
        if chunks_in_header > slots:
            yield item.issue(f"file header lists {chunks_in_header} chunks but the file holds only {slots}: "
                             "truncated copy? (the missing chunks' records are lost)", "warning")
        return chunks

    def _silent_losses(self, chunks: list[tuple[int, int, int]]) -> Iterator[Issue]:
        """Per chunk, records its header lists that the engine skipped without an error (damaged
        records inside a valid chunk). Only for files where the totals differ, so the second pass
        over the records (ids only) costs nothing on healthy logs."""
        starts = sorted((first, index, n) for index, first, n in chunks if n)
        firsts = [f for f, _, _ in starts]
        read: Counter[int] = Counter()
        threads = self.item.options.get("evtx_threads")
        try:
            with self.item.open() as fh:
                it = PyEvtxParser(fh, number_of_threads=DEFAULT_ENGINE_THREADS if threads is None
                                  else max(int(threads), 0)).records_json()
                while True:
                    try:
                        rid = next(it)["event_record_id"]
                    except StopIteration:
                        break
                    except Exception:  # already reported by the first pass
                        continue
                    k = bisect.bisect_right(firsts, rid) - 1
                    if k >= 0 and rid < firsts[k] + starts[k][2]:
                        read[k] += 1
        except BaseException as exc:
            if not isinstance(exc, Exception) and not _is_panic(exc):
                raise
            yield self.item.issue(f"records skipped by the engine could not be located: {type(exc).__name__}: "
                                  f"{exc}", "warning")
            return
        for k, (first, index, n) in sorted(enumerate(starts), key=lambda item: item[1][1]):
            if read[k] < n:
                yield self.item.issue(
                    f"chunk {index} lists records {first}-{first + n - 1} ({n}) but only {read[k]} could be read: "
                    f"{n - read[k]} records were lost to damage the engine passes over without an error",
                    "warning", f"chunk {index}")

    def _chunk_headers(self, size: int) -> Generator[Issue, None, list[tuple[int, int, int]] | None]:
        """(chunk index, first record number, records listed) of every whole chunk with a valid
        ElfChnk signature (None if the headers could not be read); yields an Issue for a file that
        ends inside a chunk, which the engine skips without a word (truncated copy)."""
        slots, tail = divmod(max(size - HEADER_SIZE, 0), CHUNK_SIZE)
        listed: list[tuple[int, int, int]] = []
        partial = b""
        try:
            with self.item.open() as fh:
                for i in range(slots + (1 if tail else 0)):
                    fh.seek(HEADER_SIZE + i * CHUNK_SIZE)
                    head = fh.read(56)
                    if i == slots:
                        partial = head
                    elif head[:8] == CHUNK_MAGIC:
                        listed.append((i, struct.unpack_from("<Q", head, 8)[0], _listed_records(head)))
        except (OSError, ValueError, EOFError) as exc:
            yield self.item.issue(f"chunk headers could not be read: {type(exc).__name__}: {exc}", "warning")
            return None
        if tail:
            offset = HEADER_SIZE + slots * CHUNK_SIZE
            detail = ""
            if partial[:8] == CHUNK_MAGIC and (n := _listed_records(partial)):
                first = struct.unpack_from("<Q", partial, 8)[0]
                detail = f"; its header lists records {first}-{first + n - 1} ({n} records) that are lost"
            yield self.item.issue(f"file ends inside a chunk (truncated copy?): the last {tail} bytes at offset "
                                  f"{offset} are an incomplete chunk and were not read{detail}",
                                  locator=f"offset {offset}")
        return listed

    # -- records ---------------------------------------------------------------------------------

    def _records(self, fh: Any, final: bool = True) -> Iterator[Record | Issue]:
        """Every record of ``fh``. final=False (one window of a file, see evtx_windows): script
        blocks stay pending and the statistics are left in ``self.partial`` instead of yielded."""
        item = self.item
        threads = item.options.get("evtx_threads")
        threads = DEFAULT_ENGINE_THREADS if threads is None else max(int(threads), 0)
        try:
            records = PyEvtxParser(fh, number_of_threads=threads).records_json()
        except BaseException as exc:  # the engine raises RuntimeError/OSError for unreadable headers
            if not isinstance(exc, Exception) and not _is_panic(exc):
                raise
            yield item.issue(f"event log could not be opened: {type(exc).__name__}: {exc}")
            return

        # Hot loop, per record: two prefix compares and a search that find the System block laid
        # out as the previous record's (else the decoder, with its caches), one counter increment,
        # a timestamp prefix compare; everything else only for notable records. The for loop sits
        # inside the try so that the per-record cost has no exception-handler setup; an engine
        # error ends the for, is reported, and the loop resumes on the same iterator.
        system = _SystemDecoder(self.sigma)
        hits = self.hits
        head_text = tail_text = "\x00"  # matches no record
        head_len = tail_len = 1
        pair: _Pair | None = None
        recent: list[tuple[str, int, str, int, _Pair]] = []  # earlier layouts, most recent first
        tmin = tmax = ""
        pmin, pmax = "\uffff", ""
        kmin: str | None = None
        kmax: str | None = None
        errors = consecutive = 0
        rec: Any = None  # after an engine error: the last record read (for 'after record N')
        read_at_error = -1  # records read when the previous error came (consecutive errors)
        version, channel, security = _VERSION, _CHANNEL, _SECURITY
        while True:
            try:
                for rec in records:
                    data = rec["data"]
                    if (data.startswith(head_text) and data.startswith(version, head_len)
                            and (c := data.find(channel, head_len)) > 0 and data.startswith(tail_text, c)
                            and data.startswith(security, c + tail_len)):
                        p = pair
                    else:
                        # logs interleave a few kinds of record (4624/4672/4688...): the last few
                        # System layouts are tried before decoding
                        for k, (ht, hl, tt, tl, pp) in enumerate(recent):
                            if (data.startswith(ht) and data.startswith(version, hl)
                                    and (c := data.find(channel, hl)) > 0 and data.startswith(tt, c)
                                    and data.startswith(security, c + tl)):
                                if pair is not None and head_text != "\x00":
                                    recent[k] = (head_text, head_len, tail_text, tail_len, pair)
                                else:
                                    del recent[k]
                                head_text, head_len, tail_text, tail_len, p = ht, hl, tt, tl, pp
                                pair = p
                                break
                        else:
                            if pair is not None and head_text != "\x00":
                                recent.insert(0, (head_text, head_len, tail_text, tail_len, pair))
                                del recent[RECENT_LAYOUTS:]
                            p = pair = system.pair(data)
                            head_text, tail_text = system.head_text, system.tail_text
                            head_len, tail_len = len(head_text), len(tail_text)
                            if p.head is not system.head or p.tail is not system.tail:
                                head_text = tail_text = "\x00"  # a record off the fast path: no shortcut next
                    p.n += 1
                    # earliest/latest: whole seconds compare as text; on a tie, texts of one length
                    # (same count of fraction digits) still compare as text, others through ts_key
                    ts = rec["timestamp"]
                    prefix = ts[:19]
                    if prefix > pmax:
                        pmax, tmax, kmax = prefix, ts, None
                    elif prefix == pmax and ts != tmax:
                        if len(ts) == len(tmax):
                            if ts > tmax:
                                tmax, kmax = ts, None
                        else:
                            key = ts_key(ts)
                            kmax = kmax or ts_key(tmax)
                            if key > kmax:
                                tmax, kmax = ts, key
                    if prefix < pmin:
                        pmin, tmin, kmin = prefix, ts, None
                    elif prefix == pmin and ts != tmin:
                        if len(ts) == len(tmin):
                            if ts < tmin:
                                tmin, kmin = ts, None
                        else:
                            key = ts_key(ts)
                            kmin = kmin or ts_key(tmin)
                            if key < kmin:
                                tmin, kmin = ts, key
                    if p.sigma is not None:
                        hits.add(p.sigma, rec["event_record_id"], ts, data)  # type: ignore[union-attr]
                    if p.notable:
                        rid = rec["event_record_id"]
                        try:
                            typed = self._notable(p.head, p.tail, rid, ts, data)
                            if typed is not None:
                                yield typed
                        except Exception as exc:  # a shape the table did not expect: lose the typing only
                            yield item.issue(f"record could not be typed: {type(exc).__name__}: {exc}", "warning",
                                             f"record {rid}")
                    elif p.unparsed:
                        rid = rec["event_record_id"]
                        yield item.issue("record data could not be decoded", "warning", f"record {rid}")
                break
            except Exception as exc:
                errors += 1
                read = sum(p.n for p in system.pairs.values())
                consecutive = consecutive + 1 if read == read_at_error else 1
                read_at_error = read
                yield from self._record_error(exc, _last_rid(rec), errors)
                if consecutive >= MAX_CONSECUTIVE_ERRORS:
                    yield item.issue(f"gave up after {consecutive} consecutive read errors")
                    break
                continue
            except BaseException as exc:
                if not _is_panic(exc):
                    raise
                errors += 1
                after = _last_rid(rec)
                yield item.issue(f"the evtx engine crashed (Rust panic) after record {after}: {exc}; the rest of "
                                 "the file is not read", "error", f"after record {after}")
                break

        kmin, kmax = (ts_key(tmin) if tmin else None), (ts_key(tmax) if tmax else None)
        if hits is not None:
            yield from hits.records()
            if hits.errors:
                yield item.issue(f"{hits.errors} records could not be decoded for the Sigma rules", "warning")
        if not final:
            self.partial = Partial(counts=system.counts(), errors=errors, first=kmin, last=kmax,
                                   scripts=dict(self.scripts.pending))
            return
        yield from self.scripts.flush()
        if errors > MAX_RECORD_ISSUES:
            yield item.issue(f"{errors - MAX_RECORD_ISSUES} further read errors not listed ({errors} in all)")
        yield self.stats(system.counts(), errors, kmin, kmax)

    def _record_error(self, exc: Exception, last_rid: int | None, n: int) -> Iterator[Issue]:
        if n > MAX_RECORD_ISSUES:
            return
        msg = str(exc)
        if self.chunk_base:  # a window: the engine numbers chunks from the window's start
            msg = _CHUNK_NO.sub(lambda m: f"chunk number {int(m.group(1)) + self.chunk_base}", msg)
        m = _CHUNK_NO.search(msg)
        locator = f"chunk {m.group(1)}" if m else (f"after record {last_rid}" if last_rid is not None else None)
        what = "chunk could not be read" if "chunk" in msg.lower() else "record could not be read"
        yield self.item.issue(f"{what}: {type(exc).__name__}: {msg}", "error", locator)

    def stats(self, counts: dict[tuple[Any, str | None, str | None], int], errors: int, tmin: str | None,
              tmax: str | None) -> EventLogStats:
        """The log's statistics from record counts per (event id, channel, computer)."""
        channels: Counter[str] = Counter()
        computers: Counter[str] = Counter()
        event_ids: Counter[str] = Counter()
        for (eid, channel, computer), n in counts.items():
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

    def _notable(self, head: _Head, tail: _Tail, rid: int, ts_text: str, data: str) -> Record | None:
        """The typed record of one notable record (None: a machine logon, or a script part that
        does not complete its block)."""
        eid = head.event_id
        if eid == 4624 and not self.all_logons and _MACHINE_LOGON.search(data) is not None:
            return None
        if head.skip is not None and not self.all_logons and head.skip.search(data) is not None:
            return None
        written = record_time(ts_text)
        ts = created_time(data) or written
        if ts is None:
            raise ValueError(f"unreadable record time {ts_text!r}")
        values = _payload(data)
        if written is not None and abs((written - ts).total_seconds()) >= 1:
            # exported or damaged logs: the header's written time is zero or off; the event's own
            # TimeCreated is the time, the header's is kept beside it
            values = {**values, "record_written": written.isoformat().replace("+00:00", "Z")}
        provider, channel, computer = head.provider, tail.channel or "", tail.computer
        if head.script:
            return self.scripts.add(values, rid, ts, computer, channel, provider)
        source = Source(bundle_path=self.bundle_path, locator=f"record {rid}", user=self.user)
        if head.connectivity is not None:
            kw = head.connectivity(values)
            details = {**kw.pop("details"), "computer": computer, "channel": tail.channel, "provider": provider}
            return ConnectivityEvent(source=source, timestamp=ts, event_id=eid, details=details, **kw)
        if head.spec is not None:
            spec = head.spec
            fields = spec.extract(values)
            if "record_written" in values:  # the header's time, where it differs from TimeCreated
                fields["record_written"] = values["record_written"]
            return Event(source=source, timestamp=ts, channel=channel, provider=provider, event_id=eid,
                         record_id=rid, computer=computer, category=spec.category,
                         description=spec.describe(fields), fields=fields)
        category, prefix = tail.by_channel or ("other", "event")
        return Event(source=source, timestamp=ts, channel=channel, provider=provider, event_id=eid, record_id=rid,
                     computer=computer, category=category, description=f"{prefix} {eid}", fields={"data": values})
