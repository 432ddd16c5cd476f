"""The pre-filter's cheaper scan: big buckets searched record by record with each literal reported
once per record, groups of field-name literals left out, the flush shown only the records with
candidates. None of it may drop a (record, rule) pair that can match."""

from __future__ import annotations

import itertools
import json

import pytest

from triage.sigma import prefilter
from triage.sigma.compile import atoms
from triage.sigma.match import PAYLOAD, build, make_bucket

needs_hyperscan = pytest.mark.skipif(prefilter.hyperscan is None, reason="hyperscan is not installed here")


def _text(event_data: dict, computer: str = "WS01") -> str:
    """A record as the engine's JSON writes it (compact, System block first)."""
    return json.dumps({"Event": {"System": {"Computer": computer, "Channel": "Sysmon"}, "EventData": event_data}},
                      ensure_ascii=False, separators=(",", ":"))


@needs_hyperscan
def test_record_searcher_reports_each_literal_once_per_record(monkeypatch):
    calls: list[int] = []
    real = prefilter._collect

    def counting(lit, start, end, flags, found):
        calls.append(lit)
        real(lit, start, end, flags, found)

    monkeypatch.setattr(prefilter, "_collect", counting)
    s = prefilter.RecordSearcher(["cmd.exe", "ws01", "never-there"])
    texts = [_text({"CommandLine": "cmd.exe /c " * 40 + "CMD.EXE"}), _text({"Image": "x"}),
             _text({"Image": "C:\\cmd.exe", "Note": "caf\u00e9 \u2603 \ud800"})]
    found = s.search(texts, PAYLOAD)
    # 'ws01' is only in the System block (before EventData): not counted; 41 occurrences: one call
    assert found == {0: {0}, 2: {0}}
    assert calls == [0, 0]
    assert s.search(texts) == {0: {0, 1}, 1: {1}, 2: {0, 1}}  # without 'after' the whole text counts


@needs_hyperscan
def test_searcher_kind_follows_the_literal_count_and_caches_each_kind_apart(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    small = [f"lit{i:03d}" for i in range(prefilter.RECORD_SCAN_MIN - 1)]
    big = [*small, "one-more"]
    assert type(prefilter.searcher(small, cache, "k")) is prefilter.HyperscanSearcher
    assert type(prefilter.searcher(big, cache, "k")) is prefilter.RecordSearcher
    # the same literals as both kinds (the threshold moved): two databases on disk, not one read as the other
    monkeypatch.setattr(prefilter, "RECORD_SCAN_MIN", len(small))
    record = prefilter.searcher(small, cache, "k")
    assert type(record) is prefilter.RecordSearcher
    assert len(list(cache.glob("hs-*.db"))) == 3
    again = prefilter.searcher(small, cache, "k")  # loaded from the cache
    texts = [_text({"A": "lit007 lit007 lit100"}), _text({"A": "none"})]
    assert again.search(texts, PAYLOAD) == record.search(texts, PAYLOAD) == {0: {7, 100}}


@needs_hyperscan
def test_field_name_literal_groups_are_left_out():
    rules = {
        # CommandLine|contains 'whoami' and User|contains 'user' (the literal is in the name "User")
        0: ("and", (("f", "commandline", "ct", "whoami", False), ("f", "user", "ct", "user", False))),
        # only a group of name literals: evaluated on every record of the bucket
        1: ("f", "originalfilename", "ct", "originalfilename", False),
        # untouched: a literal in no field name
        2: ("f", "image", "ew", "\\mimikatz.exe", False),
    }
    b = make_bucket(sorted(rules), {i: build(t) for i, t in rules.items()},
                    {i: atoms(t) for i, t in rules.items()}, trees=rules)
    assert b.always == (1,)
    assert sorted(b.searcher.literals) == ['\\\\mimikatz.exe"', "whoami"]  # endswith: the value's end
    texts = [_text({"CommandLine": "whoami /all", "User": "CORP\\bob"}), _text({"Image": "C:\\x.exe"}),
             _text({"Image": "C:\\t\\MIMIKATZ.EXE"})]
    assert b.candidates_many(texts) == [[0, 1], [1], [1, 2]]
    # without the relaxation rule 0 would need 'user' too: it is there, so nothing was lost
    assert "user" in texts[0].lower()


def _records_by_bucket(engine, corpus, limit=600):
    from evtx import PyEvtxParser

    from triage.sigma.flatten import flatten

    by_bucket: dict = {}
    for log in sorted((corpus / "evtx" / "museum-win10-aptsimulatorvm").rglob("*.evtx")):
        try:
            records = PyEvtxParser(str(log)).records_json()
            for rec in itertools.islice(records, limit):
                fl = flatten(json.loads(rec["data"]))
                b = engine.bucket(fl.get("Channel"), fl.get("EventID"), fl.get("Provider_Name"))
                if b is not None:
                    by_bucket.setdefault(b, []).append(rec["data"])
        except Exception:  # a damaged log: the records read so far count
            continue
    return by_bucket


@needs_hyperscan
def test_big_buckets_scan_per_record_and_find_what_the_batch_scan_finds(sigmahq, corpus):
    """On real Sysmon process-creation records (the SigmaHQ set's biggest bucket, ~11,000
    literals): the per-record searcher finds the same literals in the same records as the batch
    searcher, with one call into Python per (record, literal) instead of per occurrence."""
    rs, _ = sigmahq
    from triage.sigma.engine import Engine

    eng = Engine(rs)
    by_bucket = _records_by_bucket(eng, corpus)
    big = [(b, texts) for b, texts in by_bucket.items() if isinstance(b.searcher, prefilter.RecordSearcher)]
    assert big, "no bucket big enough for the per-record scan"
    odd = _text({"Image": "C:\\Windows\\System32\\cmd.exe", "Note": "caf\u00e9 \u2603 \U0001F600 \ud800"})
    pairs = 0
    for b, texts in big:
        batch = [odd, *texts, odd]
        one = b.searcher.search(batch, PAYLOAD)
        whole = prefilter.HyperscanSearcher(b.searcher.literals).search(batch, PAYLOAD)
        assert one == whole
        pairs += sum(map(len, one.values()))
    assert sum(len(t) for _, t in big) > 300 and pairs > 3000


def test_candidates_at_is_candidates_many_without_the_empty_records(sigmahq, corpus):
    """What the flush iterates: the records with candidates, in record order, with the same rules."""
    rs, _ = sigmahq
    from triage.sigma.engine import Engine

    eng = Engine(rs)
    seen = with_always = 0
    for b, texts in _records_by_bucket(eng, corpus, limit=300).items():
        many = b.candidates_many(texts)
        at = b.candidates_at(texts)
        assert at == {k: c for k, c in enumerate(many) if c is not None}
        assert list(at) == sorted(at)
        seen += len(at)
        with_always += bool(b.always)
    assert seen > 100 and with_always > 0


def test_searching_from_the_parsers_offset_finds_the_same_candidates(sigmahq, corpus):
    """The parser queues where the System block's Channel is: searching from there (batch and
    per-record searchers) gives every record the candidates a search of the whole text gives."""
    rs, _ = sigmahq
    from triage.sigma.engine import Engine

    eng = Engine(rs)
    kinds = set()
    checked = 0
    for b, texts in _records_by_bucket(eng, corpus, limit=300).items():
        starts = [max(t.find('"Channel":'), 0) for t in texts]
        assert b.candidates_at(texts, starts) == b.candidates_at(texts)
        kinds.add(type(b.searcher).__name__)
        checked += sum(s > 0 for s in starts)
    assert {"HyperscanSearcher", "RecordSearcher"} <= kinds or prefilter.hyperscan is None
    assert checked > 1000


def test_the_parser_queues_the_channel_offset(sigmahq, corpus, monkeypatch):
    """Every record the EVTX parser queues for Sigma carries an offset at the System block's
    Channel (or 0 where it decoded the System block itself), and the rules found are the ones found
    when the same records are queued without it."""
    rs, _ = sigmahq
    import triage.sigma.hits as hits_mod
    from triage.model import Source
    from triage.parsers.base import input_from_file
    from triage.parsers.evtx.parser import EvtxParser
    from triage.sigma.engine import register

    eng = register(rs)
    queued: list[tuple] = []
    real = hits_mod.LogHits.flush

    def spy(self):
        queued.extend(self.queue)
        real(self)

    monkeypatch.setattr(hits_mod.LogHits, "flush", spy)
    log = corpus / "evtx" / "museum-win10-aptsimulatorvm" / "Microsoft-Windows-Sysmon%4Operational.evtx"
    inp = input_from_file(log, "logs/Sysmon.evtx")
    inp.options["evtx_sigma_key"] = rs.key
    parser = EvtxParser()
    list(parser.parse(inp))
    assert len(queued) > 1000 and all(len(item) == 5 for item in queued)
    starts = [item[4] for item in queued]
    assert all(s == 0 or item[3].startswith('"Channel":', s) for item, s in zip(queued, starts, strict=True))
    assert sum(s > 0 for s in starts) > 0.9 * len(queued)
    monkeypatch.setattr(hits_mod.LogHits, "flush", real)

    def matches(items):
        hits = hits_mod.LogHits(eng, Source(bundle_path="logs/Sysmon.evtx"))
        for i in range(0, len(items), hits_mod.BATCH):
            hits.queue.extend(items[i:i + hits_mod.BATCH])
            hits.flush()
        return [(m.rule_id, m.count, m.first) for m in hits.records()]

    with_offsets = matches(queued)
    assert with_offsets == matches([(*item[:4], 0) for item in queued]) and len(with_offsets) > 10
