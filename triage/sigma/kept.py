"""The few fields a record's candidate rules read, picked from the decoded record without a walk.

:func:`triage.sigma.flatten.flatten` with a filter still visits every field of a record, the
payload's ~30 and the System block's ~15 with their attributes, and asks the filter about each: on
museum-win11-rathbunvm's firewall records (three fields read by SigmaHQ's negative-only 2004/2006
rules, so every record is a candidate) that cost more than decoding the JSON. Here the payload's
names are intersected with the names the filter has kept (set operations: loops in C), and of the
System block only the elements with attributes are looked into.

The answer is the :class:`~triage.sigma.match.Event` that :func:`triage.sigma.engine.event` makes of
the filtered flattening — the same lower-case names with the same values (and lower-cased values);
only the order of names may differ, which no rule depends on while no two kept names share a
lower-case, space-less form (:class:`triage.sigma.lean.Keeper` tracks that) — or None whenever the
record is not the plain shape reasoned about here: a payload name the filter has not classified yet,
a UserData block or a payload that is not an object, a System attribute whose name may be kept, two
kept names of one form. The caller then flattens the record.
"""

from __future__ import annotations

from typing import Any

from triage.sigma.engine import derive
from triage.sigma.flatten import SYSTEM_WINS, text
from triage.sigma.lean import Keeper
from triage.sigma.match import Event


def pick(record: Any, keep: Keeper) -> Event | None:
    """``event(flatten(record, keep))``, or None (flatten it). The Event's lower-case names and
    lower-cased values are written as the fields are picked: lower-casing a name again per record
    and copying the mapping twice more (names, then values) cost as much as the picking."""
    if keep.collide or not isinstance(record, dict):
        return None
    ev = record.get("Event", record)
    if not isinstance(ev, dict) or ev.get("UserData") is not None:
        return None
    data, system = ev.get("EventData"), ev.get("System") or {}
    if not isinstance(system, dict) or not (data is None or isinstance(data, dict)):
        return None
    known, kept = keep.keys(), keep.kept
    raw: dict[str, str | None] = {}
    low: dict[str, str | None] = {}
    lower = keep.lower
    if data:
        if not data.keys() <= known:
            return None
        for k in data.keys() & kept:
            v = data[k]
            if type(v) is not str:
                v = text(v)
            lk = lower[k]
            raw[lk] = v
            low[lk] = v.lower() if v is not None else None
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
        # no two kept names share a lower-case form (keep.collide): deciding on the display name
        # is deciding on the Event's name
        lk = lower[k]
        if k in SYSTEM_WINS or lk not in raw:
            raw[lk] = value
            low[lk] = value.lower() if value is not None else None
    if keep.spaced:  # Defender's 'Threat Name' is also 'threatname', as event() does
        for k in [k for k in raw if " " in k]:
            alias = k.replace(" ", "")
            if alias not in raw:
                raw[alias], low[alias] = raw[k], low[k]
    if derive(raw):  # a 4688: the derived User and IntegrityLevel, lower-cased with the rest
        return Event(raw)
    return Event(raw, low)
