"""A regex test skips the search when the value lacks a run of characters every match contains:
the run must really be in every match (top level only; letters never under IGNORECASE)."""

from __future__ import annotations

import re

import pytest

from triage.sigma.regex_literal import required_literal


@pytest.mark.parametrize(("pattern", "flags", "expected"), [
    (r"\w+`(?:\w+|-|.)`[\w+|\s]", 0, "`"),          # SigmaHQ token obfuscation
    (r'"(?:\{\d\})+"\s*-f', 0, "-f"),
    (r"(?i)\$\{`?e`?n`?v", 0, "${"),                # inline IGNORECASE: only non-letters count
    (r"\s[a-fA-F0-9]{64}\s[a-fA-F0-9]{16}", 0, None),
    (r"abc|def", 0, None),                         # a top-level branch: neither run is required
    (r"(?i)abc", 0, None),
    (r"abc", re.IGNORECASE, None),
    (r"x(abc)?y", 0, "x"),                         # inside an optional group: not required
    (r"a?bcd", 0, "bcd"),
    (r"(?x) a b c  # verbose", 0, "abc"),
    (r"[unclosed", 0, None),                       # not a pattern: nothing known, no error
])
def test_required_literal(pattern, flags, expected):
    assert required_literal(pattern, flags) == expected


SAMPLES = ["po`wer`shell -c x", 'cmd /c "{0}{1}" -f a', "${env:path}", "${ENV:PATH}", "EXE ${e`nv}",
           "plain command line", "X\\Y", "k\u212a", "abc", "ABC", "xy", "xabcy", "abcd bcd"]


@pytest.mark.parametrize(("pattern", "flags"), [
    (r"\w+`(?:\w+|-|.)`[\w+|\s]", 0), (r'"(?:\{\d\})+"\s*-f', 0), (r"(?i)\$\{`?e`?n`?v", 0),
    (r"(?i)k", 0), (r"x(abc)?y", 0), (r"a?bcd", 0), (r"(?i)X\\y", 0),
])
def test_no_match_without_the_literal(pattern, flags):
    """The shortcut never drops a match: every value the regex matches holds the run."""
    lit = required_literal(pattern, flags)
    rx = re.compile(pattern, flags)
    for v in SAMPLES:
        if rx.search(v):
            assert lit is None or lit in v, (pattern, v)
