"""Live Windows: the OS file API first, raw NTFS for whatever it refuses.

The file API is the cheap, ordinary way to read a live volume, and it sees what the OS sees. But
the files that matter most (hives, event logs, Amcache, $MFT) are open without sharing, so opening
them fails with a sharing violation (ERROR_SHARING_VIOLATION 32, ERROR_LOCK_VIOLATION 33) or
access denied. ``FallbackSource`` tries the primary (a ``DirectorySource`` over C:\\) and, for any
file it refuses, reads the same path from the raw volume (an ``NtfsSource`` over ``\\\\.\\C:``,
opened lazily on first need so hosts where nothing is locked never touch the device).

Per file it records how it was read: the stream returned by ``open`` carries ``read_method``
('file_api' or 'ntfs_raw') and ``extra`` (for raw reads the MFT entry, $SI/$FN times and ADS names
of NtfsSource, plus ``fallback_reason`` saying what the API said). The collector reads both off
the stream (``getattr(fh, 'read_method', source.read_method)``), so the source needs no per-path
state and stays safe to share between threads.

Names the OS API hides (metadata files such as $MFT, named streams) are read raw directly.
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Iterator
from typing import IO, Any

from triage.collect.source import DirEntry, FileMeta, FileSource

# Windows error codes that mean "someone else holds this file", seen as OSError.winerror
_WINERR_LOCKED = {5, 32, 33}   # ACCESS_DENIED, SHARING_VIOLATION, LOCK_VIOLATION
_ERRNO_REFUSED = {errno.EACCES, errno.EPERM, errno.EBUSY}


def refused(exc: BaseException) -> bool:
    """True when the OS API refused the file (locked / denied), as opposed to it being absent."""
    if isinstance(exc, FileNotFoundError | IsADirectoryError | NotADirectoryError):
        return False
    if isinstance(exc, PermissionError):
        return True
    if isinstance(exc, OSError):
        return getattr(exc, "winerror", None) in _WINERR_LOCKED or exc.errno in _ERRNO_REFUSED
    return False


class _Tagged:
    """Wraps a stream from the primary so it carries ``read_method``/``extra`` too."""

    def __init__(self, fh: IO[bytes], read_method: str, extra: dict[str, Any]) -> None:
        self._fh = fh
        self.read_method = read_method
        self.extra = extra

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)

    def __enter__(self) -> _Tagged:
        return self

    def __exit__(self, *exc: object) -> None:
        self._fh.close()

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._fh)


class FallbackSource:
    """A ``FileSource`` reading through ``primary`` and falling back to ``raw`` per file.

    ``raw`` is an NtfsSource or a zero-argument callable making one (e.g.
    ``lambda: open_live_volume('C')``); the callable is called once, on the first refusal.
    If the raw volume cannot be opened either, the original refusal is raised with both reasons.
    """

    def __init__(self, primary: FileSource, raw: Any | Callable[[], Any]) -> None:
        self.primary = primary
        self._raw = raw if not callable(raw) or hasattr(raw, "listdir") else None
        self._raw_factory = None if self._raw is not None else raw
        self._raw_error: str | None = None
        self.volume = primary.volume
        self.root = getattr(primary, "root", None)   # the collector checks the output is not on it
        self.kind = "live"
        self.case_sensitive = primary.case_sensitive
        self.path_style = primary.path_style
        self.read_method = primary.read_method   # default; per file on the opened stream

    # --- raw volume (lazy) ----------------------------------------------------------------------

    def raw(self) -> Any | None:
        """The raw NTFS source, opened on first use; None if it cannot be opened."""
        if self._raw is None and self._raw_factory is not None and self._raw_error is None:
            try:
                self._raw = self._raw_factory()
            except (OSError, RuntimeError, ValueError) as exc:
                self._raw_error = f"raw volume unavailable: {exc}"
        return self._raw

    def close(self) -> None:
        if self._raw is not None and hasattr(self._raw, "close"):
            self._raw.close()

    # --- FileSource -----------------------------------------------------------------------------

    def listdir(self, rel: str) -> Iterator[DirEntry]:
        """The OS listing; when the OS lists nothing (denied, or hidden like $Extend), the raw one."""
        seen = False
        for entry in self.primary.listdir(rel):
            seen = True
            yield entry
        if not seen:
            raw = self.raw()
            if raw is not None:
                yield from raw.listdir(rel)

    def stat(self, rel: str) -> FileMeta:
        try:
            return self.primary.stat(rel)
        except OSError as exc:
            if not refused(exc) and not isinstance(exc, FileNotFoundError):
                raise
            raw = self.raw()
            if raw is None:
                raise
            try:
                return raw.stat(rel)
            except OSError:
                raise exc from None

    def open(self, rel: str) -> IO[bytes]:
        try:
            fh = self.primary.open(rel)
        except OSError as exc:
            if not refused(exc):
                raise
            raw = self.raw()
            if raw is None:
                raise OSError(exc.errno, f"{exc}; {self._raw_error or 'no raw volume'}") from exc
            raw_fh = raw.open(rel)
            raw_fh.extra["fallback_reason"] = _describe(exc)
            return raw_fh
        return _Tagged(fh, self.primary.read_method, {})  # type: ignore[return-value]

    def original_path(self, rel: str) -> str:
        return self.primary.original_path(rel)

    def contains(self, path: str) -> bool:
        return self.primary.contains(path)

    # --- named streams and raw-only facts -------------------------------------------------------

    def streams(self, rel: str) -> list[str]:
        raw = self.raw()
        return raw.streams(rel) if raw is not None else []

    def stat_stream(self, rel: str, name: str, **kw: Any) -> FileMeta:
        raw = self.raw()
        if raw is None:
            raise OSError(errno.ENOENT, f"named streams need the raw volume ({self._raw_error})")
        return raw.stat_stream(rel, name, **kw)

    def open_stream(self, rel: str, name: str, **kw: Any) -> IO[bytes]:
        raw = self.raw()
        if raw is None:
            raise OSError(errno.ENOENT, f"named streams need the raw volume ({self._raw_error})")
        return raw.open_stream(rel, name, **kw)

    def stream_path(self, rel: str, name: str) -> str:
        return f"{self.original_path(rel)}:{name}"


def _describe(exc: OSError) -> str:
    win = getattr(exc, "winerror", None)
    code = f"winerror {win}" if win is not None else f"errno {exc.errno}"
    return f"{type(exc).__name__} ({code}): {exc.strerror or exc}"


def live_windows_source(letter: str = "C") -> FallbackSource:
    """What ``triage collect --live`` uses on Windows for volume ``letter``."""
    from triage.collect.ntfs import open_live_volume
    from triage.collect.source import DirectorySource

    letter = letter.rstrip(":\\/").upper()   # 'C', 'C:' or 'C:\\' (as %SYSTEMDRIVE% says it)
    primary = DirectorySource(f"{letter}:\\", volume=letter, kind="live")
    return FallbackSource(primary, lambda: open_live_volume(letter))
