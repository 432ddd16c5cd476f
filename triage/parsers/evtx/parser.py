"""Windows event logs (.evtx): per-log statistics, typed notable events and network connectivity.

Engine: pyevtx-rs (PyPI ``evtx``), the Rust parser. It reads every chunk with a valid ElfChnk
signature, also those beyond the file header's chunk count, which is stale in most logs copied off
a live system (python-evtx trusts that count and misses records; it is also ~1000x slower).

Machine logons (4624 of SYSTEM / LOCAL SERVICE / NETWORK SERVICE as service or system logons, and
of the DWM/UMFD virtual accounts) are counted but not typed: see ``system.MACHINE_LOGON``; the option
``evtx_all_logons`` types them too.

Cost model: the whole analysis must stay within 2x of bare engine iteration, so per record the
parser only pattern-matches the System block of the engine's JSON (event id, provider, channel,
computer) for the statistics, and pays ``json.loads`` only for the few records whose (provider,
event id) is in the extraction table (:mod:`triage.parsers.evtx.events`). The file is streamed from
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
import re
import struct
from collections import Counter
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Literal

from evtx import PyEvtxParser

from triage.model import ConnectivityEvent, Event, EventLogStats, Issue, Record, Source
from triage.parsers.base import ParseInput, Parser
from triage.parsers.evtx.scripts import Script, ScriptBlocks
from triage.parsers.evtx.system import (
    CHANNEL_MARK,
    MACHINE_LOGON,
    RECENT_LAYOUTS,
    SECURITY_MARK,
    UNPARSED,
    VERSION_MARK,
    Head,
    Pair,
    SystemDecoder,
    Tail,
    created_time,
    payload,
    record_time,
)
from triage.timeconv import key_datetime, ts_key

FILE_MAGIC = b"ElfFile\x00"
CHUNK_MAGIC = b"ElfChnk\x00"
HEADER_SIZE = 4096
CHUNK_SIZE = 65536
# Issues per file beyond which record errors are only counted (a hostile file can hold millions).
MAX_RECORD_ISSUES = 1000
# Consecutive engine errors after which the file is given up (guards against a non-advancing engine).
MAX_CONSECUTIVE_ERRORS = 100_000
# Engine worker threads per file (0 = one per core). One: the pipeline is bound by the Python side
# (~100k records/s against the engine's ~200k/s on one thread), so more engine threads only contend
# for the cores, and the analyzer already runs files and bundles in parallel. Option evtx_threads.
DEFAULT_ENGINE_THREADS = 1

_CHUNK_NO = re.compile(r"chunk number (\d+)", re.I)
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


def channel_from_name(rel_path: str) -> str | None:
    """'.../Microsoft-Windows-VPN%4Operational.evtx' -> 'Microsoft-Windows-VPN/Operational' (the
    file name is the channel name with '/' stored as '%4'); used only when a log has no records."""
    name = PurePosixPath(rel_path.replace("\\", "/")).name
    if not name.lower().endswith(".evtx"):
        return None
    return name[:-5].replace("%4", "/") or None


@dataclass
class Partial:
    """What one window of a log leaves for the merge (triage.parsers.evtx.windows): record counts
    per (event id, channel, computer), read errors, earliest/latest ts_key, pending script blocks."""

    counts: dict[tuple[Any, str | None, str | None], int]
    errors: int
    first: str | None
    last: str | None
    scripts: dict[str, Script]


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

    def preamble(self) -> Generator[Issue, None, list[tuple[int, int, int]] | None | Literal[False]]:
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
                # the stub types __next__ Optional; the iterator ends with StopIteration, never None
                it: Iterator[dict[str, Any]] = PyEvtxParser(  # type: ignore[assignment]
                    fh, number_of_threads=DEFAULT_ENGINE_THREADS if threads is None
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
        """Every record of ``fh``. final=False (one window of a file, see windows.py): script
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
        system = SystemDecoder(self.sigma)
        hits = self.hits
        sigma_queue: list = hits.queue if hits is not None else []
        sigma_batch = hits.batch if hits is not None else 0
        # records are queued only for pairs with Sigma rules, which exist only when hits does
        sigma_flush = hits.flush if hits is not None else sigma_queue.clear
        head_text = tail_text = "\x00"  # matches no record
        head_len = tail_len = 1
        # the layout of the last record decoded; until the first is, a placeholder no record reaches
        # (the fast path needs a real head_text, which is only ever set together with pair)
        pair = Pair(Head(None, UNPARSED), Tail(None, None))
        recent: list[tuple[str, int, str, int, Pair]] = []  # earlier layouts, most recent first
        tmin = tmax = ""
        pmin, pmax = "\uffff", ""
        kmin: str | None = None
        kmax: str | None = None
        errors = consecutive = 0
        rec: Any = None  # after an engine error: the last record read (for 'after record N')
        read_at_error = -1  # records read when the previous error came (consecutive errors)
        version, channel, security = VERSION_MARK, CHANNEL_MARK, SECURITY_MARK
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
                                if head_text != "\x00":  # pair is a real layout
                                    recent[k] = (head_text, head_len, tail_text, tail_len, pair)
                                else:
                                    del recent[k]
                                head_text, head_len, tail_text, tail_len, p = ht, hl, tt, tl, pp
                                pair = p
                                break
                        else:
                            if head_text != "\x00":  # pair is a real layout
                                recent.insert(0, (head_text, head_len, tail_text, tail_len, pair))
                                del recent[RECENT_LAYOUTS:]
                            p = pair = system.pair(data)
                            c = 0  # where the System block's Channel is: not known here (Sigma's queue)
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
                    if p.sigma is not None:  # queued for the Sigma pre-filter (triage.sigma.hits), with
                        # where its search may start (the System block's Channel, found above)
                        sigma_queue.append((p.sigma, rec["event_record_id"], ts, data, c))
                        if len(sigma_queue) >= sigma_batch:
                            sigma_flush()
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

    def _notable(self, head: Head, tail: Tail, rid: int, ts_text: str, data: str) -> Record | None:
        """The typed record of one notable record (None: a machine logon, or a script part that
        does not complete its block)."""
        eid = head.event_id
        if not isinstance(eid, int):  # cannot happen: an UNPARSED head pairs with a plain tail, never notable
            raise ValueError(f"record without a readable event id ({eid!r}) cannot be typed")
        if eid == 4624 and not self.all_logons and MACHINE_LOGON.search(data) is not None:
            return None
        if head.skip is not None and not self.all_logons and head.skip.search(data) is not None:
            return None
        written = record_time(ts_text)
        ts = created_time(data) or written
        if ts is None:
            raise ValueError(f"unreadable record time {ts_text!r}")
        values = payload(data)
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
