"""The off-network window's table: only the rows it shows are rendered (the first MAX_ROWS by time);
the count and the chart still cover every item. Sigma matches fill windows: 182 matched records of
one host pushed its window past the cap, and every row past it was made and thrown away."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from triage.report import offnetwork
from triage.report.tables import MAX_ROWS

T0 = datetime(2022, 3, 10, 16, 0, tzinfo=UTC)


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def _summary(n: int) -> dict:
    records = [{"bundle_path": "files/Sysmon.evtx", "locator": f"record {i}", "record_id": i,
                "time": _iso(T0 + timedelta(seconds=i)), "fields": {"CommandLine": f"a{i}.exe"}} for i in range(n)]
    return {"network": {"computed": True, "connectivity_events": 2,
                        "off_network_windows": [{"start": _iso(T0), "end": _iso(T0 + timedelta(hours=2)),
                                                 "reason": "no domain network"}]},
            "sigma": {"matches": [{"rule_id": "r1", "title": "Rule <one>", "records": records}]}}


def test_only_the_shown_rows_are_rendered_and_every_item_is_counted(monkeypatch):
    n = MAX_ROWS + 137
    made = []
    row = offnetwork._row
    monkeypatch.setattr(offnetwork, "_row", lambda i: made.append(i) or row(i))
    page = offnetwork.render(_summary(n))
    assert len(made) == MAX_ROWS and made[0][0] == T0  # the first rows by time, no more
    table = re.search(r'<table id="t-offnet-0".*?</table>', page, re.S)
    assert table and table.group().count("<tr>") == MAX_ROWS + 1  # + the header row
    assert f"Showing {MAX_ROWS} of {n}" in page and f"{n} timed items inside" in page
    assert "Rule &lt;one&gt;" in page and "Rule <one>" not in page
    bars = sum(int(x) for x in re.findall(r"<title>(\d+) items?</title>", page))
    assert bars == n  # the chart draws every item, shown in the table or not


def test_a_window_under_the_cap_shows_every_row():
    page = offnetwork.render(_summary(3))
    table = re.search(r'<table id="t-offnet-0".*?</table>', page, re.S)
    assert table and table.group().count("<tr>") == 4 and "Showing" not in page
