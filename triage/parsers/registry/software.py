"""SOFTWARE hive: OS facts (product, build, UBR, version, edition, install date, owner), ProfileList
users, and the HKLM autostart locations (Run keys, Winlogon, IFEO, AppInit, scheduled-task cache)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import PureWindowsPath
from typing import Any

from triage.model import HostFact, Issue, Record, UserAccount
from triage.parsers.registry import autoruns as ar
from triage.parsers.registry.autoruns import NTCV, Context
from triage.parsers.registry.hive import from_filetime
from triage.parsers.registry.taskcache import task_cache
from triage.units import from_epoch

WELL_KNOWN_SIDS = {"S-1-5-18": "SYSTEM", "S-1-5-19": "LOCAL SERVICE", "S-1-5-20": "NETWORK SERVICE"}

# value name -> fact key; the first present of each group wins
OS_FACTS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("ProductName",), "os_product"),
    (("CurrentBuild", "CurrentBuildNumber"), "os_build"),
    (("UBR",), "os_ubr"),
    (("DisplayVersion", "ReleaseId"), "os_version"),
    (("CurrentVersion",), "os_current_version"),
    (("EditionID",), "os_edition"),
    (("RegisteredOwner",), "registered_owner"),
    (("RegisteredOrganization",), "registered_organization"),
    (("CSDVersion",), "os_service_pack"),
)


def os_facts(ctx: Context) -> Iterator[Record | Issue]:
    hive = ctx.hive
    key = hive.key(NTCV)
    if key is None:
        yield ctx.item.issue("SOFTWARE hive has no Microsoft\\Windows NT\\CurrentVersion key", severity="warning",
                             locator=f"{hive.root_name}\\{NTCV}")
        return
    vals = {n.lower(): (n, d) for n, _, d in hive.values(key)}
    base = hive.path(key)

    def fact(vname: str, fkey: str, value: Any) -> HostFact:
        return HostFact(source=ctx.item.source(f"{base}\\{vname}"), key=fkey, value=value)

    for names, fkey in OS_FACTS:
        for n in names:
            if n.lower() in vals and vals[n.lower()][1] not in (None, "", b""):
                yield fact(vals[n.lower()][0], fkey, vals[n.lower()][1])
                break
    if "currentbuildnumber" in vals:
        yield fact(vals["currentbuildnumber"][0], "os_build_number", vals["currentbuildnumber"][1])
    if "installdate" in vals and isinstance(vals["installdate"][1], int) and vals["installdate"][1] > 0:
        yield fact(vals["installdate"][0], "install_date", from_epoch(vals["installdate"][1]))
    if "installtime" in vals and isinstance(vals["installtime"][1], int):
        when = from_filetime(vals["installtime"][1])
        if when is not None:
            yield fact(vals["installtime"][0], "install_time", when)
    wl = hive.key(f"{NTCV}\\Winlogon")
    if wl is not None:
        wv = {n.lower(): (n, d) for n, _, d in hive.values(wl)}
        for vname, fkey in (("defaultusername", "last_logged_on_user"), ("defaultdomainname", "default_domain_name")):
            if vname in wv and isinstance(wv[vname][1], str) and wv[vname][1]:
                yield HostFact(source=ctx.item.source(f"{hive.path(wl)}\\{wv[vname][0]}"), key=fkey,
                               value=wv[vname][1])


def profile_list(ctx: Context) -> Iterator[Record | Issue]:
    """ProfileList: one UserAccount per SID with its profile folder and the key's last write."""
    hive = ctx.hive
    root = hive.key(f"{NTCV}\\ProfileList")
    if root is None:
        return
    for sub in hive.subkeys(root)[: ar.MAX_SUBKEYS]:
        sid = sub.name()
        path = hive.value(sub, "ProfileImagePath")
        path = path if isinstance(path, str) and path else None
        name = WELL_KNOWN_SIDS.get(sid) or (PureWindowsPath(path).name if path else sid)
        yield UserAccount(source=ctx.item.source(f"{hive.path(sub)}\\ProfileImagePath"), name=name, sid=sid,
                          profile_path=path, last_write=hive.last_write(sub))


def parse_software(ctx: Context) -> Iterator[Record | Issue]:
    yield from os_facts(ctx)
    yield from profile_list(ctx)
    yield from ar.run_keys(ctx, "")
    yield from ar.winlogon(ctx, "")
    yield from ar.appinit(ctx, "")
    yield from ar.ifeo(ctx, "")
    yield from task_cache(ctx)
