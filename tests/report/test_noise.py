"""Known-benign background and grouped counts in report.html and the verdict (issue #16 item 4),
on small hand-made summaries: real suspects first, noise in its own collapsed group with its
reason (escaped), a finding's ``count`` as "×N", and noise never deciding the verdict."""

from __future__ import annotations

import pytest

from triage import verdict
from triage.report import findings, noise
from triage.report.html import render

EVIL = '<img src=x onerror=alert(1)>"\'&'
RUN = "Autostart from a user-writable location: Updater"
DRIVE = "Autostart from a user-writable location: OneDrive"


def _f(n: int, title: str, severity: str, noise_why: str | None = None, count: int | object = 1,
       when: str = "2024-01-01T12:00:00Z") -> dict:
    return {"id": f"F{n:04d}", "rule": "autorun_user_writable", "severity": severity, "title": title,
            "reason": f"reason {n}", "noise": noise_why, "count": count, "when": when, "evidence": []}


def _summary(fs: list[dict]) -> dict:
    s = {"findings": fs, "issues": [], "coverage": [], "network": {"off_network_windows": []}}
    s["verdict"] = verdict.compute(s)
    return s


def test_real_suspects_first_noise_collapsed_with_reason_escaped():
    # noise listed first and earlier in time: the report must still put the real suspect first
    fs = [_f(1, DRIVE, "info", f"per-user OneDrive {EVIL}", count=24, when="2020-01-01T00:00:00Z"),
          _f(2, "Executed from an unusual location: MSMPENG.EXE", "info", "Microsoft Defender's own folder"),
          _f(3, RUN, "high", count=3), _f(4, "Some low thing", "low")]
    page = findings.render(_summary(fs))
    assert page.index(RUN) < page.index('id="noise-group"') < page.index(DRIVE)
    assert page.index("Some low thing") < page.index('id="noise-group"')
    group = page[page.index('<details id="noise-group">'):]
    assert group.startswith('<details id="noise-group"><summary>Known-benign background (2)</summary>')
    assert "known-benign: per-user OneDrive &lt;img" in group and "<img" not in page
    assert "Microsoft Defender&#x27;s own folder" in group or "Microsoft Defender&#39;s own folder" in group
    assert "×24" in group and "×3" in page[:page.index('id="noise-group"')]
    assert "2 findings, 2 groups, 2 known-benign" in page


def test_no_noise_no_group():
    page = findings.render(_summary([_f(1, RUN, "high")]))
    assert "noise-group" not in page and "×" not in page


def test_noise_never_decides_the_verdict():
    why = "per-user Google Update"
    # a summary that still carries the rule's severity beside noise (older analyzer, hand-edited)
    v = verdict.compute({"findings": [_f(1, DRIVE, "critical", why), _f(2, DRIVE, "high", why, count=5)]})
    assert v["level"] == "nothing_found" and v["why"] == [] and v["first_malicious"] is None
    assert v["known_benign"] == 2 and v["top_rules"] == []
    v = verdict.compute({"findings": [_f(1, DRIVE, "info", why), _f(2, RUN, "high", count=7),
                                      _f(3, RUN + "2", "high", count=2)]})
    assert v["level"] == "suspicious" and v["known_benign"] == 1
    assert [w["count"] for w in v["why"]] == [7, 2]
    assert v["top_rules"][0]["count"] == 2 and v["top_rules"][0]["records"] == 9


def test_verdict_block_shows_counts_and_the_noise_note():
    s = _summary([_f(1, DRIVE, "info", "per-user OneDrive"), _f(2, RUN, "high", count=7)])
    page = render(s)
    block = page[page.index('<section id="verdict">'):page.index("</section>", page.index('<section id="verdict">'))]
    assert "×7" in block.split('id="verdict-why"')[1].split("</ul>")[0]
    assert "1 known-benign finding not counted" in block and 'href="#noise-group"' in block
    assert "×7" in block.split('id="t-top"')[1]


@pytest.mark.parametrize("raw, n", [(None, 1), (0, 1), (-5, 1), ("lots", 1), (True, 1), (2.5, 1), (12, 12)])
def test_hostile_counts_read_as_one(raw, n):
    assert noise.count_of({"count": raw}) == n
    assert noise.times(noise.count_of({"count": raw})) == ("" if n == 1 else
                                                           '<span class="badge count" title="12 entries or '
                                                           'records grouped">×12</span>')
