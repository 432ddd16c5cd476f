"""Answers of a bucket's always-evaluated rules, remembered by the values they read.

Rules with only negative conditions have no literal to pre-filter on, so every record of their
bucket is decoded and tested: SigmaHQ's firewall rules ('a rule was added/deleted, not by svchost,
not for Program Files') read two or three fields of every 2004/2006 record. Those fields repeat:
on museum-win10-aptsimulatorvm 529 rule-added records hold 8 distinct (Action, ApplicationPath,
ModifyingApplication) triples, 156 rule-deleted records 2 ModifyingApplication values. A record
whose only candidates are such rules is answered from the values its rules read, taken from the
JSON text without decoding it; the first record with those values is evaluated as usual, and so is
every record that matches (its sample needs the whole record).

The values taken are exactly the ones the decoded record gives its rules, or the record is
evaluated as usual: the text must be ASCII (offsets then agree with the lower-cased copy searched),
the payload must be a flat EventData object (no nested object or list, no UserData), each name read
must occur at most once in the whole record in any letter case (not in the System block, not twice
in EventData) and its value must be a JSON string, integer, boolean or null; the names read must
be payload fields, not System ones nor the 4688 fields the engine derives. The rules' tests of
their bucket's own channel and event id are the same for every record of the bucket.
"""

from __future__ import annotations

import json
from typing import Any

from triage.sigma.lean import DERIVED, DERIVED_FROM, Keeper
from triage.sigma.match import SYSTEM_FIELDS

# Names whose value may come from the System block (Execution/@ProcessID, the unnamed 'Data'
# list...) or that the engine derives: records read through them are evaluated as usual.
NOT_PAYLOAD = SYSTEM_FIELDS | DERIVED | DERIVED_FROM | {"processid", "data"}
BUCKET_KEYED = frozenset({"eventid", "channel"})
# Distinct value tuples remembered per bucket (bounded: cleared when full).
MAX_VERDICTS = 4096
_ABSENT = "\x00absent"  # a name the record does not have (not the same as a null value)
_DECODE = json.JSONDecoder().raw_decode
_EVENTDATA = '"eventdata":{'


def names(keep: Any) -> tuple[str, ...] | None:
    """The payload names a filter reads, when records read through it can be answered from their
    values (None: they cannot)."""
    if not isinstance(keep, Keeper) or keep.spaced:
        return None
    read = keep.need - BUCKET_KEYED
    if not read or read & NOT_PAYLOAD or any(not n.isascii() or '"' in n or "\\" in n for n in read):
        return None
    return tuple(sorted(read))


def values(data: str, read: tuple[str, ...]) -> tuple[Any, ...] | None:
    """The values of ``read`` (lower-case names) in a record's JSON text as flatten gives them (None
    for JSON null, a marker for a name the record lacks), or None when the text is not the plain
    shape this reads safely."""
    if not data.isascii() or not data.endswith("}}"):  # (the engine's JSON ends a record so)
        return None
    low = data.lower()
    start = low.find(_EVENTDATA)
    if start < 0 or '"userdata":' in low:
        return None
    body = start + len(_EVENTDATA)
    if low.find('":{', body) >= 0 or low.find('":[', body) >= 0:
        return None  # a nested value: flatten renders it, this does not
    out: list[Any] = []
    for name in read:
        key = f'"{name}":'
        i = low.find(key)
        if i < 0:
            out.append(_ABSENT)
            continue
        if i < body or low.find(key, i + 1) >= 0:
            return None  # in the System block, or twice (in any letter case)
        try:
            v, _ = _DECODE(data, i + len(key))
        except ValueError:
            return None
        if isinstance(v, bool):
            v = "true" if v else "false"
        elif isinstance(v, int):
            v = str(v)
        elif v is not None and not isinstance(v, str):
            return None  # a float's text is the decoder's business: evaluate as usual
        out.append(v)
    return tuple(out)


class Verdicts:
    """Per bucket: the candidate list of its always-evaluated rules -> the names they read, and
    the values read -> whether any of those rules matched."""

    __slots__ = ("read", "seen")

    def __init__(self) -> None:
        self.read: tuple[str, ...] | None | bool = False  # False: not worked out yet
        self.seen: dict[tuple[Any, ...], bool] = {}

    def remember(self, key: tuple[Any, ...], matched: bool) -> None:
        if len(self.seen) >= MAX_VERDICTS:
            self.seen.clear()
        self.seen[key] = matched
