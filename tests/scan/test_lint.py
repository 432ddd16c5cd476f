"""The rule linter and ``triage rules check``: what it flags, what it leaves alone, and how broken
rule files are reported while the others still load."""

from __future__ import annotations

import pytest

from triage.cli import main
from triage.scan.lint import (
    LintSyntaxError,
    analyze_hex,
    analyze_regex,
    lint_text,
    parse_rules,
    text_bytes,
    tokenize,
)
from triage.scan.rules import compile_rules

META = '''description = "d" severity = "high" attack = "T1059.001" reference = "https://x" date = "2026-01-02"'''


def rule(strings: str, meta: str = META, name: str = "r") -> str:
    return f"rule {name} {{ meta: {meta} strings: {strings} condition: any of them }}"


def codes(text: str) -> list[str]:
    return sorted(m.code for m in lint_text(text))


def test_tokenizer_handles_comments_escapes_regex_and_hex():
    src = '''// a comment with "quotes" and /slashes/
    /* block
       comment */ rule a : t1 t2 {
      meta: description = "say \\"hi\\" // not a comment" n = -3 b = true
      strings:
        $r = /a\\/b[/x]c/is
        $h = { 4D 5A [2-4] ( 90 | 91 ) ?? 00 }  // hex
        $t = "x\\x41y" wide
      condition: $r and $h and #t > 1
    }'''
    toks = tokenize(src)
    assert [t.kind for t in toks if t.kind in ("regex", "hex")] == ["regex", "hex"]
    regex = next(t for t in toks if t.kind == "regex")
    assert regex.value == "a\\/b[/x]c" and regex.extra == "is"
    (r,) = parse_rules(src)
    assert r.name == "a" and r.tags == ["t1", "t2"] and r.line == 3
    assert r.meta == {"description": 'say \\"hi\\" // not a comment', "n": -3, "b": True}
    assert [s.identifier for s in r.strings] == ["$r", "$h", "$t"]
    assert r.strings[2].modifiers == ["wide"]
    assert text_bytes(r.strings[2].value) == b"xAy"


def test_regex_in_a_condition_is_not_mistaken_for_code():
    src = rule('$a = "abcdef"').replace("any of them", 'any of them and "x" matches /["]{1,2}a/')
    assert lint_text(src) == []


def test_unterminated_input_is_a_syntax_error_not_a_crash():
    with pytest.raises(LintSyntaxError):
        tokenize('rule a { strings: $a = "abc')
    msgs = lint_text("rule a { strings: $a = /abc")
    assert [m.code for m in msgs] == ["syntax"]


@pytest.mark.parametrize("regex, best, unbounded", [
    (r"cmd.*exe", 3, [".*"]),
    (r"powershell[^\r\n]{0,100}-enc", 10, []),
    (r"certutil(\.exe)? +-urlcache", 9, []),
    (r"abc|defgh", 3, []),                         # the weaker alternative counts
    (r"(a|b)c", 1, []),
    (r"[a-z2-7]{56}\.onion", 6, []),
    (r"\\\\[^\\]+\\pipe", 5, [r"[^\\]+"]),
    (r"evil\S{2,}x", 4, [r"\S{2,}"]),
    (r"a.+?bcdef", 5, [".+?"]),
    (r"x{2,}abcd", 4, []),                         # a repeated literal is cheap: not flagged
])
def test_regex_analysis(regex, best, unbounded):
    rep = analyze_regex(regex)
    assert rep.best_literal == best
    assert rep.unbounded == unbounded


def test_hex_analysis():
    assert analyze_hex("4D 5A 90 00 03") == (5, False, False)
    assert analyze_hex("?? 4D 5A") == (2, True, False)
    assert analyze_hex("4D 5A [4-] 90 00 03 00") == (4, False, True)
    assert analyze_hex("[2] 4D 5A 90 00") == (4, True, False)
    assert analyze_hex("4D 5A ( 90 | 91 ) 00 03 // tail\n 00 00") == (4, False, False)


def test_clean_rule_has_no_messages():
    assert lint_text(rule('$a = "Invoke-Mimikatz" ascii wide nocase $b = /certutil[^\\r\\n]{0,40}urlcache/')) == []


def test_bad_rule_is_flagged():
    bad = rule('$a = "ab" $b = /cmd.*exe/ $c = { ?? 4D 5A } $d = "hello" nocase $e = { 4D 5A 90 00 [2-] 00 }',
               meta='description = "x" severity = "bogus" attack = "1059" date = "2026/01/02"')
    assert codes(bad) == sorted([
        "meta-missing",                               # reference
        "meta-severity", "meta-attack", "meta-date",
        "short-atom",                                 # $a
        "short-atom", "unbounded-regex",              # $b
        "short-atom", "hex-leading-wildcard",         # $c
        "nocase-short",                               # $d
        "unbounded-jump",                             # $e
    ])
    by_string = {m.string: m for m in lint_text(bad) if m.string}
    assert by_string["$b"].rule == "r" and by_string["$b"].severity == "warning"
    errors = [m for m in lint_text(bad) if m.severity == "error"]
    assert {m.code for m in errors} == {"meta-missing", "meta-severity", "meta-attack", "meta-date"}


def test_every_required_meta_is_checked():
    msgs = lint_text(rule('$a = "abcdef"', meta=""))
    assert sorted(m.message for m in msgs) == sorted(
        f"missing meta '{k}'" for k in ("description", "severity", "attack", "reference", "date"))


def test_base64_modifier_counts_encoded_length():
    assert codes(rule('$a = "abc" base64')) == ["short-atom"]
    assert codes(rule('$a = "Invoke-Expression" base64')) == []


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def test_rules_check_passes_on_the_pack(capsys, cache):
    assert main(["rules", "check", "--strict"]) == 0
    out = capsys.readouterr().out
    assert "0 error(s), 0 warning(s)" in out


def test_rules_check_flags_a_bad_rule_and_a_broken_file(tmp_path, capsys, cache):
    (tmp_path / "slow.yar").write_text(
        'rule slow { meta: description = "d" strings: $a = "ab" $b = /cmd.*exe/ condition: any of them }\n')
    (tmp_path / "broken.yar").write_text('rule broken { strings: $a = "abcdef" condition: $a and $missing }\n')
    (tmp_path / "good.yar").write_text(rule('$a = "TRIAGE-GOOD-RULE"', name="good") + "\n")
    assert main(["rules", "check", "--rules", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "broken.yar" in out and "does not compile" in out and "$missing" in out
    assert "[meta-missing] missing meta 'severity'" in out
    assert "slow $a warning [short-atom]" in out
    assert "slow $b warning [unbounded-regex]" in out
    assert "yara:" in out  # yara's own slow-pattern warning for /cmd.*exe/
    assert "good" not in [ln.split()[2] for ln in out.splitlines() if ln.startswith(str(tmp_path))]

    # the rest still load: the good rule and the pack compile and match
    compiled = compile_rules([tmp_path])
    assert [i.source.bundle_path for i in compiled.issues] == [str(tmp_path / "broken.yar")]
    assert "user/good" in {f.namespace for f in compiled.loaded}
    hits = compiled.rules.match(data=b"xx TRIAGE-GOOD-RULE xx")
    assert [(m.namespace, m.rule) for m in hits] == [("user/good", "good")]


def test_rules_check_warnings_only_fail_with_strict(tmp_path, capsys, cache):
    (tmp_path / "w.yar").write_text(rule('$a = /evil[^"]+x/', name="w") + "\n")
    assert main(["rules", "check", "--no-pack", "--rules", str(tmp_path / "w.yar")]) == 0
    assert main(["rules", "check", "--no-pack", "--strict", "--rules", str(tmp_path / "w.yar")]) == 1
    assert "unbounded-regex" in capsys.readouterr().out


def test_rules_list_names_namespace_and_severity(capsys, cache):
    assert main(["rules", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    row = next(ln.split("\t") for ln in lines if "\tCredTheft_Mimikatz_Commands\t" in ln)
    assert row[0] == "pack/credential_theft/mimikatz" and row[2] == "critical"


def test_a_loop_over_every_match_with_a_range_test_inside_is_flagged():
    """for any i in (1..#a) with '#b in (...)' inside costs #a x #b: a hostile file full of both
    strings drives the scan to its timeout; bounded loops and plain loops are left alone."""
    strings = '$a = "VirtualAlloc" $b = "CreateThread"'
    quadratic = rule(strings).replace(
        "any of them", "for any i in (1..#a) : (#b in (@a[i] - 65536 .. @a[i] + 65536) > 0)")
    bounded = quadratic.replace("(1..#a)", "(1..math.min(#a, 100))")
    plain = rule(strings).replace("any of them", "for any i in (1..#a) : (@a[i] < 1000)")
    assert codes(quadratic) == ["unbounded-loop"]
    assert codes('import "math" ' + bounded) == [] and codes(plain) == []
    import yara

    yara.compile(source='import "math" ' + bounded)  # the bounded form is what yara accepts
