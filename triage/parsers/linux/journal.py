"""The systemd journal (/var/log/journal/<machine-id>/*.journal) -> :class:`LogEvent`.

Read with libsystemd through python-systemd's ``systemd.journal.Reader`` (the reference reader: it
follows the file's hash tables and entry arrays and copes with files that were not closed cleanly,
the normal state of an active journal). Each entry's __REALTIME_TIMESTAMP is UTC microseconds, so no
zone or year is assumed. The same classifier as the text logs picks the entries worth a record.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from systemd import journal as sd_journal

from triage.model import Issue, Record
from triage.parsers.base import ParseInput, Parser
from triage.parsers.linux.logevents import LogEvent, classify, event_class

MAX_ENTRIES = 5_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _realtime(us: Any) -> datetime | None:
    try:
        return _EPOCH + timedelta(microseconds=int(us))
    except (ValueError, TypeError, OverflowError):
        return None


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list):   # a field set twice in one entry
        return _text(value[0]) if value else ""
    return "" if value is None else str(value)


_CONVERTERS = {"__REALTIME_TIMESTAMP": _realtime, "MESSAGE": _text, "SYSLOG_IDENTIFIER": _text, "_COMM": _text,
               "_PID": _text, "_HOSTNAME": _text, "SYSLOG_PID": _text}


class JournalParser(Parser):
    name = "linux_journal"
    patterns = ("var/log/journal/*.journal", "var/log/journal/*.journal~", "run/log/journal/*.journal",
                "run/log/journal/*.journal~")
    signatures = ((0, b"LPKSHHRH"),)

    def parse(self, item: ParseInput) -> Iterator[Record | Issue]:
        path = item.materialize()
        max_entries = int(item.options.get("journal_max_entries") or MAX_ENTRIES)
        try:
            reader = sd_journal.Reader(files=[str(path)], converters=_CONVERTERS)
        except OSError as exc:
            yield item.issue(f"libsystemd cannot open this journal file: {exc}")
            return
        n = 0
        with reader:
            try:
                while True:
                    entry = reader.get_next()
                    if not entry:
                        break
                    n += 1
                    if n > max_entries:
                        yield item.issue(f"more than {max_entries} entries: the rest were not read", "warning")
                        break
                    event = self._event(item, entry, n)
                    if event is not None:
                        yield event
            except OSError as exc:
                yield item.issue(f"journal unreadable after entry {n}: {exc}")

    @staticmethod
    def _event(item: ParseInput, entry: dict[str, Any], n: int) -> LogEvent | None:
        program = _text(entry.get("SYSLOG_IDENTIFIER")) or _text(entry.get("_COMM"))
        msg = _text(entry.get("MESSAGE"))
        hit = classify(program, msg)
        if hit is None:
            return None
        ts = entry.get("__REALTIME_TIMESTAMP")
        ts = ts if isinstance(ts, datetime) else None
        pid = _text(entry.get("SYSLOG_PID")) or _text(entry.get("_PID"))
        cursor = _text(entry.get("__CURSOR"))[:200]
        category, fields = hit
        return event_class(category)(source=item.source(f"entry {n} cursor {cursor}" if cursor else f"entry {n}"),
                        timestamp=ts, time_logged=ts.isoformat() if ts else "", zone="UTC (journal realtime clock)",
                        year_inferred=False, hostname=_text(entry.get("_HOSTNAME")) or None, program=program,
                        pid=int(pid) if pid.isdigit() and len(pid) < 10 else None, category=category,
                        text=msg[:500], **fields)
