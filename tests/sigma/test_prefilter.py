"""The pre-filter only saves work: on real logs, the rules that match with it are exactly the rules
that match when every rule of a record's bucket is evaluated, with either searcher."""

from __future__ import annotations

import itertools
import json

import pytest

from triage.sigma import prefilter
from triage.sigma.engine import event
from triage.sigma.flatten import flatten


def _records(corpus, limit=4000):
    from evtx import PyEvtxParser

    logs = sorted((corpus / "evtx").rglob("*.evtx"), key=lambda p: -p.stat().st_size)[:12]
    logs += sorted((corpus / "evtx" / "museum-win10-aptsimulatorvm").rglob("*.evtx"))
    for log in logs:
        try:
            it = PyEvtxParser(str(log)).records_json()
        except Exception:
            continue
        for rec in itertools.islice(it, limit):
            yield rec["data"]


@pytest.mark.parametrize("searcher", ["hyperscan", "aho"])
def test_prefilter_loses_no_match(sigmahq, corpus, searcher, monkeypatch):
    rs, _ = sigmahq
    if searcher == "hyperscan" and prefilter.hyperscan is None:
        pytest.skip("hyperscan is not installed on this platform")
    if searcher == "aho":
        monkeypatch.setattr(prefilter, "hyperscan", None)
    from triage.sigma.engine import Engine

    eng = Engine(rs)  # fresh buckets, built with the searcher under test
    checked = matched = 0
    for data in _records(corpus):
        fields = flatten(json.loads(data))
        ev = event(fields)
        whole = eng.bucket(fields.get("Channel"), fields.get("EventID"))  # not specialised to the provider
        if whole is None:
            continue
        every = [eng.rules[i].id for i in whole.match(ev)]  # all rules of the channel and event id
        b = eng.bucket(fields.get("Channel"), fields.get("EventID"), fields.get("Provider_Name"))
        cand = b.candidates(data) if b is not None else None
        fast = [eng.rules[i].id for i in b.match(ev, cand)] if cand is not None else []
        assert fast == every, (fields.get("Channel"), fields.get("EventID"), fields.get("EventRecordID"))
        checked += 1
        matched += bool(every)
    assert checked > 10_000 and matched > 10


@pytest.mark.parametrize("searcher", ["hyperscan", "aho"])
def test_batched_search_is_per_record_search(sigmahq, corpus, searcher, monkeypatch):
    """The parser pre-filters a batch of records in one search (one joined text): every record gets
    the candidates it gets alone, in an ASCII batch (scanned whole, matches before EventData
    dropped) and when non-ASCII records in the batch make byte offsets differ from character
    offsets."""
    rs, _ = sigmahq
    if searcher == "hyperscan" and prefilter.hyperscan is None:
        pytest.skip("hyperscan is not installed on this platform")
    if searcher == "aho":
        monkeypatch.setattr(prefilter, "hyperscan", None)
    from triage.sigma.engine import Engine

    eng = Engine(rs)
    by_bucket: dict = {}
    for data in _records(corpus, limit=400):
        fields = flatten(json.loads(data))
        b = eng.bucket(fields.get("Channel"), fields.get("EventID"), fields.get("Provider_Name"))
        if b is not None:
            by_bucket.setdefault(b, []).append(data)
    with_candidates = 0
    for b, texts in by_bucket.items():
        # a non-ASCII record first and in the middle: the records after it start at other byte offsets
        odd = '{"Event":{"EventData":{"Note":"caf\u00e9 \u2603 \U0001F600 \ud800"}}}'
        batch = [odd, *texts[: len(texts) // 2], odd, *texts[len(texts) // 2:]]
        alone = [b.candidates(t) for t in batch]
        assert b.candidates_many(batch) == alone
        assert b.candidates_many(texts) == [c for t, c in zip(batch, alone, strict=True) if t is not odd]
        with_candidates += sum(c is not None and c != list(b.always) for c in alone)
    assert len(by_bucket) > 20 and with_candidates > 50
