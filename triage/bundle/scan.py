"""Walk a zip's local file headers without its central directory.

An interrupted collection leaves a bundle with members but no central directory. Members are
written as streams (data descriptors), so a stored member's length is found by looking for the
data-descriptor signature whose recorded size equals the distance travelled; a deflated member
ends where its deflate stream ends. Everything found is checked later against the hashes the
journal recorded while collecting.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

LOCAL_SIG = b"PK\x03\x04"
DD_SIG = b"PK\x07\x08"
_LOCAL = struct.Struct("<4sHHHHHLLLHH")
WINDOW = 8 * 1024 * 1024
INFLATE_PIECE = 1 << 20


@dataclass(slots=True)
class LocalMember:
    name: str
    header_offset: int
    data_offset: int
    compress_type: int
    compressed_size: int
    crc: int


def _zip64_sizes(extra: bytes) -> tuple[int | None, int | None]:
    i = 0
    while i + 4 <= len(extra):
        tag, size = struct.unpack_from("<HH", extra, i)
        if tag == 1 and size >= 16:
            usize, csize = struct.unpack_from("<QQ", extra, i + 4)
            return usize, csize
        i += 4 + size
    return None, None


def _find_stored_end(fh: IO[bytes], data_offset: int, file_size: int) -> tuple[int, int] | None:
    """Return (compressed_size, crc) of a stored streamed member, or None when it was cut short."""
    pos = data_offset
    carry = b""
    while pos < file_size:
        fh.seek(pos)
        block = fh.read(WINDOW)
        if not block:
            return None
        buf = carry + block
        base = pos - len(carry)
        start = 0
        while True:
            k = buf.find(DD_SIG, start)
            if k < 0:
                break
            at = base + k
            size = at - data_offset
            fh.seek(at)
            desc = fh.read(24)
            if len(desc) >= 16:
                crc, c32, _u32 = struct.unpack_from("<LLL", desc, 4)
                if c32 == size:
                    return size, crc
            if len(desc) >= 24:
                crc = struct.unpack_from("<L", desc, 4)[0]
                c64 = struct.unpack_from("<Q", desc, 8)[0]
                if c64 == size:
                    return size, crc
            start = k + 1
        carry = buf[-3:]
        pos += len(block)
    return None


def _inflate_bounded(d, block: bytes) -> Iterator[bytes]:
    """Inflate ``block`` in pieces of at most INFLATE_PIECE bytes: a member that inflates 1000:1
    (a deflate bomb) never has more than one piece in memory."""
    data = block
    while True:
        out = d.decompress(data, INFLATE_PIECE)
        if out:
            yield out
        data = d.unconsumed_tail
        if not data or d.eof:
            return


def _find_deflate_end(fh: IO[bytes], data_offset: int) -> tuple[int, int] | None:
    fh.seek(data_offset)
    d = zlib.decompressobj(-15)
    consumed = 0
    crc = 0
    while not d.eof:
        block = fh.read(WINDOW)
        if not block:
            return None
        try:
            for out in _inflate_bounded(d, block):
                crc = zlib.crc32(out, crc)
        except zlib.error:
            return None
        consumed += len(block) - len(d.unused_data)
    return consumed, crc


def scan_members(fh: IO[bytes], file_size: int) -> Iterator[LocalMember]:
    """Every complete member, in file order; stops at the first damaged or unfinished one."""
    pos = 0
    while pos + _LOCAL.size <= file_size:
        fh.seek(pos)
        head = fh.read(_LOCAL.size)
        if len(head) < _LOCAL.size or head[:4] != LOCAL_SIG:
            return
        _, _ver, flags, method, _t, _d, crc, csize, _usize, nlen, xlen = _LOCAL.unpack(head)
        raw_name = fh.read(nlen)
        extra = fh.read(xlen)
        name = raw_name.decode("utf-8" if flags & 0x800 else "cp437", "replace")
        data_offset = pos + _LOCAL.size + nlen + xlen
        streamed = bool(flags & 0x08)
        if streamed:
            found = (_find_stored_end(fh, data_offset, file_size) if method == 0
                     else _find_deflate_end(fh, data_offset) if method == 8 else None)
            if found is None:
                return
            csize, crc = found
            fh.seek(data_offset + csize)
            sig = fh.read(4)
            zip64 = _zip64_sizes(extra)[0] is not None
            desc_len = (4 if sig == DD_SIG else 0) + (20 if zip64 else 12)
            end = data_offset + csize + desc_len
        else:
            if csize == 0xFFFFFFFF:
                csize = _zip64_sizes(extra)[1] or 0
            end = data_offset + csize
        if end > file_size:
            return
        yield LocalMember(name, pos, data_offset, method, csize, crc)
        pos = end


def read_member(fh: IO[bytes], m: LocalMember, chunk: int = 1 << 20) -> Iterator[bytes]:
    """Yield a scanned member's uncompressed bytes."""
    fh.seek(m.data_offset)
    left = m.compressed_size
    d = zlib.decompressobj(-15) if m.compress_type == 8 else None
    while left > 0:
        block = fh.read(min(chunk, left))
        if not block:
            raise OSError("member data ends early")
        left -= len(block)
        if d:
            try:
                yield from _inflate_bounded(d, block)
            except zlib.error as exc:
                raise OSError(f"damaged deflate data: {exc}") from None
        else:
            yield block
    if d:
        tail = d.flush()
        if tail:
            yield tail
