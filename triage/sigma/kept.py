"""The few fields a record's candidate rules read, picked from the decoded record without a walk.

:func:`triage.sigma.flatten.flatten` with a filter still visits every field of a record, the
payload's ~30 and the System block's ~15 with their attributes, and asks the filter about each: on
museum-win11-rathbunvm's firewall records (three fields read by SigmaHQ's negative-only 2004/2006
rules, so every record is a candidate) that cost more than decoding the JSON. Here the payload's
names are intersected with the names the filter has kept (set operations: loops in C), and of the
System block only the elements with attributes are looked into.

The answer is the filtered flattening's mapping — the same names with the same values; only the
order of names may differ, which :func:`triage.sigma.engine.event` does not depend on while no two
kept names share a lower-case, space-less form (:class:`triage.sigma.lean.Keeper` tracks that) — or
None whenever the record is not the plain shape reasoned about here: a payload name the filter has
not classified yet, a UserData block or a payload that is not an object, a System attribute whose
name may be kept, two kept names of one form. The caller then flattens the record.
"""

from __future__ import annotations

from typing import Any

from triage.sigma.flatten import SYSTEM_WINS, text
from triage.sigma.lean import Keeper


def pick(record: Any, keep: Keeper) -> dict[str, str | None] | None:
    """``flatten(record, keep)``'s names and values, or None (flatten it)."""
    if keep.collide or not isinstance(record, dict):
        return None
    ev = record.get("Event", record)
    if not isinstance(ev, dict) or ev.get("UserData") is not None:
        return None
    data, system = ev.get("EventData"), ev.get("System") or {}
    if not isinstance(system, dict) or not (data is None or isinstance(data, dict)):
        return None
    known, kept = keep.keys(), keep.kept
    out: dict[str, str | None] = {}
    if data:
        if not data.keys() <= known:
            return None
        for k in data.keys() & kept:
            v = data[k]
            out[k] = v if type(v) is str else text(v)
    names = system.keys()
    if not names <= known:
        for k in names:  # classify them, as flatten's lookups would
            if k not in keep:
                keep.__missing__(k)
        if keep.collide:
            return None
    for k, v in system.items():  # an element's attributes are fields of their own (bar two)
        if isinstance(v, dict) and k != "EventID" and k != "TimeCreated":
            attrs = v.get("#attributes")
            if isinstance(attrs, dict) and (keep.provider if k == "Provider"
                                            else not attrs.keys() <= known or attrs.keys() & kept):
                return None
    for k in names & kept:
        v = system[k]
        attrs = v.get("#attributes") if isinstance(v, dict) else None
        if not isinstance(attrs, dict):
            value = text(v)
        elif k == "EventID":
            value = text(v.get("#text"))
        elif k == "TimeCreated":
            value = text(attrs.get("SystemTime"))
        elif "#text" in v:
            value = text(v["#text"])
        else:
            continue
        if k in SYSTEM_WINS or k not in out:
            out[k] = value
    return out
