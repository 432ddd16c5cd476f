"""index.html at 1,000 hosts: paged and filterable in real headless Chromium, growing by well under
1 KB per host. The store is built once for this module from the session fleet's real summaries."""

from __future__ import annotations

import re

import pytest
from _chromium import open_page, require_chromium
from _fleet_helpers import big_store

from triage import verdict
from triage.fleet import index, stacking

HOSTS = 1000


@pytest.fixture(scope="module")
def big(fleet, tmp_path_factory):
    out = tmp_path_factory.mktemp("big-fleet")
    conn = big_store(fleet, out, HOSTS)
    threshold = stacking.rare_threshold(None, HOSTS)
    path = index.write_index(conn, out, rare_threshold=threshold, ioc_files=[])
    yield conn, path, out
    conn.close()


def _count(conn, sql: str, *params) -> int:
    return conn.execute(sql, params).fetchone()[0]


def test_only_the_pinned_script_may_run(big):
    _, path, _ = big
    page = path.read_text()
    csp = re.search(r'Content-Security-Policy\' content="([^"]+)"', page).group(1)
    assert f"script-src 'sha256-{index.SCRIPT_HASH}'" in csp and "unsafe-inline' ;" not in csp
    scripts = re.findall(r"<script([^>]*)>", page)
    assert scripts == [" type='application/json' id='fleet-data'", ""]
    assert f"<script>{index.SCRIPT}</script>" in page
    # the data block cannot close itself: no '<' at all inside it
    block = page.split("id='fleet-data'>", 1)[1].split("</script>", 1)[0]
    assert "<" not in block


def test_thousand_hosts_in_headless_chromium(big, tmp_path):
    require_chromium()
    conn, path, _ = big
    ranked = [r[0] for r in conn.execute("SELECT name FROM hosts ORDER BY score DESC, name")]
    critical = _count(conn, "SELECT COUNT(DISTINCT host_id) FROM findings WHERE severity = 'critical'")
    high_up = _count(conn, "SELECT COUNT(DISTINCT host_id) FROM findings WHERE severity IN ('critical', 'high')")
    off = _count(conn, "SELECT COUNT(DISTINCT host_id) FROM findings WHERE off_network = 1")
    rule = conn.execute("SELECT rule, COUNT(DISTINCT host_id) n FROM findings GROUP BY rule"
                        " HAVING n BETWEEN 2 AND 900 ORDER BY n, rule LIMIT 1").fetchone()
    rule_hosts = _count(conn, "SELECT COUNT(DISTINCT host_id) FROM findings WHERE instr(lower(rule), lower(?)) > 0",
                        rule[0])
    with open_page(path, tmp_path) as page:
        timing = page.evaluate("() => { const t = performance.getEntriesByType('navigation')[0];"
                               " return [t.domContentLoadedEventEnd, t.loadEventEnd]; }")
        print(f"index.html with {len(ranked)} hosts: DOMContentLoaded {timing[0]:.0f} ms, load {timing[1]:.0f} ms")
        assert page.errors == [] and page.requests == []
        assert [m for m in page.console if m[0] in ("error", "warning")] == []  # a CSP refusal would log here

        def rows() -> list[list[str]]:
            return [[c.inner_text() for c in r.query_selector_all(":scope > td")][:2]
                    for r in page.query_selector_all("#host-rows > tr")]

        def info() -> str:
            return page.inner_text("#page-info")

        first = rows()
        assert len(first) == index.PAGE
        assert [r[1].split("\n")[0] for r in first] == ranked[:index.PAGE]
        assert info() == f"{len(ranked)} of {len(ranked)} hosts; page 1 of {-(-len(ranked) // index.PAGE)}"
        page.click("#next")
        second = rows()
        assert [int(r[0]) for r in second] == list(range(index.PAGE + 1, 2 * index.PAGE + 1))
        assert [r[1].split("\n")[0] for r in second] == ranked[index.PAGE:2 * index.PAGE]
        # search by host: one host, whatever page it was on
        page.fill("#f-host", ranked[777])
        assert [r[1].split("\n")[0] for r in rows()] == [ranked[777]] and info().startswith("1 of ")
        page.fill("#f-host", "")
        page.select_option("#f-sev", str(index.SEVERITIES.index("critical")))
        assert info().startswith(f"{critical} of ")
        page.select_option("#f-sev", str(index.SEVERITIES.index("high")))
        assert info().startswith(f"{high_up} of ")
        page.select_option("#f-sev", "-1")
        page.check("#f-off")
        assert info().startswith(f"{off} of ")
        page.uncheck("#f-off")
        # the verdict filter and the fleet-wide counts agree with each host's own verdict decision
        tally = [int(b.inner_text()) for b in page.query_selector_all("#verdict-counts strong")]
        assert len(tally) == len(verdict.LEVELS) and sum(tally) == len(ranked)
        assert sum(1 for n in tally if n) >= 2, tally  # the fleet mixes verdicts, so the filter is tested
        for i, n in enumerate(tally):
            page.select_option("#f-verdict", str(i))
            assert info().startswith(f"{n} of ")
            for r in page.query_selector_all("#host-rows .verdict-badge"):
                assert r.inner_text() == verdict.LABELS[verdict.LEVELS[i]]
        page.select_option("#f-verdict", "-1")
        page.fill("#f-rule", rule[0])
        assert info().startswith(f"{rule_hosts} of ") and rule_hosts >= rule[1]
        # the explanation of a host beyond the first page is there on demand
        page.fill("#f-rule", "")
        page.fill("#f-host", ranked[-1])
        details = page.query_selector("#host-rows details")
        if details is not None:
            details.click()
            assert page.query_selector_all("#host-rows details tr")


def test_page_grows_by_well_under_a_kilobyte_per_host(big, fleet):
    """Run last in this module: it adds 200 hosts to the module's store."""
    conn, path, out = big
    size = path.stat().st_size
    more = 200
    big_store(fleet, out, more, start=HOSTS)
    bigger = index.render_index(conn, rare_threshold=stacking.rare_threshold(None, HOSTS + more), ioc_files=[])
    per_host = (len(bigger.encode()) - size) / more
    print(f"index.html: {size / 1024:.0f} KiB at {HOSTS} hosts, {per_host:.0f} bytes per extra host")
    assert 0 < per_host < 700
