"""The responder's first minute (issue #16): the verdict block, the off-network activity section,
evidence links that reveal their record, a page that is not 37,000 px tall, and the fleet view's
verdict column, on a real collected host with a planted Run key, in real headless Chromium.

Screenshots of report.html and index.html go to $TRIAGE_TEST_ARTIFACTS (else pytest's temp dir);
the path is printed.
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
from datetime import timedelta
from pathlib import Path

import pytest
from _analyze_host import PLANT, analyzed_once, collected_bundle
from _chromium import open_page, require_chromium

from triage import verdict
from triage.analyze.summary import validate
from triage.report.html import render, write_report

PLANTED_CMD = "C:\\Users\\Public\\u.exe"


@pytest.fixture(scope="module")
def bundle(make_hosts, tmp_path_factory):
    return collected_bundle(make_hosts, tmp_path_factory.mktemp("bundles"), plant=(PLANT,))


@pytest.fixture(scope="module")
def analysis(bundle, tmp_path_factory):
    return analyzed_once(bundle, tmp_path_factory.mktemp("analysis"), strict=True)


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    out = Path(os.environ.get("TRIAGE_TEST_ARTIFACTS") or tmp_path_factory.mktemp("screenshots"))
    out.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {out}")
    return out


def _planted(summary: dict) -> dict:
    return next(a for a in summary["autoruns"] if a["name"] == "Updater" and a["command"] == PLANTED_CMD)


def _with_window_around_plant(summary: dict) -> dict:
    """The real summary plus an off-network window around the planted key's last write, as
    network.py would record one (hivex keeps the hive's old last-write time, which falls outside
    the host's real window), with the verdict decided again from it."""
    s = copy.deepcopy(summary)
    t = verdict.parse_time(_planted(s)["last_write"])
    start, end = (t - timedelta(hours=2)), (t + timedelta(hours=3))
    s["network"]["off_network_windows"].insert(0, {
        "start": start.isoformat().replace("+00:00", "Z"), "end": end.isoformat().replace("+00:00", "Z"),
        "reason": "no domain network and no VPN connected (test window)", "events_during": 0, "evidence": [],
        "domains": []})
    for f in s["findings"]:
        if f["rule"] == "autorun_user_writable" and "Updater" in f["title"]:
            f["off_network"] = True
    s["verdict"] = verdict.compute(s)
    return s


# -- the decision (analysis layer), on the real summary and on small hand-made ones --

def test_verdict_in_summary_decides_and_explains(analysis):
    v = analysis.summary["verdict"]
    validate(analysis.summary)
    assert v["level"] == "suspicious"  # one high rule (the planted key) and medium ones: not two high rules
    assert v["why"][0]["severity"] == "high" and "Updater" in v["why"][0]["title"]
    assert v["first_malicious"]["time"] == _planted(analysis.summary)["last_write"]
    assert v["first_malicious"]["time"] <= v["last_malicious"]["time"]
    # the host's real window (NetworkProfile: public network from 2022-02-05 on) holds Sigma findings
    wins = v["off_network_windows"]
    assert len(wins) == len(analysis.summary["network"]["off_network_windows"]) >= 1
    assert wins[0]["findings"] >= 1 and wins[0]["end"] is None and wins[0]["effective_end"]
    rules = {g["rule"]: g for g in v["top_rules"]}
    assert rules["computer_name_mismatch"]["count"] >= 2  # duplicates grouped, not listed one by one
    assert any(g["sigma"] for g in v["top_rules"])
    assert "WindowsScheduledTasks" in v["gaps"]["not_collected"] or v["gaps"]["not_collected"]


@pytest.mark.parametrize(("pairs", "level"), [
    ([], "nothing_found"),
    ([("a", "low"), ("b", "info")], "nothing_found"),
    ([("a", "medium")], "suspicious"),
    ([("a", "high"), ("a", "high")], "suspicious"),
    ([("a", "high"), ("b", "high")], "compromise_likely"),
    ([("a", "critical")], "compromise_likely"),
    ([("a", "bogus<script>")], "nothing_found"),
])
def test_level_rule(pairs, level):
    assert verdict.level_of(pairs) == level


def test_verdict_of_an_empty_summary_is_nothing_found():
    v = verdict.compute({"findings": [], "issues": [{"severity": "error", "message": "x"}],
                         "coverage": [{"artifact": "EventLogs", "collected": 0, "missing": 3, "parsed": False}]})
    assert v["level"] == "nothing_found" and v["first_malicious"] is None
    assert v["gaps"]["not_collected"] == ["EventLogs"] and v["gaps"]["issues"] == 1


def test_anchor_ids_are_derived_not_bundle_text(analysis):
    s = copy.deepcopy(analysis.summary)
    s["findings"][0]["evidence"][0]["locator"] = '"><img src=x onerror=alert(1)> id="x'
    page = render(s)
    assert "<img src=x" not in page
    assert 'id="x' not in page.replace('id="x"', "")


# -- the page, in Chromium --

@pytest.mark.chromium
def test_report_first_minute_in_chromium(analysis, tmp_path, shots):
    require_chromium()
    s = analysis.summary
    with open_page(analysis.report_path, tmp_path) as page:
        assert page.errors == [] and page.requests == []
        assert [m for m in page.console if m[0] in ("error", "warning")] == []
        order = page.evaluate("Array.from(document.querySelectorAll('main > section')).map(x => x.id)")
        assert order[:3] == ["verdict", "findings", "offnetwork"]
        block = page.inner_text("#verdict")
        assert page.inner_text("#verdict-level") == "Suspicious"
        assert "Autostart from a user-writable location: Updater" in page.inner_text("#verdict-why")
        assert "First malicious activity (UTC)" in block and "Last malicious activity (UTC)" in block
        first = s["verdict"]["first_malicious"]["time"].replace("T", " ").split(".")[0]
        assert first in block
        assert "Off-network windows (1)" in block and "still off at the end of the logs" in block
        assert "Top findings by rule" in block and "Event log from another computer name" in block
        assert "WindowsScheduledTasks" in block and "problems reading the evidence" in block
        # the real window lists what happened in it, the chart zoomed to it
        win = page.text_content("#offnet-0")  # all rows, the later pages too
        assert "User Account Created (4720)" in win and "event: " in win
        assert len(page.query_selector_all("#offnet-0 svg rect.wbar")) > 0
        band = page.query_selector("#activity svg rect.offnet").bounding_box()
        assert band["width"] >= 6  # visible, not a 1.5 px band on the 23-year axis
        # collapsed sensibly: the supporting sections are closed, the page is not 37,000 px tall
        assert page.evaluate("document.querySelector('#autoruns details').open") is False
        height = page.evaluate("document.documentElement.scrollHeight")
        assert height < 12000, height
        page.screenshot(path=str(shots / "report.html.png"), full_page=True)
        # an evidence link reveals its record: the records view opens, the right page of the table shows
        link = page.query_selector(".finding[data-rule='autorun_user_writable'] a.ev")
        target = link.get_attribute("href")[1:]
        assert target.startswith("rec-") and not page.is_visible(f"#{target}")
        link.click()
        page.wait_for_selector(f"#{target}", state="visible")
        row = page.inner_text(f"#{target}")
        assert "NTUSER.DAT" in row and "Updater" in row
        # a record on a later page of the paged records view is brought into view too
        rows = page.evaluate("Array.from(document.querySelectorAll('#t-records tbody tr')).map(r => r.id)")
        assert len(rows) > 25 and page.query_selector("#t-records[data-paged]") is not None
        last = rows[0] if rows.index(target) >= 25 else rows[-1]  # on another page than the target's
        assert not page.is_visible(f"#{last}")
        page.evaluate(f"location.hash = '#{last}'")
        page.wait_for_selector(f"#{last}", state="visible")
        assert "hl" in page.get_attribute(f"#{last}", "class")


@pytest.mark.chromium
def test_offnetwork_section_lists_planted_activity(analysis, tmp_path, shots):
    require_chromium()
    s = _with_window_around_plant(analysis.summary)
    validate(s)
    assert s["verdict"]["off_network_windows"][0]["deciding_findings"] == 1
    path = write_report(s, tmp_path / "report.html")
    with open_page(path, tmp_path) as page:
        assert page.errors == [] and page.requests == []
        win = page.text_content("#offnet-0")
        assert "Autostart from a user-writable location: Updater" in win  # the finding
        assert "autostart written (run)" in win and PLANTED_CMD in win    # the key itself
        assert "1 finding" in page.inner_text("#verdict")
        # the finding's link in the window leads to its card
        page.click("#offnet-0 a[href^='#finding-']")
        page.wait_for_selector(".finding.hl", state="visible")
        page.screenshot(path=str(shots / "report-planted-window.png"), full_page=False)


@pytest.mark.chromium
def test_index_shows_each_host_verdict_in_the_shared_style(bundle, tmp_path, shots):
    require_chromium()
    from triage.cli import main
    from triage.report.style import BASE_CSS

    out = tmp_path / "fleet"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main(["analyze", str(bundle), "--output", str(out), "--jobs", "1", "--quiet"]) == 0
    text = (out / "index.html").read_text("utf-8")
    assert BASE_CSS.strip() in text
    with open_page(out / "index.html", tmp_path) as page:
        assert page.errors == [] and page.requests == []
        heads = page.evaluate("Array.from(document.querySelectorAll('#host-table th')).map(t => t.textContent)")
        assert heads[:3] == ["#", "host", "verdict"]
        assert page.inner_text("#host-rows tr td:nth-child(3)") == "suspicious"
        page.screenshot(path=str(shots / "index.html.png"), full_page=True)


def test_many_windows_are_bounded_and_collapsed(analysis):
    """A laptop off the network every evening: 60 windows. The page lists 50, opens the first three
    and those holding a finding, and says where the rest are."""
    s = copy.deepcopy(analysis.summary)
    base = verdict.parse_time("2030-01-01T00:00:00Z")
    s["network"]["off_network_windows"] = [
        {"start": (base + timedelta(days=i)).isoformat().replace("+00:00", "Z"),
         "end": (base + timedelta(days=i, hours=8)).isoformat().replace("+00:00", "Z"),
         "reason": "test", "events_during": 0, "evidence": [], "domains": []} for i in range(60)]
    s["findings"][0]["when"] = "2030-01-10T01:00:00Z"  # inside window 10 (index 9)
    s["verdict"] = verdict.compute(s)
    page = render(s)
    assert "The first 50 of 60 windows" in page
    assert page.count('<div class="window"') == 50
    opened = [k for k in range(50) if f'id="offnet-{k}"><details open>' in page]
    assert opened == [0, 1, 2, 9]
    assert s["verdict"]["off_network_windows"][9]["findings"] == 1


def test_domains_counted_inside_a_window_only():
    from triage.analyze.window_visits import domains_in_window
    from triage.model import BrowserVisit, Source

    def visit(hour: int, url: str, n: int) -> BrowserVisit:
        return BrowserVisit(source=Source(bundle_path="files/C/Users/a/History", locator=f"visits.id={n}"),
                            browser="chrome", user="a", timestamp=verdict.parse_time(f"2024-05-01T{hour:02d}:00:00Z"),
                            url=url)

    recs = [visit(9, "https://before.example/", 1), visit(10, "https://Evil.example/a", 2),
            visit(11, "https://evil.example/b", 3), visit(11, "not a url", 4), visit(12, "https://after.example/", 5)]
    start, end = verdict.parse_time("2024-05-01T10:00:00Z"), verdict.parse_time("2024-05-01T12:00:00Z")
    got = domains_in_window(recs, start, end, None)
    assert [(d["domain"], d["visits"], d["first"], d["last"]) for d in got] == [
        ("evil.example", 2, "2024-05-01T10:00:00Z", "2024-05-01T11:00:00Z")]
    assert got[0]["locator"] == "visits.id=2"
    # still open at the end of the logs: up to and including the logs' last record time
    assert {d["domain"] for d in domains_in_window(recs, start, None, end)} == {"evil.example", "after.example"}


def test_srum_and_other_artifact_sections_feed_the_window_generically(analysis):
    """Another engineer adds SRUM: an ``artifacts.srum_network`` section with a timed column shows in
    the off-network section with no change here."""
    s = copy.deepcopy(analysis.summary)
    w = s["network"]["off_network_windows"][0]
    s["artifacts"]["srum_network"] = {
        "title": "SRUM network usage", "description": "bytes per app per hour",
        "columns": [{"field": "app", "label": "Application"}, {"field": "timestamp", "label": "Hour (UTC)"},
                    {"field": "bytes_sent", "label": "Bytes sent"}],
        "total": 1, "listed": 1,
        "entries": [{"app": "\\Device\\HarddiskVolume2\\Tools\\rclone.exe", "timestamp": w["start"],
                     "bytes_sent": 7340032, "bundle_path": "files/C/Windows/System32/sru/SRUDB.dat",
                     "locator": "table {973F5D5C} row 12"}]}
    page = render(s)
    window = page.split('id="offnet-0"')[1].split('<section id="activity"')[0]
    assert "SRUM network usage: Hour (UTC)" in window and "rclone.exe" in window
    assert 'id="artifact-srum_network"' in page
