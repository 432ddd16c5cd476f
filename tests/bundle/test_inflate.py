"""triage.bundle.inflate: the fast member reader gives exactly zipfile's bytes and refuses damage."""

from __future__ import annotations

import io
import os
import random
import zipfile
from pathlib import Path

import pytest

from triage.bundle import inflate
from triage.bundle.inflate import MemberStream, wants_fast
from triage.bundle.reader import BundleReader


def _payload(n: int, seed: int = 1) -> bytes:
    """Compressible but irregular bytes (text-like runs and random noise)."""
    rnd = random.Random(seed)
    out = bytearray()
    while len(out) < n:
        if rnd.random() < 0.3:
            out += os.urandom(rnd.randint(1, 3000))
        else:
            out += (f"record {rnd.randint(0, 10**6)} user=alice cmd=powershell -enc AAAA " * rnd.randint(1, 40)).encode()
    return bytes(out[:n])


@pytest.fixture()
def zip_with_members(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    members = {"files/C/Windows/big.evtx": _payload(5 << 20, 1), "files/C/empty.bin": b"",
               "files/C/mid.dat": _payload(300 << 10, 2), "files/C/ünïcode name.txt": _payload(400 << 10, 3)}
    path = tmp_path / "b.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path, members


def test_engine_is_named():
    assert inflate.engine()[0] in ("isal", "zlib")


def test_same_bytes_as_zipfile_by_any_read_pattern(zip_with_members):
    path, members = zip_with_members
    with zipfile.ZipFile(path) as zf:
        for name, data in members.items():
            info = zf.getinfo(name)
            with MemberStream(str(path), info) as s:
                assert s.read() == data
            with MemberStream(str(path), info) as s:  # odd read sizes
                got, sizes = [], [1, 7, 4096, 65536, 1 << 20, 3]
                i = 0
                while block := s.read(sizes[i % len(sizes)]):
                    got.append(block)
                    i += 1
                assert b"".join(got) == data
            with MemberStream(str(path), info) as s:  # seeks forward, backward, from the end
                if data:
                    s.seek(len(data) // 2)
                    assert s.read(100) == data[len(data) // 2: len(data) // 2 + 100]
                    s.seek(10)
                    assert s.tell() == 10 and s.read(50) == data[10:60]
                    s.seek(-20, io.SEEK_END)
                    assert s.read() == data[-20:]
            buf = io.BufferedReader(MemberStream(str(path), info), 1 << 16)
            assert buf.read() == data
            buf.close()


def test_reader_uses_fast_stream_for_big_deflated_members(zip_with_members):
    path, members = zip_with_members
    with BundleReader(path) as r:
        with r.open("files/C/Windows/big.evtx") as fh:
            assert isinstance(fh, MemberStream)
            assert fh.read() == members["files/C/Windows/big.evtx"]
        with r.open("files/C/empty.bin") as fh:
            assert not isinstance(fh, MemberStream) and fh.read() == b""
    with zipfile.ZipFile(path) as zf:
        assert wants_fast(zf.getinfo("files/C/Windows/big.evtx"))
        assert not wants_fast(zf.getinfo("files/C/empty.bin"))


def _data_offset(path: Path, info: zipfile.ZipInfo) -> int:
    raw = path.read_bytes()
    n, m = int.from_bytes(raw[info.header_offset + 26: info.header_offset + 28], "little"), \
        int.from_bytes(raw[info.header_offset + 28: info.header_offset + 30], "little")
    return info.header_offset + 30 + n + m


def test_damaged_member_is_refused_not_passed_on(zip_with_members, tmp_path):
    path, members = zip_with_members
    name = "files/C/Windows/big.evtx"
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(name)
    raw = bytearray(path.read_bytes())
    # change one byte in the middle of the compressed data: either the deflate stream breaks or the
    # CRC-32 no longer matches; both must raise, never hand out different bytes silently
    raw[_data_offset(path, info) + info.compress_size // 2] ^= 0x55
    bad = tmp_path / "bad.zip"
    bad.write_bytes(bytes(raw))
    with pytest.raises(zipfile.BadZipFile), MemberStream(str(bad), info) as s:
        while s.read(1 << 20):
            pass


def test_wrong_crc_in_directory_is_refused(zip_with_members):
    path, _ = zip_with_members
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("files/C/mid.dat")
    info.CRC ^= 1
    with pytest.raises(zipfile.BadZipFile, match="CRC"), MemberStream(str(path), info) as s:
        s.read()


def test_directory_pointing_at_another_members_header_is_refused(zip_with_members):
    path, _ = zip_with_members
    with zipfile.ZipFile(path) as zf:
        a, b = zf.getinfo("files/C/mid.dat"), zf.getinfo("files/C/Windows/big.evtx")
    a.header_offset = b.header_offset
    with pytest.raises(zipfile.BadZipFile, match="another member"):
        MemberStream(str(path), a)


def test_truncated_member_data_is_refused(zip_with_members, tmp_path):
    path, _ = zip_with_members
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("files/C/Windows/big.evtx")
    cut = tmp_path / "cut.zip"
    cut.write_bytes(path.read_bytes()[: _data_offset(path, info) + info.compress_size // 3])
    with pytest.raises((EOFError, zipfile.BadZipFile)), MemberStream(str(cut), info) as s:
        s.read()
