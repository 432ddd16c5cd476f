"""Picking the fields read straight from the decoded record (triage.sigma.kept) gives the Event of the
filtered flattening, or None where its shortcuts would not: never another answer."""

from __future__ import annotations

import json

import pytest
from _sigma import museum_records
from test_lean import FIREWALL, ODD, SECURITY_4688, _record

from triage.sigma.engine import event
from triage.sigma.flatten import flatten
from triage.sigma.kept import pick
from triage.sigma.lean import Keeper, needed, plan

NEEDS = [frozenset({"action"}), frozenset({"threatname", "path"}), frozenset({"processid", "computer", "channel"}),
         frozenset({"data", "eventid"}), frozenset({"threat name", "timecreated", "provider_guid"}),
         frozenset({"action", "applicationpath", "modifyingapplication"})]
HOSTILE = [
    # a System attribute (or element) named like a field read: the payload's value must not win
    _record({"Action": "payload"}, Execution={"#attributes": {"ProcessID": 4, "Action": "system"}}),
    _record({"Action": "payload"}, Action={"#attributes": {"x": 1}, "#text": "element text"}),
    _record({"action": "payload"}, Action="system plain"),
    _record({"Action": "payload", "Channel": "payload channel"}, Provider={"#attributes": {"Name": "P", "Guid": "g"}}),
    _record({"Action": 7, "Nested": {"Action": "deep"}}, EventID={"#attributes": {"Qualifiers": 0}}),
    {"Event": {"System": "not an object", "EventData": {"Action": "x"}}},
    {"Event": {"System": {"Channel": "c"}, "EventData": ["a", "list"]}},
    {"NoEvent": {"Action": "top level"}},
]


@pytest.mark.parametrize("need", NEEDS)
@pytest.mark.parametrize("record", ODD + HOSTILE)
def test_pick_is_the_filtered_flattening_or_none(record, need):
    keep = Keeper(need)
    try:
        want = flatten(record, keep)  # also classifies the record's names, as the first record does
    except AttributeError:  # a System that is not an object: flatten fails, pick must not answer
        assert pick(record, keep) is None
        return
    got = pick(record, keep)
    if got is not None:
        _same(got, want)


def _same(got, fields):
    """An Event from pick is the one event() makes of the filtered flattening's ``fields``."""
    want = event(fields)
    assert got.raw == want.raw
    assert got.low == want.low  # (not .text: keyword rules read the whole record, never a pick)


@pytest.mark.parametrize("payload", SECURITY_4688 + [{"Threat Name": "Evil", "Path": "C:\\X"}])
@pytest.mark.parametrize("channel", ["Security", "Microsoft-Windows-Sysmon/Operational"])
def test_picked_events_carry_the_derived_fields_and_aliases(payload, channel):
    """4688's User and IntegrityLevel (derived after lower-casing) and Defender's space-less
    aliases are in the picked Event as event() adds them, their lower-cased values too."""
    record = _record(payload, EventID={"#attributes": {"Qualifiers": 0}, "#text": 4688}, Channel=channel)
    need = needed([("f", "user", "eq", "x", False), ("f", "integritylevel", "eq", "x", False),
                   ("f", "threatname", "eq", "x", False), ("f", "path", "eq", "x", False)])
    keep = Keeper(need)
    want = flatten(record, keep)  # classifies the names, as the first record of a log does
    got = pick(record, keep)
    if got is None:  # names of one form (the 'Target User Name' case): flatten's answer stands
        assert keep.collide
        return
    _same(got, want)
    if channel == "Security" and "MandatoryLabel" in payload and payload["MandatoryLabel"].lower() == "s-1-16-12288":
        assert got.low["integritylevel"] == "high"
    if "Threat Name" in payload:
        assert got.raw["threatname"] == "Evil" and got.low["threatname"] == "evil"


def test_system_attributes_named_like_a_field_read_are_not_skipped():
    keep = Keeper(frozenset({"action"}))
    for record in HOSTILE[:3]:
        flatten(record, keep)
        got = pick(record, keep)
        assert got is None or got.raw == event(flatten(record, keep)).raw
    record = HOSTILE[0]
    assert flatten(record, keep) == {"Action": "payload"} and pick(record, keep) is None


def test_names_of_one_form_are_left_to_flatten():
    keep = Keeper(frozenset({"threatname"}))
    record = _record({"Threat Name": "a", "ThreatName": "b"})
    flatten(record, keep)
    assert keep.collide and pick(record, keep) is None


def test_an_unclassified_payload_name_is_left_to_flatten():
    keep = Keeper(frozenset({"action"}))
    record = _record({"Action": "2", "RuleName": "r"})
    assert pick(record, keep) is None  # first sight: flatten classifies the names
    assert flatten(record, keep) == {"Action": "2"}
    assert pick(record, keep).raw == {"action": "2"}


def test_pick_on_museum_records(sigmahq, corpus):
    """On the museum logs' candidate records: pick answers for most, always what flatten gives,
    and for every firewall rule record once its names are known."""
    rs, eng = sigmahq
    picked = checked = firewall = 0
    for data in museum_records(corpus, limit=1500):
        record = json.loads(data)
        whole = flatten(record)
        b = eng.bucket(whole.get("Channel"), whole.get("EventID"), whole.get("Provider_Name"))
        cand = b.candidates(data) if b is not None else None
        if cand is None:
            continue
        keep = plan(b.plans, b.trees, cand)
        if not isinstance(keep, Keeper):
            continue
        got = pick(record, keep)
        want = flatten(record, keep)
        checked += 1
        if got is not None:
            picked += 1
            _same(got, want)
        if whole.get("Channel") == FIREWALL and whole.get("EventID") in ("2004", "2006"):
            firewall += 1
            again = pick(record, keep)
            assert again is not None
            _same(again, want)
    assert checked > 1000 and picked > checked * 0.8 and firewall > 100
