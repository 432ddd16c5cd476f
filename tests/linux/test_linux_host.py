"""A Linux host tree collected with the real collector (``triage collect --target ROOT --profile
linux-triage``) and analyzed: the Linux artifacts reach summary.json (schema-valid, with provenance),
the timeline and report.html, the findings fire on what was planted, and the OS is shown."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
from pathlib import Path

import pytest
from _linux_host import ATTACKER, JOURNAL_REMOTE, build_linux_tree

from triage.analyze.summary import validate


@pytest.fixture(scope="module")
def analyzed(tmp_path_factory):
    from triage.analyze.host import analyze_bundle
    from triage.cli import main

    base = tmp_path_factory.mktemp("linuxhost")
    root = build_linux_tree(base / "root")
    out = base / "bundle"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        rc = main(["collect", "--target", str(root), "--profile", "linux-triage", "--output", str(out), "--quiet"])
    assert rc == 0
    (bundle,) = sorted(out.glob("*.zip"))
    return analyze_bundle(bundle, base / "analysis", strict=True)


@pytest.fixture(scope="module")
def summary(analyzed) -> dict:
    return json.loads(Path(analyzed.summary_path).read_text("utf-8"))


def test_summary_has_linux_artifacts(summary):
    validate(summary)
    arts = {k: v for k, v in summary["artifacts"].items() if v["total"]}
    for name in ("linux_log_events", "linux_logins", "linux_lastlog", "linux_accounts", "linux_shadow", "linux_groups",
                 "linux_cron", "linux_systemd_units", "linux_login_hooks", "linux_authorized_keys", "linux_packages", "shell_commands", "linux_cron_runs"):
        assert name in arts, name
        for x in arts[name]["entries"]:
            assert x["bundle_path"].startswith("files/root/") and x["locator"], (name, x)
    events = arts["linux_log_events"]["entries"]
    accepted = [e for e in events if e["category"] == "ssh_accepted" and e["source_ip"] == ATTACKER]
    # the host's /etc/timezone (collected) dates the auth log: 00:00:05 in Berlin is 23:00:05 UTC
    assert accepted[0]["timestamp"] == "2025-12-31T23:00:05Z" and "Europe/Berlin" in accepted[0]["zone"]
    journal = [e for e in events if "/var/log/journal/" in e["bundle_path"]]
    if importlib.util.find_spec("systemd") is not None and os.access(JOURNAL_REMOTE, os.X_OK):
        assert [e["user"] for e in journal if e["category"] == "ssh_accepted"] == ["admin2"]
    host = summary["host"]
    assert host["os"] == "Debian GNU/Linux 12 (bookworm)" and host["hostname"] == "web1"
    assert host["timezone"] == "Europe/Berlin"
    assert {"alice", "toor"} <= {u["name"] for u in host["users"]}


def test_findings_fire_on_planted_activity(summary):
    by_rule: dict[str, list[dict]] = {}
    for f in summary["findings"]:
        by_rule.setdefault(f["rule"], []).append(f)
    brute = by_rule["linux_ssh_brute_force_success"]
    assert any(ATTACKER in f["reason"] and f["when"] == "2025-12-31T23:00:05Z" for f in brute)
    assert len(brute[0]["evidence"]) == 3 and all(e["bundle_path"] and e["locator"] for e in brute[0]["evidence"])
    uid0 = by_rule["linux_uid0_account"]
    assert {f["evidence"][0]["bundle_path"] for f in uid0} == {"files/root/etc/passwd", "files/root/var/log/auth.log"}
    assert by_rule["linux_empty_password"][0]["evidence"][0]["locator"] == "line 3"
    # alice and toor: day 20454 (2026-01-01), within a week of the last log event; root (day 20400) is not
    assert {f["title"] for f in by_rule["linux_recent_password_change"]} == {
        "Password of 'alice' changed recently", "Password of 'toor' changed recently"}
    persist = {f["evidence"][0]["bundle_path"] for f in by_rule["linux_persistence_writable_path"]}
    assert {"files/root/etc/crontab", "files/root/etc/systemd/system/dbus-helper.service",
            "files/root/home/alice/.config/systemd/user/sync.service", "files/root/var/spool/cron/crontabs/alice"} <= persist
    shells = {f["evidence"][0]["bundle_path"] for f in by_rule["linux_reverse_shell"]}
    assert {"files/root/home/alice/.bash_history", "files/root/var/spool/cron/crontabs/alice", "files/root/etc/rc.local",
            "files/root/home/alice/.ssh/authorized_keys"} <= shells
    assert "files/root/etc/profile" not in persist | shells


def test_timeline_and_report(analyzed, summary):
    rows = [json.loads(line) for line in Path(analyzed.timeline_path).read_text("utf-8").splitlines()]
    sources = {r["source"] for r in rows}
    assert {"linux_log_events", "linux_logins", "linux_packages", "linux_cron"} <= sources
    assert all(r["datetime"].endswith("Z") for r in rows)
    page = Path(analyzed.report_path).read_text("utf-8")
    assert "Debian GNU/Linux 12 (bookworm)" in page
    for name, sec in summary["artifacts"].items():
        if sec["total"]:
            assert f'<table id="t-art-{name}"' in page


def test_hostile_files_give_issues(tmp_path):
    """A truncated wtmp, a garbage journal and a binary crontab in a collected tree: Issues, the rest parsed."""
    from triage.analyze.host import analyze_bundle
    from triage.cli import main

    root = tmp_path / "root"
    (root / "var/log/journal/x").mkdir(parents=True)
    (root / "var/log/wtmp").write_bytes(b"\x07\x00" + b"\x00" * 500)
    (root / "var/log/journal/x/system.journal").write_bytes(b"LPKSHHRH" + b"\x00\xff" * 3000)
    (root / "etc").mkdir()
    (root / "etc/crontab").write_bytes(b"\x00\x01\x02 garbage\n* * * * * root /bin/true\n")
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\nbroken line\n")
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main(["collect", "--target", str(root), "--profile", "linux-triage", "--output", str(tmp_path / "b"),
                     "--quiet"]) == 0
    (bundle,) = sorted((tmp_path / "b").glob("*.zip"))
    res = analyze_bundle(bundle, tmp_path / "a", strict=True)
    issues = {(i["bundle_path"], i["message"].split(":")[0]) for i in res.summary["issues"]}
    paths = {p for p, _ in issues}
    assert {"files/root/var/log/wtmp", "files/root/etc/crontab", "files/root/etc/passwd"} <= paths
    if importlib.util.find_spec("systemd") is not None:   # the journal reader is installed: libsystemd refuses it
        assert "files/root/var/log/journal/x/system.journal" in paths
    assert res.summary["artifacts"]["linux_cron"]["total"] == 1
    assert res.summary["artifacts"]["linux_accounts"]["total"] == 1


@pytest.mark.chromium
def test_linux_report_in_chromium(analyzed, summary, tmp_path):
    """The Linux host's report in real headless Chromium: no errors, the OS shown, the Linux sections
    filled and their filter boxes working."""
    from _chromium import open_page, require_chromium

    require_chromium()
    with open_page(analyzed.report_path, tmp_path) as page:
        assert page.errors == [] and page.requests == []
        assert [m for m in page.console if m[0] in ("error", "warning")] == []
        assert page.inner_text("#hostname") == "web1"
        assert "Debian GNU/Linux 12 (bookworm)" in page.inner_text("body")
        n = summary["artifacts"]["linux_log_events"]["listed"]
        assert len(page.query_selector_all("#t-art-linux_log_events tbody tr")) == n > 0
        page.click("#artifact-linux_log_events summary")   # sections are collapsed under their headings
        page.fill('input[data-table="t-art-linux_log_events"]', ATTACKER)
        visible = page.evaluate("Array.from(document.querySelectorAll('#t-art-linux_log_events tbody tr'))"
                                ".filter(r => r.style.display !== 'none').map(r => r.textContent)")
        assert visible and all(ATTACKER in v for v in visible) and len(visible) < n
