"""SYSTEM hive: host facts (computer name, time zone, last shutdown, domain, control set) and services.

Why 'CurrentControlSet' is resolved here: it does not exist in a hive at rest; SYSTEM\\Select\\Current
names the ControlSet00N the machine booted with, and locations name that real key.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

from triage.model import Autorun, HostFact, Issue, Record
from triage.parsers.registry.autoruns import MAX_SUBKEYS, Context
from triage.parsers.registry.hive import as_int32, from_filetime
from triage.parsers.registry.timezone import zone_rules

START_TYPES = {0: "boot", 1: "system", 2: "automatic", 3: "manual", 4: "disabled"}
SERVICE_TYPES = {0x1: "kernel_driver", 0x2: "file_system_driver", 0x4: "adapter", 0x8: "recognizer_driver",
                 0x10: "own_process", 0x20: "share_process", 0x50: "user_own_process", 0x60: "user_share_process"}
DRIVER_MASK = 0xF


def current_control_set(ctx: Context) -> str | None:
    """'ControlSet001' from Select\\Current (falling back to Default, then the only ControlSet present)."""
    hive = ctx.hive
    sel = hive.value_map(hive.key("Select"))
    for name in ("current", "default"):
        n = sel.get(name)
        if isinstance(n, int) and 0 < n < 1000:
            key = hive.key(f"ControlSet{n:03d}")
            if key is not None:
                return key.name()
    root = hive.root()
    sets = sorted(k.name() for k in (hive.subkeys(root) if root is not None else [])
                  if k.name().lower().startswith("controlset"))
    return sets[0] if sets else None


def host_facts(ctx: Context, ccs: str) -> Iterator[Record | Issue]:
    hive = ctx.hive

    def fact(key: Any, value_name: str | None, fact_key: str, value: Any) -> HostFact:
        loc = hive.path(key) + (f"\\{value_name}" if value_name else "")
        return HostFact(source=ctx.item.source(loc), key=fact_key, value=value)

    yield fact(hive.key(ccs), None, "control_set", ccs)
    cn = hive.key(f"{ccs}\\Control\\ComputerName\\ComputerName")
    name = hive.value(cn, "ComputerName")
    if isinstance(name, str) and name:
        yield fact(cn, "ComputerName", "hostname", name)

    tz = hive.key(f"{ccs}\\Control\\TimeZoneInformation")
    if tz is not None:
        vals = {n.lower(): (n, d) for n, _, d in hive.values(tz)}
        zone = vals.get("timezonekeyname") or vals.get("standardname")
        if zone and isinstance(zone[1], str) and zone[1]:
            yield fact(tz, zone[0], "timezone", zone[1])
        if "standardname" in vals:
            yield fact(tz, vals["standardname"][0], "timezone_standard_name", vals["standardname"][1])
        for vname, fkey in (("bias", "timezone_bias_minutes"), ("activetimebias", "timezone_active_bias_minutes")):
            if vname in vals and as_int32(vals[vname][1]) is not None:
                yield fact(tz, vals[vname][0], fkey, as_int32(vals[vname][1]))
        rules = zone_rules({k: v for k, (_, v) in vals.items()})
        if rules is not None:
            yield fact(tz, None, "timezone_rules", rules)

    win = hive.key(f"{ccs}\\Control\\Windows")
    raw = hive.value(win, "ShutdownTime")
    if isinstance(raw, bytes) and len(raw) >= 8:
        when = from_filetime(struct.unpack_from("<Q", raw)[0])
        if when is not None:
            yield fact(win, "ShutdownTime", "last_shutdown", when)

    tcpip = hive.key(f"{ccs}\\Services\\Tcpip\\Parameters")
    if tcpip is not None:
        vals = {n.lower(): (n, d) for n, _, d in hive.values(tcpip)}
        for vname in ("domain", "nv domain"):
            if vname in vals and isinstance(vals[vname][1], str) and vals[vname][1].strip():
                yield fact(tcpip, vals[vname][0], "domain", vals[vname][1].strip())
                break
        for vname in ("hostname", "nv hostname"):
            if vname in vals and isinstance(vals[vname][1], str) and vals[vname][1].strip():
                yield fact(tcpip, vals[vname][0], "tcpip_hostname", vals[vname][1].strip())
                break


def services(ctx: Context, ccs: str) -> Iterator[Record | Issue]:
    """Every subkey of Services, drivers included; details['kind'] is 'driver' or 'service'."""
    hive = ctx.hive
    root = hive.key(f"{ccs}\\Services")
    if root is None:
        yield ctx.item.issue(f"no {ccs}\\Services key", severity="warning", locator=f"{hive.root_name}\\{ccs}")
        return
    for sub in hive.subkeys(root)[:MAX_SUBKEYS]:
        yield service_record(ctx, sub, ccs)


def service_record(ctx: Context, sub: Any, ccs: str) -> Autorun:
    """One Services subkey as an Autorun (category 'service'; details['kind'] 'driver' or 'service')."""
    hive = ctx.hive
    vals = hive.value_map(sub)
    stype = vals.get("type")
    start = vals.get("start")
    params = hive.subkey(sub, "Parameters")
    pvals = hive.value_map(params) if params is not None else {}
    service_dll = pvals.get("servicedll") or vals.get("servicedll")
    details: dict[str, Any] = {
        "kind": ("driver" if isinstance(stype, int) and stype & DRIVER_MASK else
                 "service" if isinstance(stype, int) else "unknown"),
        "type": stype,
        "type_name": SERVICE_TYPES.get(stype & 0xFF if isinstance(stype, int) else -1),
        "start": start,
        "start_type": START_TYPES.get(start) if isinstance(start, int) else None,
        "display_name": vals.get("displayname"),
        "object_name": vals.get("objectname"),
        "service_dll": service_dll,
        "service_main": pvals.get("servicemain"),
        "group": vals.get("group"),
        "delayed_auto_start": vals.get("delayedautostart"),
        "description": vals.get("description"),
        "control_set": ccs,
    }
    return ctx.autorun(category="service", key=sub, name=sub.name(), value_name="ImagePath",
                       command=vals.get("imagepath", ""),
                       details={k: v for k, v in details.items() if v is not None})


def parse_system(ctx: Context) -> Iterator[Record | Issue]:
    ccs = current_control_set(ctx)
    if ccs is None:
        yield ctx.item.issue("SYSTEM hive has no readable ControlSet (Select\\Current)", locator=ctx.hive.root_name)
        return
    yield from host_facts(ctx, ccs)
    yield from services(ctx, ccs)
