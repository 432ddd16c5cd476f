"""Evaluating compiled rules on records: a function per rule (generated: triage.sigma.codegen; closures
here), buckets per (channel, event id).

A record is an :class:`Event`: ``raw`` maps lower-case field names to the value as text, ``low`` the
same lower-cased, ``text`` every lower-cased value joined by NUL (keyword searches and the pre-filter
read it). A field the record lacks simply does not match (``null`` aside): a rule is never disabled
for a log because one of its branches names a field that log does not have.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from triage.sigma import keynames, prefilter
from triage.sigma.compile import RAW, Node
from triage.sigma.prefilter import PAYLOAD, ahocorasick
from triage.sigma.regex_literal import required_literal

# Lower-case names of the System fields (triage.sigma.engine.flatten): keyword searches skip them.
SYSTEM_FIELDS = frozenset({
    "eventid", "channel", "provider_name", "provider_guid", "provider_eventsourcename", "computer",
    "eventrecordid", "timecreated", "level", "task", "opcode", "keywords", "version", "activityid",
    "relatedactivityid", "threadid", "userid", "qualifiers"})


class Event:
    """One record as the rules see it. Keyword (field-less) searches read ``text``: the payload's
    values (EventData/UserData), not the System block's provider, computer or ids."""

    __slots__ = ("raw", "low", "_text")

    def __init__(self, raw: dict[str, str | None], low: dict[str, str | None] | None = None) -> None:
        self.raw = raw
        # ``low``: the same lower-cased, when the caller built both at once (triage.sigma.kept)
        self.low = low if low is not None else {k: (v.lower() if v is not None else None) for k, v in raw.items()}
        self._text: str | None = None

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = "\x00".join(v for k, v in self.low.items() if v and k not in SYSTEM_FIELDS)
        return self._text


Test = Callable[[Event], bool]


def _num(v: str | None) -> float | None:
    if v is None:
        return None
    s = v.strip()
    try:
        return float(int(s, 16)) if s.lower().startswith("0x") else float(s)
    except ValueError:
        return None


def _str_test(op: str, arg: Any) -> Callable[[str], bool]:
    if op == "eq":
        return lambda v: v == arg
    if op == "sw":
        return lambda v: v.startswith(arg)
    if op == "ew":
        return lambda v: v.endswith(arg)
    if op == "ct":
        return lambda v: arg in v
    if op == "glob":
        rx = re.compile(arg[0], re.DOTALL)
        part = arg[1]  # the wildcard value's longest plain part: in every match (compile._string)
        if part:
            return lambda v: part in v and rx.search(v) is not None
        return lambda v: rx.search(v) is not None
    if op == "re":
        rx = re.compile(arg[0], arg[1])
        lit = required_literal(arg[0], arg[1])
        if lit is not None:  # a value without it cannot match: no search (see regex_literal)
            return lambda v: lit in v and rx.search(v) is not None
        return lambda v: rx.search(v) is not None
    if op == "num":
        text, value = str(arg), float(arg)
        return lambda v: v == text or _num(v) == value
    if op == "bool":
        want = "true" if arg else "false"
        return lambda v: v.strip().lower() in (want, "1" if arg else "0")
    if op == "cmp":
        name, number = arg
        cmp = {"lt": float.__lt__, "lte": float.__le__, "gt": float.__gt__, "gte": float.__ge__,
               "neq": float.__ne__}[name]
        ref = float(number)

        def compare(v: str) -> bool:
            n = _num(v)
            return n is not None and cmp(n, ref)
        return compare
    if op == "cidr":
        net = ipaddress.ip_network(arg)

        def in_net(v: str) -> bool:
            try:
                return ipaddress.ip_address(v.strip().strip("[]").split("%")[0]) in net
            except ValueError:
                return False
        return in_net
    raise ValueError(f"unknown op {op}")


# Alternatives on one field with one string operator are tested together: a set lookup, one
# str.startswith/endswith with a tuple, or one Aho-Corasick pass for many 'contains' (SigmaHQ rules
# list dozens of image names or command-line fragments per selection).
MERGE_MIN = 2
CONTAINS_AUTOMATON_MIN = 6


def _merged(children: tuple) -> list[Test]:
    groups: dict[tuple, list[str]] = {}
    rest: list[Test] = []
    for c in children:
        if c[0] in ("f", "kw") and c[2] in ("eq", "sw", "ew", "ct") and isinstance(c[3], str):
            groups.setdefault((c[0], c[1], c[2], c[4]), []).append(c[3])
        else:
            rest.append(closure(c))
    out: list[Test] = []
    for (kind, field, op, cased), values in groups.items():
        if len(values) < MERGE_MIN:
            out.append(closure((kind, field, op, values[0], cased)))
            continue
        check = _multi(op, values)
        # typed defs with default-bound arguments: the same function objects the lambdas were
        if kind == "kw":
            def kw_test(e: Event, check: Callable[[str], bool] = check,
                        pool: str = "raw" if cased else "low") -> bool:
                return any(check(v) for k, v in getattr(e, pool).items() if v and k not in SYSTEM_FIELDS)
            out.append(kw_test)
        elif cased:
            def raw_test(e: Event, check: Callable[[str], bool] = check, field: str = field) -> bool:
                return (v := e.raw.get(field)) is not None and check(v)
            out.append(raw_test)
        else:
            def low_test(e: Event, check: Callable[[str], bool] = check, field: str = field) -> bool:
                return (v := e.low.get(field)) is not None and check(v)
            out.append(low_test)
    return out + rest


def _multi(op: str, values: list[str]) -> Callable[[str], bool]:
    if op == "eq":
        members = frozenset(values)
        return members.__contains__
    if op == "sw":
        prefixes = tuple(values)
        return lambda v: v.startswith(prefixes)
    if op == "ew":
        suffixes = tuple(values)
        return lambda v: v.endswith(suffixes)
    if "" in values:
        return lambda v: True
    # every part holds a non-ASCII character (the homoglyph and emoji rules' lists): an ASCII value
    # (nearly every command line; the check is a flag read) holds none of them
    wide = not any(x.isascii() for x in values)
    if ahocorasick is not None and len(values) >= CONTAINS_AUTOMATON_MIN:
        automaton = ahocorasick.Automaton()
        for x in set(values):
            automaton.add_word(x, True)
        automaton.make_automaton()
        if wide:
            return lambda v: not v.isascii() and next(automaton.iter(v), None) is not None
        return lambda v: next(automaton.iter(v), None) is not None
    parts = tuple(values)
    if wide:
        return lambda v: not v.isascii() and any(p in v for p in parts)
    return lambda v: any(p in v for p in parts)


def build(node: Node) -> Test:
    """A function evaluating ``node`` on an Event: generated from the tree as one expression
    (:mod:`triage.sigma.codegen`, ~3x faster on SigmaHQ's process-creation rules), the closures of
    :func:`closure` where it cannot be."""
    from triage.sigma.codegen import rule_function  # it builds on this module's tests

    return rule_function(node)


def closure(node: Node) -> Test:
    """A closure evaluating ``node`` on an Event: a tree of closures, one per node."""
    kind = node[0]
    if kind == "and":
        tests = tuple(closure(c) for c in node[1])

        def all_of(e: Event) -> bool:  # a loop, not all(genexpr): half the cost per call
            for t in tests:  # noqa: SIM110
                if not t(e):
                    return False
            return True
        return all_of
    if kind == "or":
        tests = tuple(_merged(node[1]))

        def any_of(e: Event) -> bool:
            for t in tests:  # noqa: SIM110
                if t(e):
                    return True
            return False
        return any_of
    if kind == "not":
        inner = closure(node[1])
        return lambda e: not inner(e)
    if kind == "true":
        return lambda e: True
    if kind == "false":
        return lambda e: False
    _, field, op, arg, cased = node
    if kind == "kw":
        if op == "ct" and not cased:
            return lambda e: arg in e.text
        check = _str_test(op, arg)
        if cased:
            return lambda e: any(check(v) for k, v in e.raw.items() if v is not None and k not in SYSTEM_FIELDS)
        return lambda e: any(check(v) for k, v in e.low.items() if v is not None and k not in SYSTEM_FIELDS)
    if op == "null":
        return lambda e: not e.raw.get(field)
    if op == "exists":
        return (lambda e: field in e.raw) if arg else (lambda e: field not in e.raw)
    if op == "fref":
        other, sw, ew = arg

        def same(e: Event) -> bool:
            a, b = e.low.get(field), e.low.get(other)
            if a is None or b is None:
                return False
            return a.startswith(b) if sw else a.endswith(b) if ew else a == b
        return same
    check = _str_test(op, arg)
    values = "raw" if cased else "low"
    if values == "low":
        def test_low(e: Event) -> bool:
            v = e.low.get(field)
            return v is not None and check(v)
        return test_low

    def test_raw(e: Event) -> bool:
        v = e.raw.get(field)
        return v is not None and check(v)
    return test_raw


# atom -> raw_form(atom): a rule set's literals recur in bucket after bucket (every (channel, event id,
# provider) a log holds gets its own), and json.dumps per literal was most of building one. Bounded by
# the literals of the rule sets loaded in this process.
_RAW_FORMS: dict[str, str] = {}


def raw_form(atom: str) -> str:
    """An atom as it appears in the engine's JSON text of a record (quotes, backslashes and control
    characters escaped as JSON escapes them; the text is lower-cased before the search). Atoms
    marked RAW are JSON text already (a number with its delimiters)."""
    form = _RAW_FORMS.get(atom)
    if form is None:
        if atom.startswith(RAW):
            form = atom[len(RAW):].lower()
        else:
            form = json.dumps(atom, ensure_ascii=False)[1:-1].lower()
        _RAW_FORMS[atom] = form
    return form


# distinct literal sets remembered per bucket (a few hundred bytes each)
MEMO_MAX = 4096


@dataclass(eq=False)  # hashed by identity: the parser queues records per bucket
class Bucket:
    """The rules that can match records of one (channel, event id).

    ``always`` are evaluated on every record; each other rule only when, for each of its pre-filter
    groups, one literal occurs in the record's payload text (:mod:`triage.sigma.prefilter`). A record
    none of whose rules can match is never decoded: that is what keeps Sigma cheap on big logs."""

    rules: tuple[int, ...]
    tests: dict[int, Test]
    always: tuple[int, ...]
    searcher: Any            # triage.sigma.prefilter.Searcher, or None when no rule has literals
    keys: list[tuple[tuple[int, int], ...]]  # literal index -> (rule, group) pairs it satisfies
    need: dict[int, int]     # rule -> number of groups that must all be seen
    # literals found in a record -> its candidates: a log's records of one kind hold the same
    # common literals ('.exe', '\\windows\\') record after record, so the (rule, group) counting
    # is done once per distinct set, not once per record. Bounded: cleared when full.
    memo: dict[frozenset[int], list[int] | None] = dataclasses.field(default_factory=dict)
    # rule -> the tree its test is built from (what triage.sigma.lean reads: the fields it tests),
    # and candidate list -> the flatten filter for records with those candidates
    trees: dict[int, Any] | None = None
    plans: dict[tuple[int, ...], Any] = dataclasses.field(default_factory=dict)
    # the candidate list of a record that only the always-evaluated rules are candidates for (one
    # list object: triage.sigma.verdicts answers such records by identity), and those answers
    always_only: list[int] = dataclasses.field(init=False)
    verdicts: Any = dataclasses.field(init=False)  # triage.sigma.verdicts.Verdicts
    # rule -> the pre-filter groups the bucket was built from, before field-name groups were left out
    # (what bench/sigma_prefilter.py rebuilds its baseline from)
    groups: dict[int, list[frozenset] | None] | None = None

    def __post_init__(self) -> None:
        from triage.sigma.verdicts import Verdicts

        self.always_only = list(self.always)
        self.verdicts = Verdicts()

    def candidates_many(self, texts: list[str]) -> list[list[int] | None]:
        """For each record (engine JSON text): the rules worth evaluating (None: none, skip it)."""
        at = self.candidates_at(texts)
        return [at.get(k) for k in range(len(texts))]

    def candidates_at(self, texts: list[str], starts: list[int] | None = None) -> dict[int, list[int]]:
        """Record index -> the rules worth evaluating on it, for the records that have any, in
        record order (:meth:`candidates_many` without the entries for the many records that have
        none: the parser's flush visits only these). ``starts``: per text, an offset before its
        payload (the parser knows where the System block's Channel is): the search starts there."""
        always = self.always
        if self.searcher is None:
            return dict.fromkeys(range(len(texts)), self.always_only) if always else {}
        out: dict[int, list[int]] = {}
        memo = self.memo
        for k, found in self.searcher.search(texts, PAYLOAD, starts).items():
            lits = frozenset(found)
            if lits in memo:
                cands = memo[lits]
            else:
                cands = memo[lits] = self._candidates(lits)
                if len(memo) > MEMO_MAX:
                    memo.clear()
            if cands is not None:
                out[k] = cands
        if always:  # every record is a candidate for these; lists are shared: callers only read them
            only_always = self.always_only
            return {k: out.get(k, only_always) for k in range(len(texts))}
        # in record order, as evaluated before (a rule's samples are its first records): the searchers
        # report records in the order their first match ends, which is that order in practice
        keys = list(out)
        return out if keys == sorted(keys) else {k: out[k] for k in sorted(keys)}

    def _candidates(self, found: frozenset[int]) -> list[int] | None:
        """The rules all of whose groups one of ``found`` (literal indices) satisfies, plus ``always``."""
        keys, need = self.keys, self.need
        seen: set[tuple[int, int]] = set()
        for lit in found:
            seen.update(keys[lit])
        counts: dict[int, int] = {}
        for rule, _ in seen:
            counts[rule] = counts.get(rule, 0) + 1
        cands = [r for r, n in counts.items() if n >= need[r]]
        if not cands:
            return None
        cands.extend(self.always)
        return sorted(cands)

    def candidates(self, data: str) -> list[int] | None:
        return self.candidates_many([data])[0]

    def match(self, ev: Event, candidates: list[int] | None = None) -> list[int]:
        tests = self.tests
        ids = self.rules if candidates is None else candidates
        return [i for i in ids if tests[i](ev)]


def make_bucket(indices: list[int], tests: dict[int, Test], atoms_of: dict[int, list[frozenset] | None],
                cache_dir: Any = None, cache_key: str = "", trees: dict[int, Any] | None = None) -> Bucket:
    """The bucket of rules ``indices``: each rule's pre-filter groups (``atoms_of``, None: always
    evaluated) become (rule, group) keys of their literals' JSON forms. A group with a literal that
    is part of a field name (:mod:`triage.sigma.keynames`) is left out: every record with that field
    satisfies it. A rule left with no group is always evaluated."""
    always: list[int] = []
    by_atom: dict[str, set[tuple[int, int]]] = {}
    need: dict[int, int] = {}
    names = keynames.name_text(trees[i] for i in indices if i in trees) if trees else ""
    for i in indices:
        groups = atoms_of.get(i)
        kept = [forms for g in groups or () if not keynames.in_names(forms := {raw_form(lit) for lit in g}, names)]
        if not kept:
            always.append(i)
            continue
        need[i] = len(kept)
        for g, forms in enumerate(kept):
            for form in forms:
                by_atom.setdefault(form, set()).add((i, g))
    literals = sorted(by_atom)
    search = prefilter.searcher(literals, cache_dir, cache_key) if literals else None
    return Bucket(rules=tuple(indices), tests=tests, always=tuple(always), searcher=search,
                  keys=[tuple(sorted(by_atom[lit])) for lit in literals], need=need, trees=trees,
                  groups=atoms_of)
