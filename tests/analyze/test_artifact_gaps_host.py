"""A make-host-tree host given what the corpus lacks - a TaskCache task with triggers in its SOFTWARE, a
DEFAULT hive with a Run value, RegBack copies (SYSTEM of 0 bytes as on Windows 10 1803+, SOFTWARE with one
Run value removed from and one changed in the live hive since) - collected with the real collector and
analyzed: summary.json (schema-valid), the timeline, report.html, findings and issues show each one.

The hives are written with hivexregedit on copies of corpus hives (the DEFAULT hive on the corpus's
Windows 10 Default-profile NTUSER.DAT, which has the same root keys as a DEFAULT hive).
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime

import _task_triggers as tt
import pytest
from _hivex import merged_hive, reg_hex

from triage.analyze.summary import validate

RUN = "HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run"
TASKS = "HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\Schedule\\TaskCache"
GUID = "{BBBBBBBB-0000-0000-0000-000000000001}"
T0 = datetime(2024, 3, 1, 3, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def analyzed(corpus, tmp_path_factory):
    make_host_tree = corpus.parent / "tools" / "make-host-tree"  # tests/conftest.py's MAKE_HOST_TREE
    if not make_host_tree.is_file():
        pytest.skip(f"needs make-host-tree at {make_host_tree}")
    base = tmp_path_factory.mktemp("gaps")
    subprocess.run([sys.executable, str(make_host_tree), "--out", str(base / "hosts"), "--quiet", "--hosts=1",
                    "--filler-mb=0", "--no-sparse"], check=True)
    host = base / "hosts" / "host-000"
    config = host / "Windows/System32/config"
    live_software = config / "SOFTWARE"
    # RegBack\SOFTWARE: the live hive as it was before: one more Run value, another command for SynTPEnh
    merged_hive(live_software, config / "RegBack/SOFTWARE",
                f'[{RUN}]\n"Gone"="C:\\\\Users\\\\Public\\\\gone.exe"\n"SynTPEnh"="C:\\\\ProgramData\\\\syn.exe"\n',
                "HKEY_LOCAL_MACHINE\\SOFTWARE")
    (config / "RegBack/SYSTEM").write_bytes(b"")
    triggers = (tt.header(start=T0, flags=0x400000 | 0x800000) + tt.logon_trigger(None)  # 6 rows: a filter box
                + tt.time_trigger(start=T0, mode=1, data=(1, 0, 0)) + tt.generic(0xFFFF) + tt.generic(0xEEEE)
                + tt.event_trigger("<QueryList/>") + tt.session_trigger(6))
    task = (f'[{TASKS}\\Tree\\Updater]\n"Id"="{GUID}"\n"Index"=dword:00000003\n\n'
            f'[{TASKS}\\Tasks\\{GUID}]\n"Path"="\\\\Updater"\n"Triggers"={reg_hex(triggers)}\n')
    tmp = merged_hive(live_software, base / "SOFTWARE.new", task, "HKEY_LOCAL_MACHINE\\SOFTWARE")
    shutil.move(tmp, live_software)
    merged_hive(corpus / "registry/artemis-win10-default/NTUSER.DAT", config / "DEFAULT",
                '[HKEY_USERS\\.DEFAULT\\Software\\Microsoft\\Windows\\CurrentVersion\\Run]\n'
                '"SysCtx"="C:\\\\ProgramData\\\\sysctx.exe"\n', "HKEY_USERS\\.DEFAULT")

    from triage.analyze.host import analyze_bundle
    from triage.cli import main

    out = base / "bundle"
    out.mkdir()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main(["collect", "--target", str(host), "--output", str(out), "--quiet"]) == 0
    (bundle,) = out.glob("*.zip")
    res = analyze_bundle(bundle, base / "analysis", strict=True, yara=False)
    return res, json.loads(res.summary_path.read_text("utf-8"))


def test_taskcache_triggers_reach_summary_timeline_and_report(analyzed):
    res, summary = analyzed
    validate(summary)
    rows = summary["artifacts"]["task_cache_triggers"]["entries"]
    assert [(r["task_path"], r["trigger_type"], r["task_hidden"]) for r in rows] == [
        ("\\Updater", kind, True) for kind in ("logon", "time", "boot", "idle", "event", "session_state_change")]
    assert (rows[0]["condition"], rows[4]["condition"], rows[5]["condition"]) == (
        "logon of any user", "event query: <QueryList/>", "session unlock")
    assert rows[1]["condition"] == "daily, every 1 day(s)" and rows[1]["start_boundary"] == "2024-03-01T03:00:00Z"
    assert rows[0]["bundle_path"].endswith("config/SOFTWARE") and rows[0]["locator"].endswith("\\Triggers#0")
    timeline = [json.loads(x) for x in res.timeline_path.read_text("utf-8").splitlines()]
    assert any(r["source"] == "task_cache_triggers" and r["datetime"].startswith("2024-03-01T03:00:00") for r in timeline)
    assert '<table id="t-art-task_cache_triggers"' in res.report_path.read_text("utf-8")


def test_default_hive_autostarts_are_the_default_users(analyzed):
    _res, summary = analyzed
    runs = [a for a in summary["autoruns"] if a["name"] == "SysCtx"]
    assert len(runs) == 1, runs
    assert runs[0]["user"] == ".DEFAULT" and runs[0]["command"] == "C:\\ProgramData\\sysctx.exe"
    assert runs[0]["location"].lower() == "hku\\.default\\software\\microsoft\\windows\\currentversion\\run"
    assert runs[0]["bundle_path"].endswith("config/DEFAULT")


def test_regback_differences_are_findings_and_an_empty_copy_is_an_info_issue(analyzed):
    res, summary = analyzed
    found = {f["evidence"][0]["name"]: f for f in summary["findings"] if f["rule"] == "regback_autostart_diff"}
    assert set(found) == {"Gone", "SynTPEnh"}, found
    assert found["Gone"]["severity"] == "medium" and "removed after the backup" in found["Gone"]["reason"]
    assert "ProgramData\\syn.exe" in found["SynTPEnh"]["reason"] and "Synaptics" in found["SynTPEnh"]["reason"]
    assert all(f["evidence"][0]["bundle_path"].endswith("RegBack/SOFTWARE") for f in found.values())
    backup = summary["artifacts"]["regback_autostarts"]["entries"]
    assert {"Gone", "OneDrive"} <= {r["name"] for r in backup}
    empty = [i for i in summary["issues"] if (i.get("bundle_path") or "").endswith("RegBack/SYSTEM")]
    assert [(i["severity"], "empty (0 bytes)" in i["message"]) for i in empty] == [("info", True)]
    assert not any(a["bundle_path"].endswith(("RegBack/SOFTWARE", "RegBack/SYSTEM")) for a in summary["autoruns"])
    (cov,) = [c for c in summary["coverage"] if c["artifact"] == "WindowsDefaultAndRegBackHives"]
    assert (cov["parsed_files"], cov["unsupported_files"], sorted(cov["parsers"])) == (3, 0, ["regback", "registry"])


def test_trigger_and_regback_tables_in_chromium(analyzed, tmp_path):
    """Rendered in real headless Chromium: no script errors or requests, one row per listed entry, and the
    filter box (section opened) narrows the trigger table to the logon trigger."""
    from _chromium import open_page, require_chromium

    require_chromium()
    res, summary = analyzed
    with open_page(res.report_path, tmp_path) as page:
        assert page.errors == [] and page.requests == []
        for name in ("task_cache_triggers", "regback_autostarts"):
            rows = page.query_selector_all(f"#t-art-{name} tbody tr")
            assert len(rows) == summary["artifacts"][name]["listed"] > 0
        page.click("#artifact-task_cache_triggers summary")
        page.fill('input[data-table="t-art-task_cache_triggers"]', "logon of any user")
        visible = page.evaluate("Array.from(document.querySelectorAll('#t-art-task_cache_triggers tbody tr'))"
                                ".filter(r => r.style.display !== 'none').map(r => r.textContent)")
        assert len(visible) == 1 and "logon" in visible[0]
        assert "regback_autostart_diff" in page.content() or "RegBack copy of SOFTWARE" in page.content()
