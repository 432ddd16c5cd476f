"""SAM hive: local account names and RIDs (and their SIDs when the domain SID is readable).

Cheap on purpose: Names\\<account> keys store the RID in their default value's *type* field, and the
machine's domain SID is the last 24 bytes of Domains\\Account's V value. The encrypted F/V user data is
not decoded here.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from triage.model import Issue, Record, UserAccount
from triage.parsers.registry.autoruns import MAX_SUBKEYS, Context


def domain_sid(v: object) -> str | None:
    """'S-1-5-21-a-b-c' from the tail of Domains\\Account V, or None if it is not there."""
    if not isinstance(v, bytes) or len(v) < 24:
        return None
    tail = v[-24:]
    if tail[:8] != b"\x01\x04\x00\x00\x00\x00\x00\x05":
        return None
    subs = struct.unpack_from("<4I", tail, 8)
    if subs[0] != 21:
        return None
    return "S-1-5-" + "-".join(str(s) for s in subs)


def parse_sam(ctx: Context) -> Iterator[Record | Issue]:
    hive = ctx.hive
    account = hive.key("SAM\\Domains\\Account")
    if account is None:
        yield ctx.item.issue("SAM hive has no SAM\\Domains\\Account key", severity="warning",
                             locator=f"{hive.root_name}\\SAM\\Domains\\Account")
        return
    dsid = domain_sid(hive.value(account, "V"))
    names = hive.subkey(hive.subkey(account, "Users") or account, "Names") if hive.subkey(account, "Users") else None
    if names is None:
        return
    for sub in hive.subkeys(names)[:MAX_SUBKEYS]:
        rid = next((vtype for vname, vtype, _ in hive.values(sub) if vname == ""), None)
        sid = f"{dsid}-{rid}" if dsid and isinstance(rid, int) else None
        yield UserAccount(source=ctx.item.source(hive.path(sub)), name=sub.name(), sid=sid,
                          last_write=hive.last_write(sub))
