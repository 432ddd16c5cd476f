"""One JSON line per timeline row, from one C encoder made once.

Why: ``json.JSONEncoder.encode`` builds a new C encoder (and a circular-reference dict) on every
call; a timeline writes one line per row, tens of thousands per host, and that set-up was about as
costly as the encoding itself. The encoder made here is the one ``JSONEncoder(ensure_ascii=False)``
builds for each call (same separators, same string and float rules), so every line is byte for byte
what ``encode`` gives. Without circular-reference checks: the rows are flat dicts this package made.
"""

from __future__ import annotations

import json
import json.encoder as _enc
from collections.abc import Callable
from typing import Any

_PLAIN = json.JSONEncoder(ensure_ascii=False)


def _make() -> Callable[[Any], str]:
    c_make = getattr(_enc, "c_make_encoder", None)
    if c_make is None:  # pragma: no cover - CPython without the _json accelerator
        return _PLAIN.encode
    chunks = c_make(None, _PLAIN.default, _enc.encode_basestring, None, _PLAIN.key_separator,
                    _PLAIN.item_separator, _PLAIN.sort_keys, _PLAIN.skipkeys, _PLAIN.allow_nan)
    return lambda obj: "".join(chunks(obj, 0))


encode: Callable[[Any], str] = _make()
"""``json.JSONEncoder(ensure_ascii=False).encode(obj)``, faster for many small flat objects."""
