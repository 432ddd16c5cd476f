"""Escaping, time formatting and safe anchor ids for the report: everything that turns summary text
into markup goes through here.

Every string that came from a bundle is hostile until escaped: :func:`e` escapes it for text or a
quoted attribute value and makes control and bidirectional-override characters visible, so
'invoice\\u202egpj.exe' cannot pose as 'invoiceexe.jpg'. Anchor ids are derived (a digest or a
filtered slug), never raw bundle text, so a hostile name cannot forge or break a link.
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import lru_cache
from typing import Any

from triage.model import SEVERITIES

_SLUG = re.compile(r"[^a-z0-9_-]")
_BIDI_CHARS = [0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
_ESCAPES: dict[int, str] = {
    **{c: "\ufffd" for c in [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F]},
    **{c: f"[U+{c:04X}]" for c in _BIDI_CHARS},
    **{ord(k): v for k, v in {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;"}.items()},
}
_NEEDS_ESCAPE = re.compile("[" + "".join(re.escape(chr(c)) for c in _ESCAPES) + "]")
_NEEDS_TRANSLATE = re.compile("[" + "".join(re.escape(chr(c)) for c in _ESCAPES if chr(c) not in "&<>\"'") + "]")


class Raw(str):
    """Markup already escaped (made here, never taken from the bundle)."""


def e(value: Any) -> str:
    """HTML-escape anything for text or a quoted attribute value. Control characters show as U+FFFD
    and bidirectional overrides as a visible [U+202E] marker, so names cannot disguise themselves.

    One regex search lets the usual plain string through as it is (a big host's report escapes a
    quarter of a million strings). Text holding only markup characters (a command line's quotes)
    takes five C-speed ``str.replace`` calls, '&' first; ``str.translate`` with a dict looks every
    character up one by one, ten times slower on a 200-character command line, so it is kept for
    the rare text with control or bidirectional characters, where it does all three at once (the
    replacements of the first two contain nothing the third would escape)."""
    if value is None:
        return ""
    text = value if type(value) is str else str(value)
    if _NEEDS_ESCAPE.search(text) is None:
        return text
    if _NEEDS_TRANSLATE.search(text) is None:
        return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
                .replace("'", "&#x27;"))
    return text.translate(_ESCAPES)


escape = e
"""The same guard under a descriptive name, for pages other than the report (the fleet index)."""


# Bounded memos for the pure string functions a report calls again and again on the same values: one
# Sigma-matched record is shown in the Sigma section, in its finding's evidence, in the records view
# and in the off-network window, each time with its anchor and its time. A fleet run renders host
# after host in one process, so the memos are bounded (least recently used dropped) and each page
# starts them empty (:func:`fresh_memos`): a page's cost does not depend on what was rendered before.
_MEMO = 8192


def fresh_memos() -> None:
    """Empty the memos (called before and after rendering a page: nothing of a page stays behind)."""
    _ts.cache_clear()
    _digest.cache_clear()
    _ep.cache_clear()


def ep(value: Any) -> str:
    """:func:`e` for a path, a registry key or a URL: a line may break after each separator, so a
    long path wraps at its folders instead of mid-name. (Memoised per page: every record of a log
    names the same member.)"""
    return _ep(value) if type(value) is str else _ep_plain(value)


def _ep_plain(value: Any) -> str:
    return e(value).replace("/", "/<wbr>").replace("\\", "\\<wbr>")


_ep = lru_cache(maxsize=_MEMO)(_ep_plain)


_SEV_OF = {**{s: s for s in SEVERITIES}, "informational": "info"}


def sev(value: Any) -> str:
    """A severity from the summary, or 'info' for anything unknown (never raw text in a class).
    (The usual exact spelling is looked up at once: a Sigma finding's level is asked for in every
    section that lists it.)"""
    if type(value) is str and value in _SEV_OF:
        return _SEV_OF[value]
    s = str(value or "").lower()
    s = {"informational": "info"}.get(s, s)
    return s if s in SEVERITIES else "info"


def ts(value: Any) -> Raw:
    """ISO time shortened for tables ('2024-05-01 13:04:05Z'), escaped."""
    if not value:
        return Raw("")
    return _ts(value if type(value) is str else str(value))


@lru_cache(maxsize=_MEMO)
def _ts(text: str) -> Raw:
    s = text.replace("T", " ")
    if "." in s and s.endswith("Z"):
        s = s.split(".")[0] + "Z"
    return Raw(f'<span class="ts">{e(s)}</span>')


def json_island(obj: Any) -> str:
    """JSON for a <script type="application/json"> block: '<', '>', '&' and line separators escaped,
    so '</script>' in a value cannot end the block."""
    text = json.dumps(obj, ensure_ascii=False, default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026") \
        .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def plural(n: Any, word: str, many: str | None = None) -> str:
    """'1 record', '2 records', '0 records'; ``many`` for irregular plurals."""
    count = n if isinstance(n, int) else 0
    return f"{n} {word if count == 1 else (many or word + 's')}"


def slug(value: Any, limit: int = 60) -> str:
    """A lower-case [a-z0-9_-] slug of a name we made (an artifact name, a finding id)."""
    return _SLUG.sub("-", str(value).lower())[:limit]


def digest_id(prefix: str, *parts: Any) -> str:
    """A stable id for an element from hostile parts: a prefix and a 12-hex digest, nothing else."""
    return _digest(prefix, "\x00".join("" if p is None else str(p) for p in parts))


@lru_cache(maxsize=_MEMO)
def _digest(prefix: str, joined: str) -> str:
    return f"{prefix}-{hashlib.sha256(joined.encode('utf-8', 'replace')).hexdigest()[:12]}"


def record_anchor(ev: dict[str, Any]) -> str:
    """The id of an evidence record's row in the records view (same record, same id, wherever cited):
    ``digest_id("rec", member, locator, time)``, its key spelled out (a record is anchored in four
    sections of a page)."""
    bp, loc, when = ev.get("bundle_path"), ev.get("locator"), ev.get("time") or ev.get("timestamp")
    return _digest("rec", f"{'' if bp is None else bp}\x00{'' if loc is None else loc}\x00{'' if when is None else when}")


def finding_anchor(finding_id: Any) -> str:
    return "finding-" + slug(finding_id, 24)
