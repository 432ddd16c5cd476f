"""report.html: self-contained, escaped, and rendered by a real headless Chromium without errors."""

from __future__ import annotations

import copy
import json
import re

import pytest
from _analyze_host import PLANT, analyzed_once, collected_bundle
from _chromium import open_page, require_chromium

from triage.report.html import render, write_report

EVIL = '</script><script>alert("x")</script><img src=x onerror=alert(1)>"\'&\u202e\u0000ü漢'


@pytest.fixture(scope="module")
def analysis(make_hosts, tmp_path_factory):
    bundle = collected_bundle(make_hosts, tmp_path_factory.mktemp("bundles"), plant=(PLANT,))
    return analyzed_once(bundle, tmp_path_factory.mktemp("analysis"), strict=True)


def _hostile_summary(summary: dict) -> dict:
    """The real summary with hostile text in every string field a bundle can influence."""
    s = copy.deepcopy(summary)

    def poison(obj):
        if isinstance(obj, dict):
            for k, v in obj.items():
                if isinstance(v, str) and k not in ("severity", "generated", "when", "start", "end", "first",
                                                    "last", "timestamp", "last_write", "schema_version", "time",
                                                    "effective_end"):
                    obj[k] = v + EVIL
                else:
                    poison(v)
        elif isinstance(obj, list):
            for i, v in enumerate(obj):
                if isinstance(v, str):
                    obj[i] = v + EVIL
                else:
                    poison(v)

    for key in ("host", "autoruns", "executions", "event_logs", "events", "browser", "downloads", "findings",
                "coverage", "issues", "yara", "network", "sigma", "artifacts", "verdict"):
        poison(s[key])
    s["bundle"]["name"] += EVIL
    s["bundle"]["verify_problems"] = [EVIL]
    return s


def test_self_contained_and_escaped(analysis, tmp_path):
    text = analysis.report_path.read_text("utf-8")
    assert text.startswith("<!DOCTYPE html>")
    # no external resources of any kind
    # nothing fetched: no src, no href except in-page anchors (#sigma-<rule>), no CSS imports
    assert not re.search(r"""\ssrc\s*=|\shref\s*=\s*(?!["']#)|@import|url\(|<link|<iframe|<object|<embed""",
                         text, re.I)
    page = render(_hostile_summary(analysis.summary))
    assert "<img src=x" not in page and 'alert("x")</script><script>' not in page
    assert page.count("<script") == 2 and page.count("</script>") == 2
    assert "&lt;/script&gt;&lt;script&gt;alert(&quot;x&quot;)" in page


@pytest.mark.chromium
def test_report_renders_in_chromium(analysis, tmp_path):
    require_chromium()
    s = analysis.summary
    with open_page(analysis.report_path, tmp_path) as page:
        assert page.errors == []
        assert [m for m in page.console if m[0] in ("error", "warning")] == []
        assert page.requests == []
        assert page.inner_text("#hostname") == s["host"]["hostname"]
        cards = page.query_selector_all("#findings .finding")
        rows = page.query_selector_all("#findings tr.finding-row")
        # duplicates (same rule, title, severity) are grouped; every finding keeps its anchor
        groups = {(f["rule"], f["title"], f["severity"]) for f in s["findings"]}
        assert len(cards) + len(rows) == len(groups) > 0
        for f in s["findings"]:
            assert page.query_selector(f"#findings #finding-{f['id'].lower()}") is not None
        titles = [c.inner_text() for c in cards]
        assert any("Updater" in t and "C:\\Users\\Public\\u.exe" in t for t in titles)
        # the verdict, then the findings, come before everything else on the page
        order = page.evaluate("Array.from(document.querySelectorAll('main > section')).map(x => x.id)")
        assert order[:2] == ["verdict", "findings"]
        for sev, n in s["verdict"]["by_severity"].items():
            assert page.inner_text(f'.pill[data-severity="{sev}"]').startswith(f"{n} ")
        assert len(page.query_selector_all("#activity svg rect.bar")) == len(s["activity"]["bins"])
        # the table filter works (inline JS ran), in the collapsed section once opened
        page.click("#autoruns summary")
        page.fill('input[data-table="t-autoruns"]', "Updater")
        visible = page.evaluate("Array.from(document.querySelectorAll('#t-autoruns tbody tr'))"
                                ".filter(r => r.style.display !== 'none').map(r => r.textContent)")
        assert visible and all("Updater" in v for v in visible)
        assert page.evaluate("window.triageSummary.hostname") == s["host"]["hostname"]


@pytest.mark.chromium
def test_hostile_report_in_chromium(analysis, tmp_path):
    require_chromium()
    hostile = _hostile_summary(analysis.summary)
    path = write_report(hostile, tmp_path / "report.html")
    with open_page(path, tmp_path) as page:
        dialogs = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.reload(wait_until="load")
        assert dialogs == [] and page.errors == [] and page.requests == []
        assert [m for m in page.console if m[0] == "error"] == []
        assert page.evaluate("document.querySelectorAll('img, iframe, object, embed').length") == 0
        assert page.evaluate("document.querySelectorAll('script').length") == 2
        # the hostile text is shown literally, and survives the JSON data island intact
        shown = page.inner_text("#hostname")
        assert '</script><script>alert("x")</script><img src=x onerror=alert(1)>' in shown and "ü漢" in shown
        assert page.evaluate("window.triageSummary.hostname") == hostile["host"]["hostname"]
        first = page.query_selector("#findings .finding .title")
        assert first is not None and "<img src=x onerror=alert(1)>" in first.inner_text()


def test_refused_bundle_report(analysis, tmp_path):
    s = copy.deepcopy(analysis.summary)
    s["bundle"].update(verified=False, refused=True, verify_problems=["member x: sha256 mismatch"])
    s["findings"] = []
    page = render(s)
    assert "REFUSED" in page and "sha256 mismatch" in page
    assert json.loads(re.search(r'id="triage-data">(.*?)</script>', page, re.S).group(1))["findings"] == []


def test_bidi_and_control_characters_are_made_visible():
    from triage.report.html import e

    assert e("invoice\u202egpj.exe") == "invoice[U+202E]gpj.exe"
    assert e("a\x00b\x1bc") == "a\ufffdb\ufffdc"
    assert e('<a href="x">') == "&lt;a href=&quot;x&quot;&gt;"


def test_paths_wrap_at_separators_not_mid_name():
    from triage.report.escape import ep

    assert ep("C:\\Users\\<b>/x") == "C:\\<wbr>Users\\<wbr>&lt;b&gt;/<wbr>x"
    assert ep("a\u202eb/c") == "a[U+202E]b/<wbr>c"
