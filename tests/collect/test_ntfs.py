"""NtfsSource and FallbackSource on a real NTFS volume built by mkntfs + ntfs-3g (see ntfs_build)."""

from __future__ import annotations

import errno
import hashlib
import os

import pytest
from ntfs_build import ZONE_ID, session_images, user_files, walk_files

from triage.collect.fallback import FallbackSource, refused
from triage.collect.ntfs import NtfsError, NtfsSource
from triage.collect.source import DirectorySource


@pytest.fixture(scope="session")
def images(tmp_path_factory, make_hosts):
    imgs = session_images(tmp_path_factory, make_hosts)
    if imgs.skip_reason:
        pytest.skip(imgs.skip_reason)
    return imgs


@pytest.fixture()
def vol(images):
    src = NtfsSource.from_path(images.volume, "C")
    yield src
    src.close()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.fuse
def test_every_file_byte_for_byte(images, vol):
    got = user_files(walk_files(vol))
    assert len(images.expected) > 100
    missing = sorted(set(images.expected) - set(got))
    extra = sorted(set(got) - set(images.expected))
    assert not missing and not extra, (missing[:5], extra[:5])
    differ = [k for k in images.expected if got[k] != images.expected[k]]
    assert not differ


@pytest.mark.fuse
def test_non_ascii_names_listed_and_read(images, vol):
    for rel in images.non_ascii:
        parent, name = rel.rsplit("/", 1)
        assert name in [e.name for e in vol.listdir(parent)]
        assert _sha(vol.open(rel).read()) == images.expected[rel]


@pytest.mark.fuse
def test_fragmented_file_is_fragmented_and_read_whole(images, vol):
    runs = [e for e in vol.extents(images.fragmented) if not e.sparse]
    assert len(runs) >= 4, f"the test volume did not fragment the file: {runs}"
    with vol.open(images.fragmented) as fh:
        data = fh.read()
    assert _sha(data) == images.expected[images.fragmented]
    # reading in odd-sized pieces across run boundaries gives the same bytes
    with vol.open(images.fragmented) as fh:
        pieces = b"".join(iter(lambda: fh.read(12345), b""))
    assert pieces == data


@pytest.mark.fuse
def test_deleted_file_is_on_disk_but_not_returned(images, vol):
    name = images.deleted.rsplit("/", 1)[1]
    # the freed MFT record still holds the name: the case raw reading must not resurrect
    assert name.encode("utf-16-le") in vol.open("$MFT").read()
    parent = images.deleted.rsplit("/", 1)[0]
    assert name not in [e.name for e in vol.listdir(parent)]
    assert not vol.exists(images.deleted)
    with pytest.raises(FileNotFoundError):
        vol.stat(images.deleted)
    with pytest.raises(FileNotFoundError):
        vol.open(images.deleted)


@pytest.mark.fuse
def test_alternate_data_stream(images, vol):
    (rel, stream), data = next(iter(images.ads.items()))
    assert vol.streams(rel) == [stream]
    assert vol.stat(rel).extra["ads"] == [stream]
    with vol.open_stream(rel, stream) as fh:
        assert fh.read() == data == ZONE_ID
        assert fh.extra["stream"] == stream
    assert vol.stat_stream(rel, stream).size == len(ZONE_ID)
    assert vol.stream_path(rel, stream) == "C:\\" + rel.replace("/", "\\") + ":Zone.Identifier"
    # the default stream is still the file's own data
    assert _sha(vol.open(rel).read()) == images.expected[rel]
    with pytest.raises(FileNotFoundError):
        vol.open_stream(rel, "NoSuchStream")
    assert vol.streams(images.fragmented) == []


@pytest.mark.fuse
def test_stat_records_mft_entry_si_and_fn_times(images, vol):
    rel = f"Users/{images.user}/NTUSER.DAT"
    meta = vol.stat(rel)
    assert meta.size == (images.tree / rel).stat().st_size
    extra = meta.extra
    assert isinstance(extra["mft_entry"], int) and extra["mft_entry"] >= 16   # 0-15 are NTFS's own
    assert extra["fn_name"] == "NTUSER.DAT"
    for key in ("si_times", "fn_times"):
        assert set(extra[key]) == {"created", "modified", "accessed", "mft_modified"}
        assert all(v.endswith("Z") and "T" in v for v in extra[key].values())
    assert meta.times["modified"] == extra["si_times"]["modified"]
    assert meta.times["born"] == extra["si_times"]["created"]
    # entries differ between files; the same entry is reported through open()
    other = vol.stat(images.fragmented).extra["mft_entry"]
    assert other != extra["mft_entry"]
    with vol.open(rel) as fh:
        assert fh.read_method == "ntfs_raw"
        assert fh.extra["mft_entry"] == extra["mft_entry"]


@pytest.mark.fuse
def test_lookup_is_case_insensitive(images, vol):
    rel = f"Users/{images.user}/NTUSER.DAT"
    assert _sha(vol.open(rel.upper()).read()) == images.expected[rel]      # by path walk
    assert vol.stat(rel.lower()).size == vol.stat(rel).size
    list(vol.listdir(f"Users/{images.user}"))                               # now by MFT reference
    assert _sha(vol.open(rel.upper()).read()) == images.expected[rel]
    assert vol.stat(rel.lower()).extra["mft_entry"] == vol.stat(rel).extra["mft_entry"]


@pytest.mark.fuse
def test_sparse_file_allocated_only(images, vol):
    rel = images.sparse
    exts = vol.extents(rel)
    assert any(e.sparse for e in exts), exts
    full = vol.open(rel).read()
    assert _sha(full) == images.expected[rel]
    tail = full[images.sparse_data_offset:]
    ranges = vol.allocated_ranges(rel)
    assert ranges == [(images.sparse_data_offset, len(tail))]
    with vol.open(rel, allocated_only=True) as fh:
        assert fh.read() == tail
        assert fh.extra["allocated_ranges"] == [[images.sparse_data_offset, len(tail)]]
        assert fh.extra["logical_size"] == len(full)


@pytest.mark.fuse
def test_ntfs_metadata_files(vol):
    names = {e.name for e in vol.listdir("")}
    assert {"$MFT", "$LogFile", "$Extend"} <= names
    with vol.open("$MFT") as fh:
        mft = fh.read()
    assert len(mft) == vol.stat("$MFT").size
    assert all(mft[i * 1024:i * 1024 + 4] == b"FILE" for i in range(16))   # NTFS's own records
    # ntfs-3g empties the journal on unmount; a real Windows $LogFile is checked in test_images
    assert len(vol.open("$LogFile").read()) == vol.stat("$LogFile").size > 0
    # mkntfs creates no change journal; asking for it says so instead of crashing
    with pytest.raises(FileNotFoundError):
        vol.open_stream("$Extend/$UsnJrnl", "$J")


@pytest.mark.fuse
def test_paths_with_dot_dot_are_refused(vol):
    with pytest.raises(ValueError):
        vol.open("Users/../Windows/System32/config/SYSTEM")


def test_garbage_is_not_a_volume(tmp_path):
    junk = tmp_path / "junk.img"
    junk.write_bytes(os.urandom(1024 * 1024))
    with open(junk, "rb") as fh, pytest.raises(NtfsError):
        NtfsSource(fh)


@pytest.mark.fuse
def test_truncated_volume_fails_as_data(images, tmp_path):
    cut = tmp_path / "cut.img"
    with open(images.volume, "rb") as fi:
        cut.write_bytes(fi.read(6 * 1024 * 1024))
    try:
        src = NtfsSource.from_path(cut)
    except NtfsError:
        return  # refused up front: fine
    errors = 0
    for rel in list(images.expected)[:40]:
        try:
            with src.open(rel) as fh:
                fh.read()
        except OSError:
            errors += 1
    src.close()
    assert errors > 0  # data past the cut cannot be read, and says so with OSError


# --- FallbackSource -----------------------------------------------------------------------------

class LockingDirectory(DirectorySource):
    """The OS file API as on a live Windows host: some files are held open without sharing."""

    def __init__(self, root, locked: set[str], winerror: int | None = None):
        super().__init__(root, "C")
        self.locked = {p.casefold() for p in locked}
        self.winerror = winerror

    def open(self, rel):
        if rel.casefold() in self.locked:
            exc = PermissionError(errno.EACCES, "The process cannot access the file because it is being "
                                  "used by another process")
            if self.winerror is not None:
                exc.winerror = self.winerror
            raise exc
        return super().open(rel)


@pytest.mark.fuse
def test_fallback_reads_locked_files_raw(images):
    locked = {"Windows/System32/config/SYSTEM", f"Users/{images.user}/NTUSER.DAT",
              "Windows/System32/winevt/Logs/Security.evtx"}
    locked = {p for p in locked if (images.tree / p).exists()}
    assert len(locked) >= 2
    opened = []

    def raw_factory():
        opened.append(1)
        return NtfsSource.from_path(images.volume, "C")

    src = FallbackSource(LockingDirectory(images.tree, locked, winerror=32), raw_factory)
    methods: dict[str, str] = {}
    got = {}
    stack = [""]
    while stack:
        rel = stack.pop()
        for e in src.listdir(rel):
            child = f"{rel}/{e.name}" if rel else e.name
            if e.is_dir:
                stack.append(child)
            elif e.is_file:
                with src.open(child) as fh:
                    got[child] = _sha(fh.read())
                    methods[child] = fh.read_method
                    if fh.read_method == "ntfs_raw":
                        assert isinstance(fh.extra["mft_entry"], int)
                        assert "winerror 32" in fh.extra["fallback_reason"]
                        assert fh.extra["si_times"]["modified"].endswith("Z")
    tree_files = {k: v for k, v in images.expected.items() if not k.startswith(images.filler_dir + "/")}
    assert got == tree_files
    assert {k for k, m in methods.items() if m == "ntfs_raw"} == locked
    assert all(m == "file_api" for k, m in methods.items() if k not in locked)
    assert opened == [1]   # the raw volume is opened once, lazily
    # named streams come from the raw volume; missing files are not "refused"
    (rel, stream), data = next(iter(images.ads.items()))
    assert src.streams(rel) == [stream] and src.open_stream(rel, stream).read() == data
    with pytest.raises(FileNotFoundError):
        src.open("Windows/no-such-file")
    src.close()


def test_fallback_never_opens_raw_when_nothing_is_locked(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"hello")

    def raw_factory():
        raise AssertionError("raw volume opened although the OS API read everything")

    src = FallbackSource(DirectorySource(tmp_path, "C"), raw_factory)
    with src.open("a.txt") as fh:
        assert fh.read() == b"hello" and fh.read_method == "file_api"


def test_fallback_without_raw_volume_reports_both_reasons(tmp_path):
    (tmp_path / "SYSTEM").write_bytes(b"regf")

    def raw_factory():
        raise OSError(errno.EACCES, "cannot open \\\\.\\C: (not administrator)")

    src = FallbackSource(LockingDirectory(tmp_path, {"SYSTEM"}), raw_factory)
    with pytest.raises(OSError) as info:
        src.open("SYSTEM")
    assert "not administrator" in str(info.value) and "another process" in str(info.value)


def test_refused_classification():
    assert refused(PermissionError(errno.EACCES, "denied"))
    sharing = OSError(errno.EINVAL, "sharing violation")
    sharing.winerror = 32
    assert refused(sharing)
    assert not refused(FileNotFoundError(errno.ENOENT, "gone"))
    assert not refused(OSError(errno.EIO, "I/O error"))
