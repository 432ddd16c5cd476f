"""Where the collector reads from.

A source is a read-only view of one volume: a mounted directory tree, the live file system, a raw
NTFS volume, a disk image or a shadow copy. The collector only lists directories, stats files and
opens them for reading through this interface, so new sources plug in without touching it.

Paths given to a source are relative POSIX-style strings ('Windows/System32/config/SYSTEM');
'' is the volume root.
"""

from __future__ import annotations

import errno
import os
import stat as statmod
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from triage.units import from_epoch, iso


@dataclass(slots=True)
class DirEntry:
    name: str
    is_dir: bool
    is_file: bool
    is_link: bool = False


@dataclass(slots=True)
class FileMeta:
    size: int
    times: dict[str, str | None] = field(default_factory=dict)  # modified/accessed/changed/born, ISO UTC
    owner: str | None = None
    mode: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class FileSource(Protocol):
    """A read-only volume. ``volume`` names it in the bundle (files/<volume>/...)."""

    volume: str
    kind: str               # 'directory', 'live', 'ntfs', ...
    case_sensitive: bool    # False for Windows volumes: globs match case-insensitively
    path_style: str         # 'windows' (C:\\...) or 'posix' (/...) for the manifest's original paths
    read_method: str        # recorded per file in the manifest

    def listdir(self, rel: str) -> Iterator[DirEntry]: ...
    def stat(self, rel: str) -> FileMeta: ...
    def open(self, rel: str) -> IO[bytes]: ...
    def original_path(self, rel: str) -> str: ...
    def contains(self, path: str) -> bool: ...


def _owner(uid: int) -> str | None:
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return str(uid)


class DirectorySource:
    """A directory tree: a mounted Windows volume, a make-host-tree host, or '/' for --live on Linux.

    Never follows symbolic links (a link is listed as such and not entered nor read), opens files
    with O_NOATIME where the kernel allows it (owner or CAP_FOWNER) so reading leaves atime alone,
    and never writes.
    """

    read_method = "file_api"

    def __init__(self, root: str | os.PathLike, volume: str = "C", *, kind: str = "directory",
                 case_sensitive: bool = False, path_style: str = "windows") -> None:
        self.root = Path(root).resolve()
        self.volume = volume
        self.kind = kind
        self.case_sensitive = case_sensitive
        self.path_style = path_style
        self._noatime = getattr(os, "O_NOATIME", 0)

    def _abs(self, rel: str) -> str:
        parts = [p for p in rel.split("/") if p]
        if any(p in (".", "..") for p in parts):
            raise ValueError(f"refusing path with '.' or '..': {rel!r}")
        return os.path.join(self.root, *parts)

    def listdir(self, rel: str) -> Iterator[DirEntry]:
        try:
            with os.scandir(self._abs(rel)) as it:
                for e in it:
                    try:
                        link = e.is_symlink()
                        yield DirEntry(e.name, e.is_dir(follow_symlinks=False), e.is_file(follow_symlinks=False), link)
                    except OSError:
                        continue
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            return

    def stat(self, rel: str) -> FileMeta:
        st = os.lstat(self._abs(rel))
        times = {
            "modified": iso(from_epoch(st.st_mtime)),
            "accessed": iso(from_epoch(st.st_atime)),
            "changed": iso(from_epoch(st.st_ctime)),
            "born": iso(from_epoch(birth)) if (birth := getattr(st, "st_birthtime", None)) is not None else None,
        }
        return FileMeta(size=st.st_size, times=times, owner=_owner(st.st_uid),
                        mode=statmod.filemode(st.st_mode), extra={"inode": st.st_ino, "device": st.st_dev})

    def open(self, rel: str) -> IO[bytes]:
        path = self._abs(rel)
        flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0)
        fd = -1
        if self._noatime:
            try:
                fd = os.open(path, flags | self._noatime)
            except PermissionError:
                fd = -1  # O_NOATIME needs ownership or CAP_FOWNER; fall back, the mount's relatime then applies
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.EINVAL):
                    raise
        if fd < 0:
            fd = os.open(path, flags)
        st = os.fstat(fd)
        if not statmod.S_ISREG(st.st_mode):
            os.close(fd)
            raise OSError(errno.EINVAL, "not a regular file", path)
        return os.fdopen(fd, "rb", buffering=0)

    def original_path(self, rel: str) -> str:
        if self.path_style == "windows":
            return f"{self.volume}:\\" + rel.replace("/", "\\")
        return "/" + rel

    def contains(self, path: str) -> bool:
        """True when ``path`` (e.g. the output directory) lies on this source's tree."""
        try:
            p = Path(path).resolve()
        except OSError:
            return False
        return p == self.root or self.root in p.parents
