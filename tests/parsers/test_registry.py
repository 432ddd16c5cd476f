"""Registry parser against truth.json on every hive of the corpus (each parsed once per session), the
dirty hives before and after log replay, damaged hives, a make-host-tree host with a planted Run value,
and hives written here with hivexregedit for the autostart locations no corpus hive holds (IFEO
Debugger, SilentProcessExit, AppInit, Winlogon Notify, policy Run, TaskCache)."""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
import subprocess
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from _hivex import reg_hex, with_parents

from triage.model import ArtifactRecord, Autorun, HostFact, Issue, UserAccount
from triage.parsers.base import input_from_file
from triage.parsers.registry.amcache import AmcacheExecution
from triage.parsers.registry.hive import decode_utf16_to_nul, open_hive
from triage.parsers.registry.parser import RegistryParser
from triage.parsers.registry.taskcache import decode_actions
from triage.units import iso

CORPUS = (Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus").resolve()
HIVES = sorted(str(p.relative_to(CORPUS)) for p in (CORPUS / "registry").glob("*/*")
               if p.is_file() and ".LOG" not in p.name.upper())
RUN_KEY_NAMES = {"run", "runonce"}


def _parse(path: Path, rel: str | None = None, *, replay: bool = True, logs: bool = True, user: str | None = None):
    companions = tuple(sorted(p for p in path.parent.iterdir()
                              if p.name.lower().startswith(path.name.lower() + ".log"))) if logs else ()
    item = input_from_file(path, rel or f"registry/{path.parent.name}/{path.name}", companions=companions, user=user)
    item.options = {"replay_logs": replay}
    return list(RegistryParser().parse(item))


@pytest.fixture(scope="session")
def parsed(corpus) -> dict[str, list]:
    """Every corpus hive parsed once, logs replayed where the hive is dirty and they came with it."""
    return {rel: _parse(corpus / rel) for rel in HIVES}


@pytest.fixture(scope="session")
def parsed_no_replay(corpus, truth) -> dict[str, list]:
    return {rel: _parse(corpus / rel, replay=False) for rel in HIVES if "after_log_replay" in truth.get(rel, {})}


def _of(records, cls):
    return [r for r in records if isinstance(r, cls)]


def _facts(records) -> dict:
    out: dict = {}
    for f in _of(records, HostFact):
        out.setdefault(f.key, f.value)
    return out


def _run_values(records, root: str, key_path: str) -> dict[str, str]:
    """name -> command of the Run/RunOnce autoruns whose location is root + key_path (case-insensitive)."""
    want = (root + key_path).lower()
    return {a.name: a.command for a in _of(records, Autorun) if a.category == "run" and a.location.lower() == want}


def _root(records) -> str:
    """The logical root the parser used: 'HKLM\\SOFTWARE' for a SOFTWARE hive, 'HKU\\<user>' for a user hive."""
    autoruns = _of(records, Autorun)
    if any(a.location.upper().startswith("HKLM\\SOFTWARE\\") for a in autoruns):
        return "HKLM\\SOFTWARE"
    return f"HKU\\{autoruns[0].user or '?'}" if autoruns else ""


def _close(when: datetime | None, ref: str) -> bool:
    """Equal to the microsecond the reference shows, give or take 1 us: regipy converts FILETIMEs through a
    float (13e15 us does not fit a double exactly); we truncate the 100 ns ticks in integers."""
    want = datetime.fromisoformat(ref.replace("Z", "+00:00"))
    return when is not None and when.tzinfo is not None and abs(when - want) <= timedelta(microseconds=1)


def _check_run_keys(records, run_keys: dict) -> int:
    root = _root(records)
    checked = 0
    for key_path, expected in run_keys.items():
        if key_path.rsplit("\\", 1)[-1].lower() not in RUN_KEY_NAMES:
            continue
        got = _run_values(records, root, key_path)
        if expected is None:
            assert got == {}, key_path
            continue
        assert got == expected["values"], key_path
        for a in _of(records, Autorun):
            if a.location.lower() == (root + key_path).lower():
                assert _close(a.last_write, expected["last_written"]), key_path
                assert a.source.locator == f"{a.location}\\{a.name}"
        checked += len(got)
    return checked


@pytest.mark.parametrize("rel", HIVES)
def test_every_hive_parses_without_exception_and_kind_matches_truth(corpus, truth, parsed, rel):
    ref = truth[rel]
    records = parsed[rel]
    assert records is not None
    if ref.get("error") or ref.get("hive_kind") in (None, "UNKNOWN"):
        assert any(i.severity == "error" for i in _of(records, Issue)), rel
        return
    opened = open_hive(corpus / rel, [], replay=False)
    assert opened.hive.kind == ref["hive_kind"]


@pytest.mark.parametrize("rel", [r for r in HIVES if "registry/truncated/" not in r])
def test_run_keys_equal_truth(truth, parsed, parsed_no_replay, rel):
    ref = truth[rel]
    if not ref.get("run_keys"):
        assert not [a for a in _of(parsed[rel], Autorun) if a.category == "run"]
        return
    if "after_log_replay" in ref:
        _check_run_keys(parsed_no_replay[rel], ref["run_keys"])
        assert _check_run_keys(parsed[rel], ref["after_log_replay"]["run_keys"]) >= 0
    else:
        assert _check_run_keys(parsed[rel], ref["run_keys"]) == sum(
            len(v["values"]) for k, v in ref["run_keys"].items() if v and k.rsplit("\\", 1)[-1].lower() in RUN_KEY_NAMES)


def test_run_key_coverage_is_real(truth, parsed):
    """The per-hive comparison above compared real values: HKLM, WOW6432Node and many user hives."""
    locations = {a.location for recs in parsed.values() for a in _of(recs, Autorun) if a.category == "run"}
    assert any(loc.startswith("HKLM\\SOFTWARE\\WOW6432Node\\") for loc in locations)
    assert any(loc.startswith("HKLM\\SOFTWARE\\Microsoft\\") for loc in locations)
    assert len({loc.split("\\")[1] for loc in locations if loc.startswith("HKU\\")}) >= 6


def _check_system(records, ref_system: dict) -> None:
    facts = _facts(records)
    assert facts["hostname"] == ref_system["computer_name"]
    assert facts["control_set"] == ref_system["control_set"]
    tz = ref_system["timezone"]
    assert facts["timezone"] == tz.get("TimeZoneKeyName", tz.get("StandardName"))
    assert facts["timezone_bias_minutes"] == tz["Bias"]
    assert facts["timezone_active_bias_minutes"] == tz["ActiveTimeBias"]
    assert facts["timezone_standard_name"] == tz["StandardName"]


@pytest.mark.parametrize("rel", [r for r in HIVES if r.endswith(("SYSTEM", "system_hive", "SYSTEM.truncated"))])
def test_system_facts_equal_truth(truth, parsed, parsed_no_replay, rel):
    ref = truth[rel]
    if "after_log_replay" in ref:
        _check_system(parsed_no_replay[rel], ref["system"])
        _check_system(parsed[rel], ref["after_log_replay"]["system"])
    else:
        _check_system(parsed[rel], ref["system"])
    shutdown = _facts(parsed[rel]).get("last_shutdown")
    assert shutdown is None or shutdown.tzinfo is not None


def test_tz_key_name_with_bytes_after_nul_decodes_to_text(truth, parsed):
    rel = "registry/win7-wks-win732bita/SYSTEM"
    assert "timezone_note" in truth[rel]["system"]
    assert _facts(parsed[rel])["timezone"] == "Eastern Standard Time"
    assert decode_utf16_to_nul("Eastern\x00junk".encode("utf-16-le") + b"\x01") == "Eastern"


@pytest.mark.parametrize("rel", ["registry/win10-dirty-system/SYSTEM", "registry/win10-dirty-ntuser/NTUSER.DAT"])
def test_dirty_hive_logs_are_replayed_and_reported(truth, parsed, parsed_no_replay, rel):
    ref = truth[rel]
    assert ref["header"]["dirty"]
    infos = [i.message for i in _of(parsed[rel], Issue) if i.severity == "info"]
    assert any(f"replayed {ref['after_log_replay']['recovered_entries']} pages" in m for m in infos), infos
    autoruns = _of(parsed[rel], Autorun)
    assert autoruns and all(a.details["hive_replayed_pages"] == ref["after_log_replay"]["recovered_entries"]
                            for a in autoruns)
    assert not any("hive_logs_replayed" in a.details for a in _of(parsed_no_replay[rel], Autorun))


def test_replay_doubts_are_reported(parsed):
    """The corpus SYSTEM logs carry HvLE sequence numbers far past the hive's own: Windows would not
    apply them; regipy does; the parser says so instead of hiding it."""
    warnings = [i.message for i in _of(parsed["registry/win10-dirty-system/SYSTEM"], Issue) if i.severity == "warning"]
    assert any("SYSTEM.LOG1" in m and "do not continue" in m for m in warnings), warnings
    ntuser = [i.message for i in _of(parsed["registry/win10-dirty-ntuser/NTUSER.DAT"], Issue)]
    assert not any("NTUSER.DAT.LOG1" in m and "doubt" in m for m in ntuser)


def test_replay_changes_what_is_read(parsed, parsed_no_replay):
    """The dirty SYSTEM hive holds a service key only its logs know about."""
    rel = "registry/win10-dirty-system/SYSTEM"
    before = {a.name for a in _of(parsed_no_replay[rel], Autorun) if a.category == "service"}
    after = {a.name for a in _of(parsed[rel], Autorun) if a.category == "service"}
    assert after != before and len(after) > len(before)


def test_dirty_hive_without_logs_warns(corpus):
    out = _parse(corpus / "registry/win10-dirty-ntuser/NTUSER.DAT", logs=False)
    assert any(i.severity == "warning" and "dirty" in i.message for i in _of(out, Issue))


def test_replay_never_writes_beside_the_evidence(corpus, tmp_path):
    src = corpus / "registry/win10-dirty-ntuser"
    ev = tmp_path / "evidence"
    shutil.copytree(src, ev)
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in ev.iterdir()}
    out = _parse(ev / "NTUSER.DAT", "Users/tony/NTUSER.DAT")
    assert any("replayed" in i.message for i in _of(out, Issue))
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in ev.iterdir()} == before


def test_services_cover_every_services_subkey(corpus, parsed):
    """Cross-checked with regipy reading the one key (not a walk)."""
    from regipy.registry import RegistryHive

    rel = "registry/win7-wks-win732bita/SYSTEM"
    hive = RegistryHive(str(corpus / rel))
    ref = {sk.name for sk in hive.get_key("\\ControlSet001\\Services").iter_subkeys()}
    services = {a.name: a for a in _of(parsed[rel], Autorun) if a.category == "service"}
    assert set(services) == ref
    for name in ("Tcpip", "Dnscache", "W32Time", "AFD"):
        vals = {v.name: v.value for v in hive.get_key(f"\\ControlSet001\\Services\\{name}").iter_values()}
        assert services[name].command == vals["ImagePath"]
        assert services[name].details["start"] == vals["Start"] and services[name].details["type"] == vals["Type"]
    tcpip, dns = services["Tcpip"], services["Dnscache"]
    assert tcpip.details["kind"] == "driver" and tcpip.details["start_type"] == "boot"
    assert dns.details["kind"] == "service" and dns.details["service_dll"].lower().endswith("dnsrslvr.dll")
    assert dns.location == "HKLM\\SYSTEM\\ControlSet001\\services\\Dnscache"
    assert dns.command.lower().startswith("%systemroot%\\system32\\svchost.exe")


def test_corrupted_and_truncated_hives_give_issues_not_exceptions(corpus, truth, parsed):
    damaged = [r for r in HIVES if "/corrupted/" in r or "/truncated/" in r]
    assert len(damaged) >= 5
    for rel in damaged:
        assert isinstance(parsed[rel], list)
    for rel in ("registry/corrupted/NotAHive", "registry/truncated/NTUSER.DAT.truncated"):
        assert [i for i in _of(parsed[rel], Issue) if i.severity == "error"], rel
    system = parsed["registry/corrupted/corrupted_system_hive"]
    assert [i for i in _of(system, Issue) if i.severity == "warning"]
    assert _facts(system)["hostname"] == truth["registry/corrupted/corrupted_system_hive"]["system"]["computer_name"]
    assert any("truncated" in i.message for i in _of(parsed["registry/truncated/SYSTEM.truncated"], Issue))


def test_synthetic_software_facts_equal_truth(truth, parsed):
    rel = "registry/synthetic-software/SOFTWARE"
    ref, records = truth[rel], parsed[rel]
    facts = _facts(records)
    wv, sw = ref["windows_version"], ref["software"]
    assert facts["os_product"] == wv["ProductName"]
    assert facts["os_build"] == wv["CurrentBuild"] and facts["os_build_number"] == wv["CurrentBuildNumber"]
    assert facts["os_version"] == wv["DisplayVersion"]
    assert iso(facts["install_date"]) == sw["install_date_utc"]
    assert facts["os_edition"] == sw["edition_id"] and facts["os_ubr"] == sw["ubr"]
    assert facts["registered_owner"] == sw["registered_owner"]
    profiles = {u.sid: u.profile_path for u in _of(records, UserAccount)}
    assert profiles == {sid: v["ProfileImagePath"] for sid, v in sw["profile_list"].items()}
    assert {u.name for u in _of(records, UserAccount)} >= {"dana", "helpdesk", "SYSTEM"}
    winlogon = {a.name: a.command for a in _of(records, Autorun) if a.category == "winlogon"}
    assert winlogon["Shell"] == sw["winlogon"]["Shell"] and winlogon["Userinit"] == sw["winlogon"]["Userinit"]
    # IFEO subkeys there hold mitigation settings only: nothing is started, nothing is reported
    assert not any("Debugger" in str(v) for v in sw["image_file_execution_options"].values())
    assert not [a for a in _of(records, Autorun) if a.category == "ifeo"]
    appinit = [a for a in _of(records, Autorun) if a.category == "appinit"]
    assert appinit and appinit[0].details["enabled"] is False
    for r in records:
        if isinstance(r, HostFact | Autorun | UserAccount):
            assert r.source.locator.startswith("HKLM\\SOFTWARE\\")


def test_sam_users_have_well_known_rids(parsed):
    for rel in ("registry/ez/SAM", "registry/regipy/SAM", "registry/ez-plugins/SAM"):
        users = {u.name: u for u in _of(parsed[rel], UserAccount)}
        assert users["Administrator"].sid.startswith("S-1-5-21-") and users["Administrator"].sid.endswith("-500")
        assert users["Guest"].sid.endswith("-501")


def test_amcache_entries_match_the_hive(corpus, parsed):
    from regipy.registry import RegistryHive

    rel = "registry/amcache/win10-Amcache.hve"
    key = RegistryHive(str(corpus / rel)).get_key("\\Root\\InventoryApplicationFile")
    ref = {}
    for sk in key.iter_subkeys():
        vals = {v.name: v.value for v in sk.iter_values()}
        ref[vals["LowerCaseLongPath"]] = vals["FileId"][4:]
    got = _of(parsed[rel], AmcacheExecution)
    assert {e.path: e.sha1 for e in got} == ref
    assert all(e.kind == "amcache" and e.last_write and e.last_write.tzinfo for e in got)


def test_planted_run_key_on_a_host_tree(make_hosts):
    out = make_hosts(plant=("0:Updater=C:\\Users\\Public\\u.exe",), filler_mb=1)
    plant = json.loads((out / "hosts.json").read_text())["planted_run_keys"][0]
    host = out / plant["host"]
    records = _parse(host / plant["hive"], plant["hive"])
    runs = [a for a in _of(records, Autorun) if a.name == "Updater"]
    assert len(runs) == 1
    (run,) = runs
    assert run.command == "C:\\Users\\Public\\u.exe"
    assert run.user == plant["user"]
    assert run.location == f"HKU\\{plant['user']}\\Software\\Microsoft\\Windows\\CurrentVersion\\Run"
    assert run.source.locator == run.location + "\\Updater"
    # the same tree's machine hives parse too
    system = _parse(host / "Windows/System32/config/SYSTEM", "Windows/System32/config/SYSTEM")
    assert _facts(system).get("hostname")


# --- hives written here with hivexregedit, for locations the corpus lacks -----------------------------

def _utf16(s: str) -> bytes:
    b = s.encode("utf-16-le")
    return struct.pack("<I", len(b)) + b


def _actions_blob(command: str, args: str, clsid: uuid.UUID) -> bytes:
    """A version-3 Actions value as Windows 10 writes it: principal, one exec action, one COM handler."""
    return (struct.pack("<H", 3) + _utf16("Author") + struct.pack("<H", 0x6666) + _utf16("") + _utf16(command)
            + _utf16(args) + _utf16("") + struct.pack("<H", 0) + struct.pack("<H", 0x7777) + _utf16("")
            + clsid.bytes_le + _utf16("payload"))


@pytest.fixture(scope="session")
def hivex_software(corpus, tmp_path_factory) -> Path:
    if not shutil.which("hivexregedit"):
        pytest.fail("hivexregedit is required (apt-get install libhivex-bin libwin-hivex-perl)")
    d = tmp_path_factory.mktemp("hivex")
    hive = d / "SOFTWARE"
    shutil.copyfile(corpus / "registry/synthetic-software/SOFTWARE", hive)
    hive.chmod(0o644)
    clsid = uuid.UUID("{0F87369F-A4E5-4CFC-BD3E-73E6154572DD}")
    nt = "HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion"
    dyn = struct.pack("<IQQIIQ", 3, 133000000000000000, 133100000000000000, 0, 0, 133100000000000000)
    sd_hex = reg_hex(b"\x01\x00\x04\x80")
    actions_hex = reg_hex(_actions_blob("C:\\Users\\Public\\u.exe", "-q", clsid))
    bad_actions_hex = reg_hex(b"\x03\x00\x00\x00\x00\x00\x66\x66\xff\xff")
    dyn_hex = reg_hex(dyn)
    reg = f"""Windows Registry Editor Version 5.00

[{nt}\\Image File Execution Options\\sethc.exe]
"Debugger"="C:\\\\Windows\\\\System32\\\\cmd.exe"

[{nt}\\Image File Execution Options\\notepad.exe]
"GlobalFlag"=dword:00000200

[{nt}\\SilentProcessExit\\notepad.exe]
"MonitorProcess"="C:\\\\ProgramData\\\\mon.exe"
"ReportingMode"=dword:00000001

[{nt}\\Windows]
"AppInit_DLLs"="C:\\\\ProgramData\\\\inj.dll"
"LoadAppInit_DLLs"=dword:00000001

[{nt}\\Winlogon\\Notify\\evil]
"DllName"="evil.dll"

[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\Explorer\\Run]
"pol"="C:\\\\ProgramData\\\\pol.exe"

[{nt}\\Schedule\\TaskCache\\Tree\\Updater]
"Id"="{{11111111-2222-3333-4444-555555555555}}"
"Index"=dword:00000003
"SD"={sd_hex}

[{nt}\\Schedule\\TaskCache\\Tree\\Microsoft\\Hidden]
"Id"="{{66666666-2222-3333-4444-555555555555}}"
"Index"=dword:00000000

[{nt}\\Schedule\\TaskCache\\Tasks\\{{11111111-2222-3333-4444-555555555555}}]
"Path"="\\\\Updater"
"Author"="DESKTOP\\\\dana"
"URI"="\\\\Updater"
"Actions"={actions_hex}
"DynamicInfo"={dyn_hex}

[{nt}\\Schedule\\TaskCache\\Tasks\\{{66666666-2222-3333-4444-555555555555}}]
"Path"="\\\\Microsoft\\\\Hidden"
"Actions"={bad_actions_hex}
"""
    regfile = d / "plant.reg"
    regfile.write_text(with_parents(reg), encoding="utf-8")
    subprocess.run(["hivexregedit", "--merge", "--prefix", "HKEY_LOCAL_MACHINE\\SOFTWARE", str(hive), str(regfile)],
                   check=True, capture_output=True)
    return hive


@pytest.fixture(scope="session")
def hivex_records(hivex_software) -> list:
    return _parse(hivex_software, "Windows/System32/config/SOFTWARE")


def test_ifeo_silent_process_exit_appinit_notify_policy(hivex_records):
    auto = _of(hivex_records, Autorun)
    ifeo = {(a.name, a.details["value"]): a.command for a in auto if a.category == "ifeo"}
    assert ifeo == {("sethc.exe", "Debugger"): "C:\\Windows\\System32\\cmd.exe",
                    ("notepad.exe", "GlobalFlag"): "GlobalFlag=0x200",
                    ("notepad.exe", "MonitorProcess"): "C:\\ProgramData\\mon.exe"}
    (appinit,) = [a for a in auto if a.category == "appinit"]
    assert appinit.command == "C:\\ProgramData\\inj.dll" and appinit.details["enabled"] is True
    notify = [a for a in auto if a.category == "winlogon" and a.details.get("notify_package")]
    assert [(a.name, a.command) for a in notify] == [("evil", "evil.dll")]
    pol = [a for a in auto if a.category == "run" and a.details["key"] == "Policies\\Explorer\\Run"]
    assert [(a.name, a.command) for a in pol] == [("pol", "C:\\ProgramData\\pol.exe")]
    assert pol[0].location == "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\Explorer\\Run"


def test_task_cache(hivex_records):
    tasks = {a.name: a for a in _of(hivex_records, Autorun) if a.category == "task"}
    upd = tasks["\\Updater"]
    assert upd.command == "C:\\Users\\Public\\u.exe -q"
    assert upd.details["in_tree"] and upd.details["tree_sd_present"] and upd.details["author"] == "DESKTOP\\dana"
    assert upd.details["com_handler_clsid"] == "{0F87369F-A4E5-4CFC-BD3E-73E6154572DD}"
    assert upd.details["principal"] == "Author"
    assert upd.details["dynamic_info"]["created"].endswith("Z")
    hidden = tasks["\\Microsoft\\Hidden"]
    assert hidden.details["in_tree"] and hidden.details["tree_sd_present"] is False
    assert "actions_error" in hidden.details
    assert any("not decodable" in i.message for i in _of(hivex_records, Issue))


def test_decode_actions_version1_and_bounds():
    v1 = struct.pack("<H", 1) + struct.pack("<H", 0x6666) + _utf16("") + _utf16("cmd.exe") + _utf16("/c x") + _utf16("")
    assert decode_actions(v1)["actions"][0]["command"] == "cmd.exe"
    with pytest.raises(ValueError):
        decode_actions(struct.pack("<HI", 2, 0xFFFFFFF0))


def test_patterns_pick_hives_not_logs():
    for rel in ("Windows/System32/config/SYSTEM", "Windows/System32/config/SOFTWARE", "Windows/System32/config/SAM",
                "Windows/System32/config/SECURITY", "Users/tony/NTUSER.DAT", "Users/Tony/ntuser.dat",
                "Users/tony/AppData/Local/Microsoft/Windows/UsrClass.dat", "Windows/AppCompat/Programs/Amcache.hve"):
        assert RegistryParser.matches(rel), rel
    for rel in ("Windows/System32/config/SYSTEM.LOG1", "Users/tony/ntuser.dat.LOG2", "Users/tony/NTUSER.DAT.LOG",
                "Windows/System32/config/RegBack/SYSTEM.bak"):
        assert not RegistryParser.matches(rel), rel


def test_randomly_damaged_hives_never_raise(corpus, tmp_path):
    """Seeded byte flips over a real user hive and a real SYSTEM hive: records or Issues, never an exception."""
    import random

    rng = random.Random(1234)
    for rel in ("registry/plaso-runtests/NTUSER.DAT", "registry/win10-dirty-ntuser/NTUSER.DAT"):
        data = (corpus / rel).read_bytes()
        for n in range(12):
            buf = bytearray(data)
            lo = 4096 if n % 3 else 0  # a third of the variants damage the base block too
            for _ in range(400):
                buf[rng.randrange(lo, len(buf))] = rng.randrange(256)
            p = tmp_path / f"{rel.split('/')[1]}-{n}" / "NTUSER.DAT"
            p.parent.mkdir()
            p.write_bytes(bytes(buf))
            out = _parse(p, "Users/x/NTUSER.DAT", logs=False)
            assert all(isinstance(o, Issue | Autorun | ArtifactRecord) for o in out)


def test_task_cache_times_from_dynamic_info(hivex_records):
    """The planted 36-byte DynamicInfo (version 3): registration, last run and last success as UTC times,
    each a timeline row; the task without DynamicInfo has no entry."""
    from datetime import UTC, datetime, timedelta

    from triage.parsers.registry.taskcache_times import TaskCacheTimes, dynamic_info

    (t,) = _of(hivex_records, TaskCacheTimes)
    assert (t.task_path, t.task_id) == ("\\Updater", "{11111111-2222-3333-4444-555555555555}")
    epoch = datetime(1601, 1, 1, tzinfo=UTC)
    assert t.created == epoch + timedelta(seconds=13_300_000_000) == datetime(2022, 6, 18, 4, 26, 40, tzinfo=UTC)
    assert t.last_run == t.last_successful_run == epoch + timedelta(seconds=13_310_000_000)
    assert (t.task_state, t.last_result) == (0, "0x00000000")
    assert t.source.locator.endswith("\\Schedule\\TaskCache\\Tasks\\{11111111-2222-3333-4444-555555555555}\\DynamicInfo")
    assert [d for _, d in t.times()] == ["Scheduled task registered", "Scheduled task last run",
                                         "Scheduled task last successful run"]
    assert dynamic_info(b"\x03\x00\x00\x00" + b"\xff" * 10) is None  # cut value: nothing guessed
    assert dynamic_info(struct.pack("<IQQII", 3, 0, 2**63, 1, 0x41303)) == {
        "created": None, "last_run": None, "task_state": 1, "last_result": "0x00041303"}
