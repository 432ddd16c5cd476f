"""Crafting hostile bundles: a small ZIP writer that writes exactly what it is told (sizes, CRCs,
names), which ``zipfile`` will not, and a deflate bomb made without inflating anything.

Why our own writer: the attacks need a member whose directory entry declares 6 GiB while 6 MB are
stored, or names ``zipfile`` would refuse; a real bundle from ``triage collect`` gives the honest
members around them (:func:`members_of`).
"""

from __future__ import annotations

import hashlib
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Member:
    name: str
    compressed: bytes
    crc: int
    size: int                 # uncompressed size written in the headers
    method: int = 8           # 8 deflate, 0 stored
    sha256: str | None = None


def deflated(name: str, data: bytes) -> Member:
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return Member(name, c.compress(data) + c.flush(), zlib.crc32(data), len(data))


def bomb(name: str, size: int, byte: bytes = b"a", piece: int = 1 << 20, head: bytes = b"",
         sha256: bool = False) -> Member:
    """A deflate stream of ``size`` bytes: ``head`` then ``byte`` repeated, built from one compressed
    piece repeated (each piece ends on a full flush, so pieces do not depend on each other). The CRC
    (and with ``sha256`` the member's SHA-256, in ``Member.sha256``) is computed up to 2 GiB; above
    that the CRC is 0 (hashing 6 GiB would make the test slow), which a reader that refuses the
    member by its declared size never looks at."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = head + byte * (piece - len(head))
    block = byte * piece
    one = c.compress(block) + c.flush(zlib.Z_FULL_FLUSH)
    count, rest = divmod(size, piece)
    c0 = zlib.compressobj(9, zlib.DEFLATED, -15)
    lead = c0.compress(first) + c0.flush(zlib.Z_FULL_FLUSH)
    tail = zlib.compressobj(9, zlib.DEFLATED, -15)
    last = tail.compress(byte * rest) + tail.flush() if rest else b"\x03\x00"   # final block
    crc = 0
    h = hashlib.sha256()
    if size <= 2 << 30:
        for i in range(count):
            data = first if i == 0 else block
            crc = zlib.crc32(data, crc)
            if sha256:
                h.update(data)
        crc = zlib.crc32(byte * rest, crc)
        h.update(byte * rest)
    m = Member(name, lead + one * (count - 1) + last, crc, size)
    m.sha256 = h.hexdigest() if sha256 else None
    return m


def members_of(bundle: Path) -> list[Member]:
    """Every member of a real bundle, re-deflated (same names, same bytes)."""
    with zipfile.ZipFile(bundle) as z:
        return [deflated(i.filename, z.read(i)) for i in z.infolist()]


def write_zip(path: Path, members: list[Member], sidecar: bool = True, central: bool = True) -> Path:
    """A ZIP64-capable archive of ``members`` as given, plus its ``.sha256`` sidecar; without
    ``central`` it stops after the last member, like a collection that was killed."""
    central_dir, central = central, []
    with open(path, "wb") as fh:
        for m in members:
            offset = fh.tell()
            raw = m.name.encode("utf-8")
            big = m.size >= 0xFFFFFFFF or len(m.compressed) >= 0xFFFFFFFF or offset >= 0xFFFFFFFF
            extra = struct.pack("<HHQQ", 1, 16, m.size, len(m.compressed)) if big else b""
            csize = 0xFFFFFFFF if big else len(m.compressed)
            usize = 0xFFFFFFFF if big else m.size
            fh.write(struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 45, 0x800, m.method, 0, 0x21, m.crc,
                                 csize, usize, len(raw), len(extra)) + raw + extra)
            fh.write(m.compressed)
            cextra = struct.pack("<HHQQQ", 1, 24, m.size, len(m.compressed), offset) if big else b""
            central.append(struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 45, 45, 0x800, m.method, 0, 0x21,
                                       m.crc, csize, usize, len(raw), len(cextra), 0, 0, 0, 0,
                                       0xFFFFFFFF if big else offset) + raw + cextra)
        if not central_dir:
            return path
        start = fh.tell()
        for c in central:
            fh.write(c)
        end = fh.tell()
        n = len(members)
        fh.write(struct.pack("<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, n, n, end - start, start))
        fh.write(struct.pack("<4sIQI", b"PK\x06\x07", 0, end, 1))
        fh.write(struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, min(n, 0xFFFF), min(n, 0xFFFF),
                             min(end - start, 0xFFFFFFFF), min(start, 0xFFFFFFFF), 0))
    if sidecar:
        h = hashlib.sha256(path.read_bytes()).hexdigest()
        path.with_name(path.name + ".sha256").write_text(f"{h}  {path.name}\n")
    return path


def replace(members: list[Member], name: str, new: Member | None) -> list[Member]:
    """``members`` with ``name`` replaced by ``new`` (or dropped when None)."""
    out = [m for m in members if m.name != name]
    if new is not None:
        out.append(new)
    return out
