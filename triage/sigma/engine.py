"""The runtime: a compiled rule set, its buckets, and records turned into :class:`Event` s.

``Engine.bucket(channel, event_id)`` is asked once per distinct (channel, event id) of a log (the
EVTX parser keeps it on its per-layout counting object), so a record of a kind no rule reads costs
nothing more than before. Only records whose bucket is non-empty are decoded in full.
"""

from __future__ import annotations

import gc
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from triage.sigma.compile import atoms, specialize
from triage.sigma.correlate import needed_fields
from triage.sigma.gcpause import paused
from triage.sigma.lean import plan
from triage.sigma.load import CompiledRule, RuleSet, cache_dir, load_rules, ruleset_by_key
from triage.sigma.match import Bucket, Event, Test, build, make_bucket

# 4688 carries the new process' integrity as a label SID; Sysmon rules test IntegrityLevel by name.
_INTEGRITY = {"s-1-16-0": "Untrusted", "s-1-16-4096": "Low", "s-1-16-8192": "Medium",
              "s-1-16-8448": "Medium", "s-1-16-12288": "High", "s-1-16-16384": "System",
              "s-1-16-20480": "Protected"}


def event(fields: dict[str, str | None]) -> Event:
    """Flat record -> Event (lower-case names), with the aliases the pipelines leave out: names with
    spaces also without them (Defender), and for 4688 User (the new process' account) and
    IntegrityLevel (from MandatoryLabel)."""
    raw = {k.lower(): v for k, v in fields.items()}
    for k in [k for k in raw if " " in k]:  # Defender logs 'Threat Name'; rules say ThreatName
        raw.setdefault(k.replace(" ", ""), raw[k])
    derive(raw)
    return Event(raw)


def derive(raw: dict[str, str | None]) -> bool:
    """Add 4688's derived fields to ``raw`` (lower-case names); whether the record is a 4688."""
    if raw.get("eventid") != "4688" or (raw.get("channel") or "").lower() != "security":
        return False
    tu, td = raw.get("targetusername"), raw.get("targetdomainname")
    if tu and tu != "-":
        raw.setdefault("user", f"{td}\\{tu}" if td and td != "-" else tu)
    elif raw.get("subjectusername"):
        sd = raw.get("subjectdomainname")
        raw.setdefault("user", f"{sd}\\{raw['subjectusername']}" if sd else raw["subjectusername"])
    label = (raw.get("mandatorylabel") or "").lower()
    if label in _INTEGRITY:
        raw.setdefault("integritylevel", _INTEGRITY[label])
    return True


class _LazyTests(dict):
    """rule index -> test closure, built from its (specialised) tree when first asked for."""

    def __init__(self, trees: dict[int, Any]) -> None:
        super().__init__()
        self.trees = trees

    def __missing__(self, i: int) -> Test:
        test = self[i] = build(self.trees[i])
        return test


@dataclass
class Engine:
    """A rule set ready to evaluate. Thread-safe for matching (buckets are built under a lock)."""

    ruleset: RuleSet
    _buckets: dict[tuple[str, str, str | None], Bucket] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._atoms = {i: ([frozenset(g) for g in r.atoms] if r.atoms is not None else None)
                       for i, r in enumerate(self.ruleset.rules)}
        # (channel, event id) -> rules (None: any): a bucket visits only the rules that name its
        # channel and event id, not every rule of a channel (Security has over a thousand)
        by_key: dict[tuple[str | None, str | None], list[int]] = {}
        for i, r in enumerate(self.ruleset.rules):
            for ch in (r.channels if r.channels is not None else [None]):
                for eid in (r.event_ids if r.event_ids is not None else [None]):
                    by_key.setdefault((ch, eid), []).append(i)
        self._by_key = by_key
        self._cache_dir = cache_dir()
        # rule id -> the fields its matched records' events carry for the correlations naming it
        self.correlated = needed_fields(self.ruleset.correlations)

    @property
    def rules(self) -> list[CompiledRule]:
        return self.ruleset.rules

    def bucket(self, channel: str | None, event_id: Any, provider: str | None = None) -> Bucket | None:
        """The rules that can match a record of this channel, event id and provider (None: no rule
        can), each specialised to them (:func:`triage.sigma.compile.specialize`)."""
        key = ((channel or "").lower(), str(event_id).lower(), provider.lower() if provider else None)
        b = self._buckets.get(key)
        if b is None:
            with self._lock:
                b = self._buckets.get(key)
                if b is None:
                    with paused():  # thousands of sets and tuples for a big bucket (gcpause)
                        b = self._buckets[key] = self._make_bucket(key)
        return b if b.rules else None

    def _make_bucket(self, key: tuple[str, str, str | None]) -> Bucket:
        """Rules of one (channel, event id, provider). A rule tied to one event id that does not test
        the provider keeps its compiled form and compile-time pre-filter groups; others are specialised
        to the key first. Test closures are built on first use: most rules of a big bucket never meet a
        candidate record."""
        channel, eid, provider = key
        trees: dict[int, Any] = {}
        groups: dict[int, list[frozenset] | None] = {}
        by_key = self._by_key
        for i in sorted({i for k in ((channel, eid), (channel, None), (None, eid), (None, None))
                         for i in by_key.get(k, ())}):
            r = self.rules[i]
            by_provider = provider is not None and "provider_name" in r.fields
            if (not by_provider and r.event_ids is not None and len(r.event_ids) == 1 and r.channels is not None
                    and len(r.channels) == 1):
                trees[i], groups[i] = r.tree, self._atoms[i]
                continue
            tree = specialize(r.tree, channel, eid, provider if by_provider else None)
            if tree == ("false",):
                continue
            trees[i] = tree
            groups[i] = atoms(tree, channel in ("", "security"), r.fields)
        return make_bucket(sorted(trees), _LazyTests(trees), groups, self._cache_dir,
                           f"{self.ruleset.key}/{channel}/{eid}/{provider}", trees)

    def match_fields(self, fields: dict[str, str | None]) -> list[CompiledRule]:
        """Rules matching one flat record (tests, ``rules test``): bucketed as the parser does."""
        ev = event(fields)
        b = self.bucket(ev.raw.get("channel"), ev.raw.get("eventid"), ev.raw.get("provider_name"))
        if b is None:
            return []
        # the parser pre-filters on the record's JSON text; do the same on this record's
        cand = b.candidates(json.dumps(fields, ensure_ascii=False, separators=(",", ":")))  # compact, as the engine
        if cand is None:
            return []
        keep = plan(b.plans, b.trees, cand)  # and evaluates only the fields the candidates read
        if keep is not None:
            ev = event({k: v for k, v in fields.items() if keep[k]})
        return [self.rules[i] for i in b.match(ev, cand)]


_ENGINES: dict[str, Engine] = {}
# rule variants from which a set's engine is worth freezing the heap for (_engine)
FREEZE_MIN_RULES = 500


def _engine(rs: RuleSet) -> Engine:
    """A new engine for a set, built with the collector paused (its index holds a frozenset per rule
    group: tens of thousands of containers for SigmaHQ's set), then everything the process holds so
    far moved out of the collector's generations (``gc.freeze``).

    A compiled set lives as long as its process, and so do the modules loaded by then; a full
    collection walked all of them again whenever an analysis had allocated enough, which with the
    SigmaHQ rules loaded came once every few small hosts at ~70 ms (11-18 ms a host on average on the
    museum sets, 1-4 ms frozen). Nothing is collected before: anything already unreachable by then
    (little: this runs once per set, as the first analysis starts) is kept for the life of the
    process rather than paying a full collection now. A small set (tests, a few rules of one's own)
    adds too little to be worth it."""
    with paused():
        engine = Engine(rs)
    if len(engine.rules) >= FREEZE_MIN_RULES:
        gc.freeze()
    return engine


_ENGINES_LOCK = threading.Lock()


def engine_for(options: dict[str, Any]) -> Engine | None:
    """The engine for a parse's options (``sigma_key`` names a compiled set): built once per process
    from the in-memory set or the on-disk cache, so forked/spawned EVTX workers get it cheaply."""
    key = options.get("sigma_key")
    if not key:
        return None
    eng = _ENGINES.get(key)
    if eng is not None:
        return eng
    with _ENGINES_LOCK:
        eng = _ENGINES.get(key)
        if eng is None:
            rs = ruleset_by_key(key)
            if rs is None:
                return None
            eng = _ENGINES[key] = _engine(rs)
    return eng


def register(rs: RuleSet) -> Engine:
    """Make a compiled set available to parsers of this process under ``rs.key``."""
    with _ENGINES_LOCK:
        eng = _ENGINES.get(rs.key)
        if eng is None:
            eng = _ENGINES[rs.key] = _engine(rs)
    return eng


def prepare(extra: Any = (), *, builtin: bool = True) -> tuple[RuleSet, Engine]:
    """Load (or take from cache), register, and return the set and its engine."""
    rs = load_rules(extra, builtin=builtin)
    return rs, register(rs)
