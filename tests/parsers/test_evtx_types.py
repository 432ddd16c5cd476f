"""The per-channel event tables (triage/parsers/evtx/event_types) on real records: the corpus logs and
SigmaHQ's regression .evtx files. Expected values were read from the records themselves."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from evtx import PyEvtxParser

from triage.analyze.timeline import record_times
from triage.model import Event
from triage.parsers.base import input_from_file
from triage.parsers.evtx.event_types import SPECS, WHEN
from triage.parsers.evtx.events import NOTABLE
from triage.parsers.evtx.parser import EvtxParser
from triage.parsers.evtx.template import UNKNOWN, fields_of, template

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
EVTX = SHARED / "corpus" / "evtx"
REGRESSION = SHARED / "sigma" / "regression_data"

FILES = {
    "win11-security": EVTX / "museum-win11-rathbunvm" / "Security.evtx",
    "win11-system": EVTX / "museum-win11-rathbunvm" / "System.evtx",
    "apt-system": EVTX / "museum-win10-aptsimulatorvm" / "System.evtx",
    "apt-bits": EVTX / "museum-win10-aptsimulatorvm" / "Microsoft-Windows-Bits-Client%4Operational.evtx",
    "apt-sysmon": EVTX / "museum-win10-aptsimulatorvm" / "Microsoft-Windows-Sysmon%4Operational.evtx",
    "defender": EVTX / "museum-win10-rathbunvm" / "Microsoft-Windows-Windows Defender%4Operational.evtx",
    "plaso-system": EVTX / "plaso" / "System.evtx",
    "sysmon": EVTX / "omerbenamram-evtx" / "sysmon.evtx",
    "security-short": EVTX / "omerbenamram-evtx" / "Security_short_selected.evtx",
    "redsun-pipe": REGRESSION / "rules-emerging-threats" / "2026" / "Exploits" / "RedSun" /
    "pipe_created_win_exploit_redsun_named_pipe" / "9b4e7c2a-3f6d-4a8b-b5e9-1c7d3f2e6a4b.evtx",
    "redsun-defender": REGRESSION / "rules-emerging-threats" / "2026" / "Exploits" / "RedSun" /
    "win_defender_exploit_redsun_tiering_engine_detected_as_eicar" / "a7c3e5f2-8b1d-4e9a-b6c2-3d7f5e8a9b4c.evtx",
    "cpl-load": REGRESSION / "rules" / "windows" / "image_load" / "image_load_side_load_cpl_from_non_system_location" /
    "2b140a5c-dc02-4bb8-b6b1-8bdb45714cde.evtx",
    "task-disable": REGRESSION / "rules" / "windows" / "builtin" / "taskscheduler" /
    "win_taskscheduler_susp_schtasks_delete_or_disable" / "9e3cb244-bdb8-4632-8c90-6079c8f4f16d.evtx",
}


@pytest.fixture(scope="session")
def events() -> dict[str, dict[int, Event]]:
    """Each file parsed once: {name: {record id: Event}}."""
    missing = [str(p) for p in FILES.values() if not p.is_file()]
    if missing:
        pytest.skip(f"shared corpus files not found: {missing[:2]}")
    parser = EvtxParser()
    return {name: {r.record_id: r for r in parser.parse(input_from_file(path, f"Logs/{path.name}"))
                   if isinstance(r, Event) and r.record_id is not None} for name, path in FILES.items()}


def _one(events: dict, name: str, rid: int, eid: int) -> Event:
    ev = events[name][rid]
    assert ev.event_id == eid
    return ev


def test_tables_do_not_clash_and_templates_read_extracted_fields():
    assert not set(SPECS) & set(NOTABLE)
    for key, spec in SPECS.items():
        produced = set(spec.extract({}))  # every field, None, plus what extra() adds
        tmpl = getattr(spec.describe, "template", None)
        assert tmpl is not None, key
        assert fields_of(tmpl) <= produced, (key, fields_of(tmpl) - produced)
        assert spec.category in WHEN, key


def test_template_drops_optional_parts_and_marks_missing_required():
    t = template("process {image} by {user}[ with {cmd}][ (parent {parent})]")
    assert t({"image": "a.exe", "user": "U", "cmd": None, "parent": "p.exe"}) == "process a.exe by U (parent p.exe)"
    assert t({"image": "a.exe", "user": None, "cmd": "a -x", "parent": ""}) == f"process a.exe by {UNKNOWN} with a -x"
    assert template("{a|b}")({"a": None, "b": "x"}) == "x"
    assert template("{a}")({"a": "line\nbreak"}) == "line break"


def test_4688_says_who_started_what(events):
    ev = _one(events, "win11-security", 1, 4688)
    assert ev.fields["image"] == "Registry" and ev.fields["user"] == "NT AUTHORITY\\SYSTEM"
    assert ev.description == "process Registry started by NT AUTHORITY\\SYSTEM (command line not audited)"
    procs = [e for e in events["win11-security"].values() if e.event_id == 4688]
    assert len(procs) == 56 and all(UNKNOWN not in e.description and "?" not in e.description for e in procs)
    with_parent = [e for e in procs if e.fields["parent"]]
    assert with_parent and all(f"(parent {e.fields['parent']})" in e.description for e in with_parent)


def test_7045_driver_without_account_has_no_hole(events):
    drivers = [e for e in events["win11-system"].values() if e.event_id == 7045 and e.fields["account"] is None]
    assert drivers and all(e.description.endswith("(demand start)") or "start)" in e.description for e in drivers)
    assert all("?" not in e.description for e in drivers)


def test_service_control_manager(events):
    ev = _one(events, "apt-system", 179, 7040)
    assert (ev.fields["service"], ev.fields["old_start_type"], ev.fields["new_start_type"],
            ev.fields["service_key"]) == ("Delivery Optimization", "demand start", "auto start", "DoSvc")
    assert ev.description == ("start type of service Delivery Optimization changed from demand start to auto start "
                              "(key DoSvc)")
    ev = _one(events, "plaso-system", 1, 7036)
    assert ev.fields["service"] == "Windows Event Log" and ev.fields["state"] == "stopped"
    assert record_times(ev) == [(ev.timestamp, "Service state changed")]


def test_unexpected_shutdown_keeps_local_time_as_text(events):
    ev = _one(events, "plaso-system", 1041, 6008)
    assert ev.fields["previous_shutdown_local"] == "1:34:44 PM 8/25/2015"
    assert ev.fields["action"] == "unexpected_shutdown"


def test_bits_transfers(events):
    start, stop = _one(events, "apt-bits", 5, 59), _one(events, "apt-bits", 6, 60)
    assert start.fields["url"] == stop.fields["url"] == "https://g.live.com/odclientsettings/Prod"
    assert start.fields["job"] == "PreSignInSettingsConfigJSON" and start.fields["bytes_total"] == 53467
    assert stop.fields["hr"] == 0 and stop.fields["ok"] is True and stop.fields["bytes_transferred"] == 53467
    assert stop.description.endswith("(status 0x00000000, 53467 of 53467 bytes)")


def test_4672_routine_subjects_skipped_unless_all_logons():
    path = FILES["win11-security"]
    if not path.is_file():
        pytest.skip("corpus missing")
    raw = {}
    for rec in PyEvtxParser(str(path)).records_json():
        if '"EventID":4672' in rec["data"]:
            raw[rec["event_record_id"]] = json.loads(rec["data"])["Event"]["EventData"]["SubjectUserSid"]
    user = {rid for rid, sid in raw.items() if sid not in ("S-1-5-18", "S-1-5-19", "S-1-5-20")
            and not sid.startswith(("S-1-5-90-", "S-1-5-96-"))}
    typed = {r.record_id for r in EvtxParser().parse(input_from_file(path)) if isinstance(r, Event)
             and r.event_id == 4672}
    assert user and typed == user and len(raw) > len(user)
    item = input_from_file(path)
    item.options["evtx_all_logons"] = True
    assert {r.record_id for r in EvtxParser().parse(item) if isinstance(r, Event) and r.event_id == 4672} == set(raw)


def test_ntlm_validation(events):
    ev = _one(events, "security-short", 3, 4776)
    assert (ev.fields["target_user"], ev.fields["workstation"], ev.fields["status"]) == \
        ("Administrator", "TEMPORAL", "0xc000006a")


def test_defender(events):
    ev = _one(events, "defender", 1, 5007)
    assert ev.fields["old_value"] == "Default\\InstallLocation = C:\\Program Files\\Windows Defender"
    assert ev.category == "defender_config"
    (err,) = [e for e in events["redsun-defender"].values() if e.event_id == 1119]
    assert err.fields["threat_name"] == "Tool:Win32/EICAR_Test_File"
    assert err.fields["process"] == "C:\\Users\\xodih\\Downloads\\RedSun.exe"
    assert err.fields["paths"][0].startswith("C:\\Users\\xodih\\AppData\\Local\\Temp\\RS-{")


def test_sysmon(events):
    ev = _one(events, "sysmon", 1754, 10)
    assert (ev.fields["source_image"], ev.fields["target_image"], ev.fields["granted_access"]) == \
        ("C:\\Windows\\system32\\svchost.exe", "C:\\Windows\\system32\\lsass.exe", "0x1000")
    assert ev.fields["source_pid"] == 780 and ev.fields["target_pid"] == 644
    ev = _one(events, "sysmon", 1873, 12)
    assert ev.fields["event_type"] == "DeleteValue"
    assert ev.fields["target_object"] == "\\REGISTRY\\MACHINE\\SYSTEM\\ControlSet001\\Services\\PROCMON23\\Start"
    ev = _one(events, "sysmon", 1859, 15)
    assert ev.fields["target_filename"] == "C:\\Users\\tony\\Downloads\\ProcessMonitor.zip"
    assert ev.fields["hashes"]["md5"] == "0D277DF348223E0F135194A11E581401"
    (pipe,) = [e for e in events["redsun-pipe"].values() if e.event_id == 17]
    assert pipe.fields["pipe"] == "\\REDSUN" and pipe.description.endswith("created pipe \\REDSUN")
    (load,) = [e for e in events["cpl-load"].values() if e.event_id == 7]
    assert load.fields["image_loaded"] == "C:\\Users\\SwachchhandaP\\Downloads\\bthprops.cpl"
    assert load.fields["signed"] == "false" and load.fields["signature"] is None
    ends = [e for e in events["apt-sysmon"].values() if e.event_id == 5]
    assert ends and all(e.category == "process_end" for e in ends)


def test_task_scheduler(events):
    (ev,) = [e for e in events["task-disable"].values() if e.event_id == 142]
    assert ev.fields["task_name"] == "\\Microsoft\\Windows\\SystemRestore\\SR"
    assert ev.description == "scheduled task \\Microsoft\\Windows\\SystemRestore\\SR disabled by System"


def test_no_message_has_a_hole(events):
    for name, evs in events.items():
        for ev in evs.values():
            assert UNKNOWN not in ev.description, (name, ev.record_id, ev.description)


def test_every_category_has_a_time_meaning_and_is_documented():
    schema = json.loads((Path(__file__).resolve().parents[2] / "triage" / "data" / "summary.schema.json").read_text())
    doc = schema["properties"]["events"]["items"]["properties"]["category"]["description"]
    for spec in [*SPECS.values(), *NOTABLE.values()]:
        assert spec.category in WHEN and f" {spec.category}," in doc, spec.category


def test_vhdmp_disk_image_fields():
    """No corpus log holds VHDMP-Operational: its manifest's field names (VhdFile for 12,
    VhdFileName/VhdDiskNumber for 1) are checked on a payload of that shape."""
    opened = SPECS[("microsoft-windows-vhdmp", 12)]
    f = opened.extract({"Status": 0, "VhdFile": "C:\\Users\\a\\Downloads\\invoice.iso", "ReadOnly": True})
    assert opened.describe(f) == "disk image C:\\Users\\a\\Downloads\\invoice.iso opened (status 0)"
    mounted = SPECS[("microsoft-windows-vhdmp", 1)]
    f = mounted.extract({"VhdFileName": "C:\\x.iso", "VhdDiskNumber": 2, "VirtualDisk": "0xffff"})
    assert mounted.describe(f) == "disk image C:\\x.iso mounted as disk 2" and f["action"] == "mounted"
