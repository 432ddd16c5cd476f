"""Records only always-evaluated rules can match are answered from the values those rules read
(triage.sigma.verdicts): the JSON texts taken from a record's text decode to the decoded record's
values, or the record is evaluated as usual; what a log's Sigma pass reports is the same with and
without the answers."""

from __future__ import annotations

import json

import pytest
from _sigma import museum_records, queued_records

from triage.sigma import verdicts
from triage.sigma.flatten import flatten, text


def _decoded(texts):
    """The values the texts ``verdicts.values`` took stand for, as flatten gives them."""
    return tuple(t if t == verdicts._ABSENT else text(json.loads(t)) for t in texts)


def _text(event_data, system=None):
    system = system or {"EventID": 2004, "Channel": "Firewall", "Computer": "WS01"}
    return json.dumps({"Event": {"System": system, "EventData": event_data}}, separators=(",", ":"))


def test_values_are_the_decoded_records_on_real_logs(corpus):
    checked = 0
    for data in museum_records(corpus, limit=800):
        whole = flatten(json.loads(data))
        payload = (json.loads(data)["Event"].get("EventData") or {})
        if not isinstance(payload, dict):
            continue
        names = tuple(sorted({k.lower() for k in payload if k != "#attributes"} - verdicts.NOT_PAYLOAD))[:6]
        if not names:
            continue
        got = verdicts.values(data, (*names, "nosuchfield"))
        if got is None:
            continue
        by_low = {k.lower(): v for k, v in whole.items()}
        assert _decoded(got) == (*(by_low[n] for n in names), verdicts._ABSENT), data[:300]
        checked += 1
    assert checked > 2000


@pytest.mark.parametrize("data", [
    _text({"Action": "2", "ACTION": "3"}),                                        # two names of one form
    _text({"Action": "2"}, {"EventID": 2004, "Execution": {"#attributes": {"Action": "9"}}}),  # in System
    _text({"Action": {"#text": "2", "#attributes": {"x": 1}}}),                   # nested value
    _text({"Action": ["2", "3"]}),                                                # a list
    _text({"Action": "2", "X": {"Action": "3"}}).replace('"X":{"Action":"3"}', '"X":{"ACTION":"3"}'),  # nested twice
    '{"Event":{"System":{"EventID":2004},"eventdata":{"Action":"2"}}}',           # not EventData as flatten reads it
    '{"Event":{"System":{"EventID":2004},"UserData":{"A":1},"EventData":{"Action":"2"}}}',  # UserData before
    _text({"Action": "caf\u00e9"}).replace("\\u00e9", "\u00e9"),                  # not ASCII
    json.dumps({"Event": {"System": {"EventID": 2004}, "UserData": {"R": {"Action": "2"}}}}),
    '{"Event":{"System":{"EventID":2004},"EventData":{"Action":"2"',              # cut short
])
def test_values_refuse_shapes_they_cannot_read_safely(data):
    assert verdicts.values(data, ("action",)) is None


def test_values_of_plain_records():
    path = 'C:\\x\\"q"\\'  # backslashes and quotes (JSON escapes both), one right before the closing quote
    data = _text({"Action": 2, "Path": path, "On": True, "N": None, "F": 2.5, "Last": 7})
    got = verdicts.values(data, ("action", "f", "last", "n", "on", "path", "zz"))
    assert got == ("2", "2.5", "7", "null", "true", json.dumps(path), verdicts._ABSENT)
    assert _decoded(got) == ("2", "2.5", "7", None, "true", path, verdicts._ABSENT)


def test_values_tell_texts_apart_that_decode_apart():
    """A memo key: records whose values differ never share one (a string 'null' and a null, a
    number and its string, a name in a value's text rather than as a key)."""
    keys = {verdicts.values(_text(d), ("action", "path")) for d in (
        {"Action": None}, {"Action": "null"}, {"Action": 2}, {"Action": "2"},
        {"Path": 'x","Action":"2'}, {"Path": "x", "Action": "2"})}
    assert len(keys) == 6 and None not in keys


def test_log_hits_same_with_and_without_answers(sigmahq, corpus, monkeypatch):
    """A log whose firewall records only negative-only rules can match: the same report, and most of
    those records answered without being decoded."""
    import triage.sigma.hits as hits_mod
    from triage.model import Source

    _, eng = sigmahq
    queued = queued_records(eng, corpus / "evtx" / "museum-win10-aptsimulatorvm")
    decoded = []
    real = hits_mod.decode
    monkeypatch.setattr(hits_mod, "decode", lambda d: decoded.append(1) or real(d))

    def report():
        for b in {id(q[0]): q[0] for q in queued}.values():
            b.verdicts = verdicts.Verdicts()  # nothing remembered from earlier tests
        decoded.clear()
        hits = hits_mod.LogHits(eng, Source(bundle_path="logs/test.evtx"))
        for i in range(0, len(queued), hits_mod.BATCH):
            hits.queue.extend(queued[i:i + hits_mod.BATCH])
            hits.flush()
        return hits.records(), len(decoded)

    answered, n_answered = report()
    monkeypatch.setattr(verdicts, "names", lambda keep: None)
    evaluated, n_evaluated = report()
    assert answered == evaluated
    assert sum(m.count for m in answered) > 50
    assert n_answered < n_evaluated - 500  # the firewall records (685 on this set) mostly not decoded
