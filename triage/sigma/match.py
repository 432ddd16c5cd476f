"""Evaluating compiled rules on records: closures built once per rule, buckets per (channel, event id).

A record is an :class:`Event`: ``raw`` maps lower-case field names to the value as text, ``low`` the
same lower-cased, ``text`` every lower-cased value joined by NUL (keyword searches and the pre-filter
read it). A field the record lacks simply does not match (``null`` aside): a rule is never disabled
for a log because one of its branches names a field that log does not have.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from triage.sigma.compile import Node

try:  # the pre-filter; without it every rule of a bucket is evaluated (same results, slower)
    import ahocorasick
except ImportError:  # pragma: no cover - it is a dependency of the analyze extra
    ahocorasick = None


class Event:
    """One record as the rules see it."""

    __slots__ = ("raw", "low", "_text")

    def __init__(self, raw: dict[str, str | None]) -> None:
        self.raw = raw
        self.low = {k: (v.lower() if v is not None else None) for k, v in raw.items()}
        self._text: str | None = None

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = "\x00".join(v for v in self.low.values() if v)
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
        return lambda v: rx.search(v) is not None
    if op == "re":
        rx = re.compile(arg[0], arg[1])
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


def build(node: Node) -> Test:
    """A closure evaluating ``node`` on an Event."""
    kind = node[0]
    if kind == "and":
        tests = tuple(build(c) for c in node[1])

        def all_of(e: Event) -> bool:  # a loop, not all(genexpr): half the cost per call
            for t in tests:  # noqa: SIM110
                if not t(e):
                    return False
            return True
        return all_of
    if kind == "or":
        tests = tuple(build(c) for c in node[1])

        def any_of(e: Event) -> bool:
            for t in tests:  # noqa: SIM110
                if t(e):
                    return True
            return False
        return any_of
    if kind == "not":
        inner = build(node[1])
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
            return lambda e: any(check(v) for v in e.raw.values() if v is not None)
        return lambda e: any(check(v) for v in e.low.values() if v is not None)
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


@dataclass
class Bucket:
    """The rules that can match records of one (channel, event id): ``always`` are evaluated on
    every record, the others only when the automaton finds one of their literals."""

    rules: tuple[int, ...]
    tests: dict[int, Test]
    always: tuple[int, ...]
    automaton: Any

    def match(self, ev: Event) -> list[int]:
        tests = self.tests
        out = [i for i in self.always if tests[i](ev)]
        if self.automaton is not None:
            seen: set[int] = set()
            for _, ids in self.automaton.iter(ev.text):
                seen.update(ids)
            if seen:
                out.extend(i for i in sorted(seen) if tests[i](ev))
        return out


def make_bucket(indices: list[int], tests: dict[int, Test], atoms_of: dict[int, frozenset | None]) -> Bucket:
    always: list[int] = []
    by_atom: dict[str, list[int]] = {}
    for i in indices:
        a = atoms_of.get(i)
        if a is None or ahocorasick is None:
            always.append(i)
        elif a:  # an empty set: the rule can never match (e.g. 'false')
            for lit in a:
                by_atom.setdefault(lit, []).append(i)
    automaton = None
    if by_atom:
        automaton = ahocorasick.Automaton()
        for lit, ids in by_atom.items():
            automaton.add_word(lit, tuple(ids))
        automaton.make_automaton()
    return Bucket(rules=tuple(indices), tests=tests, always=tuple(always), automaton=automaton)
