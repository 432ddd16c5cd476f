"""The longest literal every match of a regular expression contains, for a cheap test before the search.

SigmaHQ's regex rules on process command lines (token obfuscation, Raspberry Robin, SNAKE) have no
literal the pre-filter can use, so they run on every process-creation record; most command lines are
long and a backtracking ``search`` over each costs tens of microseconds. When the pattern's top level
is a sequence holding a run of plain characters (a backtick, ``"{``, ``${``), a record without that
run cannot match, and ``run in value`` (a C substring search) says so in well under a microsecond.

Only the top level is read (what is inside a group, a branch or a repeat may be absent from a match).
Under IGNORECASE a run counts only when it is made of ASCII characters that are not letters: case
folding leaves those alone (Python's folding maps a few non-ASCII letters onto ASCII ones).
"""

from __future__ import annotations

import re

try:
    from re import _parser as sre_parse  # Python 3.11+
except ImportError:  # pragma: no cover - older Pythons
    import sre_parse

_LITERAL = sre_parse.LITERAL


def required_literal(pattern: str, flags: int = 0) -> str | None:
    """The longest run of characters every match of ``pattern`` contains (None: none known)."""
    try:
        parsed = sre_parse.parse(pattern, flags)
    except (re.error, RecursionError, OverflowError, ValueError):
        return None
    folded = bool((parsed.state.flags | flags) & re.IGNORECASE)
    best, run = "", []
    for op, av in list(parsed) + [(None, None)]:  # a sentinel ends the last run
        if op is _LITERAL and not (folded and not _unfolded(chr(av))):
            run.append(chr(av))
            continue
        if len(run) > len(best):
            best = "".join(run)
        run = []
    return best or None


def _unfolded(ch: str) -> bool:
    """A character IGNORECASE matches only as itself."""
    return ch.isascii() and not ch.isalpha()
