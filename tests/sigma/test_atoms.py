"""Which literals stand for a rule in the pre-filter (triage.sigma.compile.atoms): the most selective
sound choice. Every group a rule keeps must be one its matches satisfy (a record without any of its
literals cannot match); among the groups a rule offers, rare ones go first, and the searchers compare
text as the rules do, non-ASCII letters included."""

from __future__ import annotations

import json

import pytest

from triage.sigma import prefilter
from triage.sigma.compile import _usable, atoms, regex_literal
from triage.sigma.engine import event
from triage.sigma.match import build, make_bucket

needs_hyperscan = pytest.mark.skipif(prefilter.hyperscan is None, reason="hyperscan is not installed here")


def _f(field, op, arg):
    return ("f", field, op, arg, False)


@pytest.mark.parametrize("lit, usable", [
    ("^^", True), ("`", True), ("^", True), ("${", True), ('"{', True), ("abc", True), ("\u00ae", True),
    ("{", False), ("}", False), ("-f", False), ('"', False), ("\\", False), ("..", False), ("ab", False),
    ("^ ", False), ("", False)])
def test_short_literals_count_only_when_rare_punctuation(lit, usable):
    assert _usable(lit) is usable


@pytest.mark.parametrize("pattern, avoid, expected", [
    (r'"(?:\{\d\})+"\s*-f', "", '"{'),           # a repeat that runs at least once starts the run on
    (r"\w+`(?:\w+|-|.)`[\w+|\s]", "", "`"),
    (r"(?i)\$\{`?e`?n`?v`?:`?p`?a`?t`?h`?\}", "", "${"),
    (r"net\s+user\s+", "", "user"),
    (r"net\s+user\s+", '"user":\x00"commandline":', "net"),  # 'user' is in every record with a User field
    (r"\s[a-fA-F0-9]{64}\s[a-fA-F0-9]{16}", "", None),
    (r"(?:ab)*cde", "", "cde"),                  # a repeat that may run zero times adds nothing
    (r"abc|defg", "", None),                     # alternation at the top: nothing is required
])
def test_regex_literal_choices(pattern, avoid, expected):
    assert regex_literal(pattern, 0, avoid) == expected


def test_escape_rules_get_groups():
    """cmd's caret escapes and PowerShell's backtick obfuscation have literals the pre-filter can use:
    such rules no longer run on every process creation."""
    dosfuscation = ("or", tuple(_f("commandline", "ct", x) for x in ("^^", "^|^", ",;,", ";;;;", "%comspec:~")))
    assert atoms(dosfuscation) == [frozenset({"^^", "^|^", ",;,", ";;;;", "%comspec:~"})]
    tokens = ("or", (_f("commandline", "re", (r"\w+`(?:\w+|-|.)`[\w+|\s]", 0)),
                     _f("commandline", "re", (r'"(?:\{\d\})+"\s*-f', 0))))
    assert atoms(tokens) == [frozenset({"`", '"{'})]


def test_common_groups_give_way_to_rare_ones():
    # and: a group made of common values is dropped while a rarer one stands for the rule
    rule = ("and", (_f("image", "ct", "\\windows\\system32\\"), _f("commandline", "ct", "evil-switch")))
    assert atoms(rule) == [frozenset({"evil-switch"})]
    # or: the branch's rarer group stands for it (any one group of a branch is sound)
    rule = ("or", (("and", (_f("image", "ct", "\\windows\\"), _f("commandline", "ct", "\\..\\windows\\"))),
                   _f("commandline", "ct", ".exe\\..\\")))
    assert atoms(rule) == [frozenset({"\\..\\windows\\", ".exe\\..\\"})]
    # nothing rarer: the common group is kept (a weak pre-filter is still one)
    assert atoms(_f("image", "ct", "\\windows\\system32\\")) == [frozenset({"\\windows\\system32\\"})]


def test_user_and_integrity_groups_only_where_they_are_in_the_text():
    """Security 4688's User and IntegrityLevel are derived by the engine (not in the record's text as
    tested): no groups from them there; on Sysmon's process creation they are plain fields."""
    rule = ("and", (_f("user", "ct", "anonymous"), _f("parentimage", "ct", "\\appdata\\")))
    assert atoms(rule, derived=False) == [frozenset({"anonymous"})]
    assert atoms(rule, derived=True) == [frozenset({"\\appdata\\"})]


@needs_hyperscan
@pytest.mark.parametrize("value", ["\u00c4RGER im B\u00dcRO", "\u212aILL -9", "WM\u0130C process"])
def test_non_ascii_records_are_searched_as_the_rules_compare(value):
    """The rules compare ``value.lower()``: 'Ä' matches 'ä', the Kelvin sign 'k', 'İ' 'i'. Hyperscan
    folds ASCII only, so such a record is lower-cased before the search, by both searchers."""
    rules = {0: _f("commandline", "ct", "\u00e4rger"), 1: _f("commandline", "ct", "kill"),
             2: _f("commandline", "ct", "wmi")}
    tests = {i: build(t) for i, t in rules.items()}
    fields = {"CommandLine": value, "Channel": "Sysmon"}
    text = json.dumps({"Event": {"System": {"Channel": "Sysmon"}, "EventData": {"CommandLine": value}}},
                      ensure_ascii=False, separators=(",", ":"))
    want = [i for i, t in tests.items() if t(event(fields))]
    assert want  # each value matches one rule
    for kind in (prefilter.HyperscanSearcher, prefilter.RecordSearcher):
        b = make_bucket(sorted(rules), tests, {i: atoms(t) for i, t in rules.items()}, trees=rules)
        b.searcher = kind(b.searcher.literals)
        cands = b.candidates_many([text, '{"Event":{"EventData":{"X":"plain"}}}'])
        assert cands[1] is None
        assert cands[0] is not None and set(want) <= set(cands[0]), (kind.__name__, value)


@pytest.mark.parametrize("op, arg, form", [
    ("ew", "\\cmd.exe", '\x01\\\\cmd.exe"'),           # the end of some value, not anywhere
    ("sw", "c:\\temp\\", '\x01"c:\\\\temp\\\\'),       # the start of some value
    ("eq", "whoami.exe", '\x01"whoami.exe"'),
    ("ew", "1234", "1234"),                            # could end a bare number: plain
    ("eq", "true", "true"),
    ("eq", "a\nb", "a\nb"),                            # a list's items joined: plain
    ("ct", "x.exe", "x.exe"),
])
def test_value_tests_are_anchored_to_the_quotes(op, arg, form):
    assert atoms(_f("image", op, arg)) == [frozenset({form})]


@needs_hyperscan
@pytest.mark.parametrize("value", [
    "C:\\Windows\\System32\\cmd.exe", {"#text": "C:\\x\\CMD.EXE", "#attributes": {"a": 1}},
    ["first", "C:\\y\\cmd.exe"], "C:\\Program Files\\cmd.exe"])
def test_anchored_literals_find_every_value_the_test_matches(value):
    """An element with text or a list (flatten: its items joined) still ends with the quote."""
    from triage.sigma.flatten import flatten

    rule = {0: _f("image", "ew", "\\cmd.exe"), 1: _f("image", "sw", "c:\\"), 2: _f("commandline", "ct", "zzz")}
    tests = {i: build(t) for i, t in rule.items()}
    record = {"Event": {"System": {"Channel": "Sysmon"}, "EventData": {"Image": value, "CommandLine": "run cmd.exe now"}}}
    text = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
    want = [i for i, t in tests.items() if t(event(flatten(record)))]
    b = make_bucket(sorted(rule), tests, {i: atoms(t) for i, t in rule.items()}, trees=rule)
    got = b.candidates_many([text])[0] or []
    assert set(want) <= set(got)
    if isinstance(value, str):
        assert want == [0, 1]
    # a command line that mentions cmd.exe mid-value is no longer a candidate for Image|endswith
    other = json.dumps({"Event": {"System": {}, "EventData": {"Image": "C:\\x\\a.exe", "CommandLine": "cmd.exe /c"}}})
    assert 0 not in (b.candidates_many([other])[0] or [])


def test_fold_chars_cover_every_character_that_lower_cases_into_a_literal():
    """A non-ASCII text is searched as it is unless it holds a character whose lower case holds a
    character of some literal: checked against Python's own str.lower over every code point."""
    from triage.sigma.unicase import fold_chars

    literals = ["k\u00e4se", "wmi", "\u03c3\u03c9", "\u00df", "\u0430dmin"]  # käse, wmi, σω, ß, Cyrillic а
    fold = set(fold_chars(literals))
    chars = set("".join(literals))
    for u in range(0x80, 0x110000):
        c = chr(u)
        assert (c.lower() != c and bool(set(c.lower()) & chars)) == (c in fold), hex(u)
    # the Kelvin sign (k), 'İ' (i), 'Ä', the Ohm sign and 'Σ' (ω, σ), 'ẞ' (ß), Cyrillic 'А'
    assert {"\u212a", "\u0130", "\u00c4", "\u2126", "\u03a3", "\u1e9e", "\u0410"} <= fold
    assert "\u00ae" not in fold and "\u00c9" not in fold  # '®' has no case; 'é' is in no literal


@needs_hyperscan
@pytest.mark.parametrize("value", ["Microsoft\u00ae Windows\u00ae Operating System", "\u00c9T\u00c9 WINDOWS",
                                   "w\u0130ndows", "\u212aill WINDOWS"])
def test_texts_searched_as_they_are_find_what_lower_cased_texts_find(value):
    """'®' (no case) or 'É' (in no literal) leave the text as it is; the Kelvin sign or 'İ' (they
    lower-case into literals' letters) have it lower-cased: either way the same literals are found
    as in the lower-cased text."""
    literals = ["windows", "kill", "\u00e9t\u00e9", "\u00ae win"]
    text = json.dumps({"EventData": {"Product": value}}, ensure_ascii=False)
    for kind in (prefilter.HyperscanSearcher, prefilter.RecordSearcher):
        s = kind(literals)
        found = s.search([text]).get(0, set())
        want = {i for i, lit in enumerate(literals) if lit in text.lower()}
        assert found == want, (kind.__name__, value, found, want)


def test_case_map_is_kept_only_in_a_private_directory(tmp_path, monkeypatch):
    """The map is saved beside the compiled sets and read back only from a directory this user owns
    and nobody else can write (as the marshal companions): elsewhere it is worked out again."""
    import unicodedata

    from triage.sigma import unicase

    monkeypatch.setattr(unicase, "_MAP", None)
    cache = tmp_path / "cache"
    built = unicase.uppers(cache)
    saved = cache / f"unicase-{unicodedata.unidata_version}.json"
    assert saved.is_file() and unicase._load(saved) == built and built["k"] == "\u212a"
    cache.chmod(0o777)  # others may write here: the file is not trusted
    assert unicase._load(saved) is None
