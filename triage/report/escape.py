"""HTML escaping for every page triage writes (report.html, the fleet's index.html): one home, so a
page cannot forget a guard.

Why more than ``html.escape``: names and values come from a suspect host. Control characters show as
U+FFFD, and bidirectional controls are shown as a visible ``[U+202E]`` marker: they make
'invoice\\u202egpj.exe' display as 'invoiceexe.jpg', a disguise the analyst must see through.
"""

from __future__ import annotations

import html
import re
from typing import Any

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_BIDI = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def escape(value: Any) -> str:
    """HTML-escape anything for text or a quoted attribute value; None is the empty string."""
    if value is None:
        return ""
    text = _CONTROL.sub("\ufffd", str(value))
    text = _BIDI.sub(lambda m: f"[U+{ord(m.group()):04X}]", text)
    return html.escape(text, quote=True)
