"""Ranking: known-benign noise below real suspects with the reason, same-binary findings grouped
with a count, severity order; on a real collected host with a planted Run key."""

from __future__ import annotations

import pytest
from _analyze_host import PLANT, analyzed_once, collected_bundle

from triage.analyze import findings as F
from triage.analyze.ranking import NOISE_SEVERITY
from triage.model import Autorun, Event, Execution, PEInfo, Source

GOOGLE = "C:\\Users\\ann\\AppData\\Local\\Google\\Update\\GoogleUpdate.exe /c"
PLANTED = "C:\\Users\\Public\\u.exe"


def _run(name: str, command: str, user: str = "ann") -> Autorun:
    return Autorun(source=Source(bundle_path=f"files/C/Users/{user}/NTUSER.DAT", locator=f"Run\\{name}"),
                   category="run", location=f"HKU\\{user}\\Software\\Microsoft\\Windows\\CurrentVersion\\Run",
                   name=name, command=command)


def _pe(path: str, signed: bool) -> PEInfo:
    return PEInfo(source=Source(bundle_path=path), path=path, size=1, md5="0", sha1="0", sha256="0", imphash=None,
                  compile_time=None, machine=None, is_dll=False, signed=signed)


def test_per_user_google_update_is_noise_and_ranks_below_a_planted_run_key():
    fs = F.evaluate([_run("GoogleUpdate", GOOGLE), _run("Updater", PLANTED)])
    assert [f.title.rsplit(": ", 1)[1] for f in fs] == ["Updater", "GoogleUpdate"]
    planted, google = fs
    assert planted.severity == "high" and planted.noise is None
    assert google.severity == NOISE_SEVERITY and "Google Update" in google.noise
    assert "the rule said high" in google.reason


def test_unsigned_known_name_is_not_noise_signed_one_says_so():
    unsigned = F.evaluate([_run("GoogleUpdate", GOOGLE),
                           _pe("files/C/Users/ann/AppData/Local/Google/Update/GoogleUpdate.exe", False)])
    assert unsigned[0].severity == "high" and unsigned[0].noise is None
    signed = F.evaluate([_run("GoogleUpdate", GOOGLE),
                         _pe("files/C/Users/ann/AppData/Local/Google/Update/GoogleUpdate.exe", True)])
    assert signed[0].noise and "Authenticode-signed" in signed[0].noise


def test_installer_in_windows_temp_started_by_msiexec():
    path = "\\VOLUME{01d6}\\WINDOWS\\TEMP\\ABC\\TOOL.EXE"
    run = Execution(source=Source(bundle_path="files/C/Windows/Prefetch/TOOL.EXE-1.pf"), kind="prefetch",
                    executable="TOOL.EXE", path=path, run_count=1, last_runs=())
    assert F.evaluate([run])[0].severity == "medium"  # no sign of an installer: stays a suspect
    proc = Event(source=Source(bundle_path="files/C/x/Security.evtx", locator="record 5"), timestamp=None,  # type: ignore[arg-type]
                 channel="Security", provider="p", event_id=4688, record_id=5, computer="c", category="process",
                 description="", fields={"image": "C:\\Windows\\Temp\\abc\\tool.exe",
                                         "parent": "C:\\Windows\\System32\\msiexec.exe"})
    (f,) = F.evaluate([run, proc])
    assert f.severity == NOISE_SEVERITY and "msiexec.exe" in f.noise
    setup = Execution(source=Source(bundle_path="files/C/Windows/Prefetch/SETUP.EXE-1.pf"), kind="prefetch",
                      executable="SETUP.EXE", path="\\VOLUME{01d6}\\WINDOWS\\TEMP\\X\\SETUP.EXE", run_count=1,
                      last_runs=())
    assert F.evaluate([setup])[0].noise.startswith("installer or updater")


@pytest.mark.parametrize(("path", "why"), [
    ("\\VOLUME{01d6}\\WINDOWS\\TEMP\\{E548656A-DD6C-4578-AAE4-276B0C5E1E55}\\.BE\\VC_REDIST.X86.EXE", "WiX Burn"),
    ("\\VOLUME{01d6}\\WINDOWS\\TEMP\\{68DCB2D9-21C8-4314-8FB2-691C563B7262}\\.CR\\TOOL.EXE", "WiX Burn"),
    ("\\VOLUME{01d6}\\WINDOWS\\TEMP\\IS-ABC.TMP\\VSCODESETUP-X64-1.53.2.TMP", "its name says"),
    ("\\VOLUME{01d6}\\WINDOWS\\TEMP\\X\\VC_REDIST.X64.EXE", "its name says"),
])
def test_installer_chains_in_windows_temp_are_noise(path, why):
    name = path.rsplit("\\", 1)[1]
    run = Execution(source=Source(bundle_path=f"files/C/Windows/Prefetch/{name}-1.pf"), kind="prefetch",
                    executable=name, path=path, run_count=1, last_runs=())
    (f,) = F.evaluate([run])
    assert f.severity == NOISE_SEVERITY and why in f.noise


def test_a_guid_folder_alone_or_an_unsigned_installer_name_stays_a_suspect():
    plain = "\\VOLUME{01d6}\\WINDOWS\\TEMP\\{E548656A-DD6C-4578-AAE4-276B0C5E1E55}\\SVCHOST.EXE"
    run = Execution(source=Source(bundle_path="files/C/Windows/Prefetch/SVCHOST.EXE-1.pf"), kind="prefetch",
                    executable="SVCHOST.EXE", path=plain, run_count=1, last_runs=())
    assert F.evaluate([run])[0].noise is None
    setup = "\\VOLUME{01d6}\\WINDOWS\\TEMP\\X\\VC_REDIST.X64.EXE"
    run = Execution(source=Source(bundle_path="files/C/Windows/Prefetch/VC_REDIST.X64.EXE-1.pf"), kind="prefetch",
                    executable="VC_REDIST.X64.EXE", path=setup, run_count=1, last_runs=())
    assert F.evaluate([run, _pe("files/C/Windows/Temp/X/VC_REDIST.X64.EXE", False)])[0].noise is None


def test_same_binary_grouped_with_a_count():
    dll = "C:\\Users\\ann\\AppData\\Local\\Microsoft\\OneDrive\\22.089.0426.0003\\FileSyncShell64.dll"
    handlers = [Autorun(source=Source(bundle_path="files/C/Users/ann/AppData/Local/Microsoft/Windows/UsrClass.dat",
                                      locator=f"CLSID\\{{{i}}}"), category="com_hijack", location=f"CLSID\\{{{i}}}",
                        name=f"Overlay{i}", command=dll) for i in range(7)]
    fs = F.evaluate([*handlers, _run("Updater", PLANTED)])
    assert [f.count for f in fs] == [1, 7]
    assert fs[1].noise and "OneDrive" in fs[1].noise and len(fs[1].evidence) == 7
    assert "(7 entries run the same binary)" in fs[1].reason


@pytest.fixture(scope="session")
def planted(make_hosts, tmp_path_factory):
    bundle = collected_bundle(make_hosts, tmp_path_factory.mktemp("bundles"), plant=(PLANT,))
    return analyzed_once(bundle, tmp_path_factory.mktemp("analysis"), strict=True)


def test_planted_run_key_is_the_top_finding_of_a_real_host(planted):
    findings = planted.summary["findings"]
    assert findings[0]["rule"] == "autorun_user_writable" and "Updater" in findings[0]["title"]
    ranks = [F.SEVERITY_RANK[f["severity"]] for f in findings]
    assert ranks == sorted(ranks)  # severity drives the order, Sigma's findings included
    for f in findings:
        assert f["count"] >= 1 and (f["noise"] is None or f["severity"] == "info")
    noise = [f for f in findings if f["noise"]]
    assert all("known-benign" in noise_f["reason"] for noise_f in noise)
