"""Which process a YARA hit on volatile data belongs to.

Why: a hit on ``volatile/processes.json`` (the live process list: pid, name, image path, command
line of every process) says only "this file matched"; the responder needs the process. The matched
string's offset falls inside one element of the JSON list, and that element names the process
(pid, name, image). Connections (``volatile/connections.json``) name the owning pid and process too.

Bounded: members above :data:`MAX_BYTES` and lists beyond :data:`MAX_ENTRIES` elements are not
attributed (the hit stays, without a process). The bundle is only read.
"""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

MAX_BYTES = 64 * 1024 * 1024
MAX_ENTRIES = 200_000
_WS = " \t\r\n"


def element_spans(text: str) -> list[tuple[int, int, Any]]:
    """(start, end, value) in characters of each element of a top-level JSON list; [] when the
    text is not a list. Raises ValueError on broken JSON."""
    return list(_elements(text))


def _elements(text: str) -> Iterator[tuple[int, int, Any]]:
    """The elements one by one, so a lookup stops at its element (before a truncated tail)."""
    i = len(text) - len(text.lstrip(_WS))
    if not text.startswith("[", i):
        return
    dec = json.JSONDecoder()
    i += 1
    for _ in range(MAX_ENTRIES):
        while i < len(text) and text[i] in _WS:
            i += 1
        if i >= len(text) or text[i] == "]":
            break
        value, end = dec.raw_decode(text, i)
        yield i, end, value
        i = end
        while i < len(text) and text[i] in _WS:
            i += 1
        if i < len(text) and text[i] == ",":
            i += 1


def process_at(data: bytes, offset: int, member: str) -> dict[str, Any] | None:
    """The process whose list element holds byte ``offset`` of ``data``, or None."""
    text = data.decode("utf-8", "replace")
    at = len(data[:max(offset, 0)].decode("utf-8", "ignore"))
    for index, (start, end, value) in enumerate(_elements(text)):
        if start <= at < end:
            if not isinstance(value, dict) or value.get("pid") is None:
                return None
            return {"pid": value.get("pid"), "name": value.get("name") or value.get("process"),
                    "exe": value.get("exe"), "bundle_path": member, "locator": f"element {index}"}
    return None


def attribute(hits: list[Any], bundle: str | Path) -> list[Any]:
    """``hits`` with ``process`` set on each raw hit in a volatile/*.json member whose first matched
    string lies in one process's element; other hits are returned unchanged."""
    todo: dict[str, list[int]] = defaultdict(list)
    for n, h in enumerate(hits):
        member = getattr(getattr(h, "source", None), "bundle_path", "") or ""
        if member.startswith("volatile/") and member.endswith(".json") and getattr(h, "target", "") == "file" \
                and getattr(h, "strings", ()):
            todo[member].append(n)
    if not todo:
        return hits
    from triage.bundle.reader import BundleReader

    out = list(hits)
    with BundleReader(bundle) as reader:
        for member, idx in todo.items():
            try:
                with reader.open(member) as fh:
                    data = fh.read(MAX_BYTES + 1)
            except (OSError, KeyError, ValueError):  # unreadable member: the hits stay, unattributed
                continue
            if len(data) > MAX_BYTES:
                continue
            for n in idx:
                try:
                    proc = process_at(data, int(out[n].strings[0][1]), member)
                except (ValueError, TypeError, IndexError):
                    proc = None
                if proc is not None:
                    out[n] = dataclasses.replace(out[n], process=proc)
    return out
