"""open_image on volume images, MBR and GPT disks, E01 (single and split) and QCOW2."""

from __future__ import annotations

import hashlib
import os
import struct
import subprocess
import sys
from pathlib import Path

import pyewf
import pytest
from ntfs_build import session_images, user_files, walk_files

from triage.collect.images import open_image, open_image_sources
from triage.collect.ntfs import NtfsSource

REPO = Path(__file__).resolve().parents[2]

VSS_QCOW2 = "images/plaso-vss/vsstest.qcow2"


@pytest.fixture(scope="session")
def images(tmp_path_factory, make_hosts):
    imgs = session_images(tmp_path_factory, make_hosts)
    if imgs.skip_reason:
        pytest.skip(imgs.skip_reason)
    return imgs


def _assert_same_tree(images, source):
    got = user_files(walk_files(source))
    assert got.keys() == images.expected.keys()
    assert [k for k in got if got[k] != images.expected[k]] == []


@pytest.mark.fuse
def test_volume_image(images):
    result = open_image(images.volume)
    try:
        assert (result.container, result.layout) == ("raw", "volume")
        assert [s.volume for s in result.sources] == ["C"]
        src = result.sources[0]
        assert src.read_method == "image" and src.kind == "image"
        assert src.info["label"] == "Windows"
        _assert_same_tree(images, src)
    finally:
        result.close()


@pytest.mark.fuse
def test_mbr_disk_collects_the_windows_partition_only(images):
    result = open_image(images.mbr)
    try:
        assert result.layout == "mbr"
        assert [(p.number, p.type_id) for p in result.partitions] == [(1, "0x07"), (2, "0x07")]
        assert [(s.volume, s.info["partition"]) for s in result.sources] == [("C", 2)]
        assert any("partition 1" in n and "without Windows" in n for n in result.notes)
        _assert_same_tree(images, result.sources[0])
    finally:
        result.close()


@pytest.mark.fuse
def test_gpt_disk_each_windows_volume_named(images):
    result = open_image(images.gpt)
    try:
        assert result.layout == "gpt"
        assert [p.name for p in result.partitions] == ["EFI system", "Basic data", "Basic data 2"]
        assert result.partitions[0].type_id == "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
        assert [(s.volume, s.info["partition"]) for s in result.sources] == [("C", 2), ("D", 3)]
        assert any("partition 1" in n and "not NTFS" in n for n in result.notes)
        _assert_same_tree(images, result.sources[1])
        # the two volumes are read independently (own positions on the shared image handle)
        a, b = result.sources
        rel = images.fragmented
        ha, hb = hashlib.sha256(), hashlib.sha256()
        with a.open(rel) as fa, b.open(rel) as fb:
            while True:
                ca, cb = fa.read(100_000), fb.read(77_777)
                if not ca and not cb:
                    break
                ha.update(ca)
                hb.update(cb)
        assert ha.hexdigest() == hb.hexdigest() == images.expected[rel]
    finally:
        result.close()


@pytest.mark.fuse
def test_extended_partitions_and_no_windows(images):
    result = open_image(images.mbr_extended)
    try:
        assert [p.number for p in result.partitions] == [1, 5]
        # no partition holds Windows: every NTFS partition is collected, named after its number
        assert [s.volume for s in result.sources] == ["p1", "p5"]
        assert any("no NTFS partition holds Windows" in n for n in result.notes)
        assert all(s.info["label"] == "Data" for s in result.sources)
    finally:
        result.close()


@pytest.mark.fuse
def test_e01_single_segment(images):
    assert pyewf.glob(str(images.e01)) == [str(images.e01)]
    result = open_image(images.e01)
    try:
        assert (result.container, result.layout) == ("e01", "mbr")
        assert [s.volume for s in result.sources] == ["C"]
        _assert_same_tree(images, result.sources[0])
    finally:
        result.close()


@pytest.mark.fuse
def test_e01_split_segments(images):
    segments = pyewf.glob(str(images.e01_split))
    assert len(segments) > 10 and segments[0].endswith(".E01")
    sources = open_image_sources(images.e01_split)
    try:
        assert [s.volume for s in sources] == ["C"]
        assert sources[0].info["container"] == "e01"
        _assert_same_tree(images, sources[0])
        (rel, stream), data = next(iter(images.ads.items()))
        assert sources[0].open_stream(rel, stream).read() == data
    finally:
        for s in sources:
            s.close()


def test_qcow2_volume_from_windows(corpus):
    result = open_image(corpus / VSS_QCOW2)
    try:
        assert (result.container, result.layout) == ("qcow2", "volume")
        (src,) = result.sources
        assert src.info["label"] == "vsstest"
        names = {e.name for e in src.listdir("")}
        assert {"another_file", "password.txt", "syslog.gz"} <= names
        # a journal written by Windows: restart pages first
        assert src.open("$LogFile").read(4) == b"RSTR"
        assert src.open("password.txt").read().startswith(b"place,user,password\n")
    finally:
        result.close()


@pytest.mark.fuse
def test_truncated_disk_is_reported_not_raised(images, tmp_path):
    cut = tmp_path / "cut.img"
    with open(images.mbr, "rb") as fi, open(cut, "wb") as fo:
        fo.write(fi.read(os.path.getsize(images.mbr) // 2))
    result = open_image(cut)
    try:
        assert any("past the end" in n for n in result.notes)
        for src in result.sources:   # whatever opened: reading fails as OSError, never otherwise
            for rel in list(images.expected)[:30]:
                try:
                    src.open(rel).read()
                except OSError:
                    pass
    finally:
        result.close()


def test_garbage_and_empty_files(tmp_path):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(os.urandom(64 * 1024))
    result = open_image(junk)
    assert result.sources == [] and result.layout == "unknown" and result.notes
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    assert open_image(empty).sources == []


def _mbr(entries: list[tuple[int, int, int]]) -> bytearray:
    sector = bytearray(512)
    for i, (ptype, start, count) in enumerate(entries):
        struct.pack_into("<B3sB3sII", sector, 446 + 16 * i, 0, b"\0\0\0", ptype, b"\0\0\0", start, count)
    sector[510:512] = b"\x55\xaa"
    return sector


def test_hostile_partition_tables(tmp_path):
    # an extended partition whose boot record points at itself, and a partition past the end
    disk = bytearray(_mbr([(0x05, 1, 100), (0x07, 1_000_000, 1000)]))
    first = _mbr([(0x07, 10, 10), (0x05, 2, 10)])    # LBA 1: next at LBA 1 + 2
    second = _mbr([(0x07, 10, 10), (0x05, 2, 10)])   # LBA 3: next at LBA 1 + 2 = itself
    disk += first + bytes(512) + second + bytes(512 * 30)
    path = tmp_path / "loop.img"
    path.write_bytes(bytes(disk))
    result = open_image(path)
    assert result.sources == []
    assert any("loops" in n for n in result.notes)
    assert any("not NTFS" in n for n in result.notes)
    # GPT header claiming a huge table
    gpt = bytearray(_mbr([(0xEE, 1, 100)]))
    hdr = bytearray(512)
    hdr[:8] = b"EFI PART"
    struct.pack_into("<QII", hdr, 72, 2, 10_000_000, 128)
    path2 = tmp_path / "gpt.img"
    path2.write_bytes(bytes(gpt + hdr + bytes(512 * 8)))
    result2 = open_image(path2)
    assert result2.layout == "gpt" and result2.sources == []
    assert any("implausible GPT header" in n for n in result2.notes)


def _collect(args: list[str], out) -> Path:
    """Run `triage collect` as a user would; return the bundle."""
    subprocess.run([sys.executable, "-m", "triage", "collect", *args, "--output", str(out), "--quiet",
                    "--hostname", "imghost"], check=True, cwd=REPO, timeout=300)
    (bundle,) = Path(out).glob("*.zip")
    return bundle


@pytest.mark.fuse
def test_triage_collect_image_windows_full(images, tmp_path):
    """`triage collect --image disk.E01 --profile windows-full`: every collected file equals the source."""
    from triage.bundle.reader import BundleReader
    from triage.bundle.verify import verify_bundle

    bundle = _collect(["--image", str(images.e01), "--profile", "windows-full"], tmp_path)
    assert verify_bundle(bundle).ok
    with BundleReader(bundle) as b, NtfsSource.from_path(images.volume) as vol:
        collected = [e for e in b.entries if e.outcome == "collected" and e.volume == "C"]
        assert len(collected) > 40
        by_rel = {e.rel_path: e for e in collected}
        for e in collected:
            assert e.read_method == "image"
            data = b.open(e.bundle_path).read()
            assert hashlib.sha256(data).hexdigest() == e.sha256
            if e.role == "stream":
                continue
            rel = e.rel_path
            want = images.expected.get(rel) or hashlib.sha256(vol.open(rel).read()).hexdigest()
            assert e.sha256 == want, rel
            assert isinstance(e.extra["mft_entry"], int) and "si_times" in e.extra and "fn_times" in e.extra
        # NTFS metadata and the download's Zone.Identifier, which only raw reading can give
        assert "$MFT" in by_rel and "$LogFile" in by_rel
        (rel, stream), data = next(iter(images.ads.items()))
        streams = [e for e in collected if e.role == "stream" and e.path.endswith(":" + stream)]
        assert len(streams) == 1 and b.open(streams[0].bundle_path).read() == data
        assert by_rel[rel].extra["ads"] == [stream]
        # mkntfs makes no change journal: recorded as not there, not as an error
        usn = [e for e in b.entries if e.artifact == "NTFSUsnJournal"]
        assert usn and all(e.outcome == "missing" for e in usn)
