"""One HTML escaping for every page: controls and bidirectional overrides cannot disguise a name."""

from __future__ import annotations

from triage.fleet import index
from triage.report import html
from triage.report.escape import escape


def test_markup_controls_and_bidi():
    assert escape("<script>\"'&") == "&lt;script&gt;&quot;&#x27;&amp;"
    assert escape("invoice\u202egpj.exe") == "invoice[U+202E]gpj.exe"
    assert escape("a\u2066b\u200fc") == "a[U+2066]b[U+200F]c"
    assert escape("bell\x07nul\x00") == "bell\ufffdnul\ufffd"
    assert escape(None) == "" and escape(5) == "5"


def test_the_report_and_the_fleet_index_use_it():
    assert html.e is escape
    assert index.esc is escape   # the fleet index lacked the bidi guard before


def _reference(value: object) -> str:
    """The escaping spelled out step by step (controls, bidi overrides, then the stdlib's HTML escape)."""
    import html as stdlib_html
    import re

    if value is None:
        return ""
    text = re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", "\ufffd", str(value))
    text = re.sub("[\u200e\u200f\u202a-\u202e\u2066-\u2069]", lambda m: f"[U+{ord(m.group()):04X}]", text)
    return stdlib_html.escape(text, quote=True)


def test_the_one_pass_escape_equals_the_step_by_step_one():
    """escape() runs behind a regex guard, as five replaces (markup only) or one translate table
    (controls, bidi); every character up to U+2FFF, alone and between others, and mixed strings,
    must come out as the three steps made them."""
    import random

    values: list[object] = [None, 7, 2.5, b"<b>", "", "plain", "x" * 300]
    for c in range(0x3000):
        values += [chr(c), f"ab{chr(c)}cd"]
    rng = random.Random(19)
    alphabet = [chr(c) for c in [*range(0x80), 0x200E, 0x200F, 0x202A, 0x202E, 0x2066, 0x2069, 0xFFFD, 0xE9]]
    values += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(3000)]
    assert [escape(v) for v in values] == [_reference(v) for v in values]


def test_both_escape_paths_on_long_command_lines():
    """A command line with quotes and redirections (markup only: the replace path) and the same
    with a control or a bidi character (the translate path) escape as the reference does."""
    line = 'cmd.exe /c "C:\\TMP\\mim.exe sekurlsa::LogonPasswords > C:\\TMP\\o.txt" & echo \'<done>\' ' * 4
    for value in (line, line + "\x07", "\u202e" + line, "&amp;" + line, line.replace("&", "&&")):
        assert escape(value) == _reference(value)
    assert escape('"&lt;"') == "&quot;&amp;lt;&quot;"  # '&' first: an entity in the text is escaped, not kept


def test_record_anchors_are_digests_and_the_memo_is_per_page_and_bounded():
    import hashlib

    from triage.report import escape as esc

    ev = {"bundle_path": "files/Sysmon.evtx", "locator": "record 5", "time": "2022-03-10T20:51:50Z"}
    want = "rec-" + hashlib.sha256(b"files/Sysmon.evtx\x00record 5\x002022-03-10T20:51:50Z").hexdigest()[:12]
    assert esc.record_anchor(ev) == esc.record_anchor(dict(ev)) == want
    assert esc.record_anchor({"bundle_path": None, "locator": "x", "timestamp": 5}) == esc.digest_id("rec", "", "x", "5")
    assert esc.ts("2022-03-10T20:51:50.5Z") == '<span class="ts">2022-03-10 20:51:50Z</span>'
    assert esc.ts(None) == "" and esc.ts("<b>") == '<span class="ts">&lt;b&gt;</span>'
    assert esc.ep("C:\\<x>/y") == "C:\\<wbr>&lt;x&gt;/<wbr>y" == esc.ep("C:\\<x>/y")  # memoised, same text
    assert esc.ep(None) == "" and esc.ep(3) == "3"
    for i in range(esc._MEMO + 100):
        esc.record_anchor({"bundle_path": "m", "locator": f"record {i}"})
    assert esc._digest.cache_info().currsize == esc._MEMO  # bounded: a fleet renders host after host
    summary = {"host": {"hostname": "h"}, "findings": [{"id": "F1", "rule": "r", "severity": "high", "title": "t",
                                                        "evidence": [ev]}]}
    page = html.render(summary)  # the memos are emptied before and after a page: nothing of it stays
    assert esc._digest.cache_info().currsize == esc._ep.cache_info().currsize == esc._ts.cache_info().currsize == 0
    assert f'href="#{want}"' in page and f'id="{want}"' in page
    esc.record_anchor({"bundle_path": "files/Sysmon.evtx"})
    assert html.render(summary) == page


def test_severity_classes_from_any_spelling():
    from triage.report.escape import sev

    cases = {"high": "high", "HIGH": "high", "informational": "info", "Informational": "info", "info": "info",
             "critical": "critical", "Medium": "medium", "low": "low", "bogus": "info", "": "info", None: "info",
             3: "info", " low": "info", "<b>": "info"}
    assert {k: sev(k) for k in cases} == cases
