"""Generated rule functions (triage.sigma.codegen) answer what the closure trees answer: on every
SigmaHQ rule, on records made of the rule's own values (so branches match and miss), and on the real
museum records of every bucket; hostile rule text stays data."""

from __future__ import annotations

import json

import pytest
from _sigma import museum_records

from triage.sigma import codegen
from triage.sigma.engine import event
from triage.sigma.flatten import flatten
from triage.sigma.match import Event, build, closure


def _values(node, out):
    """field -> the values a rule's own tests name (strings as written, numbers as text)."""
    kind = node[0]
    if kind in ("and", "or"):
        for c in node[1]:
            _values(c, out)
    elif kind == "not":
        _values(node[1], out)
    elif kind == "f" and (isinstance(node[3], str) or node[2] == "num"):
        out.setdefault(node[1], []).append(str(node[3]))
    return out


def _events(tree):
    """Records made of the rule's values: each field at its first, last or n-th value, cased
    otherwise, wrapped, cut short, some fields missing or null (so branches both match and miss)."""
    values = _values(tree, {})
    for k in range(6):
        raw = {f: vs[k % len(vs)] for f, vs in values.items()}
        yield Event(raw)
        yield Event({f: v.upper() if n % 2 else v for n, (f, v) in enumerate(raw.items())})
        yield Event({f: f"x{v}y" if n % 3 == k % 3 else v for n, (f, v) in enumerate(raw.items())})
        yield Event({f: v[:-1] if n % 2 else v for n, (f, v) in enumerate(raw.items()) if (n + k) % 4})
        yield Event({f: None if n % 2 else v for n, (f, v) in enumerate(raw.items())})
        yield Event({f: " 0x10" if k % 2 else "-" for f in raw})


def test_generated_equals_closures_on_every_sigmahq_rule(sigmahq):
    rs, _ = sigmahq
    generated = agree = matched = 0
    for r in rs.rules:
        fn, ref = codegen.rule_function(r.tree), closure(r.tree)
        generated += fn.__code__.co_filename == "<sigma rule>"
        for ev in _events(r.tree):
            assert fn(ev) == ref(ev), (r.title, ev.raw)
            agree += 1
            matched += ref(ev)
    assert generated == len(rs.rules) > 2500  # none fell back to the closures
    assert agree > 100_000 and matched > 10_000  # the records made from the rules do match


def test_generated_equals_closures_on_museum_records(sigmahq, corpus):
    """Every rule of a record's bucket (not only its candidates), generated vs closures."""
    rs, eng = sigmahq
    checked = hits = 0
    refs: dict = {}
    for data in museum_records(corpus, limit=1000):
        ev = event(flatten(json.loads(data)))
        b = eng.bucket(ev.raw.get("channel"), ev.raw.get("eventid"), ev.raw.get("provider_name"))
        if b is None:
            continue
        for i in b.rules:
            ref = refs.get(id(b.trees[i]))
            if ref is None:
                ref = refs[id(b.trees[i])] = (b.trees[i], closure(b.trees[i]))
            want = ref[1](ev)
            assert b.tests[i](ev) == want, (rs.rules[i].title, ev.raw.get("eventrecordid"))
            checked += 1
            hits += want
    assert checked > 100_000 and hits > 50


def test_rule_text_is_never_code():
    """Strings a hostile rule holds are constants of the generated function, not its text."""
    evil = "')) or __import__('os').system('false') or (('"
    tree = ("and", (("f", "image", "eq", evil, False), ("or", (("f", "x')\n", "sw", "a", True),
                                                              ("f", "x')\n", "sw", "b", True)))))
    text, consts = codegen.generate(tree)
    assert evil not in text and "x')" not in text and evil in consts.values()
    fn = build(tree)
    assert fn(Event({"image": evil, "x')\n": "b"})) is True
    assert fn(Event({"image": evil, "x')\n": "c"})) is False


def test_too_deep_a_tree_falls_back_to_closures():
    tree = ("f", "a", "eq", "v", False)
    for _ in range(codegen.MAX_DEPTH + 5):
        tree = ("not", ("not", tree))
    fn = build(tree)
    assert fn.__code__.co_filename != "<sigma rule>"
    assert fn(Event({"a": "V"})) is True and fn(Event({"a": "w"})) is False


@pytest.mark.parametrize(("tree", "yes", "no"), [
    (("or", tuple(("f", "c", "ct", s, False) for s in ("ab", "cd", "ef"))), {"c": "xxCDxx"}, {"c": "acb"}),
    (("or", tuple(("f", "c", "ct", s, False) for s in "abcdefgh")), {"c": "zzH"}, {"c": "zzz"}),
    (("or", (("f", "c", "ct", "", False), ("f", "c", "ct", "q", False))), {"c": ""}, {}),
    (("or", (("f", "i", "ew", "\\a.exe", False), ("f", "i", "ew", "\\b.exe", False))), {"i": "C:\\B.EXE"},
     {"i": "b.exe"}),
    (("or", (("f", "i", "eq", "x", True), ("f", "i", "eq", "y", True))), {"i": "y"}, {"i": "Y"}),
    (("f", "n", "num", 4688, False), {"n": "0x1250"}, {"n": "4689"}),
    (("f", "r", "re", ("^a.*Z$", 0), True), {"r": "abcZ"}, {"r": "abcz"}),
    (("f", "g", "glob", ("^a.c$", 0), False), {"g": "a\nc"}, {"g": "abcd"}),
    (("not", ("f", "u", "null", None, False)), {"u": "set"}, {"u": ""}),
])
def test_each_inlined_form(tree, yes, no):
    fn = build(tree)
    assert fn.__code__.co_filename == "<sigma rule>"
    for raw, want in ((yes, True), (no, False)):
        ev = Event(raw)
        assert fn(ev) is want and closure(tree)(ev) is want


@pytest.mark.parametrize("tree", [("and", ()), ("or", ()), ("not", ("and", ())), ("and", (("or", ()),))])
def test_empty_groups_answer_as_the_closures(tree):
    """An 'and' of nothing is true and an 'or' of nothing false, as all() and any() of nothing: the
    generated text must not become an empty tuple (falsy) where the closure says True."""
    ev = Event({"a": "x"})
    assert build(tree)(ev) is closure(tree)(ev)


@pytest.mark.parametrize("value", ["* -e* JAB*", "*vault::*cred*", "C:\\*\\a?c.exe", "*x*y*", "* -e* *", "*?*"])
def test_wildcard_values_skip_the_search_without_their_longest_part(value):
    """A wildcard value's test looks for its longest plain part before the regex search (SigmaHQ's
    ' -e* JAB' alternatives: seven searches per command line before): the answer is the search's,
    in the closures and the generated function alike."""
    import re

    from sigma.types import SigmaString

    from triage.sigma.compile import _string

    node = _string("f", "commandline", SigmaString(value), False)
    assert node[2] == "glob"
    rx = re.compile(node[3][0], re.DOTALL)
    samples = ["powershell -enc JABzAA==", "powershell -e  jab", "x -e y", "vault::cred /patch", "VAULT::CRED",
               "c:\\windows\\abc.exe", "c:\\x\\a.c.exe", "xy", "yx", "", " -e", "plain"]
    tests = [closure(node), codegen.rule_function(node)]
    assert "<sigma rule>" in tests[1].__code__.co_filename  # generated, not the closures again
    for v in samples:
        want = rx.search(v.lower()) is not None
        for t in tests:
            assert t(Event({"commandline": v})) == want, (value, v)


@pytest.mark.parametrize("parts", [["\u00e4", "\u00ae"], ["\u02e3", "\u02ea", "x\u02eb", "\U0001f600", "\u00a0"] * 3,
                                   ["\u00e4", "plain"]])
def test_non_ascii_alternatives_skip_ascii_values(parts):
    """'contains' alternatives that all hold a non-ASCII character answer False on an ASCII value
    without a search; other values as before, closures and generated functions alike."""
    node = ("or", tuple(("f", "commandline", "ct", p, False) for p in parts))
    tests = [closure(node), codegen.rule_function(node)]
    for v in ["plain ascii", "x\u02eb y", "caf\u00e4", "\U0001f600!", "no\u00a0break", "\u00e9t\u00e9", ""]:
        want = any(p in v for p in parts)
        for t in tests:
            assert t(Event({"commandline": v})) == want, (parts, v)
