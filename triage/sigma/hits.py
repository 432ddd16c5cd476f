"""Sigma matches of one event log, gathered while the EVTX parser streams it.

Memory stays flat however noisy a rule is: per rule only a count, the earliest and latest times and
the first :data:`MAX_SAMPLES` records are kept. A record's time is its ``System/TimeCreated``
(``SystemTime``): the record header's written time (what the engine calls ``timestamp``) is zero or
different in exported and damaged logs, and is kept beside it only where it differs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from triage.model import SigmaMatch
from triage.sigma import verdicts
from triage.sigma.correlate import MAX_EVENTS
from triage.sigma.engine import Engine, event
from triage.sigma.flatten import decode, flatten
from triage.sigma.kept import pick
from triage.sigma.lean import Keeper, plan
from triage.sigma.match import Bucket
from triage.timeconv import key_datetime, ts_key

MAX_SAMPLES = 25
# Records queued before a pre-filter pass (bounded memory: ~1.5 KiB of JSON text each).
BATCH = 1024
MAX_FIELD_CHARS = 2048


def _key(ts: str) -> str:
    """Sortable form of an ISO time (0-9 fraction digits): the parser's own ts_key."""
    return ts_key(ts)


def _dt(key: str | None) -> datetime | None:
    return key_datetime(key) if key else None


def _iso(key: str, text: str) -> str:
    """A sortable time key as ISO-8601 UTC with a Z ('text', as logged, when it does not parse)."""
    when = _dt(key)
    return when.isoformat().replace("+00:00", "Z") if when else text


class _RuleHits:
    __slots__ = ("count", "events", "first", "last", "samples")

    def __init__(self) -> None:
        self.count = 0
        self.first: str | None = None
        self.last: str | None = None
        self.samples: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []  # for correlation rules naming the rule (capped)


class LogHits:
    """Per-rule matches of one log (or one window of it)."""

    def __init__(self, engine: Engine, source: Any) -> None:
        self.engine = engine
        self.source = source
        self.by_rule: dict[int, _RuleHits] = {}
        self.channel: str | None = None
        self.errors = 0
        # (bucket, record id, written time, JSON text, offset) of records not yet pre-filtered; the
        # offset is where the pre-filter's search may start (a point of the System block before its
        # payload, 0: not known). The parser's hot loop appends to it itself
        # and calls flush() at BATCH: a method call per record was a tenth of Sigma's cost on a big log.
        self.queue: list[tuple[Bucket, Any, str, str, int]] = []
        self.batch = BATCH
        self._index: dict[tuple[str, str], int] = {}

    def add(self, bucket: Bucket, rid: Any, written: str, data: str, start: int = 0) -> None:
        """Queue one record (pyevtx-rs JSON text) for its bucket; records are pre-filtered in batches
        (one search over many records: see triage.sigma.prefilter)."""
        self.queue.append((bucket, rid, written, data, start))
        if len(self.queue) >= self.batch:
            self.flush()

    def flush(self) -> None:
        queue = self.queue
        if not queue:
            return
        batches: dict[Bucket, list[tuple[Any, ...]]] = {}
        for item in queue:
            pending = batches.get(item[0])
            if pending is None:
                batches[item[0]] = [item]
            else:
                pending.append(item)
        queue.clear()  # the same list: the parser holds it
        for bucket, pending in batches.items():
            texts = [item[3] for item in pending]
            starts = [item[4] for item in pending]
            try:  # only the records with candidates (most have none): record index -> rules
                cands = bucket.candidates_at(texts, starts)
            except Exception:  # the searcher failed: evaluate every rule of the bucket (slower, same result)
                cands = dict.fromkeys(range(len(pending)), list(bucket.rules))
            always_only = bucket.always_only
            for k, c in cands.items():
                item = pending[k]
                if c is always_only and self._answered(bucket, c, item):
                    continue
                self._evaluate(bucket, c, item[1], item[2], item[3])

    def _answered(self, bucket: Bucket, candidates: list[int], item: tuple[Any, ...]) -> bool:
        """Whether a record only the always-evaluated rules are candidates for was answered from the
        values those rules read (triage.sigma.verdicts): known not to match, or evaluated now and
        remembered. False: evaluate it as usual (it matches: its sample needs the record)."""
        memo = bucket.verdicts
        read = memo.read
        if read is False:
            read = memo.read = verdicts.names(plan(bucket.plans, bucket.trees, candidates))
        if read is None:
            return False
        key = verdicts.values(item[3], read)
        if key is None:
            return False
        known = memo.seen.get(key)
        if known is None:
            matched = self._evaluate(bucket, candidates, item[1], item[2], item[3])
            if matched is not None:
                memo.remember(key, matched)
            return True
        return not known

    def _evaluate(self, bucket: Bucket, candidates: list[int], rid: Any, written: str, data: str) -> bool | None:
        """Evaluate ``candidates`` on one record and keep its matches; whether any matched (None:
        the record could not be decoded)."""
        try:
            record = decode(data)
        except ValueError:
            self.errors += 1
            return None
        # only the fields the candidates read (triage.sigma.lean); all of them once one matches
        keep = plan(bucket.plans, bucket.trees, candidates)
        ev = pick(record, keep) if isinstance(keep, Keeper) else None  # the same, without a walk
        fields = None
        if ev is None:
            fields = flatten(record, keep)
            ev = event(fields)
        matched = bucket.match(ev, candidates)
        if not matched:
            return False
        if keep is not None or fields is None:
            fields = flatten(record)
        created = fields.get("TimeCreated") or written.removesuffix(" UTC")
        key = _key(created)
        wkey = _key(written.removesuffix(" UTC"))
        self.channel = self.channel or fields.get("Channel")
        rules = self.engine.rules
        correlated = self.engine.correlated
        seen: dict[str, str | None] | None = None  # the record as the rules see it (derived fields too)
        for i in matched:
            h = self.by_rule.get(i)
            if h is None:
                h = self.by_rule[i] = _RuleHits()
            h.count += 1
            if h.first is None or key < h.first:
                h.first = key
            if h.last is None or key > h.last:
                h.last = key
            if len(h.samples) < MAX_SAMPLES:
                h.samples.append(self._sample(rules[i].fields, fields, rid, key, wkey, created, written))
            need = correlated.get(rules[i].id) if correlated else None
            if need is not None and len(h.events) < MAX_EVENTS:
                seen = seen if seen is not None else event(fields).raw
                h.events.append({"time": _iso(key, created), "record_id": rid, "event_id": fields.get("EventID"),
                                 "values": {n: seen.get(n) for n in need}})
        return True

    @staticmethod
    def _sample(rule_fields: list[str], fields: dict[str, Any], rid: Any, key: str, wkey: str, created: str,
                written: str) -> dict[str, Any]:
        shown = {}
        names = {k.lower(): k for k in fields}
        for f in rule_fields:
            name = names.get(f) or names.get(f.replace(" ", ""))
            if name is not None and f not in ("eventid", "channel"):
                v = fields.get(name)
                shown[name] = v[:MAX_FIELD_CHARS] if isinstance(v, str) else v
        sample = {"record_id": rid, "time": _iso(key, created),
                  "event_id": fields.get("EventID"), "provider": fields.get("Provider_Name"),
                  "computer": fields.get("Computer"), "fields": shown}
        if wkey[:23] != key[:23]:
            sample["written"] = _iso(wkey, written)
        return sample

    def records(self) -> list[SigmaMatch]:
        self.flush()
        out = []
        rules = self.engine.rules
        merged: dict[tuple[str, str], _RuleHits] = {}
        for i, h in sorted(self.by_rule.items()):  # a rule's variants (Sysmon, Security) as one
            key = (rules[i].id, rules[i].path)
            m = merged.get(key)
            if m is None:
                merged[key] = h
                self._index[key] = i
                continue
            m.count += h.count
            m.first = min(filter(None, (m.first, h.first)), default=None)
            m.last = max(filter(None, (m.last, h.last)), default=None)
            m.samples = (m.samples + h.samples)[:MAX_SAMPLES]
            m.events = (m.events + h.events)[:MAX_EVENTS]
        for key, h in sorted(merged.items()):
            r = rules[self._index[key]]
            out.append(SigmaMatch(source=self.source, rule_id=r.id, title=r.title, level=r.level,
                                  author=r.author, tags=tuple(r.tags), origin=r.origin, rule_path=r.path,
                                  channel=self.channel, count=h.count, first=_dt(h.first), last=_dt(h.last),
                                  samples=tuple(h.samples), events=tuple(h.events)))
        return out
