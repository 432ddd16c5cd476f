"""task_xml parser on task files written here the way Windows writes them (UTF-16LE with BOM, CRLF,
two-space indent, the Task Scheduler 2.0 namespace), plus hostile and broken files."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from triage.model import Autorun, Issue
from triage.parsers.base import input_from_file
from triage.parsers.tasks import TaskXmlParser

EXEC_TASK = r"""<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo>
    <Date>2023-11-18T15:40:22.5125883</Date>
    <Author>DESKTOP-PM6C56D\tony</Author>
    <URI>\OneDrive Standalone Update Task-S-1-5-21-2847261930-1759302846-3906155872-1001</URI>
  </RegistrationInfo>
  <Triggers>
    <TimeTrigger>
      <Repetition>
        <Interval>PT1H</Interval>
        <StopAtDurationEnd>false</StopAtDurationEnd>
      </Repetition>
      <StartBoundary>2023-11-18T15:40:00</StartBoundary>
      <Enabled>true</Enabled>
    </TimeTrigger>
    <LogonTrigger>
      <Enabled>true</Enabled>
      <UserId>DESKTOP-PM6C56D\tony</UserId>
    </LogonTrigger>
  </Triggers>
  <Principals>
    <Principal id="Author">
      <UserId>S-1-5-21-2847261930-1759302846-3906155872-1001</UserId>
      <LogonType>InteractiveToken</LogonType>
      <RunLevel>HighestAvailable</RunLevel>
    </Principal>
  </Principals>
  <Settings>
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
    <DisallowStartIfOnBatteries>true</DisallowStartIfOnBatteries>
    <StopIfGoingOnBatteries>true</StopIfGoingOnBatteries>
    <AllowHardTerminate>true</AllowHardTerminate>
    <StartWhenAvailable>false</StartWhenAvailable>
    <RunOnlyIfNetworkAvailable>false</RunOnlyIfNetworkAvailable>
    <IdleSettings>
      <StopOnIdleEnd>true</StopOnIdleEnd>
      <RestartOnIdle>false</RestartOnIdle>
    </IdleSettings>
    <AllowStartOnDemand>true</AllowStartOnDemand>
    <Enabled>true</Enabled>
    <Hidden>true</Hidden>
    <RunOnlyIfIdle>false</RunOnlyIfIdle>
    <WakeToRun>false</WakeToRun>
    <ExecutionTimeLimit>PT72H</ExecutionTimeLimit>
    <Priority>7</Priority>
  </Settings>
  <Actions Context="Author">
    <Exec>
      <Command>%localappdata%\Microsoft\OneDrive\OneDriveStandaloneUpdater.exe</Command>
      <Arguments>/reporting</Arguments>
    </Exec>
    <Exec>
      <Command>C:\Users\Public\u.exe</Command>
    </Exec>
  </Actions>
</Task>
"""

COM_TASK = r"""<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.6" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo>
    <Source>$(@%systemroot%\system32\appidpolicyconverter.exe,-100)</Source>
    <Author>$(@%systemroot%\system32\appidpolicyconverter.exe,-101)</Author>
    <URI>\Microsoft\Windows\AppID\PolicyConverter</URI>
  </RegistrationInfo>
  <Principals>
    <Principal id="LocalSystem">
      <UserId>S-1-5-18</UserId>
    </Principal>
  </Principals>
  <Settings>
    <Enabled>false</Enabled>
  </Settings>
  <Triggers />
  <Actions Context="LocalSystem">
    <ComHandler>
      <ClassId>{47E30D54-DAC1-473A-AFF7-2355BF78881F}</ClassId>
      <Data><![CDATA[NULL]]></Data>
    </ComHandler>
  </Actions>
</Task>
"""


def _write_windows_task(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xff\xfe" + text.replace("\n", "\r\n").encode("utf-16-le"))
    return path


def _parse(path: Path, rel: str, modified: str | None = None, **options) -> list:
    item = input_from_file(path, rel)
    if modified:
        item.entry.times = {"modified": modified}
    item.options = options
    return list(TaskXmlParser().parse(item))


def test_exec_task_as_windows_writes_it(tmp_path):
    rel = "Windows/System32/Tasks/OneDrive Standalone Update Task-S-1-5-21-2847261930-1759302846-3906155872-1001"
    path = _write_windows_task(tmp_path / "task", EXEC_TASK)
    assert path.read_bytes()[:4] == b"\xff\xfe<\x00"
    out = _parse(path, rel, modified="2023-11-18T15:40:23.100000Z")
    assert not [o for o in out if isinstance(o, Issue)]
    first, second = out
    assert isinstance(first, Autorun) and first.category == "task"
    assert first.command == "%localappdata%\\Microsoft\\OneDrive\\OneDriveStandaloneUpdater.exe /reporting"
    assert second.command == "C:\\Users\\Public\\u.exe"
    assert first.name == "\\OneDrive Standalone Update Task-S-1-5-21-2847261930-1759302846-3906155872-1001"
    assert first.location == "C:\\" + rel.replace("/", "\\")
    assert first.last_write == datetime(2023, 11, 18, 15, 40, 23, 100000, tzinfo=UTC)
    d = first.details
    assert d["author"] == "DESKTOP-PM6C56D\\tony" and d["run_level"] == "HighestAvailable"
    assert d["user_id"] == first.user == "S-1-5-21-2847261930-1759302846-3906155872-1001"
    assert d["hidden"] is True and d["enabled"] is True
    assert [t["type"] for t in d["triggers"]] == ["TimeTrigger", "LogonTrigger"]
    assert d["triggers"][0]["Repetition"]["Interval"] == "PT1H"
    assert first.source.locator.endswith("Actions/Exec[1]") and second.source.locator.endswith("Actions/Exec[2]")


def test_com_handler_task(tmp_path):
    path = _write_windows_task(tmp_path / "PolicyConverter", COM_TASK)
    (task,) = _parse(path, "Windows/System32/Tasks/Microsoft/Windows/AppID/PolicyConverter")
    assert task.command == "" and task.details["com_handler_clsid"] == "{47E30D54-DAC1-473A-AFF7-2355BF78881F}"
    assert task.name == "\\Microsoft\\Windows\\AppID\\PolicyConverter"
    assert task.details["enabled"] is False and task.user == "S-1-5-18"


def test_utf8_and_bomless_utf16_are_read(tmp_path):
    p1 = tmp_path / "a"
    p1.write_bytes(EXEC_TASK.replace('encoding="UTF-16"', 'encoding="UTF-8"').encode("utf-8"))
    p2 = tmp_path / "b"
    p2.write_bytes(EXEC_TASK.encode("utf-16-le"))
    for p in (p1, p2):
        out = _parse(p, f"Windows/System32/Tasks/{p.name}")
        assert [o.command for o in out if isinstance(o, Autorun)][1] == "C:\\Users\\Public\\u.exe"


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<Task xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task"><Actions><Exec><Command>&lol3;</Command></Exec></Actions></Task>"""
XXE = """<?xml version="1.0"?>
<!DOCTYPE t [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<Task xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task"><Actions><Exec><Command>&x;</Command></Exec></Actions></Task>"""


@pytest.mark.parametrize("content", [
    BILLION_LAUGHS.encode(), XXE.encode(), b"\xff\xfe" + EXEC_TASK[:300].encode("utf-16-le"),
    b"MZ\x90\x00" + bytes(200), b"", b"<NotATask/>",
], ids=["billion-laughs", "xxe", "truncated", "binary", "empty", "wrong-root"])
def test_hostile_or_broken_task_files_give_issues(tmp_path, content):
    p = tmp_path / "t"
    p.write_bytes(content)
    out = _parse(p, "Windows/System32/Tasks/t")
    assert out and all(isinstance(o, Issue) for o in out)
    assert "passwd" not in repr(out) and "root:" not in repr(out)


def test_size_cap(tmp_path):
    p = _write_windows_task(tmp_path / "big", EXEC_TASK)
    out = _parse(p, "Windows/System32/Tasks/big", max_task_bytes=1000)
    assert len(out) == 1 and isinstance(out[0], Issue) and "larger than" in out[0].message


def test_patterns():
    assert TaskXmlParser.matches("Windows/System32/Tasks/Microsoft/Windows/Defrag/ScheduledDefrag")
    assert TaskXmlParser.matches("windows/system32/tasks/Updater")
    assert not TaskXmlParser.matches("Windows/Tasks/At1.job")
