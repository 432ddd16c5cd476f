"""Which characters lower-case into which: what lets the pre-filter search a record's text as it is.

The rules compare ``value.lower()`` with lower-case literals; Hyperscan's caseless search folds ASCII
letters only. A text that holds a non-ASCII character whose lower case differs ('Ä', the Kelvin sign
that lower-cases to 'k', 'İ' to 'i' and a combining dot) could hold a literal only once lower-cased,
so such texts are lower-cased before the search (:func:`triage.sigma.prefilter._folded`). Lower-casing
a whole text costs ~4 us a Sysmon record (CPython's non-ASCII path), and Sysmon's records are
non-ASCII whenever they name a Microsoft binary's product ('Microsoft® Windows® Operating System';
'®' has no case): most of a Sysmon log. Only the characters whose lower case holds a character some
literal of the database holds matter; ``in`` tests for those few cost a fraction of that.

The map is Python's own (``str.lower`` over every code point: ~0.2 s), kept per Unicode version in the
cache directory beside the compiled rule sets.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable
from pathlib import Path

from triage.sigma.fastcache import read_private, write_private

_MAP: dict[str, str] | None = None


def uppers(cache: Path | None = None) -> dict[str, str]:
    """Character -> the non-ASCII characters whose lower case holds it (for 'k': the Kelvin sign;
    for 'ä': 'Ä'). From memory, the cache file, or worked out (and saved)."""
    global _MAP
    if _MAP is not None:
        return _MAP
    path = cache / f"unicase-{unicodedata.unidata_version}.json" if cache is not None else None
    found = _load(path) if path is not None else None
    if found is None:
        found = _build()
        if path is not None:
            write_private(path, json.dumps(found, ensure_ascii=True, sort_keys=True).encode("ascii"))
    _MAP = found
    return found


def _build() -> dict[str, str]:
    out: dict[str, set[str]] = {}
    for u in range(0x80, 0x110000):
        c = chr(u)
        low = c.lower()  # surrogates lower-case to themselves
        if low != c:
            for ch in low:
                out.setdefault(ch, set()).add(c)
    return {k: "".join(sorted(v)) for k, v in out.items()}


def _load(path: Path) -> dict[str, str] | None:
    """The saved map, if this user wrote it (a private directory, an own file) and it is well formed."""
    raw = read_private(path)
    if raw is None:
        return None
    try:
        data = json.loads(raw.decode("ascii"))
    except ValueError:  # (UnicodeDecodeError is one)
        return None
    if not isinstance(data, dict) or not all(isinstance(k, str) and len(k) == 1 and isinstance(v, str)
                                             for k, v in data.items()):
        return None
    return data


def fold_chars(literals: Iterable[str], cache: Path | None = None) -> str:
    """The non-ASCII characters whose lower case holds a character of one of ``literals``: a text
    without any of them holds a literal, ASCII case aside, exactly where its lower-cased form does
    (every other character either stays as it is or lower-cases to characters no literal holds, so
    no occurrence can cover it either way)."""
    table = uppers(cache)
    return "".join(sorted({u for ch in set("".join(literals)) for u in table.get(ch, "")}))
