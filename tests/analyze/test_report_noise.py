"""Known-benign background in report.html (issue #16 item 4), on a real collected host with a
planted Run key, in real headless Chromium: the planted key is listed before any noise, the noise
sits in its own collapsed group "Known-benign background (N)", and opening it shows each reason."""

from __future__ import annotations

import pytest
from _analyze_host import PLANT, analyzed_once, collected_bundle
from _chromium import open_page, require_chromium

RUN_KEY = "Autostart from a user-writable location: Updater"


@pytest.fixture(scope="module")
def analysis(make_hosts, tmp_path_factory):
    bundle = collected_bundle(make_hosts, tmp_path_factory.mktemp("bundles"), plant=(PLANT,))
    return analyzed_once(bundle, tmp_path_factory.mktemp("analysis"), strict=True)


@pytest.mark.chromium
def test_planted_run_key_before_noise_and_noise_says_why(analysis, tmp_path):
    require_chromium()
    benign = [f for f in analysis.summary["findings"] if f.get("noise")]
    assert benign, "the make-host-tree host has per-user OneDrive / Defender autostarts: expected noise"
    with open_page(analysis.report_path, tmp_path) as page:
        assert page.errors == [] and page.requests == []
        titles = page.evaluate(
            "Array.from(document.querySelectorAll('#findings .finding .title, #findings tr.finding-row b'))"
            ".map(x => [x.textContent, !!x.closest('#noise-group')])")
        first_noise = next(i for i, (_, in_group) in enumerate(titles) if in_group)
        planted = next(i for i, (t, _) in enumerate(titles) if t == RUN_KEY)
        assert planted == 0 and planted < first_noise
        assert all(in_group for _, in_group in titles[first_noise:])  # nothing real after the noise
        # the report groups alike findings (rule, title, severity) in one row, "×N" when N > 1
        alike = {(f["rule"], f["title"]) for f in benign}
        assert sum(in_group for _, in_group in titles) == len(alike)
        summary = page.inner_text("#noise-group > summary")
        assert summary == f"Known-benign background ({len(benign)})"
        assert page.evaluate("document.querySelector('#noise-group').open") is False
        assert not page.is_visible("#noise-group .noise-why")
        page.click("#noise-group > summary")
        page.wait_for_selector("#noise-group .noise-why", state="visible")
        reasons = page.inner_text("#t-noise")
        for f in benign:
            assert f"known-benign: {f['noise']}" in reasons
        if len(alike) < len(benign):
            assert "×" in reasons
        assert "1 known-benign finding" not in page.inner_text("#verdict")  # there are several
        assert f"{len(benign)} known-benign findings not counted" in page.inner_text("#verdict")
        assert page.inner_text("#verdict-level") == "Suspicious"
