"""Read a bundle without ever changing it.

Members are streamed straight from the zip. A bundle whose collection was cut short has no central
directory: the reader then falls back to the journal (found by scanning local headers), so an
analyst can still see what it holds — ``complete`` says which case it is.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import zipfile
from pathlib import Path
from typing import IO, cast

from triage.bundle import COLLECTION_NAME, JOURNAL_PREFIX, MANIFEST_NAME
from triage.bundle import limits as L
from triage.bundle.inflate import open_member
from triage.bundle.manifest import ManifestEntry
from triage.bundle.names import is_safe_member, safe_segment
from triage.bundle.scan import LocalMember, read_member, scan_members

START_NAME = "meta/collection-start.json"


def file_sha256(path: str | os.PathLike, chunk: int = 4 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


class BundleReader:
    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._sha256: str | None = None
        self.problems: list[str] = []   # what could not be read while opening (bad manifest lines...)
        self.zip: zipfile.ZipFile | None = None
        self.complete = True
        self.collection: dict = {}
        self.entries: list[ManifestEntry] = []
        self._scanned: dict[str, LocalMember] | None = None
        self.not_a_zip = False   # no ZIP local header at the start: not a bundle at all, not an interrupted one
        # members' bytes as verification read them (triage.bundle.member_cache): open() serves
        # these from memory instead of inflating them again
        self.cache: dict[str, bytes] = {}
        try:
            self.zip = zipfile.ZipFile(self.path, "r")
        except L.READ_ERRORS:
            self.complete = False
            self.not_a_zip = not _starts_like_zip(self.path)
        if self.zip is not None:
            self.collection = self._json(COLLECTION_NAME) or self._json(START_NAME) or {}
            if MANIFEST_NAME in self.zip.NameToInfo:
                self.entries = self._manifest()
            else:
                self.complete = False
                self.problems.append("the bundle has no manifest")
                self.entries = self.journal_entries()
        elif not self.not_a_zip:
            self.entries = self.journal_entries()
            try:
                start = self._scanned_member(START_NAME, L.MAX_META_JSON)
                data = L.loads(start) if start is not None else None
            except L.READ_ERRORS as exc:
                self.problems.append(f"{START_NAME} is unreadable: {exc}")
                data = None
            if isinstance(data, dict):
                self.collection = data

    # -- helpers -------------------------------------------------------------------------------------
    def _json(self, name: str) -> dict | None:
        if self.zip is None or name not in self.zip.NameToInfo:
            return None
        try:
            with self.open(name) as fh:
                data = L.loads(L.read_capped(fh, L.MAX_META_JSON, name))
        except L.READ_ERRORS as exc:
            self.problems.append(f"{name} is unreadable: {exc}")
            return None
        if not isinstance(data, dict):
            self.problems.append(f"{name} is not a JSON object")
            return None
        return data

    def _manifest(self) -> list[ManifestEntry]:
        """The manifest's entries, read line by line within :mod:`triage.bundle.limits`: an over-long
        line, a line that is not an entry, too many lines are each one problem, never held whole."""
        out: list[ManifestEntry] = []
        assert self.zip is not None
        declared = self.zip.getinfo(MANIFEST_NAME).file_size
        if declared > L.MAX_MANIFEST_BYTES:
            self.problems.append(f"{MANIFEST_NAME} is {L.size_text(declared)}, above the "
                                 f"{L.size_text(L.MAX_MANIFEST_BYTES)} limit: not read")
            return out
        bad = 0
        try:
            with self.open(MANIFEST_NAME) as fh:   # isal where it pays
                for n, line, length in L.bounded_lines(fh, L.MAX_MANIFEST_LINE, L.MAX_MANIFEST_BYTES):
                    if len(out) >= L.MAX_MANIFEST_ENTRIES:
                        self.problems.append(f"{MANIFEST_NAME} has more than {L.MAX_MANIFEST_ENTRIES} "
                                             "entries: the rest was not read")
                        break
                    try:
                        if line is None:
                            raise L.LimitExceeded(f"{L.size_text(length)} long, above the "
                                                  f"{L.size_text(L.MAX_MANIFEST_LINE)} limit")
                        if not line.strip():
                            continue
                        out.append(ManifestEntry.from_dict(L.loads(line)))
                    except (ValueError, TypeError) as exc:
                        bad += 1
                        if bad <= 50:   # one problem per bad line, up to a point
                            self.problems.append(f"manifest line {n} is unreadable: {str(exc)[:300]}")
                        elif bad == 51:
                            self.problems.append("more unreadable manifest lines follow (not listed)")
        except L.READ_ERRORS as exc:
            self.problems.append(f"{MANIFEST_NAME}: {exc}")
        return out

    def _scan(self):
        if self._scanned is None:
            size = self.path.stat().st_size
            with open(self.path, "rb") as fh:
                self._scanned = {m.name: m for m in scan_members(fh, size)}
        return self._scanned

    def _scanned_member(self, name: str, limit: int) -> bytes | None:
        """A small member of a bundle without a central directory; LimitExceeded past ``limit`` bytes."""
        m = self._scan().get(name)
        if m is None:
            return None
        parts, size = [], 0
        with open(self.path, "rb") as fh:
            for block in read_member(fh, m):
                size += len(block)
                if size > limit:
                    raise L.LimitExceeded(f"{name} is larger than {L.size_text(limit)}; not read")
                parts.append(block)
        return b"".join(parts)

    def journal_entries(self) -> list[ManifestEntry]:
        """Entries from the journal members, in order (works with or without a central directory)."""
        out = []
        if self.zip is not None:
            names = sorted(n for n in self.zip.NameToInfo if n.startswith(JOURNAL_PREFIX))
            for n in names[:L.MAX_MANIFEST_ENTRIES]:
                try:
                    with self.open(n) as fh:
                        raw = L.read_capped(fh, L.MAX_JOURNAL_ENTRY, "the entry")
                    out.append(ManifestEntry.from_dict(L.loads(raw)))
                except (*L.READ_ERRORS, TypeError) as exc:
                    self.problems.append(f"journal {L.shown(n)} unreadable: {str(exc)[:300]}")
            return out
        try:
            scanned = sorted(n for n in self._scan() if n.startswith(JOURNAL_PREFIX))
        except OSError as exc:
            self.problems.append(f"the bundle could not be scanned: {exc}")
            return out
        for name in scanned[:L.MAX_MANIFEST_ENTRIES]:
            try:
                out.append(ManifestEntry.from_dict(L.loads(self._scanned_member(name, L.MAX_JOURNAL_ENTRY) or b"")))
            except (*L.READ_ERRORS, TypeError) as exc:
                self.problems.append(f"journal {L.shown(name)} unreadable: {str(exc)[:300]}")
        return out

    # -- public API ----------------------------------------------------------------------------------
    @property
    def sha256(self) -> str:
        if self._sha256 is None:
            self._sha256 = file_sha256(self.path)
        return self._sha256

    def names(self) -> list[str]:
        if self.zip is not None:
            return [i.filename for i in self.zip.infolist()]
        return list(self._scan())

    def open(self, bundle_path: str) -> IO[bytes]:
        cached = self.cache.get(bundle_path)
        if cached is not None:
            return io.BytesIO(cached)
        if self.zip is not None:
            return open_member(str(self.path), self.zip, self.zip.getinfo(bundle_path))
        m = self._scan().get(bundle_path)
        if m is None:
            raise KeyError(bundle_path)
        return cast(IO[bytes], _IterStream(self.path, m))  # a RawIOBase binary stream

    def extract(self, bundle_path: str, dest_dir: str | os.PathLike, name: str | None = None) -> Path:
        """Copy one member into ``dest_dir`` under a sanitised base name; never outside dest_dir."""
        if not is_safe_member(bundle_path):
            base = safe_segment(bundle_path.replace("\\", "/").rstrip("/").split("/")[-1] or "member")
        else:
            base = safe_segment(name or bundle_path.rsplit("/", 1)[-1])
        dest = Path(dest_dir) / base
        with self.open(bundle_path) as src, open(dest, "xb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
        return dest

    def close(self) -> None:
        if self.zip is not None:
            self.zip.close()

    def __enter__(self) -> BundleReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _starts_like_zip(path: Path) -> bool:
    """Whether the file begins with a ZIP local file header (an interrupted bundle still does)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == b"PK\x03\x04"
    except OSError:
        return False


class _IterStream:
    """A minimal read-only stream over a scanned member (bundles without a central directory)."""

    def __init__(self, path: Path, member) -> None:
        self.fh = open(path, "rb")  # noqa: SIM115 - closed in close()
        self.it = read_member(self.fh, member)
        self.buf = b""

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self.buf) < n:
            try:
                self.buf += next(self.it)
            except StopIteration:
                break
        if n < 0:
            out, self.buf = self.buf, b""
        else:
            out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def close(self) -> None:
        self.fh.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
