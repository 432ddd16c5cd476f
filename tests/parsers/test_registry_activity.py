"""USB devices, MountPoints2, RecentDocs, RunMRU, TypedPaths, MUICache and NetworkList against regipy's
plugins on the corpus hives (NetworkList on a SOFTWARE hive written here with hivexregedit: the corpus has
no real SOFTWARE hive), entry for entry.

Deliberate differences from regipy (asserted below):
- USB: regipy lists a device once per control set; we once per (bus, device, serial). We also tie a
  USBSTOR serial to its drive letters and volume GUIDs through MountedDevices.
- RecentDocs: regipy emits one entry per list (the all-files list and each extension list) and drops
  the last index when the MRUListEx has no terminator; we emit one record per item with its place in
  both lists, and a time for the newest of a list only (the key's last write).
- RunMRU: the stored '\\1' suffix is a literal backslash and '1'; regipy strips a \\x01 character and so
  keeps it; we strip it.
- MUICache: regipy looks for the Vista+ key under Software\\Classes of NTUSER.DAT, where hives at rest do
  not hold it (it lives in UsrClass.dat); we read it in UsrClass.dat (compared with regipy's own value
  reading of that key) and, for XP, in NTUSER.DAT as regipy does.
- Value names stored as 8-bit text: regipy shows non-ASCII characters as U+FFFD ('Ni\ufffdurhal'); we
  decode them ('Niðurhal').
- NetworkList: DateCreated / DateLastConnected are local time; regipy renders them like UTC times, we
  keep them as zone-less text in *_local fields.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from regipy.plugins.ntuser.muicache import MUICachePlugin
from regipy.plugins.ntuser.recentdocs import RecentDocsPlugin
from regipy.plugins.ntuser.runmru import RunMRUPlugin
from regipy.plugins.ntuser.typed_paths import TypedPathsPlugin
from regipy.plugins.software.networklist import NetworkListPlugin
from regipy.plugins.system.usb_devices import USBDevicesPlugin
from regipy.plugins.system.usbstor import USBSTORPlugin
from regipy.registry import RegistryHive

from triage.parsers.base import input_from_file
from triage.parsers.registry.mru import RecentDoc, RunMruEntry, TypedPath, mrulistex_order
from triage.parsers.registry.muicache import MuiCacheEntry
from triage.parsers.registry.networklist import NetworkProfile, systemtime_text
from triage.parsers.registry.parser import RegistryParser
from triage.parsers.registry.usb import UsbDevice, UserMountPoint

CORPUS = (Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus").resolve()
SYSTEMS = ["registry/win10-dirty-system/SYSTEM", "registry/win7-wks-win732bita/SYSTEM"]
NTUSERS = ["registry/notatin-patrick/NTUSER.DAT", "registry/plaso-bperry/NTUSER.DAT",
           "registry/plaso-win7-nfury/NTUSER.DAT", "registry/plaso-xp-joe/NTUSER.DAT",
           "registry/win10-dirty-ntuser/NTUSER.DAT", "registry/win10-wsl-user/NTUSER.DAT"]
USRCLASSES = ["registry/plaso-usrclass/UsrClass.dat", "registry/ez-usrclass-acronis/UsrClass.dat",
              "registry/goldpaper-win10-usrclass/UsrClass.dat", "registry/goldpaper-win11-usrclass/UsrClass.dat"]


def _parse(path: Path, rel: str | None = None) -> list:
    item = input_from_file(path, rel or str(path.name))
    item.options = {"replay_logs": False}  # regipy reads the hives as they are
    return list(RegistryParser().parse(item))


def _of(records, cls):
    return [r for r in records if isinstance(r, cls)]


def _plugin(cls, path: Path) -> list:
    p = cls(RegistryHive(str(path)), as_json=False)
    p.run()
    return p.entries


# --- USB ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("rel", SYSTEMS)
def test_usbstor_matches_regipy(rel):
    path = CORPUS / rel
    ours = {(d.device, d.serial): d for d in _of(_parse(path), UsbDevice) if d.kind == "usbstor"}
    ref = {}
    for x in _plugin(USBSTORPlugin, path):
        dev = x["key_path"].split("\\")[-2]
        ref.setdefault((dev, x["serial_number"]), x)  # regipy: once per control set
    assert set(ours) == set(ref) and ours
    for k, d in ours.items():
        r = ref[k]
        assert d.vendor == r["manufacturer"].split("_", 1)[1] and d.product == r["title"].split("_", 1)[1]
        for field, rfield in (("first_installed", "first_installed"), ("last_installed", "last_installed"),
                              ("last_connected", "last_connected"), ("last_removed", "last_removed")):
            theirs = r[rfield]
            mine = getattr(d, field)
            assert (mine is None and theirs is None) or abs((mine - theirs).total_seconds()) <= 1e-6, (k, field)
        assert d.friendly_name == r["device_name"] or r["device_name"] is None


@pytest.mark.parametrize("rel", SYSTEMS)
def test_enum_usb_matches_regipy(rel):
    path = CORPUS / rel
    ours = {(d.device, d.serial) for d in _of(_parse(path), UsbDevice) if d.kind == "usb"}
    ref = {(x["vid_pid"], x["instance_id"]) for x in _plugin(USBDevicesPlugin, path)}
    assert ours == ref and len(ours) >= 7


def test_usb_serial_tied_to_drive_letter_and_user_mountpoints():
    win7 = {d.serial: d for d in _of(_parse(CORPUS / SYSTEMS[1]), UsbDevice)}
    stick = win7["AA951D0000007252&0"]
    assert stick.drive_letters == ("E:",) and stick.vendor == "HP" and stick.serial_is_unique
    assert stick.volume_guids and all(g.startswith("{") for g in stick.volume_guids)
    hubs = [d for d in win7.values() if d.serial[1:2] == "&"]
    assert hubs and not any(d.serial_is_unique for d in hubs)
    win10 = [d for d in _of(_parse(CORPUS / SYSTEMS[0]), UsbDevice) if d.kind == "usbstor"]
    assert all(d.last_connected and d.first_installed for d in win10)  # Windows 8+ property store
    mp = _of(_parse(CORPUS / NTUSERS[2], "Users/nfury/NTUSER.DAT"), UserMountPoint)
    assert {m.kind for m in mp} >= {"volume"} and all(m.user == "nfury" and m.last_write for m in mp)


# --- RecentDocs, RunMRU, TypedPaths -----------------------------------------------------------------

@pytest.mark.parametrize("rel", NTUSERS)
def test_recentdocs_matches_regipy(rel):
    path = CORPUS / rel
    ours = _of(_parse(path), RecentDoc)
    ref = _plugin(RecentDocsPlugin, path)
    for lst in ref:
        ext = lst["extension"]
        names = [d["name"] for d in lst["documents"]]
        if ext is None:
            mine = [r.name for r in sorted((r for r in ours if r.position is not None), key=lambda r: r.position)]
        else:
            mine = [r.name for r in sorted((r for r in ours if r.extension == ext), key=lambda r: r.extension_position)]
        # regipy drops the last index of a list without terminator; otherwise identical, in order
        assert mine[:len(names)] == names and len(mine) - len(names) in (0, 1), ext
    if ref:
        newest = [r for r in ours if r.position == 0]
        assert len(newest) == 1 and newest[0].opened is not None
        assert all(r.opened is None for r in ours if r.position not in (0, None) and r.extension_position != 0)


def test_mrulistex_stops_at_terminator_and_ignores_ragged_tail():
    assert mrulistex_order(bytes.fromhex("02000000 00000000 ffffffff 05000000".replace(" ", ""))) == [2, 0]
    assert mrulistex_order(bytes.fromhex("0100000000")) == [1]
    assert mrulistex_order("not bytes") == []


@pytest.mark.parametrize("rel", NTUSERS)
def test_runmru_and_typedpaths_match_regipy(rel):
    path = CORPUS / rel
    recs = _parse(path)
    run = sorted(_of(recs, RunMruEntry), key=lambda r: r.position)
    ref = _plugin(RunMRUPlugin, path)
    ref_cmds = [c["command"] for e in ref for c in e["commands"]]
    assert [r.command for r in run] == [c[:-2] if c.endswith("\\1") else c for c in ref_cmds]
    if run:
        assert run[0].last_run is not None and all(r.last_run is None for r in run[1:])
    typed = _of(recs, TypedPath)
    tp = TypedPathsPlugin(RegistryHive(str(path)), as_json=False)
    tp.run()
    ref_paths = [v for e in (tp.entries.get("entries", []) if isinstance(tp.entries, dict) else [])
                 for k, v in e.items() if k.startswith("url")]
    assert [t.path for t in typed] == ref_paths


def test_runmru_shows_a_typed_unc_path():
    run = _of(_parse(CORPUS / NTUSERS[2], "Users/nfury/NTUSER.DAT"), RunMruEntry)
    assert [r.command for r in run] == ["\\\\controller\\WebDavShare"]
    assert run[0].user == "nfury" and run[0].source.locator.endswith("\\RunMRU\\a")


# --- MUICache -----------------------------------------------------------------------------------------

def test_muicache_xp_matches_regipy():
    path = CORPUS / "registry/plaso-xp-joe/NTUSER.DAT"
    ours = _of(_parse(path), MuiCacheEntry)
    ref = [a for e in _plugin(MUICachePlugin, path) for a in e["applications"]]

    def as_regipy(name: str) -> str:  # regipy shows non-ASCII in 8-bit value names as U+FFFD
        return "".join(c if ord(c) < 128 else "\ufffd" for c in name)

    assert sorted((as_regipy(m.value_name), m.text) for m in ours) == sorted((a["path"], a["display_name"]) for a in ref)
    assert any("Niðurhal" in m.executable for m in ours)  # ours decodes the Latin-1 name
    assert ours and {m.attribute for m in ours} == {"name"}


@pytest.mark.parametrize("rel", USRCLASSES)
def test_muicache_usrclass_matches_regipy_values(rel):
    path = CORPUS / rel
    ours = _of(_parse(path), MuiCacheEntry)
    key = RegistryHive(str(path)).get_key("\\Local Settings\\Software\\Microsoft\\Windows\\Shell\\MuiCache")
    ref = sorted((v.name, v.value) for v in key.iter_values()
                 if not v.name.startswith("@") and v.name != "LangID" and isinstance(v.value, str))
    assert sorted((m.value_name, m.text) for m in ours) == ref
    for m in ours:
        assert m.value_name.startswith(m.executable) and m.attribute in ("friendly_name", "company", "name")


# --- NetworkList (SOFTWARE written here) ----------------------------------------------------------------

def _systemtime_hex(y, mo, d, h, mi, s, ms=0) -> str:
    import struct

    raw = struct.pack("<8H", y, mo, 0, d, h, mi, s, ms)
    return "hex:" + ",".join(f"{b:02x}" for b in raw)


@pytest.fixture(scope="module")
def networklist_hive(tmp_path_factory) -> Path:
    if not shutil.which("hivexregedit"):
        pytest.fail("hivexregedit is required (apt-get install libhivex-bin libwin-hivex-perl)")
    d = tmp_path_factory.mktemp("netlist")
    hive = d / "SOFTWARE"
    shutil.copyfile(CORPUS / "registry/synthetic-software/SOFTWARE", hive)
    hive.chmod(0o644)
    base = "HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\NetworkList"
    home, corp = "{11111111-AAAA-4BBB-8CCC-000000000001}", "{22222222-AAAA-4BBB-8CCC-000000000002}"
    sections = [
        (f"{base}", []), (f"{base}\\Profiles", []), (f"{base}\\Signatures", []),
        (f"{base}\\Signatures\\Managed", []), (f"{base}\\Signatures\\Unmanaged", []),
        (f"{base}\\Profiles\\{home}", ['"ProfileName"="HomeWiFi"', '"Description"="HomeWiFi"',
                                        '"Category"=dword:00000000', '"Managed"=dword:00000000',
                                        '"NameType"=dword:00000047',
                                        f'"DateCreated"={_systemtime_hex(2024, 3, 1, 9, 15, 0)}',
                                        f'"DateLastConnected"={_systemtime_hex(2024, 5, 2, 21, 4, 5, 250)}']),
        (f"{base}\\Profiles\\{corp}", ['"ProfileName"="corp.example"', '"Category"=dword:00000002',
                                        '"Managed"=dword:00000001', '"NameType"=dword:00000006',
                                        f'"DateCreated"={_systemtime_hex(2023, 1, 10, 8, 0, 0)}',
                                        f'"DateLastConnected"={_systemtime_hex(2024, 4, 30, 17, 30, 0)}']),
        (f"{base}\\Signatures\\Unmanaged\\0102", [f'"ProfileGuid"="{home}"', '"DnsSuffix"="<none>"',
                                                   '"DefaultGatewayMac"=hex:aa,bb,cc,00,11,22']),
        (f"{base}\\Signatures\\Managed\\0304", [f'"ProfileGuid"="{corp}"', '"DnsSuffix"="corp.example"',
                                                 '"DefaultGatewayMac"=hex:00,50,56,01,02,03']),
    ]
    reg = "Windows Registry Editor Version 5.00\n\n" + "\n".join(
        f"[{k}]\n" + "".join(v + "\n" for v in vals) for k, vals in sections)
    regfile = d / "net.reg"
    regfile.write_text(reg, encoding="utf-8")
    subprocess.run(["hivexregedit", "--merge", "--prefix", "HKEY_LOCAL_MACHINE\\SOFTWARE", str(hive), str(regfile)],
                   check=True, capture_output=True)
    return hive


def test_networklist_matches_regipy_and_keeps_local_times_local(networklist_hive):
    ours = {p.name: p for p in _of(_parse(networklist_hive, "Windows/System32/config/SOFTWARE"), NetworkProfile)}
    ref = {x["profile_name"]: x for x in _plugin(NetworkListPlugin, networklist_hive) if x["type"] == "profile"}
    assert set(ours) == set(ref) == {"HomeWiFi", "corp.example"}
    home, corp = ours["HomeWiFi"], ours["corp.example"]
    assert (home.category, home.managed, home.kind) == ("public", False, "wireless")
    assert (corp.category, corp.managed, corp.kind) == ("domain", True, "wired")
    assert home.last_connected_local == "2024-05-02T21:04:05.250" and not home.last_connected_local.endswith("Z")
    assert home.gateway_mac == "aa:bb:cc:00:11:22" and corp.dns_suffix == "corp.example"
    for name, p in ours.items():
        assert ref[name]["managed"] == p.managed
        assert ref[name]["category"].lower().startswith(p.category[:3]) or p.category == "domain"
    # local wall-clock text is not a UTC time: only the key's last write reaches the timeline
    assert [d for _t, d in home.times()] == ["Network profile key last write"]
    assert systemtime_text(b"\x00" * 16) is None and systemtime_text(b"short") is None
