"""index.html: ranked hosts, rare items, chart, links; self-contained; hostile strings escaped;
checked in real headless Chromium."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from _chromium import open_page, require_chromium
from _fleet_helpers import HOSTS

from triage.fleet import index, score, stacking
from triage.fleet.store import open_store, record_bundle


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.srcs: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for k, v in attrs:
            if k == "href":
                self.hrefs.append(v)
            if k == "src":
                self.srcs.append(v)


def test_index_ranks_hosts_and_links_their_reports(fleet):
    page = fleet.index_snapshot.read_text()
    links = _Links()
    links.feed(page)
    assert links.tags.count("script") == 2 and not links.srcs  # the data block and the page's own script
    assert f"<script>{index.SCRIPT}</script>" in page
    reports = [h for h in links.hrefs if h.endswith("report.html")]
    assert reports and all((fleet.out / h).is_file() for h in reports)
    assert all(not re.match(r"^[a-z]+:", h) for h in links.hrefs)  # relative links only
    # the hosts table lists every host, best first, as ranked in the store
    table = page.split("id='hosts'")[1].split("id='activity'")[0]
    order = re.findall(r">(host-\d{3})</a>", table)
    assert order == [name for name, _ in fleet.ranking]
    assert len(order) == HOSTS
    for name in fleet.planted_hosts():
        assert name in page
    assert "seen on 1 of 32" in page
    assert "garbage.zip" in page and fleet.truncated.name in page


def test_index_in_headless_chromium(fleet, tmp_path):
    require_chromium()
    with open_page(fleet.index_snapshot, tmp_path) as page:
        assert page.errors == []
        assert [m for m in page.console if m[0] in ("error", "warning")] == []
        assert page.requests == []  # self-contained: nothing fetched
        rows = page.query_selector_all("#host-rows > tr")
        assert len(rows) == HOSTS  # every host on the first page (fewer than index.PAGE)
        # the rows follow the store's ranking (planted and attack-trace hosts first)
        shown = [r.query_selector_all("td")[1].query_selector("a").inner_text() for r in rows]
        assert shown == [name for name, _ in fleet.ranking]
        top = set(shown[:len(fleet.planted_hosts() | fleet.attack_trace_hosts())])
        assert fleet.planted_hosts() <= top
        svg = page.query_selector("svg")
        assert svg is not None and svg.bounding_box()["width"] > 500
        with fleet.db() as conn:
            timed = conn.execute("SELECT COUNT(*) FROM findings WHERE when_utc >= '1990'").fetchone()[0]
        dots = page.query_selector_all("svg circle")
        assert 0 < len(dots) <= timed
        titles = [d.query_selector("title").text_content() for d in dots]
        assert all(re.search(r"\((off network|on network|network unknown)\)$", t) for t in titles)
        link = rows[0].query_selector("a").get_attribute("href")
        assert (fleet.out / link).is_file()


HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def _hostile_store(tmp_path: Path):
    """A store loaded from summaries whose every string is markup (as a hostile bundle could make
    them): the page must show them as text."""
    conn = open_store(tmp_path / "fleet.sqlite")
    for i in range(6):
        name = f"{HOSTILE}{i}" if i == 0 else f"h{i}"
        (tmp_path / "hosts" / f"h{i}").mkdir(parents=True)
        summary = {
            "host": {"hostname": name, "os": HOSTILE}, "bundle": {"collection": {"hostname": name}},
            "autoruns": [{"category": "run", "location": HOSTILE, "name": HOSTILE, "command": f"{HOSTILE}{i}",
                          "bundle_path": HOSTILE, "locator": HOSTILE}],
            "executions": [], "events": [], "browser": [{"browser": "chrome", "top_domains": [
                {"domain": "<b>bold</b>.example", "visits": 1}]}],
            "downloads": [], "yara": [], "network": {"off_network_windows": [
                {"start": "2024-01-01T00:00:00Z", "end": "2024-01-02T00:00:00Z"}]},
            "findings": [{"rule": HOSTILE, "severity": "high", "title": HOSTILE, "reason": HOSTILE,
                          "when": "2024-01-01T12:00:00Z", "off_network": True}],
            "issues": [],
        }
        record_bundle(conn, {"path": f"/x/{HOSTILE}{i}.zip", "sha256": f"{i:064x}", "analyzer_version": "t",
                             "status": "ok", "host_dir": f"hosts/h{i}", "host": name}, summary)
    record_bundle(conn, {"path": f"/x/{HOSTILE}.zip", "sha256": "f" * 64, "analyzer_version": "t",
                         "status": "failed", "error": HOSTILE}, None)
    conn.commit()
    stacking.record_rare(conn, 1)
    score.compute_scores(conn)
    return conn


def test_every_bundle_string_is_escaped(tmp_path):
    conn = _hostile_store(tmp_path)
    page = index.render_index(conn, rare_threshold=1, ioc_files=[HOSTILE], issues=[HOSTILE])
    ours = page.replace(f"<script>{index.SCRIPT}</script>", "").replace("<script type='application/json'", "")
    assert "<script" not in ours and "<img" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page


def test_hostile_index_in_headless_chromium(tmp_path):
    require_chromium()
    conn = _hostile_store(tmp_path)
    path = index.write_index(conn, tmp_path, rare_threshold=1, ioc_files=[], issues=[])
    with open_page(path, tmp_path) as page:
        assert page.errors == [] and page.requests == []
        scripts = page.query_selector_all("script")
        assert [s.get_attribute("type") for s in scripts] == ["application/json", None]
        assert scripts[1].text_content() == index.SCRIPT and page.query_selector_all("img") == []
        assert HOSTILE + "0" in page.inner_text("#host-table")  # drawn by the script, as text
        # the one off-network finding per host is drawn ringed, over a shaded window
        assert len(page.query_selector_all("svg circle[stroke]")) == 6
        assert any("off network" in t.text_content() for t in page.query_selector_all("svg rect title"))


@pytest.mark.parametrize("rel", ["hosts/a b/report.html", "../../etc/passwd", "javascript:alert(1)"])
def test_links_stay_relative_and_inside(rel):
    out = index.href(rel)
    assert not out.startswith(("/", "javascript:")) and ".." not in out.split("/")
    assert json.dumps(out)  # plain text


def test_index_shows_bidi_overrides_instead_of_obeying_them():
    assert index.esc("invoice\u202egpj.exe") == "invoice[U+202E]gpj.exe"
    assert index.esc(None) == "" and index.esc("<b>") == "&lt;b&gt;"
