"""The one parser abstraction.

A parser declares which bundle files it reads (case-insensitive globs over the path inside the
volume, e.g. ``windows/prefetch/*.pf``) and turns one file into records and issues. It never raises
for bad input: a file-level failure is one :class:`Issue` and return; a record-level failure is an
Issue and continue. Anything it does raise is caught by the host analysis and reported with a
traceback, so a parser bug loses one file, never the host.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, ClassVar

from triage.model import Issue, Record, Source

if TYPE_CHECKING:
    from triage.bundle.manifest import ManifestEntry


@dataclass
class ParseInput:
    """One bundle file handed to a parser.

    entry: its manifest entry (original path, user, artifact name, hashes, times).
    rel_path: path inside the volume with '/' separators, e.g. 'Windows/Prefetch/CMD.EXE-4A81B364.pf'.
    companions: manifest entries of files that travel with it (hive .LOG1/.LOG2, SQLite -wal/-journal).
    open: returns a fresh read-only binary stream of the member, streamed from the zip.
    materialize: returns a private temp path holding a copy of the file with its companions beside it
      under their original names (for libraries that need a path; never the bundle itself).
    stream: when given, a fresh stream for one front-to-back read (no seeking) that never makes a
      temporary copy first, for a parser that reads the whole file into memory anyway (a clean hive);
      None: use ``open``.
    """

    entry: ManifestEntry
    rel_path: str
    companions: list[ManifestEntry]
    open: Callable[[], IO[bytes]]
    materialize: Callable[[], Path]
    options: dict = field(default_factory=dict)
    stream: Callable[[], IO[bytes]] | None = None

    @property
    def bundle_path(self) -> str:
        bundle_path = self.entry.bundle_path
        assert bundle_path is not None, "a parser is only given members stored in the bundle"
        return bundle_path

    @property
    def user(self) -> str | None:
        return self.entry.user

    def source(self, locator: str | None = None) -> Source:
        return Source(bundle_path=self.bundle_path, locator=locator, user=self.entry.user)

    def issue(self, message: str, severity: str = "error", locator: str | None = None) -> Issue:
        return Issue(severity=severity, message=message, source=self.source(locator))


class Parser:
    """Base class; subclasses register themselves.

    name: short artifact name ('prefetch'); patterns: globs over ``ParseInput.rel_path`` (lowercased,
    '*' matches across '/'); signatures: optional (offset, magic) pairs checked before parsing —
    a mismatch is reported as an Issue rather than parsed.
    """

    name: ClassVar[str]
    patterns: ClassVar[tuple[str, ...]] = ()
    signatures: ClassVar[tuple[tuple[int, bytes], ...]] = ()
    registry: ClassVar[list[type[Parser]]] = []

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if getattr(cls, "name", None) and cls not in Parser.registry:
            Parser.registry.append(cls)

    @classmethod
    def matches(cls, rel_path: str) -> bool:
        low = rel_path.lower()
        return any(fnmatch.fnmatchcase(low, p.lower()) for p in cls.patterns)

    def parse(self, item: ParseInput) -> Iterator[Record | Issue]:
        raise NotImplementedError


def input_from_file(path: str | Path, rel_path: str | None = None, *, user: str | None = None,
                    companions: tuple[str | Path, ...] = (), artifact: str = "test") -> ParseInput:
    """A ParseInput over a plain file (tests, benchmarks, ad-hoc use), no bundle needed.

    ``materialize`` returns the file's own path: callers must treat it as read-only exactly as they
    treat the private temp copy the host analysis gives them.
    """
    from triage.bundle.manifest import COLLECTED, ManifestEntry

    path = Path(path)
    rel = rel_path or path.name
    entry = ManifestEntry(path=str(path), volume="C", bundle_path=f"files/C/{rel}", artifact=artifact,
                          priority=0, outcome=COLLECTED, user=user, size=path.stat().st_size)
    comp = [ManifestEntry(path=str(c), volume="C", bundle_path=f"files/C/{Path(rel).parent}/{Path(c).name}",
                          artifact=artifact, priority=0, outcome=COLLECTED, role="companion",
                          companion_of=entry.bundle_path, user=user) for c in companions]
    return ParseInput(entry=entry, rel_path=rel, companions=comp, open=lambda: open(path, "rb"),
                      materialize=lambda: path)


def read_small(item: ParseInput, cap: int, what: str) -> bytes | Issue:
    """The whole member when it is at most ``cap`` bytes (small binary artifacts are decoded in memory);
    otherwise the Issue saying why not (unreadable: error; over the cap: warning)."""
    try:
        with item.open() as f:
            data = f.read(cap + 1)
    except OSError as exc:
        return item.issue(f"cannot read {what}: {exc}")
    if len(data) > cap:
        return item.issue(f"{what} larger than {cap} bytes: not parsed", "warning")
    return data
