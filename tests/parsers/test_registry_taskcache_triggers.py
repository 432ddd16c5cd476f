"""TaskCache ``Triggers`` decoding: every trigger type of the Windows 10 layout (version 0x17) and the
Windows 8.1 one (0x15, no principal / trigger ids), local vs UTC boundaries, hostile bytes (every cut,
flipped bytes, unknown magic), and a SOFTWARE hive holding tasks (written with hivexregedit on a copy
of the corpus hive) parsed end to end into TaskTrigger rows, the task's Autorun details and Issues.

No corpus hive holds a TaskCache (the only SOFTWARE hive is synthetic, see the corpus README), and no
task XML exists to compare with: the values are built in tests/_task_triggers.py from the published
layout, with the stale 0x48 padding Windows leaves, independently of the decoder.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime

import _task_triggers as tt
import pytest
from _hivex import merged_hive, reg_hex

from triage.model import Autorun, Issue
from triage.parsers.base import input_from_file
from triage.parsers.registry.parser import RegistryParser
from triage.parsers.registry.taskcache_trigger_decode import decode_triggers
from triage.parsers.registry.taskcache_triggers import TaskTrigger

T0 = datetime(2024, 3, 1, 3, 0, tzinfo=UTC)
QUERY = "<QueryList><Query Id=\"0\"><Select Path=\"Security\">*[System[EventID=4625]]</Select></Query></QueryList>"


def _full_value() -> bytes:
    return (tt.header(start=T0, flags=0x400000 | 0x800000, run_as_sid="S-1-5-18")
            + tt.logon_trigger("S-1-5-21-1-2-3-1001", "DESKTOP\\dana", delay=30, tid="AtLogon")
            + tt.generic(0xFFFF)
            + tt.time_trigger(start=T0, mode=2, data=(1, 0b0100010, 0), tid="Weekly")
            + tt.event_trigger(QUERY)
            + tt.session_trigger(5)
            + tt.generic(0x8888, enabled=False)
            + tt.generic(0xEEEE, start=T0, local=True)
            + tt.time_trigger(start=T0, mode=1, data=(3, 0, 0)))


def test_every_trigger_type_of_the_windows10_layout():
    dec = decode_triggers(_full_value())
    assert dec.error is None
    assert (dec.version, dec.principal_id, dec.user_sid, dec.enabled, dec.hidden) == (0x17, "Author", "S-1-5-18",
                                                                                        True, True)
    assert dec.start.utc == T0 and dec.end.utc is None  # 0xFFFF... end = never
    kinds = [t["type"] for t in dec.triggers]
    assert kinds == ["logon", "boot", "time", "event", "session_state_change", "registration", "idle", "time"]
    logon, boot, weekly, event, session, reg, idle, daily = dec.triggers
    assert (logon["user_sid"], logon["user_name"], logon["delay_seconds"], logon["trigger_id"]) == (
        "S-1-5-21-1-2-3-1001", "DESKTOP\\dana", 30, "AtLogon")
    assert boot["enabled"] is True and boot["start_boundary"] is None
    assert weekly["schedule"] == "weekly on Mon,Fri, every 1 week(s)" and weekly["start_boundary"] == T0
    assert weekly["trigger_id"] == "Weekly" and weekly["execution_time_limit_seconds"] == 259200
    assert event["subscription"] == QUERY
    assert session["session_state"] == "session lock"
    assert reg["enabled"] is False
    assert idle["start_boundary"] is None and idle["start_boundary_local"] == "2024-03-01T03:00:00"
    assert daily["schedule"] == "daily, every 3 day(s)"


def test_windows81_layout_has_no_principal_nor_trigger_ids():
    value = tt.header(0x15, run_as_sid=None, run_as_name="") + tt.generic(0xFFFF, version=0x15) \
        + tt.time_trigger(0x15, start=T0, mode=1, data=(1, 0, 0))
    dec = decode_triggers(value)
    assert dec.error is None and dec.principal_id is None and dec.user_sid is None
    assert [(t["type"], t.get("trigger_id")) for t in dec.triggers] == [("boot", None), ("time", None)]


def test_cut_values_keep_what_was_read_and_say_where_it_stopped():
    full = _full_value()
    whole = decode_triggers(full).triggers
    ends = {t["offset"] for t in whole}  # a value may end after any whole trigger
    for n in range(len(full)):
        dec = decode_triggers(full[:n])
        assert dec.triggers == whole[:len(dec.triggers)]
        if n not in ends and n > 0:
            assert dec.error, n


def test_garbled_values_never_raise():
    full = bytearray(_full_value())
    rng = random.Random(15)
    for _ in range(1500):
        b = bytearray(full)
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        dec = decode_triggers(bytes(b))
        assert len(dec.triggers) <= 64
    for junk in (b"", b"\x17", b"\xff" * 4096, bytes(range(256)) * 8):
        assert decode_triggers(junk).error


def test_unknown_magic_and_version_are_errors_with_what_came_before():
    value = tt.header() + tt.generic(0xFFFF) + tt.a_u4(0x1234) + b"\x00" * 64
    dec = decode_triggers(value)
    assert [t["type"] for t in dec.triggers] == ["boot"] and "0x1234" in (dec.error or "")
    assert "version 0x3" in (decode_triggers(b"\x03" + b"\x00" * 100).error or "")


@pytest.fixture(scope="session")
def triggers_hive(corpus, tmp_path_factory):
    nt = "HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\Schedule\\TaskCache"
    good = "{AAAAAAAA-0000-0000-0000-000000000001}"
    bad = "{AAAAAAAA-0000-0000-0000-000000000002}"
    reg = f"""[{nt}\\Tree\\Updater]
"Id"="{good}"
"Index"=dword:00000003

[{nt}\\Tasks\\{good}]
"Path"="\\\\Updater"
"Triggers"={reg_hex(_full_value())}

[{nt}\\Tasks\\{bad}]
"Path"="\\\\Broken"
"Triggers"={reg_hex(tt.header() + tt.generic(0xFFFF) + tt.generic(0xAAAA)[:40])}
"""
    d = tmp_path_factory.mktemp("triggers")
    return merged_hive(corpus / "registry/synthetic-software/SOFTWARE", d / "SOFTWARE", reg,
                       "HKEY_LOCAL_MACHINE\\SOFTWARE")


def test_hive_tasks_become_trigger_rows_autorun_details_and_issues(triggers_hive):
    item = input_from_file(triggers_hive, "Windows/System32/config/SOFTWARE")
    records = list(RegistryParser().parse(item))
    rows = [r for r in records if isinstance(r, TaskTrigger)]
    updater = [r for r in rows if r.task_path == "\\Updater"]
    assert [r.trigger_type for r in updater] == [t["type"] for t in decode_triggers(_full_value()).triggers]
    logon = updater[0]
    assert logon.condition == "logon of DESKTOP\\dana (S-1-5-21-1-2-3-1001), delay 30 s"
    assert (logon.task_hidden, logon.task_enabled, logon.run_as) == (True, True, "S-1-5-18")
    assert logon.source.locator.endswith("\\TaskCache\\Tasks\\{AAAAAAAA-0000-0000-0000-000000000001}\\Triggers#0")
    assert logon.source.bundle_path.endswith("Windows/System32/config/SOFTWARE")
    weekly = updater[2]
    assert weekly.times() == [(T0, "Scheduled task trigger start boundary (activates)")]
    assert updater[6].times() == [] and updater[6].start_boundary_local == "2024-03-01T03:00:00"
    broken = [r for r in rows if r.task_path == "\\Broken"]
    assert [r.trigger_type for r in broken] == ["boot"]
    (issue,) = [i for i in records if isinstance(i, Issue) and "Triggers value" in i.message]
    assert "\\Broken" in issue.message and issue.source.locator.endswith("{AAAAAAAA-0000-0000-0000-000000000002}\\Triggers")
    assert issue.severity == "warning"
    task = next(a for a in records if isinstance(a, Autorun) and a.category == "task" and a.name == "\\Updater")
    assert task.details["task_hidden"] is True and task.details["run_as"] == "S-1-5-18"
    assert [t["type"] for t in task.details["triggers"]][:3] == ["logon", "boot", "time"]
    assert task.details["triggers"][2]["start_boundary"] == "2024-03-01T03:00:00Z"
