"""Defender MPLog and DetectionHistory parsers against the corpus (APTSimulator runs on Windows 10 and
Server 2022), cross-checked with each other and with truth.json; damaged files give Issues.

Reference: truth.json's DetectionHistory ``threat_names`` come from an independent UTF-16 string scan;
the MPLog of the same Windows 10 machine is a second, independent record of the same detections (its
DETECTIONEVENT line carries the time DetectionHistory stores as the initial detection time)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from _corpus import need

from triage.analyze.findings import evaluate
from triage.analyze.findings_artifacts import ALL_RULES
from triage.model import Issue
from triage.parsers.base import input_from_file
from triage.parsers.defender_history import (
    DefenderDetection,
    DefenderDetectionHistoryParser,
    decode_detection,
)
from triage.parsers.defender_mplog import DefenderLogEntry, DefenderMpLogParser

WIN10 = "defender/museum-win10-aptsimulatorvm"
MPLOG10 = f"{WIN10}/Support/MPLog-20220310-113238.log"
MPLOG22 = "defender/museum-server2022-aptsimulatorvm/MPLog-20231017-224350.log"
HISTORY = f"{WIN10}/Scans/History/Service/DetectionHistory"
REL_HISTORY = "ProgramData/Microsoft/Windows Defender/Scans/History/Service/DetectionHistory"



def _mplog(path: Path) -> list:
    rel = f"ProgramData/Microsoft/Windows Defender/Support/{path.name}"
    return list(DefenderMpLogParser().parse(input_from_file(path, rel)))


def _history(path: Path) -> list:
    rel = f"{REL_HISTORY}/{path.parent.name}/{path.name}"
    return list(DefenderDetectionHistoryParser().parse(input_from_file(path, rel)))


def test_mplog_win10_detections_remediations_scans(corpus):
    recs = _mplog(need(corpus / MPLOG10))
    assert not [r for r in recs if isinstance(r, Issue)]
    kinds = [r.kind for r in recs]
    assert (kinds.count("detection"), kinds.count("remediation"), kinds.count("scan"),
            kinds.count("exclusion_change")) == (20, 13, 6, 2)
    first = next(r for r in recs if r.kind == "detection")
    assert first.logged == datetime(2022, 3, 10, 19, 49, 22, 667000, tzinfo=UTC)
    assert first.threat == "Trojan:BAT/Vigorf.A" and first.detection_source == "MPSOURCE_REALTIME"
    assert first.resources == ("file:C:\\Users\\TestUser\\Downloads\\APTSimulator_pw_apt\\APTSimulator\\test-sets"
                               "\\command-and-control\\wmi-backdoor-c2.bat",)
    assert first.source.locator.startswith("line ")
    clean = [r for r in recs if r.kind == "remediation"]
    assert {r.action for r in clean} == {"MP_THREAT_ACTION_QUARANTINE", "MP_THREAT_ACTION_REMOVE"}
    assert {r.result for r in clean if r.threat == "HackTool:Win32/Vigorf.A"} == {"0x80508023"}
    lsass = next(r for r in recs if r.kind == "detection" and r.threat == "HackTool:Win32/DumpLsass.E")
    assert lsass.resources[0].startswith("CmdLine:C:\\Users\\Public\\procdump64.exe -accepteula -ma lsass.exe")
    # every line time is UTC and inside the log's span in truth.json
    assert all(datetime(2022, 3, 10, 16, 33, tzinfo=UTC) <= r.logged <= datetime(2022, 3, 10, 21, 41, tzinfo=UTC)
               for r in recs)


def test_mplog_server2022(corpus, truth):
    recs = _mplog(need(corpus / MPLOG22))
    det = [r for r in recs if r.kind == "detection"]
    assert [r.threat for r in det] == ["Trojan:JS/SharpShooter.A", "HackTool:JS/Jsprat", "Backdoor:PowerShell/Powercat.A",
                                       "Backdoor:PHP/Remoteshell.V", "Trojan:Win32/Tiggre!rfn"]
    assert det[1].resources == ("containerfile:C:\\Temp\\APTSimulator-master\\APTSimulator-master\\toolset\\b.jsp",
                                "file:C:\\Temp\\APTSimulator-master\\APTSimulator-master\\toolset\\b.jsp->(SCRIPT0065)")
    assert [r.kind for r in recs].count("remediation") == truth[MPLOG22]["detection_lines"] == 1


def test_detection_history_matches_truth_and_mplog(corpus, truth):
    files = sorted(p for p in need(corpus / HISTORY).rglob("*") if p.is_file())
    assert len(files) == 14
    mplog_times = {(r.threat, r.logged) for r in _mplog(corpus / MPLOG10) if r.kind == "detection"}
    for path in files:
        recs = _history(path)
        assert not [r for r in recs if isinstance(r, Issue)], path
        (d,) = recs
        assert isinstance(d, DefenderDetection)
        assert d.threat in set(truth[str(path.relative_to(corpus))]["threat_names"])
        assert d.detection_id == "{" + path.name + "}"
        if d.detected and d.resources[0].startswith("file:"):
            # MPLog logged the same detection (to the millisecond, sometimes a few ms later)
            assert any(t == d.threat and abs((lt - d.detected).total_seconds()) < 1 for t, lt in mplog_times), d


def test_detection_history_powercat_entry(corpus):
    (d,) = _history(need(corpus / HISTORY / "02" / "0F3D5CDF-677A-4AF9-BDE9-54E0ACD9900D"))
    assert d.threat == "Backdoor:PowerShell/Powercat.A" and d.category == 6
    assert d.resources == ("file:C:\\TMP\\nc.ps1",)
    assert d.user == "DESKTOP-TMKU40H\\TestUser"
    assert d.process == "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"
    assert d.detected == datetime(2022, 3, 10, 20, 10, 47, 626898, tzinfo=UTC)
    assert d.remediated == datetime(2022, 3, 10, 20, 11, 1, 675029, tzinfo=UTC)
    assert d.sha256 == "b3648d0b7c3648713653e46a274b6c9cebe0b3982b5966d79d384a742df4a9b4"
    assert d.sha1 == "753e0f490067dd0c080a6017918f8cbc3973a991"
    assert [desc for _t, desc in d.times()] == ["Defender initial detection", "Defender remediation"]


def test_defender_findings(corpus):
    recs = _history(need(corpus / HISTORY / "02" / "0F3D5CDF-677A-4AF9-BDE9-54E0ACD9900D"))
    recs += _mplog(corpus / MPLOG22)
    fs = [f for f in evaluate(recs, hostname="h", rules=ALL_RULES) if f.rule == "defender_detection"]
    titles = {f.title for f in fs}
    assert "Defender detection: Backdoor:PowerShell/Powercat.A" in titles
    assert "Defender detection: HackTool:JS/Jsprat" in titles
    assert all(f.severity == "high" and f.evidence[0]["bundle_path"].startswith("files/C/ProgramData/") for f in fs)
    # scans and exclusion changes alone are no finding
    quiet = [r for r in _mplog(corpus / MPLOG22) if isinstance(r, DefenderLogEntry) and r.kind != "detection"]
    assert not [f for f in evaluate(quiet, hostname="h", rules=ALL_RULES) if f.rule == "defender_detection"]


def test_damaged_detection_history_gives_issues(corpus, tmp_path):
    src = need(corpus / HISTORY / "02" / "0F3D5CDF-677A-4AF9-BDE9-54E0ACD9900D").read_bytes()
    cut = tmp_path / "00" / "CUT"
    cut.parent.mkdir()
    cut.write_bytes(src[:0x6F0 + 4])  # inside the resource set: the threat and the file survive
    recs = _history(cut)
    issues = [r for r in recs if isinstance(r, Issue)]
    assert issues and "cut short" in issues[0].message and issues[0].severity == "warning"
    (d,) = [r for r in recs if isinstance(r, DefenderDetection)]
    assert d.threat == "Backdoor:PowerShell/Powercat.A" and d.resources == ("file:C:\\TMP\\nc.ps1",)
    assert d.detected is None
    junk = tmp_path / "00" / "JUNK"
    junk.write_bytes(b"\xff" * 64)
    recs = _history(junk)
    assert recs and all(isinstance(r, Issue) and r.severity == "error" for r in recs)
    assert "not a DetectionHistory file" in recs[-1].message
    # a hostile size field never makes the decoder read past the data or loop
    fields, problems = decode_detection(b"\x00\x00\x00\x00\x15\x00\x00\x00" * 10_000)
    assert fields == {} and problems


def test_mplog_hostile_lines(tmp_path):
    p = tmp_path / "MPLog-1.log"
    body = ("2022-03-10T19:49:22.667Z DETECTIONEVENT MPSOURCE_REALTIME Evil:Win32/X file:C:\\a.exe;\r\n"
            + "x" * 50_000 + "\r\n"
            + "2022-13-40T99:99:99.000Z DETECTIONEVENT MPSOURCE_REALTIME Evil:Win32/Y file:C:\\b.exe;\r\n")
    p.write_bytes(b"\xff\xfe" + body.encode("utf-16-le"))
    recs = _mplog(p)
    det = [r for r in recs if isinstance(r, DefenderLogEntry)]
    assert [r.threat for r in det] == ["Evil:Win32/X"]
    msgs = " | ".join(r.message for r in recs if isinstance(r, Issue))
    assert "impossible time" in msgs and "longer than" in msgs


def test_detection_history_behavior_entry(corpus):
    """A behaviour detection: no file, no user (stored empty: kept as None), the process 'Unknown', no
    initial-detection time in the file, only the remediation time."""
    (d,) = _history(need(corpus / HISTORY / "00" / "513F108E-C674-4D19-AE23-79C9AD68A0E6"))
    assert d.threat == "Behavior:Win32/AccessibilityEscalation.F" and d.category == 46
    assert d.resources[0] == "behavior:pid:1364:237165111778183"
    assert (d.user, d.process, d.detected) == (None, "Unknown", None)
    assert d.remediated == datetime(2022, 3, 10, 21, 3, 28, 517178, tzinfo=UTC)


def test_exclusion_change_finding(corpus, tmp_path):
    """Corpus MPLogs only log empty exclusion lists (2 bytes): no finding. A non-empty one is medium."""
    real = _mplog(need(corpus / MPLOG10)) + _mplog(corpus / MPLOG22)
    assert [r.text for r in real if r.kind == "exclusion_change"][0] == "Path exclusion changed, new size in bytes: 2"
    assert not [f for f in evaluate(real, hostname="h", rules=ALL_RULES) if f.rule == "defender_exclusion_added"]
    p = tmp_path / "MPLog-2.log"
    p.write_bytes(b"\xff\xfe" + "2024-05-01T10:00:00.123Z Path exclusion changed, new size in bytes: 58\r\n"
                  .encode("utf-16-le"))
    (f,) = [f for f in evaluate(_mplog(p), hostname="h", rules=ALL_RULES) if f.rule == "defender_exclusion_added"]
    assert f.severity == "medium" and f.title == "Defender path exclusions set" and f.attack == ("T1562.001",)
    assert f.when == datetime(2024, 5, 1, 10, 0, 0, 123000, tzinfo=UTC) and f.evidence[0]["locator"] == "line 1"
