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
        cls = v.__class__
        if cls is int:
            return str(v)
        if cls is not str:
            if cls is list or cls is tuple or cls is dict:
                if not v:
                    continue
                v = ", ".join(str(x) for x in v) if cls is not dict else str(v)
            else:
                v = str(v)
        if not v:
            continue
        if not v.isprintable() or "  " in v:
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


def _segments(text: str) -> list[tuple[bool, list[str | tuple[str, ...]]]]:
    segments: list[tuple[bool, list[str | tuple[str, ...]]]] = []
    pos = 0
    for m in _SEGMENT.finditer(text):
        if m.start() > pos:
            segments.append((False, _compile_part(text[pos:m.start()])))
        segments.append((True, _compile_part(m.group(1))))
        pos = m.end()
    if pos < len(text):
        segments.append((False, _compile_part(text[pos:])))
    return segments


def template(text: str) -> Callable[[dict[str, Any]], str]:
    """A describe() function for a Spec from a template, compiled once into straight-line Python
    (typed events are on the parser's per-record path: a generic interpreter loop cost ~10x more).
    Only the project's own template constants are compiled; names and literals go in via repr()."""
    lines = ["def describe(f):", "    out = []"]
    n = 0
    for optional, parts in _segments(text):
        names: list[tuple[str, tuple[str, ...]]] = []
        pieces: list[str] = []
        for part in parts:
            if isinstance(part, str):
                pieces.append(repr(part))
            else:
                var = f"v{n}"
                n += 1
                names.append((var, part))
                pieces.append(var)
        for var, alts in names:
            # fast path inline: a plain one-line string of fitting length is used as it is
            lines.append(f"    {var} = f.get({alts[0]!r})")
            lines.append(f"    if {var}.__class__ is not str or not {var} or len({var}) > {MAX_VALUE} "
                         f"or not {var}.isprintable() or '  ' in {var}:")
            lines.append(f"        {var} = _value(f, {alts!r})")
        if optional and names:
            cond = " and ".join(f"{var} is not None" for var, _ in names)
            lines.append(f"    if {cond}:")
            lines.append(f"        out.extend(({', '.join(pieces)},))")
        else:
            for var, _ in names:
                lines.append(f"    if {var} is None:")
                lines.append(f"        {var} = UNKNOWN")
            if pieces:
                lines.append(f"    out.extend(({', '.join(pieces)},))")
    lines.append("    return ''.join(out)")
    scope: dict[str, Any] = {"_value": _value, "UNKNOWN": UNKNOWN}
    exec("\n".join(lines), scope)  # our constants only, see the docstring
    describe = scope["describe"]
    describe.template = text
    return describe


def fields_of(text: str) -> set[str]:
    """Every field name a template reads (tests check each is extracted by its Spec)."""
    return {n for m in _FIELD.finditer(text) for n in m.group(1).split("|")}
