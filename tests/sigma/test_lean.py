"""Decoding only the fields a record's candidate rules read (triage.sigma.lean) changes no result:
the filtered flattening holds exactly the whole one's values for the names it keeps, and on real
logs the rules that match are the rules that match on the whole record."""

from __future__ import annotations

import json

import pytest
from _sigma import museum_records, queued_records

from triage.sigma.engine import event
from triage.sigma.flatten import flatten
from triage.sigma.lean import DERIVED_FROM, Keeper, needed, plan

FIREWALL = "Microsoft-Windows-Windows Firewall With Advanced Security/Firewall"


def _record(event_data: dict | None = None, user_data: dict | None = None, **system) -> dict:
    sys_block = {"Provider": {"#attributes": {"Name": "Prov", "Guid": "{x}"}},
                 "EventID": {"#attributes": {"Qualifiers": 0}, "#text": 2004}, "Version": 0,
                 "TimeCreated": {"#attributes": {"SystemTime": "2024-01-02T03:04:05.123456Z"}},
                 "Execution": {"#attributes": {"ProcessID": 4, "ThreadID": 8}}, "Channel": "Security",
                 "Computer": "WS01", **system}
    ev: dict = {"System": sys_block}
    if event_data is not None:
        ev["EventData"] = event_data
    if user_data is not None:
        ev["UserData"] = user_data
    return {"Event": ev}


# records whose names collide once lower-cased, alias without spaces, nest in UserData, or come
# from System attributes: the whole mapping's rules for them must survive the filter
ODD = [
    _record({"Action": "3", "ACTION": "2", "ApplicationPath": None, "Data": ["a", "b"]}),
    _record({"Threat Name": "Evil", "Threat  Name": "Other", "ThreatName": "Direct", "Path": {"#text": "C:\\x"}}),
    _record({"Threat Name": "Evil"}, {"Rule": {"#attributes": {"x": 1}, "ThreatName": "Nested", "Action": 7}}),
    _record({"Threat Name": "Evil", "threat name": "later", "THREAT NAME": None}),
    _record(None, {"Rule": {"ProcessID": "from payload", "Computer": "payload computer"}}),
    _record({"processid": "payload", "Channel": "shadowed"}, Channel="Security"),
    _record({"EventID": "1"}, Action={"#attributes": {"ProcessID": 9}, "#text": "sys"}),
    _record(event_data="plain text payload"),  # type: ignore[arg-type]
]


@pytest.mark.parametrize("need", [frozenset({"action"}), frozenset({"threatname", "path"}),
                                  frozenset({"processid", "computer", "channel"}), frozenset({"data", "eventid"}),
                                  frozenset({"threat name", "timecreated", "provider_guid"})])
@pytest.mark.parametrize("record", ODD)
def test_filtered_flatten_is_the_whole_one_restricted(record, need):
    keep = Keeper(need)
    whole = flatten(record)
    assert flatten(record, keep) == {k: v for k, v in whole.items() if keep[k]}
    lean = event(flatten(record, keep)).raw
    full = event(whole).raw
    assert {k: lean.get(k) for k in need} == {k: full.get(k) for k in need}
    assert {k for k in need if k in lean} == {k for k in need if k in full}  # 'exists' tests agree


def test_needed_fields():
    neg = ("and", (("not", ("f", "action", "num", 2, False)),
                   ("not", ("f", "image", "fref", ("parentimage", False, False), False))))
    assert needed([neg]) == {"action", "image", "parentimage"}
    assert needed([neg, ("kw", None, "ct", "mimikatz", False)]) is None  # keywords read every value
    # derived for 4688: the fields event() derives them from are read too
    assert needed([("f", "user", "eq", "nt authority\\system", False)]) == {"user"} | DERIVED_FROM
    assert needed([("f", "integritylevel", "eq", "system", False)]) == {"integritylevel"} | DERIVED_FROM


SECURITY_4688 = [
    {"TargetUserName": "alice", "TargetDomainName": "CORP", "MandatoryLabel": "S-1-16-12288"},
    {"TargetUserName": "-", "SubjectUserName": "WS01$", "SubjectDomainName": "CORP", "MandatoryLabel": "S-1-16-16384"},
    {"TargetUserName": "-", "SubjectUserName": "bob", "MandatoryLabel": "s-1-16-8192", "User": "given"},
    {"Target User Name": "carol", "TARGETDOMAINNAME": "-", "IntegrityLevel": "Low"},
    {"SubjectUserName": "", "MandatoryLabel": "S-1-16-99"},
]


@pytest.mark.parametrize("payload", SECURITY_4688)
@pytest.mark.parametrize("channel", ["Security", "Microsoft-Windows-Sysmon/Operational"])
def test_derived_fields_survive_the_filter(payload, channel):
    """A rule reading User or IntegrityLevel sees on the filtered record what event() derives on the
    whole one (4688: from the target/subject account and the mandatory label)."""
    record = _record(payload, EventID={"#attributes": {"Qualifiers": 0}, "#text": 4688}, Channel=channel)
    need = needed([("f", "user", "eq", "x", False), ("f", "integritylevel", "eq", "x", False)])
    assert need is not None
    keep = Keeper(need)
    lean, full = event(flatten(record, keep)).raw, event(flatten(record)).raw
    assert {k: lean.get(k) for k in need} == {k: full.get(k) for k in need}
    assert ("user" in full) == ("user" in lean) and ("integritylevel" in full) == ("integritylevel" in lean)
    if channel == "Security" and payload.get("MandatoryLabel", "").lower() in ("s-1-16-12288", "s-1-16-16384"):
        assert full["integritylevel"] in ("High", "System") and full["user"].endswith(("alice", "WS01$"))


def _records(corpus, limit=3000):
    return museum_records(corpus, limit)


def test_lean_matches_are_whole_matches_on_real_logs(sigmahq, corpus):
    """Every record of the museum logs that the pre-filter passes: the candidates' matches on the
    fields they read equal their matches on the whole record; the firewall buckets (rules with only
    negative conditions) take the lean path."""
    rs, eng = sigmahq
    checked = lean_used = matched = 0
    firewall_plans = []
    for data in _records(corpus):
        record = json.loads(data)
        whole = flatten(record)
        b = eng.bucket(whole.get("Channel"), whole.get("EventID"), whole.get("Provider_Name"))
        cand = b.candidates(data) if b is not None else None
        if b is None or cand is None:
            continue
        keep = plan(b.plans, b.trees, cand)
        expected = b.match(event(whole), cand)
        got = b.match(event(flatten(record, keep)), cand)
        assert got == expected, (whole.get("Channel"), whole.get("EventID"), whole.get("EventRecordID"))
        checked += 1
        lean_used += keep is not None
        matched += bool(expected)
        if whole.get("Channel") == FIREWALL and whole.get("EventID") in ("2004", "2006"):
            firewall_plans.append(keep)
    assert checked > 1000 and matched > 20 and lean_used > checked // 2
    assert firewall_plans and all(isinstance(k, Keeper) and len(k.need) <= 3 for k in firewall_plans)


EDGE_TEXTS = ['{"a":"\ud800x"}', '{"a":"\\ud800"}', '[1e400, -0.0, 0.1, 5e-324]', '{"a":1,"b":2,"a":3}',
              '{"u":18446744073709551615,"i":-9223372036854775808,"f":1.7976931348623157e308}',
              '{"s":"caf\u00e9 \\u2603 \\"q\\" \\\\ \\u0000"}']


@pytest.mark.parametrize("with_orjson", [True, False])
def test_decode_is_json(corpus, with_orjson, monkeypatch):
    """decode (orjson when installed) gives what json gives, keys in the same order, on every
    museum record and on texts at the edges of what orjson reads; not JSON raises ValueError."""
    from triage.sigma import flatten as flatten_mod

    if not with_orjson:
        monkeypatch.setattr(flatten_mod, "orjson", None)
    texts = [*_records(corpus, limit=10**6), *EDGE_TEXTS]
    for data in texts:
        got, want = flatten_mod.decode(data), json.loads(data)
        assert json.dumps(got) == json.dumps(want), data[:200]
    assert len(texts) > 20_000
    with pytest.raises(ValueError):
        flatten_mod.decode('{"Event": {')
    with pytest.raises(ValueError):
        flatten_mod.decode("")


def test_log_hits_same_with_and_without_lean(sigmahq, corpus, monkeypatch):
    """What a log's Sigma pass reports — counts, times, samples with the fields their rules test —
    is the same when candidates are evaluated on the fields they read (and matches flattened in full
    afterwards) as when every candidate record is flattened in full."""
    import triage.sigma.hits as hits_mod
    from triage.model import Source

    rs, eng = sigmahq
    queued = queued_records(eng, corpus / "evtx" / "museum-win11-rathbunvm")

    def report():
        hits = hits_mod.LogHits(eng, Source(bundle_path="logs/test.evtx"))
        for i in range(0, len(queued), hits_mod.BATCH):
            hits.queue.extend(queued[i:i + hits_mod.BATCH])
            hits.flush()
        return hits.records()

    lean = report()
    used = [k for b, *_ in queued for k in b.plans.values() if isinstance(k, Keeper)]
    monkeypatch.setattr(hits_mod, "plan", lambda plans, trees, candidates: None)
    whole = report()
    assert lean == whole
    assert used and sum(m.count for m in lean) > 20
    assert any(s["fields"] for m in lean for s in m.samples)
