"""Private, fast companions of the compiled-set cache: the set in ``marshal`` form, and which set a
given state of the rule files compiled to.

A fresh process (every single-bundle ``triage analyze --sigma``) used to spend ~0.45 s before its
first record on SigmaHQ's rules: reading and hashing all 2,858 files to find the cache key (~0.2 s),
then decoding the 10 MB JSON of the compiled set and turning its ~500,000 lists into tuples (~0.2 s,
with the collector paused). Here:

- the set is also written with ``marshal``, which rebuilds the tuples directly (0.06 s). marshal is
  not safe against crafted input, so it is read only from a directory this user owns and nobody else
  can write (as the Hyperscan databases beside it), from a file this user owns; anywhere else the JSON
  (safe to read whoever wrote it) is used. The file name carries the Python version (marshal's format
  is version-bound) and the payload names the fields it holds: a mismatch is a miss;
- a small file names the set that the rule files compiled to, keyed by a digest of every file's path,
  size, modification time, change time and inode. The change time cannot be set back by a user
  (``touch -r``, ``rsync -t`` and ``cp -p`` restore the modification time only), so a rewritten file
  is a miss and the files are read and hashed as before.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import stat
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

FORMAT = 1
TAG = f"py{sys.version_info[0]}{sys.version_info[1]}"


def _owned(path: Path, kind: Callable[[int], bool]) -> bool:
    """``path`` is of this kind (a directory, a regular file), ours, and nobody else can write it."""
    try:
        st = path.lstat()
    except OSError:
        return False
    return kind(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o022


def private(directory: Path) -> bool:
    """A directory we own and nobody else can write: what is in it was written by us."""
    return _owned(directory, stat.S_ISDIR)


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, only inside a private directory (else nothing)."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not private(path.parent):
            return
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except OSError:
        pass  # no companion: the JSON and the files are read as before


def read_private(path: Path) -> bytes | None:
    """``path``'s bytes if this user wrote it (a private directory, an own file), else None."""
    if not (private(path.parent) and _owned(path, stat.S_ISREG)):
        return None
    try:
        return path.read_bytes()
    except OSError:
        return None


def marshal_path(json_path: Path) -> Path:
    return json_path.with_name(f"{json_path.stem}.{TAG}.marshal")


def save_set(json_path: Path, payload: Any) -> None:
    """``payload`` (tuples, lists, dicts, text, numbers) beside the JSON of the same set."""
    try:
        data = marshal.dumps((FORMAT, payload))
    except ValueError:
        return
    write_private(marshal_path(json_path), data)


def load_set(json_path: Path) -> Any:
    """The payload saved for this set, or None (no file, not private, another format, unreadable)."""
    data = read_private(marshal_path(json_path))
    if data is None:
        return None
    try:
        fmt, payload = marshal.loads(data)
    except (EOFError, ValueError, TypeError):
        return None
    return payload if fmt == FORMAT else None


def files_digest(files: Iterable[tuple[str, os.stat_result]], compiler: str = "") -> str:
    """A digest of every file's path, size, modification time, change time and inode, and of the
    ``compiler`` (its version) that turns them into a set."""
    h = hashlib.sha256(f"triage-sigma-files {FORMAT} {compiler}\n".encode())
    for p, st in files:
        h.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}\0{st.st_ino}\n".encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def remember_key(cache: Path, digest: str, key: str) -> None:
    write_private(cache / f"files-{digest[:40]}.key", key.encode("ascii"))


def known_key(cache: Path, digest: str) -> str | None:
    data = read_private(cache / f"files-{digest[:40]}.key")
    if data is None:
        return None
    key = data.decode("ascii", "replace").strip()
    return key if len(key) == 64 and all(c in "0123456789abcdef" for c in key) else None
