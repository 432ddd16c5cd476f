"""Whether rule files changed since they were checked, without stat'ing each of them again.

An analysis asks for its Sigma rules once per bundle. Checking the size and modification time of every
source (2,858 files for SigmaHQ's Windows rules, plus the folders they sit in) cost ~10 ms a bundle:
a sixth of what Sigma adds to a small host. On Linux an inotify watch on each folder the rules were
found in (and, for a source that is a symbolic link, on the link's target and the target's folder)
reports every write, attribute change, creation, deletion and rename under them: while none has come,
the files are as they were when the watch was armed, and one ``FIONREAD`` says so.

Limits, and what the caller does about them:
- the watch must be armed before the check it stands in for (:func:`triage.sigma.load.load_rules`
  arms it, then stats everything once more, and only then trusts it);
- a forked worker inherits the descriptor, and reading it there would take the events away from the
  parent: a watch answers only in the process that armed it;
- a change made from another machine on a network file system raises no event here; a watch lives
  only as long as its process (every run starts by stat'ing every file);
- no inotify (another OS, the module missing, the watch limit reached): no watch, stat as before.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

try:
    from inotify_simple import INotify, flags
except ImportError:  # pragma: no cover - not Linux, or the module is absent: the caller stats
    INotify = None  # optional module: None says it is absent
    flags = None

# Beyond this many paths the watches cost more kernel memory than the stats they save.
MAX_PATHS = 8192


def _mask() -> int:
    f = flags
    return int(f.MODIFY | f.ATTRIB | f.CLOSE_WRITE | f.MOVED_FROM | f.MOVED_TO | f.CREATE | f.DELETE
               | f.DELETE_SELF | f.MOVE_SELF)


class Watch:
    """Watches on a set of paths; :meth:`quiet` while none of them has reported anything."""

    def __init__(self, paths: Iterable[str]) -> None:
        self.pid = os.getpid()
        self._ino: INotify | None = INotify(nonblocking=True)
        mask = _mask()
        try:
            for p in paths:
                self._ino.add_watch(p, mask)
        except BaseException:
            self.close()
            raise

    def quiet(self) -> bool:
        """True while nothing watched has changed, asked in the process that armed the watch. The
        first event (or a read error) closes the watch for good: the caller checks and re-arms."""
        if self._ino is None or self.pid != os.getpid():
            return False
        try:
            if not self._ino.read(timeout=0):
                return True
        except OSError:
            pass
        self.close()
        return False

    def close(self) -> None:
        if self._ino is not None:
            try:
                self._ino.close()
            except OSError:
                pass
            self._ino = None


def watched_paths(folders: Iterable[str], files: Iterable[str]) -> list[str]:
    """The folders, plus for each file that is a symbolic link the link (a watch follows it to the
    target) and the target's folder (an edit there changes nothing in the link's folder)."""
    out = dict.fromkeys(folders)
    for f in files:
        if os.path.islink(f):
            out.setdefault(f)
            out.setdefault(os.path.dirname(os.path.realpath(f)))
    return list(out)


def arm(paths: Iterable[str]) -> Watch | None:
    """A watch on ``paths``, or None where none can be had (the caller then stats every file)."""
    if INotify is None:
        return None
    paths = list(paths)
    if not paths or len(paths) > MAX_PATHS:
        return None
    try:
        return Watch(paths)
    except OSError:  # a path gone meanwhile, the per-user watch limit, no inotify in this kernel
        return None
