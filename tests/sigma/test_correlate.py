"""Sigma correlation rules (triage.sigma.correlate): loading (references across files, reasons for
what cannot be evaluated, the cached set), window semantics, and a real Sysmon log through the
EVTX parser and through collect -> analyze to every output."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from triage.model import SigmaMatch, Source
from triage.sigma import correlate
from triage.sigma.hits import MAX_SAMPLES
from triage.sigma.load import RuleSet, load_rules

APTSIM_SYSMON = "evtx/museum-win10-aptsimulatorvm/Microsoft-Windows-Sysmon%4Operational.evtx"

BASE = """
title: Cmd started
name: cmd_started
id: 6f6c1a2e-8a55-4a5e-9a57-3c1f0a0e0001
author: triage tests
logsource: {category: process_creation, product: windows}
detection:
  sel: {Image|endswith: '\\cmd.exe'}
  condition: sel
level: low
---
title: Many distinct cmd command lines
id: 6f6c1a2e-8a55-4a5e-9a57-3c1f0a0e0003
author: triage tests
correlation:
  type: value_count
  rules: [cmd_started]
  group-by: [User]
  timespan: 10m
  condition: {field: CommandLine, gte: 5}
level: medium
"""

OTHER = """
title: PowerShell started
name: ps_started
id: 6f6c1a2e-8a55-4a5e-9a57-3c1f0a0e0004
author: triage tests
logsource: {category: process_creation, product: windows}
detection:
  sel: {Image|endswith: '\\powershell.exe'}
  condition: sel
level: low
---
title: Cmd then PowerShell
id: 6f6c1a2e-8a55-4a5e-9a57-3c1f0a0e0005
author: triage tests
correlation:
  type: temporal_ordered
  rules: [cmd_started, ps_started]
  group-by: [User]
  timespan: 15m
  generate: true
level: high
---
title: Unknown rule named
id: 6f6c1a2e-8a55-4a5e-9a57-3c1f0a0e0006
correlation:
  type: event_count
  rules: [no_such_rule]
  timespan: 1h
  condition: {gte: 2}
---
title: A sum
id: 6f6c1a2e-8a55-4a5e-9a57-3c1f0a0e0007
correlation:
  type: value_sum
  rules: [cmd_started]
  timespan: 1h
  condition: {field: ProcessId, gte: 2}
"""


@pytest.fixture()
def rules(tmp_path):
    d = tmp_path / "rules"
    d.mkdir()
    (d / "base.yml").write_text(BASE, encoding="utf-8")
    (d / "other.yml").write_text(OTHER, encoding="utf-8")  # names cmd_started from the other file
    return d


def test_correlations_load_across_files_and_say_why_not(rules):
    rs = load_rules([rules], builtin=False, use_cache=False)
    by_title = {c.title: c for c in rs.correlations}
    assert set(by_title) == {"Many distinct cmd command lines", "Cmd then PowerShell"}
    ordered = by_title["Cmd then PowerShell"]
    assert ordered.ids == ["6f6c1a2e-8a55-4a5e-9a57-3c1f0a0e0001", "6f6c1a2e-8a55-4a5e-9a57-3c1f0a0e0004"]
    assert (ordered.type, ordered.timespan, ordered.generate) == ("temporal_ordered", 900.0, True)
    assert rs.loaded == 4  # two rules, two correlations
    reasons = {s.title: s.reason for s in rs.skipped}
    assert "no_such_rule" in reasons["Unknown rule named"]
    assert "value_sum" in reasons["A sum"]
    # the cached forms keep them, and so does every way load_rules finds a compiled set again
    assert RuleSet.from_json(rs.to_json()).correlations == rs.correlations
    assert RuleSet.from_payload(rs.to_payload()).correlations == rs.correlations
    assert load_rules([rules], builtin=False).correlations == rs.correlations  # compiled, saved
    assert load_rules([rules], builtin=False).correlations == rs.correlations  # this process' memo
    copy = rules.parent / "copy" / "rules"
    shutil.copytree(rules, copy)  # other files, same texts: the set found by its key
    again = load_rules([copy], builtin=False)
    assert again.from_cache and again.correlations == rs.correlations


def _match(rule_id: str, title: str, events: list[tuple[int, dict]], log: str = "logs/a.evtx") -> SigmaMatch:
    t0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    evs = tuple({"time": (t0 + timedelta(seconds=s)).isoformat().replace("+00:00", "Z"), "record_id": n,
                 "event_id": "1", "values": v} for n, (s, v) in enumerate(events))
    return SigmaMatch(source=Source(bundle_path=log), rule_id=rule_id, title=title, level="low", author="t",
                      tags=(), origin="user", rule_path="r.yml", channel="c", count=len(evs), first=None,
                      last=None, samples=(), events=evs)


def _corr(kind: str, refs: list[str], op: str, count: float, span: float, group=("user",), field=None,
          aliases=None, generate=False) -> correlate.Correlation:
    return correlate.Correlation(id=f"c-{kind}", title=kind, level="high", status="test", author="t",
                                 description="", tags=[], origin="user", path="c.yml", type=kind, refs=refs,
                                 ids=refs, group_by=list(group), timespan=span, op=op, count=count, fieldref=field,
                                 aliases=aliases or {}, generate=generate)


def test_event_count_windows_per_group():
    m = _match("a", "A", [(0, {"user": "x"}), (30, {"user": "x"}), (50, {"user": "y"}), (59, {"user": "x"}),
                          (200, {"user": "x"})])
    fired = correlate.evaluate(_corr("event_count", ["a"], "gte", 3, 60), [m])
    assert fired is not None and fired.count == 1  # x at 0, 30, 59; y alone; x at 200 alone
    assert [s["record_id"] for s in fired.samples] == [0, 1, 3]
    assert fired.first == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    assert correlate.evaluate(_corr("event_count", ["a"], "gte", 3, 58), [m]) is None  # 0..59 is 59 s
    # a burst fires once, the next window starts after it
    many = _match("a", "A", [(s, {"user": "x"}) for s in range(0, 10)])
    assert correlate.evaluate(_corr("event_count", ["a"], "gte", 5, 100), [many]).count == 1
    assert correlate.evaluate(_corr("event_count", ["a"], "gte", 5, 4), [many]).count == 2


def test_value_count_counts_distinct_values():
    m = _match("a", "A", [(0, {"user": "x", "commandline": "c1"}), (1, {"user": "x", "commandline": "c1"}),
                          (2, {"user": "x", "commandline": "c2"}), (3, {"user": "x", "commandline": None})])
    assert correlate.evaluate(_corr("value_count", ["a"], "gte", 2, 60, field="CommandLine"), [m]) is not None
    assert correlate.evaluate(_corr("value_count", ["a"], "gte", 3, 60, field="CommandLine"), [m]) is None


def test_temporal_and_ordered_with_aliases():
    """Two rules whose events name the user differently (aliases); temporal needs both within the
    span in any order, temporal_ordered in the order named."""
    a = _match("a", "A", [(100, {"user": "x"})])
    b = _match("b", "B", [(40, {"subjectusername": "x"}), (130, {"subjectusername": "y"})], log="logs/b.evtx")
    aliases = {"usr": {"a": "User", "b": "SubjectUserName"}}
    temporal = _corr("temporal", ["a", "b"], "gte", 2, 90, group=("usr",), aliases=aliases)
    fired = correlate.evaluate(temporal, [a, b])
    assert fired is not None and {s["bundle_path"] for s in fired.samples} == {"logs/a.evtx", "logs/b.evtx"}
    ordered = _corr("temporal_ordered", ["a", "b"], "gte", 2, 90, group=("usr",), aliases=aliases)
    assert correlate.evaluate(ordered, [a, b]) is None  # b came first for x; y has no a
    assert correlate.evaluate(_corr("temporal_ordered", ["b", "a"], "gte", 2, 90, group=("usr",),
                                    aliases={"usr": {"a": "User", "b": "SubjectUserName"}}), [a, b]) is not None
    assert correlate.evaluate(_corr("temporal", ["a", "b"], "gte", 2, 50, group=("usr",), aliases=aliases),
                              [a, b]) is None  # 60 s apart


def test_generate_false_hides_the_named_rules():
    a, other = _match("a", "A", [(0, {"user": "x"}), (1, {"user": "x"})]), _match("z", "Z", [(0, {})])
    out = correlate.apply([_corr("event_count", ["a"], "gte", 2, 60)], [a, other])
    assert [m.rule_id for m in out] == ["z", "c-event_count"]
    out = correlate.apply([_corr("event_count", ["a"], "gte", 2, 60, generate=True)], [a, other])
    assert [m.rule_id for m in out] == ["a", "z", "c-event_count"]


def test_real_sysmon_log_through_the_parser(rules, corpus):
    """aptsimulatorvm's Sysmon log: the parser keeps each match's events for the correlations, and
    they fire on what the log holds (SYSTEM ran six cmd.exe with distinct command lines within 13 s)."""
    from triage.parsers.base import input_from_file
    from triage.parsers.evtx.parser import EvtxParser
    from triage.sigma.engine import register

    rs = load_rules([rules], builtin=False)
    register(rs)
    item = input_from_file(corpus / APTSIM_SYSMON, "Windows/System32/winevt/Logs/" + Path(APTSIM_SYSMON).name)
    item.options["evtx_sigma_key"] = rs.key
    matches = [r for r in EvtxParser().parse(item) if isinstance(r, SigmaMatch)]
    cmd = next(m for m in matches if m.title == "Cmd started")
    assert cmd.count == len(cmd.events) >= 10
    assert all(set(e["values"]) == {"user", "commandline"} and e["time"].endswith("Z") for e in cmd.events)
    out = correlate.apply(rs.correlations, matches)
    fired = {m.title: m for m in out if m.rule_id in {c.id for c in rs.correlations}}
    distinct = fired["Many distinct cmd command lines"]
    assert distinct.level == "medium" and distinct.count >= 1
    users = {s["fields"]["user"] for s in distinct.samples}
    assert users == {"NT AUTHORITY\\SYSTEM"}
    assert len({s["fields"]["CommandLine"] for s in distinct.samples}) >= 5


def test_correlation_findings_in_every_output(rules, corpus, tmp_path):
    """collect -> analyze --sigma: the correlation's finding in summary.json (with the rule's author
    and its records), its rows in the timeline, its rule in report.html."""
    from triage.cli import main

    logs = tmp_path / "host" / "Windows" / "System32" / "winevt" / "Logs"
    logs.mkdir(parents=True)
    shutil.copyfile(corpus / APTSIM_SYSMON, logs / Path(APTSIM_SYSMON).name)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main(["collect", "--target", str(tmp_path / "host"), "--output", str(tmp_path / "b"), "--quiet"]) == 0
        assert main(["analyze", str(tmp_path / "b"), "--output", str(tmp_path / "a"), "--no-yara", "--jobs", "1",
                     "--no-builtin-sigma", "--sigma", str(rules)]) == 0
    host = next((tmp_path / "a" / "hosts").glob("*/"))
    summary = json.loads((host / "summary.json").read_text("utf-8"))
    f = next(x for x in summary["findings"] if x["title"] == "Many distinct cmd command lines")
    assert f["rule"] == "sigma:6f6c1a2e-8a55-4a5e-9a57-3c1f0a0e0003" and "triage tests" in f["reason"]
    assert f["evidence"][0]["locator"].startswith("record ")
    titles = {m["title"] for m in summary["sigma"]["matches"]}
    assert "Cmd started" in titles  # named by a correlation that generates it
    rows = [json.loads(x) for x in (host / "timeline.jsonl").read_text("utf-8").splitlines()]
    assert any(r["source"] == f"sigma:{f['rule'][6:]}" and r["bundle_path"].endswith(".evtx") for r in rows)
    assert "Many distinct cmd command lines" in (host / "report.html").read_text("utf-8")


def test_a_burst_is_one_window_and_linear():
    """20,000 events of one group within one timespan: one window each way (a window per event
    scanned again per start would be 400 million steps here)."""
    burst = _match("a", "A", [(s // 1000, {"user": "x", "commandline": f"c{s}"}) for s in range(20_000)])
    for kind, count, field in (("event_count", 20_000, None), ("value_count", 20_000, "CommandLine")):
        fired = correlate.evaluate(_corr(kind, ["a"], "gte", count, 60, field=field), [burst])
        assert fired is not None and fired.count == 1 and len(fired.samples) == MAX_SAMPLES
    b = _match("b", "B", [(19, {"user": "x"})])
    fired = correlate.evaluate(_corr("temporal_ordered", ["a", "b"], "gte", 2, 60), [burst, b])
    assert fired is not None and fired.count == 1
