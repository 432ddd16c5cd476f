"""Which fields of a record its candidate rules read, so only those are flattened.

A record the pre-filter passes is decoded (``json.loads``) and then flattened and lower-cased before
its candidate rules run. Rules with only negative conditions (a firewall rule added or deleted,
SigmaHQ's 2004/2006 rules: "not from Program Files, not by svchost") have no literal to pre-filter on,
so every record of their bucket is a candidate, yet they read two or three of the record's ~40 fields.
Flattening and lower-casing only those cost ~10 us instead of ~29 us a firewall record (measured on
museum-win11-rathbunvm; json.loads, ~15 us, stays); a record that matches is flattened in full
afterwards (its sample shows the fields, its time comes from System).

The result is the same by construction: :func:`triage.sigma.flatten.flatten` with a filter gives
exactly the whole mapping's values for the names it keeps, and :class:`Keeper` keeps every name that
lower-cases to a field read, or does once its spaces are dropped (the engine's alias for Defender's
'Threat Name'). Rules that read the whole record — keyword searches — get the whole mapping; a rule
that reads a field the engine derives from others (4688's User and IntegrityLevel) gets the fields
:func:`triage.sigma.engine.event` derives it from as well (a Sysmon process creation is a candidate of
such a rule on nearly every record: on museum-win10-aptsimulatorvm that sent 715 of 1,544 evaluated
records down the whole-record path).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from triage.sigma.compile import Node, fields
from triage.sigma.flatten import Keep

# Fields triage.sigma.engine.event derives from other fields (4688), and every field it reads to
# derive them: a rule that reads one needs them all (a test pins this against event()).
DERIVED = frozenset({"user", "integritylevel"})
DERIVED_FROM = frozenset({"eventid", "channel", "targetusername", "targetdomainname", "subjectusername",
                          "subjectdomainname", "mandatorylabel"})
# Display names remembered per keeper (hostile logs may name fields without end): cleared when full.
MAX_NAMES = 4096
# Plans remembered per bucket (one per distinct candidate list): cleared when full.
MAX_PLANS = 1024


def keyword(node: Node) -> bool:
    """Whether ``node`` holds a keyword (field-less) search: it reads every value of a record."""
    kind = node[0]
    if kind == "kw":
        return True
    if kind in ("and", "or"):
        return any(keyword(child) for child in node[1])
    return kind == "not" and keyword(node[1])


def needed(trees: Iterable[Node]) -> frozenset[str] | None:
    """The fields a set of rules reads (with the sources of the derived ones it reads), or None when
    one of them needs the whole record."""
    out: set[str] = set()
    for tree in trees:
        if keyword(tree):
            return None
        fields(tree, out)
    return frozenset(out | DERIVED_FROM if out & DERIVED else out)


class Keeper(dict[str, bool]):
    """A filter for :func:`triage.sigma.flatten.flatten`: display name -> whether its field is read.
    Names recur record after record, so each is lower-cased once; a name seen for the first time is
    answered by ``__missing__`` (a dict lookup otherwise: no Python call per field)."""

    def __init__(self, need: frozenset[str]) -> None:
        super().__init__()
        self.need = need
        # For triage.sigma.kept: the names answered True, their lower-case space-less forms, whether
        # two of them share one (then the order of a record's names matters to event()), and whether
        # a name read could come from the System provider's attributes ('Provider_Name')
        self.kept: set[str] = set()
        self.forms: set[str] = set()
        self.collide = False
        self.provider = any(n.startswith("provider_") for n in need)
        # kept display name -> its lower-case form (the Event's key), and whether one has a space
        self.lower: dict[str, str] = {}
        self.spaced = False

    def __missing__(self, name: str) -> bool:
        low = name.lower()
        found = low in self.need or (" " in low and low.replace(" ", "") in self.need)
        if len(self) >= MAX_NAMES:
            self.clear()
            self.kept.clear()
            self.forms.clear()
            self.lower.clear()
            self.collide = self.spaced = False
        self[name] = found
        if found:
            form = low.replace(" ", "")
            self.collide = self.collide or form in self.forms or name == "#attributes"
            self.forms.add(form)
            self.kept.add(name)
            self.lower[name] = low
            self.spaced = self.spaced or " " in low
        return found


def plan(plans: dict[tuple[int, ...], Keep | None], trees: dict[int, Any] | None,
         candidates: list[int]) -> Keep | None:
    """The filter for records whose candidates are ``candidates`` (None: flatten everything),
    remembered in ``plans`` (a bucket's)."""
    key = tuple(candidates)
    if key in plans:
        return plans[key]
    found: Keep | None = None
    if trees is not None and all(i in trees for i in candidates):
        need = needed(trees[i] for i in candidates)
        found = Keeper(need) if need is not None else None
    if len(plans) >= MAX_PLANS:
        plans.clear()
    plans[key] = found
    return found
