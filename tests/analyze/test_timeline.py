"""Timeline rows: one per (time, meaning), sorted UTC, Timesketch CSV, spreadsheet-safe cells."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta

from triage.analyze.timeline import COLUMNS, csv_safe, record_times, write_timeline
from triage.model import (
    Autorun,
    BrowserDownload,
    EventLogStats,
    Execution,
    Finding,
    HostFact,
    Source,
    UserAccount,
)

T0 = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)


def _records():
    s = Source(bundle_path="files/C/Users/a/NTUSER.DAT", locator="Run\\evil", user="a")
    return [
        Execution(source=Source(bundle_path="files/C/Windows/Prefetch/A.EXE-1.pf", locator="=HYPERLINK(1)"),
                  kind="prefetch", executable="=2+3", run_count=3, last_runs=(T0 + timedelta(days=2), T0, T0 + timedelta(days=1))),
        Autorun(source=s, category="run", location="HKU\\a\\...\\Run", name='=HYPERLINK("http://x","y")',
                command='+cmd|" /c calc"!A0,\n"quoted", comma', last_write=T0 - timedelta(hours=1)),
        BrowserDownload(source=Source(bundle_path="files/C/Users/a/History", locator="downloads.id=1"),
                        browser="chrome", user="a", start=T0 + timedelta(minutes=1), end=T0 + timedelta(minutes=2),
                        url="@SUM(1+1)", target_path="-2+3"),
        HostFact(source=Source(bundle_path="files/C/Windows/System32/config/SOFTWARE"), key="install_date",
                 value=T0 - timedelta(days=300)),
        HostFact(source=Source(bundle_path="files/C/Windows/System32/config/SYSTEM"), key="hostname", value="H"),
        UserAccount(source=Source(bundle_path="files/C/Windows/System32/config/SAM"), name="bob", last_write=None),
        EventLogStats(source=Source(bundle_path="files/C/x.evtx"), channel="System", records=1, errors=0,
                      first=T0, last=T0),
    ]


def test_record_times_meanings():
    recs = _records()
    assert [d for _, d in record_times(recs[0])] == ["Prefetch last run"] * 3
    assert record_times(recs[1]) == [(T0 - timedelta(hours=1), "Registry key last write")]
    assert [d for _, d in record_times(recs[2])] == ["Download started", "Download finished"]
    assert record_times(recs[3])[0][1] == "OS installed"
    assert record_times(recs[4]) == [] and record_times(recs[5]) == [] and record_times(recs[6]) == []


def test_write_timeline_sorted_and_safe(tmp_path):
    finding = Finding(source=Source(bundle_path="files/C/Users/a/NTUSER.DAT"), rule="r", severity="high",
                      title="t", reason="why", when=T0 + timedelta(minutes=1, seconds=30))
    n = write_timeline(_records(), [finding], tmp_path, host="H<1>")
    assert n == 3 + 1 + 2 + 1 + 1
    rows = [json.loads(x) for x in (tmp_path / "timeline.jsonl").read_text("utf-8").splitlines()]
    assert len(rows) == n
    times = [datetime.fromisoformat(r["datetime"].replace("Z", "+00:00")) for r in rows]
    assert times == sorted(times) and all(t.tzinfo is not None for t in times)
    assert all(r["datetime"].endswith("Z") and r["host"] == "H<1>" for r in rows)
    assert rows[0]["timestamp_desc"] == "OS installed"
    assert [r["timestamp_desc"] for r in rows].count("Prefetch last run") == 3
    assert any(r["timestamp_desc"].startswith("Finding") for r in rows)
    # JSONL keeps the raw text; the CSV neutralises formulas and escapes quotes/commas/newlines
    assert any(r["message"].startswith("Autorun [run] =HYPERLINK") for r in rows)
    with open(tmp_path / "timeline.csv", encoding="utf-8", newline="") as fh:
        table = list(csv.reader(fh))
    assert tuple(table[0]) == COLUMNS and table[0][:3] == ["datetime", "timestamp_desc", "message"]
    assert len(table) == n + 1
    for row in table[1:]:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@")), cell
    runs = [r for r in table[1:] if r[1] == "Prefetch last run"]
    assert runs and all(r[2].startswith("'=2+3 executed") and r[COLUMNS.index("locator")] == "'=HYPERLINK(1)"
                        for r in runs)
    assert any(r["message"].startswith("=2+3") for r in rows)  # JSONL is not a spreadsheet: unchanged
    auto = [r for r in table[1:] if r[1] == "Registry key last write"][0]
    assert '"quoted", comma' in auto[2]   # csv module round-trips hostile quotes and commas


def test_csv_safe():
    assert csv_safe("=1+1") == "'=1+1" and csv_safe("+x") == "'+x" and csv_safe("-x") == "'-x"
    assert csv_safe("@x") == "'@x" and csv_safe("\tx") == "'\tx"
    assert csv_safe("a=b") == "a=b" and csv_safe(None) == "" and csv_safe(5) == "5"
