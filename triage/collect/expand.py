"""Expand a profile's path patterns over a file source into concrete files, in priority order.

Matching is segment by segment against real directory listings, so it is case-insensitive on
Windows volumes (``ntuser.dat.LOG1`` next to ``NTUSER.DAT``) even when the volume is mounted on a
case-sensitive Linux file system. Links are never entered: a tree can not lead the collector out of
the target.
"""

from __future__ import annotations

import builtins
import fnmatch
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from triage.collect.source import DirEntry, FileSource
from triage.profile import Artifact, PathPattern, Profile

_GLOB_CHARS = re.compile(r"[*?\[]")
_STAR_STAR = re.compile(r"^\*\*(\d*)$")
# Windows profile folders that are junctions or not real users on a live system.
_SKIP_WINDOWS_USERS = {"all users", "default user"}


@dataclass(slots=True)
class UserHome:
    name: str
    rel: str  # home directory relative to the volume root


@dataclass(slots=True)
class Planned:
    """One file to collect (or one artifact that matched nothing: rel is None)."""

    artifact: Artifact
    rel: str | None
    user: str | None = None
    companions: list[str] = field(default_factory=list)
    pattern: str | None = None


class Lister:
    """Caches directory listings for one planning pass (each directory is listed once)."""

    def __init__(self, source: FileSource) -> None:
        self.source = source
        self.cache: dict[str, list[DirEntry]] = {}

    def list(self, rel: str) -> list[DirEntry]:
        if rel not in self.cache:
            self.cache[rel] = list(self.source.listdir(rel))
        return self.cache[rel]

    def match(self, rel: str, pattern: str) -> builtins.list[DirEntry]:
        entries = self.list(rel)
        if self.source.case_sensitive:
            return [e for e in entries if fnmatch.fnmatchcase(e.name, pattern)]
        low = pattern.lower()
        return [e for e in entries if fnmatch.fnmatchcase(e.name.lower(), low)]

    def exact(self, rel: str, name: str) -> DirEntry | None:
        if self.source.case_sensitive:
            return next((e for e in self.list(rel) if e.name == name), None)
        low = name.lower()
        return next((e for e in self.list(rel) if e.name.lower() == low), None)


def _join(a: str, b: str) -> str:
    return f"{a}/{b}" if a else b


def user_homes(lister: Lister, os_name: str) -> list[UserHome]:
    """User profile directories on the source: Users/* on Windows, home/* and root on Linux."""
    homes: list[UserHome] = []
    if os_name == "windows":
        users = lister.exact("", "Users")
        if users and users.is_dir and not users.is_link:
            for e in lister.list(users.name):
                if e.is_dir and not e.is_link and e.name.lower() not in _SKIP_WINDOWS_USERS:
                    homes.append(UserHome(e.name, _join(users.name, e.name)))
    else:
        for e in lister.list("home"):
            if e.is_dir and not e.is_link:
                homes.append(UserHome(e.name, _join("home", e.name)))
        root = lister.exact("", "root")
        if root and root.is_dir and not root.is_link:
            homes.append(UserHome("root", "root"))
    return sorted(homes, key=lambda h: h.name.lower())


def _walk(lister: Lister, prefix: str, segments: tuple[str, ...], default_depth: int) -> Iterator[str]:
    if not segments:
        return
    seg, rest = segments[0], segments[1:]
    star = _STAR_STAR.match(seg)
    if star:
        depth = int(star.group(1)) if star.group(1) else default_depth
        for directory, _level in _dirs_below(lister, prefix, depth):
            if rest:
                yield from _walk(lister, directory, rest, default_depth)
            else:  # trailing '**': every file down to the depth cap
                for e in lister.list(directory):
                    if e.is_file and not e.is_link:
                        yield _join(directory, e.name)
        return
    if _GLOB_CHARS.search(seg):
        candidates = lister.match(prefix, seg)
    else:
        hit = lister.exact(prefix, seg)
        candidates = [hit] if hit else []
    for e in sorted(candidates, key=lambda x: x.name):
        if e.is_link:
            continue
        path = _join(prefix, e.name)
        if rest:
            if e.is_dir:
                yield from _walk(lister, path, rest, default_depth)
        elif e.is_file:
            yield path


def _dirs_below(lister: Lister, top: str, depth: int) -> Iterator[tuple[str, int]]:
    stack = [(top, 0)]
    while stack:
        rel, level = stack.pop(0)
        yield rel, level
        if level < depth:
            for e in sorted(lister.list(rel), key=lambda x: x.name):
                if e.is_dir and not e.is_link:
                    stack.append((_join(rel, e.name), level + 1))


def _excluded(rel: str, artifact: Artifact) -> bool:
    low = rel.lower()
    return any(fnmatch.fnmatchcase(low, p.lower()) for p in artifact.exclude)


def companions_of(lister: Lister, rel: str, suffixes: tuple[str, ...]) -> list[str]:
    """Companion files next to ``rel``: same name plus each suffix, matched case-insensitively."""
    parent, _, name = rel.rpartition("/")
    found = []
    for suffix in suffixes:
        e = lister.exact(parent, name + suffix)
        if e and e.is_file and not e.is_link:
            found.append(_join(parent, e.name))
    return found


def expand_pattern(lister: Lister, pattern: PathPattern, artifact: Artifact,
                   homes: list[UserHome]) -> Iterator[tuple[str, str | None]]:
    bases = [(h.rel, h.name) for h in homes] if pattern.per_user else [("", None)]
    for base, user in bases:
        for rel in _walk(lister, base, pattern.segments, artifact.max_depth):
            yield rel, user


def plan(source: FileSource, profile: Profile) -> list[Planned]:
    """Every file the profile asks for on this source, highest priority first, each file once.

    A file matched by two artifacts is collected once, under the higher-priority artifact. A
    file that is some other file's companion is not collected again as a primary. Artifacts that
    match nothing appear once with ``rel=None`` so the manifest can say they were missing.
    """
    lister = Lister(source)
    homes = user_homes(lister, profile.os)
    seen: set[str] = set()
    out: list[Planned] = []
    for artifact in profile.ordered():
        matched = False
        for pattern in artifact.patterns:
            for rel, user in expand_pattern(lister, pattern, artifact, homes):
                key = rel if source.case_sensitive else rel.lower()
                if key in seen or _excluded(rel, artifact):
                    continue
                comps = [c for c in companions_of(lister, rel, artifact.companions)
                         if (c if source.case_sensitive else c.lower()) not in seen]
                seen.add(key)
                seen.update(c if source.case_sensitive else c.lower() for c in comps)
                out.append(Planned(artifact, rel, user, comps, pattern.raw))
                matched = True
        if not matched:
            out.append(Planned(artifact, None, None, [], "; ".join(p.raw for p in artifact.patterns)))
    return out
