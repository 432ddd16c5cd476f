"""Fast, checked reading of deflated bundle members.

Why not just ``zipfile``: the analyzer inflates every byte of a bundle (to verify it, to parse it,
to scan it), and CPython's zlib inflates at ~400 MB/s on the machines we measure on; ISA-L (the
``isal`` package, python-isal: PSF-2.0 bindings to Intel's BSD-licensed ISA-L) inflates the same
streams 3-4x faster. With ``isal`` absent this module falls back to zlib, so it is an optional
speed-up, never a requirement.

:class:`MemberStream` is a read-only, seekable binary stream over one member, found through its
central-directory entry (``zipfile.ZipInfo``). Like ``zipfile.ZipExtFile`` it checks the CRC-32 and
the size when the member has been read to its end and raises ``zipfile.BadZipFile`` on a mismatch,
so a damaged or tampered member cannot pass as good data. Backward seeks restart the inflate from
the member's start (as zipfile does); callers that seek a lot spill the member to a file first.
"""

from __future__ import annotations

import importlib
import io
import struct
import zipfile
import zlib
from typing import IO, Any, cast

# Optional: 3-4x faster inflate and CRC (python-isal wheels exist for Linux, Windows, macOS). Looked
# up by name on first use, not imported by a statement: the portable collector (which verifies
# bundles with zlib) must not pull it into its build or its start-up
# (triage.collector_main.FORBIDDEN_MODULES).
_ENGINE: list[Any] = []


def engine() -> tuple[str, Any]:
    """('isal', isal_zlib) when python-isal is installed, else ('zlib', zlib)."""
    if not _ENGINE:
        try:
            _ENGINE.extend(("isal", importlib.import_module("isal.isal_zlib")))
        except ImportError:  # pragma: no cover - exercised where isal is not installed
            _ENGINE.extend(("zlib", zlib))
    return _ENGINE[0], _ENGINE[1]

_LOCAL = struct.Struct("<4sHHHHHIIIHH")
_LOCAL_SIG = b"PK\x03\x04"
READ_SIZE = 1 << 20
# Members smaller than this are left to zipfile: the speed-up would not pay for the extra open.
MIN_FAST_BYTES = 256 << 10


def crc32(data: bytes, value: int = 0) -> int:
    return engine()[1].crc32(data, value)


def wants_fast(info: zipfile.ZipInfo) -> bool:
    """Whether :class:`MemberStream` should read this member (a plain deflated, unencrypted member
    big enough for the faster inflate to matter)."""
    return (info.compress_type == zipfile.ZIP_DEFLATED and not info.flag_bits & 0x1
            and info.file_size >= MIN_FAST_BYTES)


def data_offset(fh: IO[bytes], info: zipfile.ZipInfo) -> int:
    """Where ``info``'s data starts in the zip open as ``fh``, from its local header, which must be
    a local header and name the same member as the central directory does (a hostile bundle can
    point the directory anywhere)."""
    fh.seek(info.header_offset)
    head = fh.read(_LOCAL.size)
    if len(head) != _LOCAL.size or head[:4] != _LOCAL_SIG:
        raise zipfile.BadZipFile(f"{info.filename}: bad local file header")
    fields = _LOCAL.unpack(head)
    name_len, extra_len = fields[9], fields[10]
    enc = "utf-8" if info.flag_bits & 0x800 else "cp437"
    if fh.read(name_len) != info.orig_filename.encode(enc, "replace"):
        raise zipfile.BadZipFile(f"{info.filename}: the local header names another member")
    return info.header_offset + _LOCAL.size + name_len + extra_len


def open_member(path: str, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> IO[bytes]:
    """A read-only stream of one member of the zip ``zf`` opened from ``path``: MemberStream where
    it pays (:func:`wants_fast`), zipfile's own reader otherwise."""
    # both are io.RawIOBase binary streams, which typeshed does not count as IO[bytes]
    if wants_fast(info):
        return cast(IO[bytes], MemberStream(path, info))
    try:
        return cast(IO[bytes], CheckedZipStream(zf.open(info)))
    except (NotImplementedError, RuntimeError, zlib.error) as exc:  # unknown method, encrypted member
        raise zipfile.BadZipFile(f"{info.filename}: cannot be read: {exc}") from None


class CheckedZipStream(io.RawIOBase):
    """``zipfile``'s member stream whose damaged-data errors are ``zipfile.BadZipFile``, as
    :class:`MemberStream`'s are: zipfile lets ``zlib.error`` through (found by fuzzing), and a
    caller that handles a damaged member must not need to know which reader it got."""

    def __init__(self, inner: IO[bytes]) -> None:
        super().__init__()
        self._inner: Any = inner  # zipfile's ZipExtFile (it has peek(), which IO[bytes] does not declare)
        self.name = getattr(inner, "name", None)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._inner.seekable()

    def read(self, n: int = -1) -> bytes:
        try:
            return self._inner.read(n)
        except zlib.error as exc:
            raise zipfile.BadZipFile(f"{self.name}: damaged deflate data: {exc}") from None

    def readall(self) -> bytes:
        return self.read(-1)

    def readline(self, size: int | None = -1) -> bytes:
        try:
            return self._inner.readline(-1 if size is None else size)
        except zlib.error as exc:
            raise zipfile.BadZipFile(f"{self.name}: damaged deflate data: {exc}") from None

    def peek(self, n: int = 1) -> bytes:
        try:
            return self._inner.peek(n)
        except zlib.error as exc:
            raise zipfile.BadZipFile(f"{self.name}: damaged deflate data: {exc}") from None

    def readinto(self, b) -> int:
        data = self.read(len(b))
        b[:len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        try:
            return self._inner.seek(offset, whence)
        except zlib.error as exc:
            raise zipfile.BadZipFile(f"{self.name}: damaged deflate data: {exc}") from None

    def tell(self) -> int:
        return self._inner.tell()

    def close(self) -> None:
        if not self.closed:
            self._inner.close()
        super().close()


class MemberStream(io.RawIOBase):
    """One deflated member of ``path`` as a read-only binary stream (see the module docstring)."""

    def __init__(self, path: str, info: zipfile.ZipInfo) -> None:
        super().__init__()
        self.info = info
        self.name = info.filename
        self._fh: IO[bytes] = open(path, "rb")  # noqa: SIM115 - closed in close()
        try:
            self._data_offset = data_offset(self._fh, info)
        except BaseException:
            self._fh.close()
            raise
        self._restart()

    def _restart(self) -> None:
        self._fh.seek(self._data_offset)
        self._left = self.info.compress_size
        self._inflater = engine()[1].decompressobj(-15)
        self._buf = b""
        self._off = 0          # bytes of _buf already handed out
        self._pos = 0          # uncompressed bytes handed out
        self._produced = 0     # uncompressed bytes inflated so far
        self._crc = 0
        self._eof = False

    # -- io.RawIOBase ----------------------------------------------------------------------------

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def _fill(self) -> bool:
        """Inflate the next block (at most READ_SIZE bytes: small buffers stay in cache) into the
        buffer; False at the end of the member."""
        while not self._eof:
            raw = self._inflater.unconsumed_tail
            if not raw and self._left > 0 and not self._inflater.eof:
                raw = self._fh.read(min(READ_SIZE, self._left))
                if not raw:
                    raise EOFError(f"{self.name}: member data ends early")
                self._left -= len(raw)
            if raw:
                try:
                    out = self._inflater.decompress(raw, READ_SIZE)
                except Exception as exc:  # zlib.error / isal_zlib.error: damaged deflate data
                    raise zipfile.BadZipFile(f"{self.name}: damaged deflate data: {exc}") from exc
            else:
                out = self._inflater.flush()
                self._eof = True
                self._check(out)
            if out:
                if not self._eof:
                    self._crc = crc32(out, self._crc)
                    self._produced += len(out)
                    if self._produced > self.info.file_size:   # a bomb: stop at the declared size
                        raise zipfile.BadZipFile(f"{self.name}: inflates past the {self.info.file_size} "
                                                 "bytes the directory declares")
                self._buf = self._buf[self._off:] + out if self._off < len(self._buf) else out
                self._off = 0
                return True
        return False

    def _check(self, tail: bytes) -> None:
        if tail:
            self._crc = crc32(tail, self._crc)
            self._produced += len(tail)
        if not self._inflater.eof:
            raise zipfile.BadZipFile(f"{self.name}: deflate stream does not end where the member does")
        if self._produced != self.info.file_size:
            raise zipfile.BadZipFile(f"{self.name}: inflated to {self._produced} bytes, "
                                     f"directory says {self.info.file_size}")
        if self._crc != self.info.CRC:
            raise zipfile.BadZipFile(f"Bad CRC-32 for file {self.name!r}")

    def read(self, n: int = -1) -> bytes:
        want = self.info.file_size + 1 if n is None or n < 0 else n
        have = len(self._buf) - self._off
        if have >= want:
            data = self._take(want)
        else:  # gather whole blocks in a list: no re-copying of what is already gathered
            parts = [self._take(have)]
            while have < want and self._fill():
                block = self._take(want - have)
                parts.append(block)
                have += len(block)
            data = b"".join(parts)
        self._pos += len(data)
        return data

    def _take(self, n: int) -> bytes:
        """Up to n buffered bytes (an offset into the buffer: small reads do not copy the rest)."""
        start = self._off
        end = min(start + n, len(self._buf))
        data = self._buf if start == 0 and end == len(self._buf) else self._buf[start:end]
        if end == len(self._buf):
            self._buf, self._off = b"", 0
        else:
            self._off = end
        return data

    def readinto(self, b) -> int:
        data = self.read(len(b))
        b[:len(data)] = data
        return len(data)

    def readall(self) -> bytes:
        return self.read(-1)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            offset += self._pos
        elif whence == io.SEEK_END:
            offset += self.info.file_size
        offset = max(offset, 0)
        if offset < self._pos:
            self._restart()
        while self._pos < offset:
            if not self.read(min(offset - self._pos, READ_SIZE)):
                break
        return self._pos

    def close(self) -> None:
        if not self.closed:
            self._fh.close()
        super().close()
