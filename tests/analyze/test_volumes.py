"""Drive letters for \\VOLUME{..} / \\Device\\HarddiskVolumeN paths, from real corpus prefetch files."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from _analyze_host import PLANT, analyzed_once, collected_bundle

from triage.analyze.volumes import VolumeMap, resolve_records
from triage.model import Execution, Source
from triage.parsers.base import input_from_file
from triage.parsers.prefetch import PrefetchParser
from triage.parsers.registry.bam import BamEntry

PREFETCH = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus" / "prefetch"


def _prefetch(rel: str) -> Execution:
    path = PREFETCH / rel
    if not path.is_file():
        pytest.skip(f"corpus file missing: {path}")
    (rec,) = [r for r in PrefetchParser().parse(input_from_file(path, f"Windows/Prefetch/{path.name}"))
              if isinstance(r, Execution)]
    return rec


def _bam(path: str) -> BamEntry:
    return BamEntry(source=Source(bundle_path="files/C/Windows/System32/config/SYSTEM", locator="bam"),
                    executable=path, sid="S-1-5-21-1-2-3-1001", last_run=datetime(2024, 1, 1, tzinfo=UTC),
                    moderator="bam", control_set="ControlSet001", key_path="x")


def test_prefetch_proves_its_system_volume_win7_and_win10():
    win7 = _prefetch("artemis-win7/CONSENT.EXE-531BD9EA.pf")
    win10 = _prefetch("artemis-win10/AM_DELTA_PATCH_1.377.757.0.EX-0C03AAF4.pf")
    out = resolve_records([win7, win10])
    assert out[0].path == "C:\\WINDOWS\\SYSTEM32\\CONSENT.EXE"
    assert out[0].raw_path == "\\DEVICE\\HARDDISKVOLUME2\\WINDOWS\\SYSTEM32\\CONSENT.EXE"
    assert out[1].path == "C:\\WINDOWS\\SOFTWAREDISTRIBUTION\\DOWNLOAD\\INSTALL\\AM_DELTA_PATCH_1.377.757.0.EXE"
    assert out[1].raw_path.startswith("\\VOLUME{01d0f9a19c586134-d49d126f}\\")


def test_unknown_volume_stays_raw_and_bam_needs_a_unique_windows_volume():
    win10 = _prefetch("artemis-win10/AM_DELTA_PATCH_1.377.757.0.EX-0C03AAF4.pf")
    other = Execution(source=Source(bundle_path="files/C/Windows/Prefetch/X.pf"), kind="amcache", executable="X.EXE",
                      path="\\VOLUME{01d0000000000000-12345678}\\TOOLS\\X.EXE")
    out = resolve_records([win10, other])
    assert out[1].path == other.path and out[1].raw_path is None
    one = resolve_records([win10, _bam("\\Device\\HarddiskVolume3\\Windows\\System32\\cmd.exe"),
                           _bam("\\Device\\HarddiskVolume3\\Tools\\x.exe")])
    assert [b.resolved_path for b in one[1:]] == ["C:\\Windows\\System32\\cmd.exe", "C:\\Tools\\x.exe"]
    assert one[2].executable == "\\Device\\HarddiskVolume3\\Tools\\x.exe"  # the recorded path stays
    assert "C:\\Tools\\x.exe" in one[2].message() and one[2].execution()[1] == "C:\\Tools\\x.exe"
    two = resolve_records([win10, _bam("\\Device\\HarddiskVolume3\\Windows\\System32\\cmd.exe"),
                           _bam("\\Device\\HarddiskVolume5\\Windows\\System32\\cmd.exe")])
    assert [b.resolved_path for b in two[1:]] == [None, None]  # two Windows volumes: no guess
    assert VolumeMap.build([]).resolve("\\VOLUME{01d0f9a19c586134-d49d126f}\\X") is None


@pytest.fixture(scope="session")
def host(make_hosts, tmp_path_factory):
    bundle = collected_bundle(make_hosts, tmp_path_factory.mktemp("bundles"), plant=(PLANT,))
    return analyzed_once(bundle, tmp_path_factory.mktemp("analysis"), strict=True)


def test_collected_host_shows_letters_and_keeps_raw_paths(host):
    prefetch = [x for x in host.summary["executions"] if x["source"] == "prefetch"]
    assert prefetch and all(x["path"][1:3] == ":\\" and x["raw_path"].startswith("\\VOLUME{") for x in prefetch)
    rows = [json.loads(line) for line in (host.out_dir / "timeline.jsonl").open(encoding="utf-8")]
    runs = [r for r in rows if r["timestamp_desc"] == "Prefetch last run"]
    assert runs and not any("\\VOLUME{" in r["message"] for r in runs)


LNK = PREFETCH.parent / "lnk"


def _links(folder: str) -> list:
    from triage.parsers.lnk import LnkFile, LnkParser
    base = LNK / folder
    if not base.is_dir():
        pytest.skip(f"corpus folder missing: {base}")
    out = []
    for path in sorted(base.iterdir()):
        item = input_from_file(path, f"files/C/Users/u/AppData/Roaming/Microsoft/Windows/Recent/{path.name}")
        out.extend(r for r in LnkParser().parse(item) if isinstance(r, LnkFile))
    return out


def test_links_name_the_letter_of_a_volume_serial():
    """artemis-win11's own links put serial 4290933E on C:, the serial its prefetch files' \\VOLUME{}
    prefix carries: the prefix resolves from the links alone. ez-win10's links put DAFFD9CE on D:."""
    vmap = VolumeMap.build(_links("artemis-win11"))
    assert vmap.resolve("\\VOLUME{01d6828290579d13-4290933e}\\Tools\\x.exe") == "C:\\Tools\\x.exe"
    ez = _links("ez-win10")
    other = Execution(source=Source(bundle_path="files/C/Windows/appcompat/Programs/Amcache.hve"), kind="amcache",
                      executable="X.EXE", path="\\VOLUME{01d1217a00000000-daffd9ce}\\TOOLS\\X.EXE")
    out = resolve_records([*ez, other])
    assert out[-1].path == "D:\\TOOLS\\X.EXE" and out[-1].raw_path == other.path


def test_a_serial_seen_with_two_letters_stays_raw():
    import dataclasses
    ez = _links("ez-win10")
    d = next(r for r in ez if r.volume_serial == "DAFFD9CE")
    moved = dataclasses.replace(d, target_path="F:" + d.target_path[2:])  # the same stick mounted as F: later
    vmap = VolumeMap.build([*ez, moved])
    assert vmap.resolve("\\VOLUME{01d1217a00000000-daffd9ce}\\X") is None
    assert vmap.resolve("\\VOLUME{01d1217a00000000-6a228faa}\\X") == "C:\\X"


def test_prefetch_volume_list_maps_a_second_device_through_its_serial():
    """ez-win7 ran a tool from \\DEVICE\\HARDDISKVOLUME3 (serial E892367F, its prefetch volume list says;
    HARDDISKVOLUME2 holds the system, ntdll proves it). A link of that host whose target sits on that
    serial (here one of ez-win10's links re-pointed: the corpus has no Windows 7 links) names the
    letter. A device number seen with two serials (numbers are reused across boots and media) stays raw."""
    import dataclasses
    tool = _prefetch("ez-win7/DCODEDCODEDCODEDCODEDCODEDCOD-9054DA3F.pf")
    link = next(r for r in _links("ez-win10") if r.volume_serial == "DAFFD9CE")
    link = dataclasses.replace(link, volume_serial="E892367F", target_path="E:\\TEMP\\222\\notes.txt")
    out = resolve_records([tool, link])
    assert out[0].path.startswith("E:\\TEMP\\222\\DCODE") and out[0].raw_path.startswith("\\DEVICE\\HARDDISKVOLUME3\\")
    reused = dataclasses.replace(tool, volumes=(*tool.volumes, {"device_path": "\\DEVICE\\HARDDISKVOLUME3",
                                                                "serial_number": "AC036525"}))
    out = resolve_records([reused, link])
    assert out[0].path.startswith("\\DEVICE\\HARDDISKVOLUME3\\") and out[0].raw_path is None
