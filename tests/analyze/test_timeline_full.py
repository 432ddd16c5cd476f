"""``--timeline full``: every event-log record of a collected corpus host in timeline.jsonl/csv,
one time format for every row, sorted by an external merge sort."""

from __future__ import annotations

import csv
import json
import random
from datetime import UTC, datetime

import pytest
from _analyze_host import PLANT, analyzed_once, collected_bundle

from triage.analyze import timeline_full
from triage.analyze.timeline_full import FULL_COLUMNS, ExternalSort


def test_external_sort_merges_spilled_runs_in_order(tmp_path):
    rng = random.Random(7)
    rows = [{"datetime": f"2024-01-{rng.randint(1, 28):02d}T00:00:{rng.randint(0, 59):02d}.000000Z",
             "timestamp_desc": rng.choice("ab"), "bundle_path": "x", "locator": f"record {i}", "i": i}
            for i in range(1000)]
    s = ExternalSort(tmp_path, run_rows=64)
    for r in rows:
        s.add(r)
    assert len(s.runs) == 1000 // 64  # spilled: memory holds one run at a time
    got = [json.loads(line) for line in s]
    key = lambda r: (r["datetime"], r["timestamp_desc"], r["bundle_path"], r["locator"])  # noqa: E731
    assert [r["i"] for r in got] == [r["i"] for r in sorted(rows, key=key)]


@pytest.fixture(scope="session")
def full(make_hosts, tmp_path_factory):
    bundle = collected_bundle(make_hosts, tmp_path_factory.mktemp("bundles"), plant=(PLANT,))
    old = timeline_full.RUN_ROWS
    timeline_full.RUN_ROWS = 2000  # several runs on a small host: the merge path is what runs
    try:
        return analyzed_once(bundle, tmp_path_factory.mktemp("full"), strict=True, options={"timeline": "full"})
    finally:
        timeline_full.RUN_ROWS = old


def _parse_all(texts: list[str]) -> list[datetime]:
    try:
        import pandas as pd
    except ImportError:
        return [datetime.fromisoformat(t.replace("Z", "+00:00")) for t in texts]
    return list(pd.to_datetime(texts, format="ISO8601", utc=True).to_pydatetime())


def test_full_timeline_has_every_event_log_record(full):
    rows = [json.loads(line) for line in (full.out_dir / "timeline.jsonl").open(encoding="utf-8")]
    logs = full.summary["event_logs"]
    evtx_rows = [r for r in rows if r["record_type"] == "windows/evtx/record"]
    assert logs and len(evtx_rows) == sum(lg["records"] for lg in logs)
    per_log = {lg["bundle_path"]: lg["records"] for lg in logs}
    assert {bp: sum(r["bundle_path"] == bp for r in evtx_rows) for bp in per_log} == per_log
    # one precision for every row, and every row parses
    assert {len(r["datetime"]) for r in rows} == {27} and all(r["datetime"].endswith("Z") for r in rows)
    times = _parse_all([r["datetime"] for r in rows])
    assert all(t.tzinfo is not None for t in times) and times == sorted(times)
    assert all(int(t.timestamp() * 1_000_000) == r["timestamp"] for t, r in zip(times, rows, strict=True))
    # typed records read as in the highlights, the others name their provider and data
    typed = [r for r in evtx_rows if r["timestamp_desc"] != "Event logged"]
    assert typed and any(r["message"].startswith("Security 4624: logon type") for r in typed)
    assert all(r["provider"] and r["record_id"] == int(r["locator"].split()[1]) for r in evtx_rows)
    assert not [i for i in full.summary["issues"] if "full timeline" in i["message"]]


def test_full_timeline_csv_for_timesketch(full):
    with (full.out_dir / "timeline.csv").open(encoding="utf-8", newline="") as fh:
        table = list(csv.reader(fh))
    assert tuple(table[0]) == FULL_COLUMNS and table[0][:3] == ["datetime", "timestamp_desc", "message"]
    jsonl = sum(1 for _ in (full.out_dir / "timeline.jsonl").open(encoding="utf-8"))
    assert len(table) - 1 == jsonl == full.counts["timeline_rows"]
    assert all(len(row) == len(FULL_COLUMNS) and row[0].endswith("Z") for row in table[1:])
    assert datetime.fromisoformat(table[1][0].replace("Z", "+00:00")).tzinfo == UTC


def test_cli_option_reaches_the_host(make_hosts, tmp_path_factory):
    """`triage analyze --timeline full` (the batch path: options travel to the worker) writes the
    full columns; without the option the highlights' columns."""
    import contextlib
    import io

    from triage.analyze.timeline import COLUMNS
    from triage.cli import main

    bundle = collected_bundle(make_hosts, tmp_path_factory.mktemp("bundles"), plant=(PLANT,))
    for mode, columns in (("full", FULL_COLUMNS), ("highlights", COLUMNS)):
        out = tmp_path_factory.mktemp(f"cli-{mode}")
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            rc = main(["analyze", str(bundle), "--output", str(out), "--jobs", "1", "--no-yara", "--no-sigma",
                       "--timeline", mode, "--quiet"])
        assert rc == 0
        (csv_path,) = out.glob("hosts/*/timeline.csv")
        with csv_path.open(encoding="utf-8", newline="") as fh:
            assert tuple(next(csv.reader(fh))) == columns


def test_unreadable_bundle_gives_a_problem_and_the_other_rows(tmp_path):
    from triage.analyze.timeline_full import write_full_timeline
    from triage.model import EventLogStats, HostFact, Source

    t = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    records = [EventLogStats(source=Source(bundle_path="files/C/Windows/System32/winevt/Logs/System.evtx"),
                             channel="System", records=3, errors=0, first=t, last=t),
               HostFact(source=Source(bundle_path="files/C/Windows/System32/config/SOFTWARE"), key="install_date",
                        value=t)]
    gone = tmp_path / "gone.zip"
    n, problems = write_full_timeline(records, [], tmp_path, host="H", bundle_path=gone)
    assert n == 1 and len(problems) == 1 and "gone.zip" in problems[0]
    (row,) = [json.loads(line) for line in (tmp_path / "timeline.jsonl").open(encoding="utf-8")]
    assert row["timestamp_desc"] == "OS installed" and row["datetime"] == "2024-05-01T12:00:00.000000Z"
