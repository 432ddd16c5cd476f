"""A compiled rule tree -> one generated Python function, instead of a tree of closures.

Why: :func:`triage.sigma.match.build` turns a rule into nested closures (an ``and`` calls each
child, a field test calls its string check), so a Sysmon process creation record with 16 candidate
rules cost ~11k Python calls on museum-win10-aptsimulatorvm, ~1.5 us per rule test. The generated
function holds the whole tree as one boolean expression: field fetches, ``==``/``in``/``startswith``
and set or tuple lookups run inline, with no call per node.

What it computes is what the closures compute, node for node: the same tests on the same values
(``Event.low`` unless the test is cased, ``Event.raw`` otherwise), a missing or null field fails every
string test, alternatives on one field are the same set/tuple/automaton checks :func:`_multi`
builds, a regex is searched behind the same required literal. Only the order differs: the parts of
an ``and`` run cheapest first and the tests of the bucket's own keys (channel, event id) last, which
no answer depends on (tests have no side effects). CIDR, comparisons and booleans call the check
:func:`_str_test` makes; keywords, null, exists and field references call the closure
:func:`triage.sigma.match.closure` makes for that node, so their semantics live in one place. The
generated text names no rule content: every value is passed in as a constant (``k0``, ``k1``...),
so a hostile rule's strings cannot become code.

Functions are cached per process by tree (a rule tied to one channel and event id has one tree in
every bucket), bounded; a tree too deep or too big to compile falls back to the closures. Building
one costs more than its closures (~170 instead of ~110 us a SigmaHQ rule, mostly ``compile``), once
per process and only for rules that meet a candidate record.
"""

from __future__ import annotations

import re
from typing import Any, cast

from triage.sigma.compile import Node
from triage.sigma.match import CONTAINS_AUTOMATON_MIN, Test, _multi, _str_test, closure
from triage.sigma.regex_literal import required_literal

# String tests written inline. Alternatives on one field are merged (as _merged does) from MERGE_MIN
# on; from CONTAINS_AUTOMATON_MIN 'contains' alternatives use _multi's check (an automaton).
_INLINE = {"eq": "{v} == {k}", "sw": "{v}.startswith({k})", "ew": "{v}.endswith({k})", "ct": "{k} in {v}"}
MERGE_MIN = 2
# Deeper trees (none in SigmaHQ is deeper than ~6) fall back to closures: CPython's compiler recurses
# per nesting level.
MAX_DEPTH = 40
# Generated functions remembered per process; cleared when full (a rule set has a few thousand rules).
MAX_CACHED = 8192
_CACHE: dict[Node, Test] = {}


# Fields a bucket is keyed on: a rule's test of them is nearly always true in its bucket (kept in the
# trees of rules tied to one channel and event id), so it says little and goes last in an 'and'.
KEYED = frozenset({"channel", "eventid", "provider_name"})
# Rough relative cost of a test: inline string tests, then a regex behind its literal, then a call.
_COST = {"eq": 1, "sw": 1, "ew": 1, "ct": 1, "num": 1, "re": 3, "glob": 4}


def cost(node: Node) -> int:
    """How early a part of an 'and' is worth testing (lower first): cheap and selective before
    costly or nearly always true. Tests have no side effects, so any order gives the same answer."""
    kind = node[0]
    if kind in ("and", "or"):
        return min(sum(cost(c) for c in node[1]), 50)
    if kind == "not":
        return cost(node[1])
    if kind != "f":
        return 5 if kind == "kw" else 1
    if node[1] in KEYED:
        return 60
    return _COST.get(node[2], 4)


class _Source:
    """The expression text of one tree and the constants it names."""

    def __init__(self) -> None:
        self.consts: dict[str, Any] = {}
        self.temps = 0

    def const(self, value: Any) -> str:
        name = f"k{len(self.consts)}"
        self.consts[name] = value
        return name

    def fetch(self, field: str, cased: bool) -> tuple[str, str]:
        """``(assignment, variable)``: the field's value (raw when cased, else lower-cased) bound to a
        fresh local (a walrus, so an expression can test it several times)."""
        self.temps += 1
        var = f"v{self.temps}"
        return f"({var} := {self.pool(cased)}.get({self.const(field)}))", var

    @staticmethod
    def pool(cased: bool) -> str:
        """The values a test reads: as logged when it is cased, else lower-cased."""
        return "raw" if cased else "low"

    def expr(self, node: Node, depth: int = 0) -> str:
        if depth > MAX_DEPTH:
            raise RecursionError("rule tree too deep to generate")
        kind = node[0]
        if kind in ("and", "or") and not node[1]:  # as all() and any() of nothing
            return "True" if kind == "and" else "False"
        if kind == "and":  # cheapest, most selective parts first (the result does not depend on order)
            parts = sorted(node[1], key=cost)
            return "(" + " and ".join(self.expr(c, depth + 1) for c in parts) + ")"
        if kind == "or":
            return "(" + " or ".join(self._alternatives(node[1], depth + 1)) + ")"
        if kind == "not":
            return f"(not {self.expr(node[1], depth + 1)})"
        if kind == "true":
            return "True"
        if kind == "false":
            return "False"
        if kind == "f" and node[2] == "eq" and isinstance(node[3], str):  # None (missing) equals no text
            return f"({self.pool(node[4])}.get({self.const(node[1])}) == {self.const(node[3])})"
        if kind == "f" and node[2] in _INLINE and isinstance(node[3], str):
            got, var = self.fetch(node[1], node[4])
            test = _INLINE[node[2]].format(v=var, k=self.const(node[3]))
            return f"({got} is not None and {test})"
        if kind == "f" and node[2] not in ("null", "exists", "fref"):
            got, var = self.fetch(node[1], node[4])
            return f"({got} is not None and {self._check(node[2], node[3], var)})"
        return f"{self.const(closure(node))}(e)"  # keywords, null, exists, fref: the closure

    def _check(self, op: str, arg: Any, var: str) -> str:
        """The test of one value ``var`` (not None) that :func:`_str_test` makes for ``op``."""
        if op in ("glob", "re"):  # the compiled pattern's search, behind its required literal if any
            flags = re.DOTALL if op == "glob" else arg[1]
            search = self.const(re.compile(arg[0], flags).search)
            # a wildcard value carries its longest plain part (compile._string): in every match
            lit = required_literal(arg[0], arg[1]) if op == "re" else (arg[1] or None)
            found = f"{search}({var}) is not None"
            return f"({self.const(lit)} in {var} and {found})" if lit is not None else f"({found})"
        if op == "num":  # the number's text as written, else the closure's parse
            return f"({var} == {self.const(str(arg))} or {self.const(_str_test(op, arg))}({var}))"
        return f"{self.const(_str_test(op, arg))}({var})"

    def _alternatives(self, children: tuple, depth: int) -> list[str]:
        """An ``or``'s children, alternatives on one field with one string operator merged into one
        test (the groups :func:`triage.sigma.match._merged` makes)."""
        groups: dict[tuple[str, bool, str], list[str]] = {}
        rest: list[Node] = []
        for c in children:
            if c[0] == "f" and c[2] in _INLINE and isinstance(c[3], str):
                groups.setdefault((c[1], c[4], c[2]), []).append(c[3])
            else:
                rest.append(c)
        out = [self.expr(c, depth) for c in sorted(rest, key=cost)]  # cheap first: any true one ends it
        merged = []
        for (field, cased, op), values in groups.items():
            if len(values) < MERGE_MIN:
                merged.append(self.expr(("f", field, op, values[0], cased), depth))
                continue
            if op == "eq":  # None (missing) is in no set of texts
                merged.append(f"({self.pool(cased)}.get({self.const(field)}) in {self.const(frozenset(values))})")
                continue
            got, var = self.fetch(field, cased)
            if op in ("sw", "ew"):
                test = _INLINE[op].format(v=var, k=self.const(tuple(values)))
            elif "" not in values and len(values) < CONTAINS_AUTOMATON_MIN:
                test = "(" + " or ".join(f"{self.const(x)} in {var}" for x in values) + ")"
                if not any(x.isascii() for x in values):  # as _multi: an ASCII value holds none
                    test = f"(not {var}.isascii() and {test})"
            else:
                test = f"{self.const(_multi(op, values))}({var})"
            merged.append(f"({got} is not None and {test})")
        return merged + out


def generate(node: Node) -> tuple[str, dict[str, Any]]:
    """The source of ``def rule(e)`` for ``node`` and the constants it reads (its globals)."""
    src = _Source()
    body = src.expr(node)
    return f"def rule(e):\n    raw = e.raw\n    low = e.low\n    return {body}\n", src.consts


def rule_function(node: Node) -> Test:
    """One function evaluating ``node`` on an Event (what :func:`closure`'s closures answer),
    generated and compiled once per process; the closures when it cannot be generated."""
    try:
        test = _CACHE.get(node)
    except TypeError:  # an unhashable argument (no compiled rule has one): not cached
        return closure(node)
    if test is not None:
        return test
    try:
        text, consts = generate(node)
        namespace: dict[str, Any] = {"__builtins__": {}, **consts}
        exec(compile(text, "<sigma rule>", "exec"), namespace)  # the text names no rule content (above)
        test = cast("Test", namespace["rule"])
    except (RecursionError, MemoryError, SyntaxError, ValueError):
        test = closure(node)
    if len(_CACHE) >= MAX_CACHED:
        _CACHE.clear()
    _CACHE[node] = test
    return test
