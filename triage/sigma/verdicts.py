"""Answers of a bucket's always-evaluated rules, remembered by the values they read.

Rules with only negative conditions have no literal to pre-filter on, so every record of their
bucket is decoded and tested: SigmaHQ's firewall rules ('a rule was added/deleted, not by svchost,
not for Program Files') read two or three fields of every 2004/2006 record. Those fields repeat:
on museum-win10-aptsimulatorvm 529 rule-added records hold 8 distinct (Action, ApplicationPath,
ModifyingApplication) triples, 156 rule-deleted records 2 ModifyingApplication values. A record
whose only candidates are such rules is answered from the values its rules read, taken from the
JSON text without decoding it; the first record with those values is evaluated as usual, and so is
every record that matches (its sample needs the whole record).

A record is known by the JSON texts of the values its rules read, taken from its text without
decoding it: equal texts decode to equal values, so two records with the same texts get the same
answer (two texts of one value — an escaped letter — are just two keys). The texts are exactly the
ones the decoded record's fields come from, or the record is evaluated as usual: the text must be
ASCII (offsets then agree with the lower-cased copy searched), the payload must be one flat
EventData object, spelt so (what flatten reads; no nested object or list, no UserData), each name
read must occur at most once in the whole record in any letter case (not in the System block, not
twice in EventData) and as a key (after '{' or ','; the engine's JSON is compact); the names read
must be payload fields, not System ones nor the 4688 fields the engine derives. The rules' tests of
their bucket's own channel and event id are the same for every record of the bucket.

Why texts, not values: decoding each value (the JSON decoder's raw_decode) was half the cost of
answering a record, and a memo key needs no value, only a text equal texts of which mean equal
values.
"""

from __future__ import annotations

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
_EVENTDATA = '"eventdata":{'
_EVENTDATA_AS_READ = '"EventData":{'  # flatten reads the payload under this name only


def names(keep: Any) -> tuple[str, ...] | None:
    """The payload names a filter reads, when records read through it can be answered from their
    values (None: they cannot)."""
    if not isinstance(keep, Keeper) or keep.spaced:
        return None
    read = keep.need - BUCKET_KEYED
    if not read or read & NOT_PAYLOAD or any(not n.isascii() or '"' in n or "\\" in n for n in read):
        return None
    return tuple(sorted(read))


def values(data: str, read: tuple[str, ...]) -> tuple[str, ...] | None:
    """The JSON texts of the values of ``read`` (lower-case names) in a record's JSON text (a marker
    for a name the record lacks), or None when the text is not the plain shape this reads safely."""
    if not data.isascii() or not data.endswith("}}"):  # (the engine's JSON ends a record so)
        return None
    low = data.lower()
    start = low.find(_EVENTDATA)
    if start < 0 or not data.startswith(_EVENTDATA_AS_READ, start) or low.find('"userdata":', 0, start) >= 0:
        return None
    body = start + len(_EVENTDATA)
    if _nested(low, body, "{") or _nested(low, body, "["):
        return None  # a nested value (or a UserData after the payload): flatten renders it, this does not
    out: list[str] = []
    for name in read:
        key = f'"{name}":'
        i = low.find(key)
        if i < 0:
            out.append(_ABSENT)
            continue
        if i < body or low[i - 1] not in ",{" or low.find(key, i + 1) >= 0:
            return None  # in the System block, not a key, or twice (in any letter case)
        j = i + len(key)
        end = _string_end(data, j) if data.startswith('"', j) else _token_end(data, j)
        if end <= j:
            return None
        out.append(data[j:end])
    return tuple(out)


def _nested(low: str, body: int, bracket: str) -> bool:
    """Whether a value after ``body`` opens with ``bracket`` (a '{' or '[' right after '":').
    The bracket is looked for alone (memchr speed) and its two characters before are checked:
    a search for '":{' stalled on every quote of the text."""
    k = low.find(bracket, body)
    while k >= 0:
        if low.startswith('":', k - 2):
            return True
        k = low.find(bracket, k + 1)
    return False


def _string_end(data: str, j: int) -> int:
    """Where the JSON string opening at ``j`` ends (past its closing quote: the first quote not
    escaped by an odd run of backslashes), or -1."""
    end = data.find('"', j + 1)
    while end > 0 and data[end - 1] == "\\":
        run = end - 1
        while data[run - 1] == "\\":
            run -= 1
        if (end - run) % 2 == 0:  # an even run escapes itself, not the quote
            break
        end = data.find('"', end + 1)
    return end + 1 if end > 0 else -1


def _token_end(data: str, j: int) -> int:
    """Where the number, true, false or null at ``j`` ends: the next comma or the object's end."""
    comma, brace = data.find(",", j), data.find("}", j)
    return brace if comma < 0 or 0 <= brace < comma else comma


class Verdicts:
    """Per bucket: the candidate list of its always-evaluated rules -> the names they read, and
    the values read -> whether any of those rules matched."""

    __slots__ = ("read", "seen")

    def __init__(self) -> None:
        self.read: tuple[str, ...] | None | bool = False  # False: not worked out yet
        self.seen: dict[tuple[str, ...], bool] = {}

    def remember(self, key: tuple[str, ...], matched: bool) -> None:
        if len(self.seen) >= MAX_VERDICTS:
            self.seen.clear()
        self.seen[key] = matched
