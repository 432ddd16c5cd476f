"""Text bound for a terminal: hostile strings made inert, long messages shortened between words.

Why: host names, file names and error messages come from bundles collected on compromised
machines. Printed raw, an escape sequence in a host name can recolour, move the cursor, retitle the
window or hide the lines above it (and a bidi override can reverse what an analyst reads). Every
string that came from a bundle goes through :func:`safe` before it reaches stdout or stderr.
"""

from __future__ import annotations

import unicodedata

# Format characters that reorder or hide text (bidi embeddings/overrides/isolates, zero-width
# joiners are left alone: they do not move text around).
_BIDI = {0x200E, 0x200F, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069}


def _escape(ch: str) -> str:
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def safe(value: object) -> str:
    """``str(value)`` with control characters (C0, DEL, C1), bidi controls, line/paragraph separators
    and lone surrogates written as visible escapes (``\\x1b``, ``\\u202e``); a backslash stays as it
    is, so Windows paths read normally. Newlines and tabs are escaped too: one value, one line."""
    text = value if isinstance(value, str) else str(value)
    if text.isprintable() and not any(ord(c) in _BIDI for c in text):
        return text
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Cs", "Zl", "Zp") or ord(ch) in _BIDI:
            out.append(_escape(ch))
        else:
            out.append(ch)
    return "".join(out)


def shorten(text: str, width: int) -> str:
    """``text`` cut to at most ``width`` characters at a word boundary, with ``...`` when cut.

    Why not ``text[:width]``: a message cut mid-word ("the collection did no") reads as a different
    message. A single word longer than the width (a path, a hash) is cut inside it, still marked."""
    if len(text) <= width:
        return text
    cut = text[: max(1, width - 3)]
    space = cut.rfind(" ")
    if space >= width // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:") + "..."
