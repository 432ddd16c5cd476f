"""The autostart locations of registry_asep.py: real values in the corpus SYSTEM hives (LSA packages
against regipy's lsa_packages plugin, BootExecute, Winsock, print monitors, network providers), and
values planted with hivexregedit into copies of corpus hives for the locations no corpus hive uses
(AppCertDlls, a foreign LSA package, Active Setup, shell extensions, Command Processor AutoRun,
Policies\\System, Office add-ins, Terminal Server Install Run, logon script, HKCU COM servers,
StartupApproved, a service changed in ControlSet002)."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from regipy.plugins.system.lsa_packages import LSAPackagesPlugin
from regipy.registry import RegistryHive

from triage.model import Autorun, Issue
from triage.parsers.base import input_from_file
from triage.parsers.registry.asep import decode_startup_approved, packed_catalog_path
from triage.parsers.registry.parser import RegistryParser

CORPUS = (Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus").resolve()
WIN7 = "registry/win7-wks-win732bita/SYSTEM"
WIN10 = "registry/win10-dirty-system/SYSTEM"


def _parse(path: Path, rel: str) -> list:
    item = input_from_file(path, rel)
    item.options = {"replay_logs": False}
    return list(RegistryParser().parse(item))


def _auto(records, category: str | None = None) -> list[Autorun]:
    return [r for r in records if isinstance(r, Autorun) and (category is None or r.category == category)]


def _merge(src: Path, dest_dir: Path, prefix: str, reg: str) -> Path:
    if not shutil.which("hivexregedit"):
        pytest.fail("hivexregedit is required (apt-get install libhivex-bin libwin-hivex-perl)")
    hive = dest_dir / src.name
    shutil.copyfile(src, hive)
    hive.chmod(0o644)
    lines, seen = ["Windows Registry Editor Version 5.00", ""], set()
    for line in reg.strip().splitlines():
        if line.startswith("[") and line.endswith("]"):
            parts = line[1:-1].split("\\")
            for i in range(2, len(parts)):  # hivexregedit needs every ancestor to exist
                anc = "\\".join(parts[:i])
                if anc.lower() not in seen:
                    seen.add(anc.lower())
                    lines += [f"[{anc}]", ""]
            seen.add(line[1:-1].lower())
        lines.append(line)
    regfile = dest_dir / "plant.reg"
    regfile.write_text("\n".join(lines) + "\n", encoding="utf-8")
    subprocess.run(["hivexregedit", "--merge", "--prefix", prefix, str(hive), str(regfile)], check=True,
                   capture_output=True)
    return hive


def _multi_sz(*items: str) -> str:
    raw = "".join(i + "\x00" for i in items).encode("utf-16-le") + b"\x00\x00"
    return "hex(7):" + ",".join(f"{b:02x}" for b in raw)


# --- real corpus values ----------------------------------------------------------------------------------

@pytest.mark.parametrize("rel", [WIN7, WIN10])
def test_lsa_packages_match_regipy(rel):
    path = CORPUS / rel
    ours = {(a.details["control_set"], a.details["list"].lower(), a.command) for a in _auto(_parse(path, rel), "lsa")
            if a.location.endswith("\\Control\\Lsa")}
    p = LSAPackagesPlugin(RegistryHive(str(path)), as_json=False)
    p.run()
    ref = set()
    for e in p.entries:
        cs = e["key_path"].split("\\")[1]
        for field, lst in (("authentication_packages", "authentication packages"),
                           ("security_packages", "security packages"), ("notification_packages", "notification packages")):
            for pkg in e.get(field) or []:
                if pkg.strip() and pkg.strip() != '""':
                    ref.add((cs, lst, pkg))
    assert ours == ref and ours


def test_real_system_locations_and_defaults():
    recs = _parse(CORPUS / WIN10, WIN10)
    boot = _auto(recs, "boot_execute")
    assert [b.command for b in boot] == ["autocheck autochk *"] and boot[0].details["windows_default"]
    winsock = _auto(recs, "winsock")
    assert len(winsock) >= 20 and any(w.command.lower().endswith("mswsock.dll") for w in winsock)
    assert {w.details["catalog"] for w in winsock} == {"Protocol_Catalog9", "NameSpace_Catalog5"}
    providers = {n.name: n.command for n in _auto(recs, "network_provider")}
    assert providers["LanmanWorkstation"].lower().endswith("ntlanman.dll")
    monitors = _auto(recs, "print_monitor")
    assert any(m.details["windows_default"] for m in monitors) and any(not m.details["windows_default"] for m in monitors)
    assert not [i for i in recs if isinstance(i, Issue) and "stopped early" in i.message]


def test_packed_catalog_item_path():
    assert packed_catalog_path(b"%SystemRoot%\\system32\\mswsock.dll\x00\x00junk") == "%SystemRoot%\\system32\\mswsock.dll"
    assert packed_catalog_path(None) == ""


# --- planted values --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def planted_system(tmp_path_factory) -> list:
    d = tmp_path_factory.mktemp("asep-system")
    cs1, cs2 = "HKEY_LOCAL_MACHINE\\SYSTEM\\ControlSet001", "HKEY_LOCAL_MACHINE\\SYSTEM\\ControlSet002"
    reg = f"""
[{cs1}\\Control\\Session Manager\\AppCertDlls]
"evil"="C:\\\\ProgramData\\\\cert.dll"

[{cs1}\\Control\\Lsa]
"Notification Packages"={_multi_sz("scecli", "pwfilter")}

[{cs2}\\Services\\Updater]
"ImagePath"="C:\\\\Users\\\\Public\\\\upd.exe"
"Start"=dword:00000002
"Type"=dword:00000010
"""
    hive = _merge(CORPUS / WIN7, d, "HKEY_LOCAL_MACHINE\\SYSTEM", reg)
    return _parse(hive, "Windows/System32/config/SYSTEM")


def test_planted_system_aseps(planted_system):
    appcert = _auto(planted_system, "appcert")
    assert [(a.name, a.command) for a in appcert] == [("evil", "C:\\ProgramData\\cert.dll")]
    lsa = {a.command: a for a in _auto(planted_system, "lsa") if a.details["control_set"] == "ControlSet001"
           and a.details["list"] == "Notification Packages"}
    assert set(lsa) == {"scecli", "pwfilter"} and not lsa["pwfilter"].details["windows_default"]
    assert lsa["scecli"].details["windows_default"]
    svc = [a for a in _auto(planted_system, "service") if a.name == "Updater"]
    assert len(svc) == 1 and svc[0].details["control_set"] == "ControlSet002"
    assert svc[0].details["differs_from_current_control_set"] == "ControlSet001"
    # a service identical in both control sets is listed once (from the current set)
    names = [a.name for a in _auto(planted_system, "service")]
    assert names.count("Tcpip") == 1


@pytest.fixture(scope="module")
def planted_software(tmp_path_factory) -> list:
    d = tmp_path_factory.mktemp("asep-software")
    sw = "HKEY_LOCAL_MACHINE\\SOFTWARE"
    clsid = "{AAAAAAAA-1111-2222-3333-444444444444}"
    reg = f"""
[{sw}\\Microsoft\\Active Setup\\Installed Components\\{{BBBBBBBB-1111-2222-3333-444444444444}}]
@="Updater component"
"StubPath"="C:\\\\ProgramData\\\\stub.exe /s"

[{sw}\\Microsoft\\Windows\\CurrentVersion\\Shell Extensions\\Approved]
"{clsid}"="Evil overlay"

[{sw}\\Classes\\CLSID\\{clsid}\\InprocServer32]
@="C:\\\\ProgramData\\\\shellx.dll"

[{sw}\\Microsoft\\Command Processor]
"AutoRun"="C:\\\\ProgramData\\\\cmdrc.bat"

[{sw}\\Microsoft\\Windows\\CurrentVersion\\Policies\\System]
"Shell"="explorer.exe, C:\\\\ProgramData\\\\sh.exe"

[{sw}\\Microsoft\\Office\\Word\\Addins\\Evil.Connect]
"FriendlyName"="Evil add-in"
"LoadBehavior"=dword:00000003

[{sw}\\Microsoft\\Windows\\CurrentVersion\\Group Policy\\Scripts\\Startup\\0]
"DisplayName"="Default Domain Policy"

[{sw}\\Microsoft\\Windows\\CurrentVersion\\Group Policy\\Scripts\\Startup\\0\\0]
"Script"="\\\\\\\\dc\\\\netlogon\\\\start.bat"
"Parameters"="-q"

[{sw}\\Microsoft\\Windows NT\\CurrentVersion\\Terminal Server\\Install\\Software\\Microsoft\\Windows\\CurrentVersion\\Run]
"ts"="C:\\\\ProgramData\\\\ts.exe"
"""
    hive = _merge(CORPUS / "registry/synthetic-software/SOFTWARE", d, "HKEY_LOCAL_MACHINE\\SOFTWARE", reg)
    return _parse(hive, "Windows/System32/config/SOFTWARE")


def test_planted_software_aseps(planted_software):
    by_cat = {}
    for a in _auto(planted_software):
        by_cat.setdefault(a.category, []).append(a)
    assert [(a.name, a.command) for a in by_cat["active_setup"]] == [("Updater component", "C:\\ProgramData\\stub.exe /s")]
    shellx = by_cat["shell_extension"]
    assert [(a.name, a.command) for a in shellx] == [("Evil overlay", "C:\\ProgramData\\shellx.dll")]
    assert shellx[0].source.locator.endswith("Approved\\{AAAAAAAA-1111-2222-3333-444444444444}")
    assert [a.command for a in by_cat["cmd_autorun"]] == ["C:\\ProgramData\\cmdrc.bat"]
    assert any(a.details.get("policy") and "sh.exe" in a.command for a in by_cat["winlogon"])
    addin = by_cat["office_addin"]
    assert addin[0].name == "Evil add-in" and addin[0].details["load_behavior"] == 3
    assert any(a.name == "ts" and "Terminal Server" in a.details["key"] for a in by_cat["run"])
    gpo = by_cat["logon_script"]
    assert [(g.command, g.details["trigger"], g.details["gpo"]) for g in gpo] == [
        ("\\\\dc\\netlogon\\start.bat -q", "Startup", "Default Domain Policy")]


@pytest.fixture(scope="module")
def planted_user(tmp_path_factory) -> tuple[list, list]:
    d = tmp_path_factory.mktemp("asep-user")
    hk = "HKEY_CURRENT_USER"
    disabled = struct.pack("<IQ", 3, 133500000000000000)
    reg = f"""
[{hk}\\Environment]
"UserInitMprLogonScript"="C:\\\\Users\\\\Public\\\\logon.bat"

[{hk}\\Software\\Microsoft\\Windows\\CurrentVersion\\Run]
"Helper"="C:\\\\Users\\\\Public\\\\helper.exe"
"Other"="C:\\\\Tools\\\\other.exe"

[{hk}\\Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\StartupApproved\\Run]
"Helper"=hex:{",".join(f"{b:02x}" for b in disabled)}
"Other"=hex:02,00,00,00,00,00,00,00,00,00,00,00
"""
    ntuser = _merge(CORPUS / "registry/plaso-runtests/NTUSER.DAT", d, hk, reg)
    d2 = d / "classes"
    d2.mkdir()
    creg = f"""
[{hk}\\CLSID\\{{CCCCCCCC-1111-2222-3333-444444444444}}]
@="Hijacked object"

[{hk}\\CLSID\\{{CCCCCCCC-1111-2222-3333-444444444444}}\\InprocServer32]
@="C:\\\\Users\\\\x\\\\AppData\\\\Roaming\\\\hijack.dll"
"ThreadingModel"="Both"
"""
    usrclass = _merge(CORPUS / "registry/plaso-usrclass/UsrClass.dat", d2, hk, creg)
    return (_parse(ntuser, "Users/x/NTUSER.DAT"),
            _parse(usrclass, "Users/x/AppData/Local/Microsoft/Windows/UsrClass.dat"))


def test_planted_user_aseps(planted_user):
    ntuser, usrclass = planted_user
    script = _auto(ntuser, "logon_script")
    assert [(s.command, s.user) for s in script] == [("C:\\Users\\Public\\logon.bat", "x")]
    run = {a.name: a for a in _auto(ntuser, "run")}
    assert run["Helper"].details["startup_approved"] == "disabled"
    assert run["Helper"].details["disabled_at"].year == 2024
    assert run["Other"].details["startup_approved"] == "enabled" and "disabled_at" not in run["Other"].details
    com = _auto(usrclass, "com_hijack")
    assert [(c.name, c.command, c.details["threading_model"]) for c in com] == [
        ("Hijacked object", "C:\\Users\\x\\AppData\\Roaming\\hijack.dll", "Both")]
    assert com[0].location.startswith("HKU\\x_Classes\\") and com[0].user == "x"


def test_startup_approved_decoding():
    assert decode_startup_approved(bytes([2, 0, 0, 0]) + bytes(8)) == ("enabled", None)
    state, when = decode_startup_approved(bytes([3, 0, 0, 0]) + struct.pack("<Q", 133500000000000000))
    assert state == "disabled" and when == 133500000000000000
    assert decode_startup_approved(b"\x03") == (None, None) and decode_startup_approved("x") == (None, None)
