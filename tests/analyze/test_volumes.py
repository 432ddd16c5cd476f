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
