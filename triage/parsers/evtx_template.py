"""Message templates for typed events: ``{field}`` and optional ``[...]`` segments.

Why a template rather than an f-string per event: Windows leaves many fields empty ('-', '') —
command-line auditing off, a driver service without an account, a 4688 whose subject is the
kernel — and a message must then leave that part out instead of printing '?'. A template says
which parts are optional once, and a reviewer reads the message next to the field table.

Syntax: ``{name}`` is a field (``{a|b}``: the first of a, b that has a value); ``[text {name}]``
is dropped when any field inside it has no value. A field outside brackets without a value reads
``(unknown)``. Values are single-lined and cut at MAX_VALUE characters.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

MAX_VALUE = 300
UNKNOWN = "(unknown)"
_FIELD = re.compile(r"\{([A-Za-z0-9_|]+)\}")
_SEGMENT = re.compile(r"\[([^\[\]]*)\]")


def _value(f: dict[str, Any], names: tuple[str, ...]) -> str | None:
    for name in names:
        v = f.get(name)
        if v is None:
            continue
        if type(v) is not str:  # the common case (str) is tested first, cheaply
            if v == [] or v == {} or v == ():
                continue
            v = ", ".join(str(x) for x in v) if isinstance(v, list | tuple) else str(v)
        if not v:
            continue
        if "\n" in v or "\r" in v or "\t" in v or "  " in v:
            v = " ".join(v.split())
        return v if len(v) <= MAX_VALUE else v[: MAX_VALUE - 1] + "…"
    return None


def _compile_part(text: str) -> list[str | tuple[str, ...]]:
    parts: list[str | tuple[str, ...]] = []
    pos = 0
    for m in _FIELD.finditer(text):
        if m.start() > pos:
            parts.append(text[pos:m.start()])
        parts.append(tuple(m.group(1).split("|")))
        pos = m.end()
    if pos < len(text):
        parts.append(text[pos:])
    return parts


def template(text: str) -> Callable[[dict[str, Any]], str]:
    """A describe() function for a Spec from a template (compiled once)."""
    segments: list[tuple[bool, list[str | tuple[str, ...]]]] = []
    pos = 0
    for m in _SEGMENT.finditer(text):
        if m.start() > pos:
            segments.append((False, _compile_part(text[pos:m.start()])))
        segments.append((True, _compile_part(m.group(1))))
        pos = m.end()
    if pos < len(text):
        segments.append((False, _compile_part(text[pos:])))

    def describe(f: dict[str, Any]) -> str:
        out: list[str] = []
        for optional, parts in segments:
            piece: list[str] = []
            for part in parts:
                if isinstance(part, str):
                    piece.append(part)
                    continue
                v = _value(f, part)
                if v is None:
                    if optional:
                        break
                    v = UNKNOWN
                piece.append(v)
            else:
                out.extend(piece)
        return "".join(out)

    describe.template = text  # type: ignore[attr-defined]
    return describe


def fields_of(text: str) -> set[str]:
    """Every field name a template reads (tests check each is extracted by its Spec)."""
    return {n for m in _FIELD.finditer(text) for n in m.group(1).split("|")}
