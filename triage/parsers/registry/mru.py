"""A user's most-recently-used lists in NTUSER.DAT: RecentDocs, RunMRU (the Run dialog) and TypedPaths
(paths typed into Explorer's address bar).

Why it matters: they show what a person did by hand - documents opened, commands typed at Win+R
('powershell -enc ...', '\\\\10.0.0.5\\c$'), folders and shares typed into Explorer. Each list has an
order value (MRUListEx: DWORD indices ending in 0xFFFFFFFF; MRUList: letters; TypedPaths: url1 newest),
so ``position`` 0 is the newest. Only the newest item has a time: its key's last write, the moment it
became first; older items' times are not kept by Windows and are None here, never guessed.
RecentDocs keeps one list for all files and one per extension ('.pdf'); the newest of an extension
list gets that subkey's last write as its time too.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from triage.model import ArtifactRecord, Issue, Record
from triage.parsers.registry.autoruns import MAX_SUBKEYS, Context
from triage.parsers.registry.hive import decode_utf16_to_nul

EXPLORER = "Software\\Microsoft\\Windows\\CurrentVersion\\Explorer"


@dataclass(frozen=True, slots=True, kw_only=True)
class RecentDoc(ArtifactRecord):
    """One RecentDocs item. position: place in the all-files list (0 newest; None if only in an
    extension list); extension_position: place in its extension's list. opened: UTC time it was last
    opened, known only when it is the newest of a list (that key's last write), else None."""

    record_type: ClassVar[str] = "windows/registry/recentdocs"
    artifact: ClassVar[str] = "recentdocs"
    title: ClassVar[str] = "Recent documents (RecentDocs)"
    description: ClassVar[str] = (
        "Files and folders each user opened, newest first. Only the newest of each list has a time (its "
        "key's last write).")
    columns: ClassVar[tuple[tuple[str, str], ...]] = (
        ("opened", "Opened"), ("user", "User"), ("name", "Name"), ("position", "Position"),
        ("extension", "Extension list"), ("extension_position", "Position in it"))

    user: str | None
    name: str
    value: str
    position: int | None
    extension: str | None
    extension_position: int | None
    opened: datetime | None

    def times(self) -> list[tuple[datetime, str]]:
        return [(self.opened, "RecentDocs newest item opened (key last write)")] if self.opened else []

    def message(self) -> str:
        return f"{self.user or '?'} opened {self.name}"


@dataclass(frozen=True, slots=True, kw_only=True)
class RunMruEntry(ArtifactRecord):
    """One command typed into the Run dialog; last_run only for the newest (position 0)."""

    record_type: ClassVar[str] = "windows/registry/runmru"
    artifact: ClassVar[str] = "runmru"
    title: ClassVar[str] = "Run dialog history (RunMRU)"
    description: ClassVar[str] = "Commands each user typed into Win+R, newest first; only the newest has a time."
    columns: ClassVar[tuple[tuple[str, str], ...]] = (
        ("last_run", "Typed"), ("user", "User"), ("command", "Command"), ("position", "Position"))

    user: str | None
    command: str
    letter: str
    position: int | None
    last_run: datetime | None

    def times(self) -> list[tuple[datetime, str]]:
        return [(self.last_run, "RunMRU newest command typed (key last write)")] if self.last_run else []

    def message(self) -> str:
        return f"{self.user or '?'} typed in Run: {self.command}"


@dataclass(frozen=True, slots=True, kw_only=True)
class TypedPath(ArtifactRecord):
    """One path typed into Explorer's address bar (url1 newest); typed only for url1."""

    record_type: ClassVar[str] = "windows/registry/typedpaths"
    artifact: ClassVar[str] = "typedpaths"
    title: ClassVar[str] = "Paths typed in Explorer (TypedPaths)"
    description: ClassVar[str] = "Folders and shares each user typed into Explorer's address bar, newest first."
    columns: ClassVar[tuple[tuple[str, str], ...]] = (
        ("typed", "Typed"), ("user", "User"), ("path", "Path"), ("position", "Position"))

    user: str | None
    path: str
    value_name: str
    position: int
    typed: datetime | None

    def times(self) -> list[tuple[datetime, str]]:
        return [(self.typed, "TypedPaths newest path typed (key last write)")] if self.typed else []

    def message(self) -> str:
        return f"{self.user or '?'} typed path {self.path}"


def mrulistex_order(raw: Any) -> list[int]:
    """Indices from an MRUListEx value, up to the 0xFFFFFFFF terminator (bounded by the data)."""
    if not isinstance(raw, bytes):
        return []
    out = []
    for (idx,) in struct.iter_unpack("<I", raw[: len(raw) - len(raw) % 4]):
        if idx == 0xFFFFFFFF:
            break
        out.append(idx)
    return out


def _recentdocs_list(hive: Any, key: Any) -> tuple[list[tuple[int, int, str, str]], dict[int, tuple[str, str]]]:
    """([(position, index, value name, item name)] in MRU order, {index: (value name, item name)} for all)."""
    items: dict[int, tuple[str, str]] = {}
    order_raw = None
    for name, _t, data in hive.values(key):
        if name.lower() == "mrulistex":
            order_raw = data
        elif name.isdigit() and isinstance(data, bytes):
            items[int(name)] = (name, decode_utf16_to_nul(data))
    ordered = [(pos, i, *items[i]) for pos, i in enumerate(i for i in mrulistex_order(order_raw) if i in items)]
    return ordered, items


def parse_recentdocs(ctx: Context) -> Iterator[Record | Issue]:
    hive = ctx.hive
    root = hive.key(f"{EXPLORER}\\RecentDocs")
    if root is None:
        return
    root_write = hive.last_write(root)
    ordered, items = _recentdocs_list(hive, root)
    by_name: dict[str, dict[str, Any]] = {}
    for pos, _i, vname, item in ordered:
        by_name.setdefault(item.lower(), {"name": item, "value": vname, "position": pos, "extension": None,
                                          "extension_position": None, "opened": root_write if pos == 0 else None,
                                          "locator": f"{hive.path(root)}\\{vname}"})
    listed = {i for _p, i, _v, _n in ordered}
    for i, (vname, item) in sorted(items.items()):  # items the order list does not name: keep, no position
        if i not in listed:
            by_name.setdefault(item.lower(), {"name": item, "value": vname, "position": None, "extension": None,
                                              "extension_position": None, "opened": None,
                                              "locator": f"{hive.path(root)}\\{vname}"})
    for sub in hive.subkeys(root)[:MAX_SUBKEYS]:
        ext = sub.name()
        sub_ordered, _ = _recentdocs_list(hive, sub)
        sub_write = hive.last_write(sub)
        for pos, _i, vname, item in sub_ordered:
            rec = by_name.setdefault(item.lower(), {"name": item, "value": vname, "position": None,
                                                    "extension": None, "extension_position": None, "opened": None,
                                                    "locator": f"{hive.path(sub)}\\{vname}"})
            if rec["extension"] is None:
                rec["extension"], rec["extension_position"] = ext, pos
                if pos == 0 and rec["opened"] is None:
                    rec["opened"] = sub_write
    for rec in by_name.values():
        locator = rec.pop("locator")
        yield RecentDoc(source=ctx.item.source(locator), user=ctx.user, **rec)


def parse_runmru(ctx: Context) -> Iterator[Record | Issue]:
    hive = ctx.hive
    key = hive.key(f"{EXPLORER}\\RunMRU")
    if key is None:
        return
    vals = {n: d for n, _t, d in hive.values(key)}
    order = next((d for n, d in vals.items() if n.lower() == "mrulist"), "")
    order = order if isinstance(order, str) else ""
    letters = [n for n in vals if len(n) == 1 and n.isalpha()]
    ranked = [c for c in order if c in vals] + sorted(n for n in letters if n not in order)
    write = hive.last_write(key)
    for letter in ranked:
        cmd = vals[letter]
        if not isinstance(cmd, str):
            continue
        pos = order.index(letter) if letter in order else None
        text = cmd[:-2] if cmd.endswith("\\1") else cmd.rstrip("\x01")
        yield RunMruEntry(source=ctx.item.source(f"{hive.path(key)}\\{letter}"), user=ctx.user, command=text,
                          letter=letter, position=pos, last_run=write if pos == 0 else None)


def parse_typedpaths(ctx: Context) -> Iterator[Record | Issue]:
    hive = ctx.hive
    key = hive.key(f"{EXPLORER}\\TypedPaths")
    if key is None:
        return
    write = hive.last_write(key)
    rows = []
    for name, _t, data in hive.values(key):
        low = name.lower()
        if low.startswith("url") and low[3:].isdigit() and isinstance(data, str):
            rows.append((int(low[3:]), name, data))
    for n, name, data in sorted(rows):
        yield TypedPath(source=ctx.item.source(f"{hive.path(key)}\\{name}"), user=ctx.user, path=data,
                        value_name=name, position=n - 1, typed=write if n == 1 else None)
