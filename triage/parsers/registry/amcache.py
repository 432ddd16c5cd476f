"""Amcache.hve: files Windows inventoried (and usually ran), with their SHA-1.

Windows 10+ keeps them under Root\\InventoryApplicationFile (FileId = '0000' + SHA-1, LowerCaseLongPath);
Windows 8 / early 10 under Root\\File\\<volume GUID>\\<id> with numbered values (15 = path, 101 = '0000' +
SHA-1, 17 = file last-modified FILETIME). The key's last write is a proxy for when the entry was made,
not a run time, so it is carried as ``last_write`` and ``last_runs`` stays empty.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PureWindowsPath
from typing import Any, ClassVar

from triage.model import Execution, Issue, Record
from triage.parsers.registry.autoruns import MAX_SUBKEYS, Context
from triage.parsers.registry.hive import from_filetime

MAX_ENTRIES = 200_000


@dataclass(frozen=True, slots=True, kw_only=True)
class AmcacheExecution(Execution):
    """An Execution(kind='amcache') that also carries the entry key's last write (UTC) and extras."""

    record_type: ClassVar[str] = "windows/execution"
    last_write: datetime | None = None
    details: dict[str, Any] = field(default_factory=dict)


def _sha1(file_id: Any) -> str | None:
    if not isinstance(file_id, str):
        return None
    s = file_id.strip().lower()
    if len(s) == 44 and s.startswith("0000"):
        s = s[4:]
    return s if len(s) == 40 and all(c in "0123456789abcdef" for c in s) else None


def parse_amcache(ctx: Context) -> Iterator[Record | Issue]:
    hive = ctx.hive
    count = 0
    inv = hive.key("Root\\InventoryApplicationFile")
    if inv is not None:
        for sub in hive.subkeys(inv)[:MAX_ENTRIES]:
            v = hive.value_map(sub)
            raw_path, raw_name = v.get("lowercaselongpath"), v.get("name")
            path = raw_path if isinstance(raw_path, str) else None
            name: str = raw_name if isinstance(raw_name, str) and raw_name else (
                PureWindowsPath(path).name if path else sub.name())
            details: dict[str, Any] = {k: v[k] for k in ("publisher", "version", "productname", "linkdate", "size", "binarytype",
                                         "programid", "isoscomponent") if k in v and v[k] not in ("", None)}
            count += 1
            yield AmcacheExecution(source=ctx.item.source(hive.path(sub)), kind="amcache", executable=name,
                                   path=path, sha1=_sha1(v.get("fileid")), last_write=hive.last_write(sub),
                                   details={**details, **ctx.extra()})
    old = hive.key("Root\\File")
    if old is not None:
        for vol in hive.subkeys(old)[:MAX_SUBKEYS]:
            for sub in hive.subkeys(vol)[:MAX_ENTRIES]:
                v = hive.value_map(sub)
                path = v.get("15") if isinstance(v.get("15"), str) else None
                mod = v.get("17")
                details = {"volume_id": vol.name(), "entry_id": sub.name()}
                if isinstance(mod, int) and (modified := from_filetime(mod)) is not None:
                    details["file_modified"] = modified.isoformat().replace("+00:00", "Z")
                count += 1
                yield AmcacheExecution(source=ctx.item.source(hive.path(sub)), kind="amcache",
                                       executable=PureWindowsPath(path).name if path else sub.name(), path=path,
                                       sha1=_sha1(v.get("101")), last_write=hive.last_write(sub),
                                       details={**details, **ctx.extra()})
    if count == 0:
        yield ctx.item.issue("Amcache hive holds no InventoryApplicationFile or File entries", severity="info",
                             locator=hive.root_name)
