"""Sigma correlation rules within one host: event_count, value_count, temporal, temporal_ordered.

A correlation rule names other rules (by ``name`` or ``id``, in its own file or anywhere in the set)
and fires on what their matches do together: ``event_count`` when at least (or at most...) N of
their events fall in ``timespan`` for one ``group-by`` value, ``value_count`` when N distinct
values of a field do, ``temporal`` when every named rule matches within ``timespan``, and
``temporal_ordered`` when they do in the order named. ``aliases`` give a group-by name its field in
each rule's events. The named rules are evaluated as any rule; their matches' events (time, record,
the fields the correlations read) travel with their SigmaMatch records (:mod:`triage.sigma.hits`,
at most :data:`MAX_EVENTS` per rule and log), and :func:`apply` evaluates the correlations once
per host over every log. A named rule whose correlations all have ``generate: false`` (the
default) is not reported on its own, as the specification says.

Windows are anchored at each event of a group, in time order: [t, t + timespan]. A group fires at
its first window meeting the condition; the next window that can fire starts after that window's
last event, so one burst is one match. Each match of a correlation counts one firing window; its
samples are the events of the first windows (each naming its log and record).
"""

from __future__ import annotations

import itertools
import operator
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from triage.sigma.meta import RuleMeta, meta_of

TYPES = ("event_count", "value_count", "temporal", "temporal_ordered")
OPS: dict[str, Callable[[Any, Any], bool]] = {"lt": operator.lt, "lte": operator.le, "gt": operator.gt,
                                              "gte": operator.ge, "eq": operator.eq, "neq": operator.ne}
# Events kept per named rule and log (a rule matching more records counts them all but correlates
# the first ones only: memory stays flat; a correlation that lost events says so in its title).
MAX_EVENTS = 10_000


class Unsupported(Exception):
    """A correlation rule triage cannot evaluate; the message is the reason shown to the user."""


@dataclass
class Correlation(RuleMeta):
    """One correlation rule, compiled (JSON-serialisable: cached with the rule set)."""

    origin: str
    path: str
    type: str                      # one of TYPES
    refs: list[str]                # the rules named, as written (names or ids)
    ids: list[str]                 # the same rules' ids, once resolved (empty until then)
    group_by: list[str]
    timespan: float                # seconds
    op: str                        # a key of OPS
    count: float
    fieldref: str | None           # value_count's field
    aliases: dict[str, dict[str, str]] = field(default_factory=dict)  # group-by name -> {ref -> field}
    generate: bool = False

    def group_fields(self, ref: str) -> list[str]:
        """The fields (lower case) of rule ``ref``'s events that make the group-by key (aliases
        applied)."""
        return [self.aliases.get(g, {}).get(ref, g).lower() for g in self.group_by]

    def fields_of(self, ref: str) -> list[str]:
        """The fields (lower case) events of rule ``ref`` must carry for this correlation."""
        return self.group_fields(ref) + ([self.fieldref.lower()] if self.fieldref else [])


def from_pysigma(rule: Any, src: Any) -> Correlation:
    """pySigma's SigmaCorrelationRule -> Correlation (references not resolved yet)."""
    kind = str(getattr(rule.type, "name", rule.type)).lower()
    if kind not in TYPES:
        raise Unsupported(f"correlation type {kind!r} is not evaluated (triage: {', '.join(TYPES)})")
    cond = rule.condition
    if cond is None:  # temporal without a condition: every rule named must match
        op, count, fieldref = "gte", float(len(rule.rules)), None
    else:
        op = cond.op.name.lower()
        if op not in OPS or cond.count is None:
            raise Unsupported(f"correlation condition {cond!r} is not evaluated")
        count, fieldref = float(cond.count), cond.fieldref
    if kind == "value_count" and not fieldref:
        raise Unsupported("value_count correlation without a field")
    if rule.timespan is None or not rule.timespan.seconds:
        raise Unsupported("correlation without a timespan")
    aliases = {a.alias: {ref.reference: str(f) for ref, f in a.mapping.items()} for a in rule.aliases or []}
    return Correlation(
        **meta_of(rule, src), origin=src.origin, path=src.rel, type=kind,
        refs=[r.reference for r in rule.rules], ids=[], group_by=[str(g) for g in rule.group_by or []],
        timespan=float(rule.timespan.seconds), op=op, count=count, fieldref=str(fieldref) if fieldref else None,
        aliases=aliases, generate=bool(rule.generate))


def resolve(corr: Correlation, by_ref: dict[str, str]) -> Correlation:
    """``corr`` with its rules' ids, from ``by_ref`` (a loaded rule's name or id -> its id)."""
    missing = [r for r in corr.refs if r not in by_ref]
    if missing:
        raise Unsupported(f"correlation names rules that are not evaluated or not in the set: {', '.join(missing)}")
    return replace(corr, ids=[by_ref[r] for r in corr.refs])


def needed_fields(correlations: Iterable[Correlation]) -> dict[str, tuple[str, ...]]:
    """Rule id -> the fields (lower case) its matches' events must carry for every correlation
    naming it (what triage.sigma.hits keeps per event)."""
    out: dict[str, set[str]] = {}
    for c in correlations:
        for ref, rid in zip(c.refs, c.ids, strict=True):
            out.setdefault(rid, set()).update(c.fields_of(ref))
    return {rid: tuple(sorted(f)) for rid, f in out.items()}


# -- evaluation -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Event:
    t: float
    ref: int          # index of the rule in the correlation's list
    group: tuple
    value: Any
    match: Any        # the SigmaMatch it comes from
    event: dict[str, Any]  # and its entry there (SigmaMatch.events)


def _events(corr: Correlation, matches: list[Any]) -> tuple[list[_Event], bool]:
    """The correlation's events from the host's SigmaMatch records, and whether any rule's events
    were cut at MAX_EVENTS."""
    out: list[_Event] = []
    cut = False
    for m in matches:
        for k, rid in enumerate(corr.ids):
            if m.rule_id != rid:
                continue
            names = corr.group_fields(corr.refs[k])
            cut = cut or m.count > len(m.events)
            for ev in m.events:
                when = _time(ev.get("time"))
                if when is None:
                    continue
                values = ev.get("values") or {}
                out.append(_Event(when, k, tuple(values.get(n) for n in names),
                                  values.get(corr.fieldref.lower()) if corr.fieldref else None, m, ev))
    out.sort(key=lambda e: (e.t, e.ref))
    return out, cut


def _sample(corr: Correlation, e: _Event) -> dict[str, Any]:
    """A record of a firing window as the correlation's match shows it: its log, record and time,
    the rule that matched it and the fields the correlation read."""
    m, ev = e.match, e.event
    values = ev.get("values") or {}
    shown = {"rule": m.title, **{n: values.get(n) for n in corr.group_fields(corr.refs[e.ref])}}
    if corr.fieldref:
        shown[corr.fieldref] = e.value
    return {"bundle_path": m.source.bundle_path, "channel": m.channel, "record_id": ev.get("record_id"),
            "time": ev.get("time"), "event_id": ev.get("event_id"), "fields": shown}


def _time(iso: Any) -> float | None:
    try:
        dt = datetime.fromisoformat(str(iso).replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt.timestamp() if dt.tzinfo is not None else None


def _windows(corr: Correlation, events: list[_Event]) -> list[list[_Event]]:
    """The firing windows of one group's events (time order), each its events. Linear in the
    events: the window's end only moves forward, the counts of values and rules in it are kept as it
    slides, and temporal_ordered looks up each rule's next event (a burst of thousands of events in
    one timespan must not cost their square)."""
    test, n, span, kind = OPS[corr.op], corr.count, corr.timespan, corr.type
    total = len(events)
    fired: list[list[_Event]] = []
    inside: Counter = Counter()  # value_count: values in the window; temporal: rules in the window
    nxt: list[list[int]] = []
    if kind == "temporal_ordered":  # nxt[r][k]: the first event of rule r at or after k (total: none)
        for r in range(len(corr.refs)):
            row, after = [total] * (total + 1), total
            for k in range(total - 1, -1, -1):
                if events[k].ref == r:
                    after = k
                row[k] = after
            nxt.append(row)
    i = j = 0
    while i < total:
        while j < total and events[j].t - events[i].t <= span:
            _count(inside, kind, events[j], 1)
            j += 1
        hit = _fires(corr, events, i, j, test, n, inside, nxt)
        step_to = hit[-1] + 1 if hit else i + 1  # after a firing window, the next starts past its last event
        if hit:
            fired.append([events[k] for k in hit])
        while i < step_to:
            if i < j:
                _count(inside, kind, events[i], -1)
            i += 1
        j = max(j, i)
    return fired


def _count(inside: Counter, kind: str, e: _Event, by: int) -> None:
    """Keep the values (value_count) or rules (temporal) in the window counted (other types count
    nothing: the window's bounds are enough)."""
    if kind == "value_count":
        key = e.value
        if key is None:
            return
    elif kind == "temporal":
        key = e.ref
    else:
        return
    inside[key] += by
    if inside[key] <= 0:
        del inside[key]


def _fires(corr: Correlation, events: list[_Event], i: int, j: int, test: Callable[[Any, Any], bool],
           n: float, inside: Counter, nxt: list[list[int]]) -> list[int]:
    """The indices of the events of window ``events[i:j]`` that make it fire ([]: it does not)."""
    if corr.type == "event_count":
        ok = test(j - i, n)
    elif corr.type in ("value_count", "temporal"):  # distinct values / rules in the window
        ok = test(len(inside), n)
    else:  # temporal_ordered: the rules in the order named, from the window's first event on
        if events[i].ref != 0:
            return []
        chain = [i]
        for r in range(1, len(corr.refs)):
            k = nxt[r][chain[-1] + 1]
            if k >= j:
                return []
            chain.append(k)
        return chain if test(len(chain), n) else []
    return list(range(i, j)) if ok else []


def evaluate(corr: Correlation, matches: list[Any]) -> Any | None:
    """The correlation's SigmaMatch for one host (None: it does not fire)."""
    from triage.model import SigmaMatch, Source
    from triage.sigma.hits import MAX_SAMPLES

    events, cut = _events(corr, matches)
    by_group: dict[tuple, list[_Event]] = {}
    for e in events:
        by_group.setdefault(e.group, []).append(e)
    windows = [w for g in sorted(by_group, key=repr) for w in _windows(corr, by_group[g])]
    if not windows:
        return None
    windows.sort(key=lambda w: w[0].t)
    samples = [_sample(corr, e) for e in itertools.islice((e for w in windows for e in w), MAX_SAMPLES)]
    first = windows[0][0]
    return SigmaMatch(source=Source(bundle_path=first.match.source.bundle_path,
                                    locator=f"record {first.event.get('record_id')}"),
                      rule_id=corr.id, title=corr.title + (" (events cut at the cap)" if cut else ""),
                      level=corr.level, author=corr.author, tags=tuple(corr.tags), origin=corr.origin,
                      rule_path=corr.path, channel=None, count=len(windows),
                      first=datetime.fromtimestamp(windows[0][0].t, tz=UTC),
                      last=datetime.fromtimestamp(max(w[-1].t for w in windows), tz=UTC),
                      samples=tuple(samples))


def apply(correlations: list[Correlation], records: list[Any]) -> list[Any]:
    """``records`` with each firing correlation's SigmaMatch added, and without the matches of
    rules named only by correlations that do not ``generate`` them."""
    from triage.model import SigmaMatch

    if not correlations:
        return records
    matches = [r for r in records if isinstance(r, SigmaMatch)]
    fired = [m for c in correlations if (m := evaluate(c, matches)) is not None]
    named = {rid for c in correlations for rid in c.ids}
    shown = {rid for c in correlations if c.generate for rid in c.ids}
    hidden = named - shown
    out = [r for r in records if not (isinstance(r, SigmaMatch) and r.rule_id in hidden)]
    return out + fired
