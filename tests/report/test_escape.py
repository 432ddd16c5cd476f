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
