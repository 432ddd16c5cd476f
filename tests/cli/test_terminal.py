"""Terminal text helpers (triage/terminal.py) and the exit-code table the README promises."""

from __future__ import annotations

import re
from pathlib import Path

from triage import exit_codes as X
from triage.terminal import safe, shorten

README = Path(__file__).resolve().parents[2] / "README.md"
PORTABLE_DOC = Path(__file__).resolve().parents[2] / "docs" / "portable-collector.md"


def test_safe_escapes_what_moves_the_terminal():
    assert safe("C:\\Users\\Public\\u.exe") == "C:\\Users\\Public\\u.exe"        # paths unchanged
    assert safe("Ümlaut ünïcödé 主机") == "Ümlaut ünïcödé 主机"                     # printable Unicode too
    assert safe("a\x1b[31mb\x07c\x9bd\x7f") == "a\\x1b[31mb\\x07c\\x9bd\\x7f"        # C0, C1 CSI, DEL
    assert safe("line1\nline2\tx\r") == "line1\\x0aline2\\x09x\\x0d"                 # one value, one line
    assert safe("report\u202egpj.exe\u2066") == "report\\u202egpj.exe\\u2066"          # bidi controls
    assert safe("\ud800") == "\\ud800" and safe(42) == "42"


def test_shorten_cuts_between_words():
    text = "bundle failed verification, refused (use --force to analyze anyway): no sidecar"
    assert shorten(text, 200) == text
    cut = shorten(text, 40)
    assert len(cut) <= 40 and cut.endswith("...") and text.startswith(cut[:-3])
    assert text[len(cut) - 3] in " ,;:"
    long_word = "x" * 50
    assert shorten(long_word, 20) == "x" * 17 + "..."


def test_readme_documents_every_exit_code():
    text = README.read_text(encoding="utf-8")
    section = text.split("### Exit codes", 1)[1].split("\n### ", 1)[0]
    table = next(block for block in section.split("\n\n") if block.startswith("| code |"))
    rows = {int(m.group(1)): m.group(2) for m in re.finditer(r"^\| (\d+) \| ([^|]+) \|", table, re.M)}
    assert set(rows) == set(X.MEANINGS)
    for code, meaning in X.MEANINGS.items():
        assert meaning in rows[code], (code, rows[code])


def test_portable_collector_doc_uses_the_same_codes():
    doc = PORTABLE_DOC.read_text(encoding="utf-8")
    exit_line = doc[doc.index("- *Exit:*"):].split("\n\n", 1)[0].split("\n- ", 1)[0]
    for code in (X.OK, X.EVIDENCE, X.USAGE, X.PARTIAL):
        assert f"{code} " in exit_line
