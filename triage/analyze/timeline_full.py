"""``triage analyze --timeline full``: every event-log record of a host, not only the typed
highlights, in timeline.jsonl / timeline.csv for Timesketch.

Why a second pass over the logs instead of keeping every record from the parse: a host's logs
hold millions of records; the parse keeps only what the summary needs. Here each log is read
again from the bundle (a private temp copy, as the parser does) and each record becomes a row
that goes straight to disk. Rows are sorted by an external merge sort (runs of RUN_ROWS rows
sorted in memory, spilled to temp files, then merged), so memory stays flat whatever the size.

Every record's row: ``datetime`` = the event's TimeCreated (UTC, microseconds, 'Z'),
``timestamp_desc`` = what that time means for its kind (typed events) or 'Event logged',
``message`` = 'Channel EventID: description' (typed) or 'Channel EventID: Provider: k=v, ...'.
Extra columns: channel, provider, event_id, record_id, computer, and ``data`` (the record's
EventData/UserData as JSON) so nothing a Timesketch user might filter on is lost.
"""

from __future__ import annotations

import csv
import heapq
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from triage.analyze.json_line import encode as _json_line  # one C encoder for every row
from triage.analyze.timeline import COLUMNS, csv_safe, iso_us, rows
from triage.model import ConnectivityEvent, Event, EventLogStats, Finding, Record
from triage.parsers.evtx import event_types as evtx_types
from triage.parsers.evtx.system import SystemDecoder, created_time, payload, record_time

FULL_COLUMNS = COLUMNS + ("channel", "provider", "event_id", "record_id", "computer", "data")
RUN_ROWS = 20_000          # rows sorted in memory before a run is spilled (bounds the peak memory)
MESSAGE_DATA_CHARS = 400   # of the generic 'k=v, ...' message (the whole data is in the 'data' column)
MAX_READ_ERRORS = 10_000  # engine errors per log before the rest of it is given up (hostile logs)
_SEP = "\x00"              # between a run line's sort key and its JSON row (JSON never holds a raw NUL)


def _key(row: dict[str, Any]) -> str:
    parts = (row["datetime"], row["timestamp_desc"], row["bundle_path"] or "", row["locator"] or "")
    return "\x1f".join(str(p).replace("\x00", " ").replace("\n", " ") for p in parts)


class ExternalSort:
    """Sorts JSON rows by _key with bounded memory: runs of RUN_ROWS lines in temp files, merged."""

    def __init__(self, tmp_dir: Path, run_rows: int | None = None) -> None:
        self.tmp_dir, self.run_rows = tmp_dir, run_rows or RUN_ROWS
        self.buf: list[str] = []
        self.runs: list[Path] = []
        self.count = 0

    def add(self, row: dict[str, Any]) -> None:
        self.buf.append(_key(row) + _SEP + _json_line(row))
        self.count += 1
        if len(self.buf) >= self.run_rows:
            self._spill()

    def _spill(self) -> None:
        self.buf.sort()
        path = self.tmp_dir / f"run{len(self.runs):05d}.txt"
        with open(path, "w", encoding="utf-8", newline="\n") as fh:
            for line in self.buf:
                fh.write(line)
                fh.write("\n")
        self.runs.append(path)
        self.buf = []

    def __iter__(self) -> Iterator[str]:
        """The JSON rows in order."""
        self.buf.sort()
        with ExitStack() as stack:
            files: list[Iterable[str]] = [stack.enter_context(open(p, encoding="utf-8", newline="\n"))
                                          for p in self.runs]
            streams = [(line.rstrip("\n") for line in fh) for fh in files] + [iter(self.buf)]
            for line in heapq.merge(*streams):
                yield line.split(_SEP, 1)[1]


def _generic(provider: str | None, values: dict[str, Any]) -> str:
    shown = ", ".join(f"{k}={v}" for k, v in values.items() if v not in (None, "", "-") and k != "Binary")
    shown = " ".join(shown.split())
    if len(shown) > MESSAGE_DATA_CHARS:
        shown = shown[: MESSAGE_DATA_CHARS - 1] + "…"
    return f"{provider or '?'}" + (f": {shown}" if shown else "")


def record_row(rec: dict[str, Any], bundle_path: str, user: str | None, host: str,
               system: Any = None) -> dict[str, Any] | None:
    """The row of one engine record (records_json item); None when it has no readable time.
    ``system``: the parser's System-block decoder (its caches make a log's repeated headers cheap)."""
    data = rec["data"]
    ts = created_time(data) or record_time(rec["timestamp"])
    if ts is None:
        return None
    system = system or SystemDecoder()
    head, tail = system.decode(data)
    provider, eid, channel, computer = head.provider, head.event_id, tail.channel, tail.computer
    try:
        values = payload(data)
    except (ValueError, KeyError, TypeError, AttributeError):
        values = {}
    spec = head.spec
    desc, what = None, "Event logged"
    if spec is not None:
        try:
            desc = spec.describe(spec.extract(values))
            what = evtx_types.WHEN.get(spec.category, what)
        except Exception:  # a shape the table did not expect: the generic line
            desc = None
    if desc is None:
        desc = _generic(provider, values)
    if not isinstance(eid, int):
        eid = None  # the decoder's marker for a System block it could not read
    return {"datetime": iso_us(ts), "timestamp_desc": what, "message": f"{channel} {eid}: {desc}",
            "timestamp": int(ts.timestamp() * 1_000_000), "source": "evtx", "record_type": "windows/evtx/record",
            "bundle_path": bundle_path, "locator": f"record {rec['event_record_id']}", "user": user, "host": host,
            "channel": channel, "provider": provider, "event_id": eid, "record_id": rec["event_record_id"],
            "computer": computer, "data": _json_line(values)}


def _log_rows(reader: Any, stats: EventLogStats, host: str, tmp_dir: Path,
              problems: list[str]) -> Iterator[dict[str, Any]]:
    from evtx import PyEvtxParser

    bp = stats.source.bundle_path
    copy = tmp_dir / "log.evtx"
    try:
        with reader.open(bp) as src, open(copy, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
        records = PyEvtxParser(str(copy)).records_json()
        system = SystemDecoder()
        errors = 0
        while errors < MAX_READ_ERRORS:
            try:
                rec = next(records)
            except StopIteration:
                break
            except Exception:  # a damaged chunk: the parse already reported it
                errors += 1
                continue
            if rec is None:
                continue
            row = record_row(rec, bp, stats.source.user, host, system)
            if row is not None:
                yield row
    except BaseException as exc:  # unreadable members, and the engine's Rust panics (BaseException)
        if not isinstance(exc, Exception) and type(exc).__name__ != "PanicException":
            raise
        problems.append(f"{bp}: {type(exc).__name__}: {exc}")
    finally:
        copy.unlink(missing_ok=True)


def write_full_timeline(records: list[Record], findings: Iterable[Finding], out_dir: Path, *, host: str,
                        bundle_path: Path) -> tuple[int, list[str]]:
    """Write every event-log record plus every other timestamped record and the findings, sorted,
    to out_dir/timeline.jsonl and timeline.csv. Returns (rows, problems reading logs)."""
    from triage.bundle.reader import BundleReader

    out_dir = Path(out_dir)
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="triage-timeline-", dir=os.environ.get("TRIAGE_TMP")) as tmp:
        sorter = ExternalSort(Path(tmp))
        others = (r for r in records if not isinstance(r, Event | ConnectivityEvent))  # their logs are re-read
        for row in rows(others, host):
            row.pop("dt")
            sorter.add(row)
        for row in rows(findings, host):
            row.pop("dt")
            sorter.add(row)
        logs = [r for r in records if isinstance(r, EventLogStats)]
        if logs:
            try:
                reader = BundleReader(bundle_path).__enter__()
            except Exception as exc:  # the bundle went away or broke since the parse: rows of the rest
                problems.append(f"{bundle_path.name}: bundle could not be opened again: {type(exc).__name__}: {exc}")
            else:
                try:
                    for stats in logs:
                        for row in _log_rows(reader, stats, host, Path(tmp), problems):
                            sorter.add(row)
                finally:
                    reader.__exit__(None, None, None)
        _write(sorter, out_dir / "timeline.jsonl", out_dir / "timeline.csv")
        return sorter.count, problems


def _write(sorted_rows: Iterable[str], jpath: Path, cpath: Path) -> None:
    with open(jpath, "w", encoding="utf-8", newline="\n") as jf, open(cpath, "w", encoding="utf-8", newline="") as cf:
        w = csv.writer(cf, dialect="excel", quoting=csv.QUOTE_MINIMAL)
        w.writerow(FULL_COLUMNS)
        for line in sorted_rows:
            jf.write(line)
            jf.write("\n")
            r = json.loads(line)
            w.writerow([r.get(c) if c in ("timestamp", "event_id", "record_id") else csv_safe(r.get(c))
                        for c in FULL_COLUMNS])




def write_host_timeline(data: Any, host_out: Path) -> int:
    """The host's timeline in the mode it was asked for (AnalysisData.timeline); problems reading
    a log again for the full timeline become Issues of the host."""
    from triage.analyze.timeline import write_timeline
    from triage.model import Issue, Source

    if data.timeline != "full" or data.refused:
        return write_timeline(data.records, data.findings, host_out, host=data.hostname)
    n, problems = write_full_timeline(data.records, data.findings, host_out, host=data.hostname,
                                      bundle_path=data.bundle_path)
    for p in problems:
        data.issues.append(Issue(severity="warning", message=f"full timeline: event log not read again: {p}",
                                 source=Source(bundle_path=p.split(": ", 1)[0])))
    return n
