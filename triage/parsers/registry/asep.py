"""The autostart locations (ASEPs) beyond Run keys, services, Winlogon, IFEO, AppInit and tasks - the ones
Autoruns and RECmd's ASEP batch files read and attackers use because fewer tools look there.

Why Autorun records (not a new artifact): everything here starts code automatically, so it belongs in
the one autostart list the findings rules, the report and the fleet store's stacking already read.
Each location gets its own ``category``; ``details['windows_default']`` is True for the few values every
Windows installation carries (LSA packages, BootExecute, print monitors) so a reader can set them aside
- a default name still proves nothing about the DLL behind it.

SYSTEM (every control set): LSA authentication / security / notification packages, BootExecute /
SetupExecute / Execute / S0InitialCommand, AppCertDlls, Winsock namespace and protocol providers,
print monitors and providers, network providers; and services of the other control sets that differ
from the current one. SOFTWARE (and a user's Software\\): Active Setup StubPath, shell extensions
(Approved, ShellServiceObjectDelayLoad, icon overlays, browser helper objects), Command Processor
AutoRun, Policies\\System Shell/Userinit, Office add-ins, Terminal Server Install Run keys.
NTUSER: logon script (Environment\\UserInitMprLogonScript); both: Group Policy scripts as cached. UsrClass (HKCU\\Software\\Classes): COM
objects registered per user - InprocServer32 / LocalServer32 of a CLSID - which Windows prefers over
HKLM's (COM hijacking).
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Iterator
from typing import Any

from triage.model import Issue, Record
from triage.parsers.registry.autoruns import CV, MAX_SUBKEYS, NTCV, Context

DEFAULT_LSA = {"msv1_0", "kerberos", "schannel", "wdigest", "tspkg", "pku2u", "cloudap", "negoextender", "livessp",
               "scecli", "rassfm", "\"\"", ""}
DEFAULT_BOOT_EXECUTE = {"autocheck autochk *", "autocheck autochk /q /v *"}
DEFAULT_PRINT_MONITORS = {"localspl.dll", "tcpmon.dll", "usbmon.dll", "wsdmon.dll", "appmon.dll", "fxsmon.dll",
                          "apmon.dll", "mfpmonitor.dll"}
OFFICE_APPS = ("Word", "Excel", "PowerPoint", "Outlook", "Access", "Visio", "MS Project", "OneNote", "Publisher")


def _list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    if isinstance(value, str):
        return [value]
    return []


def _view_bases(prefix: str) -> list[tuple[str, bool]]:
    return [("\\".join(p for p in (prefix, view) if p), bool(view)) for view in ("", "WOW6432Node")]


# --- SYSTEM -------------------------------------------------------------------------------------------

def lsa_packages(ctx: Context, ccs: str) -> Iterator[Record | Issue]:
    hive = ctx.hive
    for sub in ("", "\\OSConfig"):
        key = hive.key(f"{ccs}\\Control\\Lsa{sub}")
        if key is None:
            continue
        for name, _t, data in hive.values(key):
            if name.lower() not in ("authentication packages", "security packages", "notification packages"):
                continue
            for pkg in _list(data):
                if not pkg.strip() or pkg.strip() == '""':
                    continue
                yield ctx.autorun(category="lsa", key=key, name=pkg, value_name=name, command=pkg,
                                  details={"list": name, "control_set": ccs,
                                           "windows_default": pkg.strip().lower() in DEFAULT_LSA})


def boot_execute(ctx: Context, ccs: str) -> Iterator[Record | Issue]:
    hive = ctx.hive
    key = hive.key(f"{ccs}\\Control\\Session Manager")
    if key is None:
        return
    for name, _t, data in hive.values(key):
        if name.lower() not in ("bootexecute", "setupexecute", "execute", "s0initialcommand", "bootexecutenopnpsync"):
            continue
        for cmd in _list(data):
            if cmd.strip():
                yield ctx.autorun(category="boot_execute", key=key, name=name, command=cmd,
                                  details={"control_set": ccs,
                                           "windows_default": " ".join(cmd.lower().split()) in DEFAULT_BOOT_EXECUTE})


def appcert_dlls(ctx: Context, ccs: str) -> Iterator[Record | Issue]:
    hive = ctx.hive
    key = hive.key(f"{ccs}\\Control\\Session Manager\\AppCertDlls")
    if key is None:
        return
    for name, _t, data in hive.values(key):
        yield ctx.autorun(category="appcert", key=key, name=name or "(default)", value_name=name, command=data,
                          details={"control_set": ccs})


def packed_catalog_path(raw: Any) -> str:
    """The DLL path at the start of a Winsock PackedCatalogItem (ANSI, NUL-terminated, MAX_PATH)."""
    if not isinstance(raw, bytes):
        return ""
    return raw[:260].split(b"\x00", 1)[0].decode("latin-1")


def winsock(ctx: Context, ccs: str) -> Iterator[Record | Issue]:
    hive = ctx.hive
    base = f"{ccs}\\Services\\WinSock2\\Parameters"
    for catalog, kind in (("Protocol_Catalog9", "protocol"), ("NameSpace_Catalog5", "namespace")):
        root = hive.key(f"{base}\\{catalog}")
        if root is None:
            continue
        for cat_key in hive.subkeys(root):
            if not cat_key.name().lower().startswith("catalog_entries"):
                continue
            for entry in hive.subkeys(cat_key)[:MAX_SUBKEYS]:
                vals = hive.value_map(entry)
                if kind == "protocol":
                    path, vname = packed_catalog_path(vals.get("packedcatalogitem")), "PackedCatalogItem"
                else:
                    path, vname = vals.get("librarypath") or "", "LibraryPath"
                shown = vals.get("displaystring")
                name = shown if isinstance(shown, str) else entry.name()
                yield ctx.autorun(category="winsock", key=entry, name=name, value_name=vname, command=path,
                                  details={"catalog": catalog, "wow64": cat_key.name().lower().endswith("64"),
                                           "control_set": ccs})


def print_and_network_providers(ctx: Context, ccs: str) -> Iterator[Record | Issue]:
    hive = ctx.hive
    mon = hive.key(f"{ccs}\\Control\\Print\\Monitors")
    for sub in hive.subkeys(mon)[:MAX_SUBKEYS] if mon is not None else []:
        drv = hive.value(sub, "Driver")
        if drv is not None:
            yield ctx.autorun(category="print_monitor", key=sub, name=sub.name(), value_name="Driver", command=drv,
                              details={"control_set": ccs,
                                       "windows_default": str(drv).lower() in DEFAULT_PRINT_MONITORS})
    prov = hive.key(f"{ccs}\\Control\\Print\\Providers")
    for sub in hive.subkeys(prov)[:MAX_SUBKEYS] if prov is not None else []:
        dll = hive.value(sub, "Name")
        if dll is not None:
            yield ctx.autorun(category="print_provider", key=sub, name=sub.name(), value_name="Name", command=dll,
                              details={"control_set": ccs})
    order = hive.key(f"{ccs}\\Control\\NetworkProvider\\Order")
    names = str(hive.value(order, "ProviderOrder", "") or "")
    for name in [n.strip() for n in names.split(",") if n.strip()][:MAX_SUBKEYS]:
        np = hive.key(f"{ccs}\\Services\\{name}\\NetworkProvider")
        path = hive.value(np, "ProviderPath")
        if np is not None:
            yield ctx.autorun(category="network_provider", key=np, name=name, value_name="ProviderPath",
                              command=path or "", details={"control_set": ccs, "in_provider_order": True})


def other_control_set_services(ctx: Context, current: str, others: list[str]) -> Iterator[Record | Issue]:
    """Services of the other control sets whose ImagePath / ServiceDll / Start differ from the current
    set's (or that it lacks): a service removed or changed since the last good boot."""
    from triage.parsers.registry.system import service_record

    hive = ctx.hive

    def fingerprint(sub: Any) -> tuple:
        vals = hive.value_map(sub)
        params = hive.subkey(sub, "Parameters")
        dll = (hive.value_map(params).get("servicedll") if params is not None else None) or vals.get("servicedll")
        return (str(vals.get("imagepath", "")).lower(), str(dll or "").lower(), vals.get("start"))

    root = hive.key(f"{current}\\Services")
    cur = {s.name().lower(): fingerprint(s) for s in (hive.subkeys(root)[:MAX_SUBKEYS] if root is not None else [])}
    for ccs in others:
        oroot = hive.key(f"{ccs}\\Services")
        if oroot is None:
            continue
        for sub in hive.subkeys(oroot)[:MAX_SUBKEYS]:
            if cur.get(sub.name().lower()) == fingerprint(sub):
                continue
            rec = service_record(ctx, sub, ccs)
            yield dataclasses.replace(rec, details={**rec.details, "differs_from_current_control_set": current})


def parse_system_aseps(ctx: Context) -> Iterator[Record | Issue]:
    from triage.parsers.registry.shimcache import control_sets

    sets = control_sets(ctx)
    for ccs in sets:
        yield from lsa_packages(ctx, ccs)
        yield from boot_execute(ctx, ccs)
        yield from appcert_dlls(ctx, ccs)
        yield from winsock(ctx, ccs)
        yield from print_and_network_providers(ctx, ccs)
    if len(sets) > 1:
        yield from other_control_set_services(ctx, sets[0], sets[1:])


# --- SOFTWARE and user Software\ -----------------------------------------------------------------------

def _clsid_server(ctx: Context, classes: str, clsid: str) -> str:
    hive = ctx.hive
    for server in ("InprocServer32", "LocalServer32"):
        path = hive.value(hive.key(f"{classes}\\CLSID\\{clsid}\\{server}"), "")
        if path:
            return str(path)
    return ""


def active_setup(ctx: Context, prefix: str) -> Iterator[Record | Issue]:
    hive = ctx.hive
    for base, wow in _view_bases(prefix):
        root = hive.key(f"{base}\\Microsoft\\Active Setup\\Installed Components")
        for sub in hive.subkeys(root)[:MAX_SUBKEYS] if root is not None else []:
            vals = hive.value_map(sub)
            stub = vals.get("stubpath")
            if isinstance(stub, str) and stub.strip():
                yield ctx.autorun(category="active_setup", key=sub, name=str(vals.get("") or sub.name()),
                                  value_name="StubPath", command=stub,
                                  details={"component": sub.name(), "wow64": wow, "is_installed": vals.get("isinstalled"),
                                           "version": vals.get("version") if isinstance(vals.get("version"), str) else None})


def shell_extensions(ctx: Context, prefix: str) -> Iterator[Record | Issue]:
    """Approved shell extensions, ShellServiceObjectDelayLoad, icon overlay handlers and browser helper
    objects, each CLSID resolved to its server DLL through the same hive's Classes\\CLSID."""
    hive = ctx.hive
    for base, wow in _view_bases(prefix):
        classes = f"{base}\\Classes" if base else "Classes"
        approved = hive.key(f"{base}\\{CV}\\Shell Extensions\\Approved")
        for name, _t, data in hive.values(approved) if approved is not None else []:
            if name.startswith("{"):
                yield ctx.autorun(category="shell_extension", key=approved, name=str(data or name), value_name=name,
                                  command=_clsid_server(ctx, classes, name),
                                  details={"clsid": name, "list": "Shell Extensions\\Approved", "wow64": wow})
        ssodl = hive.key(f"{base}\\{CV}\\ShellServiceObjectDelayLoad")
        for name, _t, data in hive.values(ssodl) if ssodl is not None else []:
            clsid = str(data)
            yield ctx.autorun(category="shell_extension", key=ssodl, name=name, command=_clsid_server(ctx, classes, clsid),
                              details={"clsid": clsid, "list": "ShellServiceObjectDelayLoad", "wow64": wow})
        for listname in ("Explorer\\ShellIconOverlayIdentifiers", "Explorer\\Browser Helper Objects"):
            root = hive.key(f"{base}\\{CV}\\{listname}")
            for sub in hive.subkeys(root)[:MAX_SUBKEYS] if root is not None else []:
                clsid = sub.name() if sub.name().startswith("{") else str(hive.value(sub, "") or "")
                yield ctx.autorun(category="shell_extension", key=sub, name=sub.name(), value_name="",
                                  command=_clsid_server(ctx, classes, clsid),
                                  details={"clsid": clsid, "list": listname.split("\\")[-1], "wow64": wow})


def command_processor(ctx: Context, prefix: str) -> Iterator[Record | Issue]:
    hive = ctx.hive
    for base, wow in _view_bases(prefix):
        key = hive.key(f"{base}\\Microsoft\\Command Processor")
        autorun = hive.value(key, "AutoRun")
        if isinstance(autorun, str) and autorun.strip():
            yield ctx.autorun(category="cmd_autorun", key=key, name="AutoRun", command=autorun, details={"wow64": wow})


def policies_system(ctx: Context, prefix: str) -> Iterator[Record | Issue]:
    """Policies\\System Shell / Userinit: override Winlogon's values for one user or all."""
    hive = ctx.hive
    key = hive.key("\\".join(p for p in (prefix, CV, "Policies\\System") if p))
    if key is None:
        return
    for name, _t, data in hive.values(key):
        if name.lower() in ("shell", "userinit") and str(data).strip():
            yield ctx.autorun(category="winlogon", key=key, name=name, command=data, details={"policy": True})


def office_addins(ctx: Context, prefix: str) -> Iterator[Record | Issue]:
    hive = ctx.hive
    for base, wow in _view_bases(prefix):
        for app in OFFICE_APPS:
            root = hive.key(f"{base}\\Microsoft\\Office\\{app}\\Addins")
            for sub in hive.subkeys(root)[:MAX_SUBKEYS] if root is not None else []:
                vals = hive.value_map(sub)
                prog_id = sub.name()
                classes = f"{base}\\Classes" if base else "Classes"
                clsid = hive.value(hive.key(f"{classes}\\{prog_id}\\CLSID"), "")
                server = _clsid_server(ctx, classes, str(clsid)) if clsid else ""
                manifest = vals.get("manifest")
                yield ctx.autorun(category="office_addin", key=sub, name=str(vals.get("friendlyname") or prog_id),
                                  value_name="LoadBehavior", command=server or str(manifest or prog_id),
                                  details={"application": app, "prog_id": prog_id, "load_behavior": vals.get("loadbehavior"),
                                           "wow64": wow})


def terminal_server_install(ctx: Context, prefix: str) -> Iterator[Record | Issue]:
    hive = ctx.hive
    base = "\\".join(p for p in (prefix, NTCV, "Terminal Server\\Install\\Software\\Microsoft\\Windows\\CurrentVersion") if p)
    for run in ("Run", "RunOnce", "RunOnceEx"):
        key = hive.key(f"{base}\\{run}")
        for name, vtype, data in hive.values(key) if key is not None else []:
            yield ctx.autorun(category="run", key=key, name=name, command=data,
                              details={"key": f"Terminal Server\\Install\\...\\{run}", "value_type": vtype})


def gpo_scripts(ctx: Context, prefix: str) -> Iterator[Record | Issue]:
    """Group Policy logon/logoff (user) and startup/shutdown (machine) scripts as the client cached them:
    ...\\Group Policy\\Scripts\\<kind>\\<GPO n>\\<script n> Script + Parameters."""
    hive = ctx.hive
    root = hive.key("\\".join(p for p in (prefix, CV, "Group Policy\\Scripts") if p))
    for kind_key in hive.subkeys(root) if root is not None else []:
        for gpo in hive.subkeys(kind_key)[:MAX_SUBKEYS]:
            gvals = hive.value_map(gpo)
            for script in hive.subkeys(gpo)[:MAX_SUBKEYS]:
                vals = hive.value_map(script)
                cmd = " ".join(str(v) for v in (vals.get("script"), vals.get("parameters")) if v)
                if cmd.strip():
                    yield ctx.autorun(category="logon_script", key=script, name=f"{kind_key.name()} script",
                                      value_name="Script", command=cmd,
                                      details={"trigger": kind_key.name(), "gpo": gvals.get("displayname"),
                                               "gpo_path": gvals.get("filesyspath")})


def parse_software_aseps(ctx: Context) -> Iterator[Record | Issue]:
    yield from active_setup(ctx, "")
    yield from shell_extensions(ctx, "")
    yield from command_processor(ctx, "")
    yield from policies_system(ctx, "")
    yield from office_addins(ctx, "")
    yield from terminal_server_install(ctx, "")
    yield from gpo_scripts(ctx, "")


# --- NTUSER / UsrClass ---------------------------------------------------------------------------------

def parse_ntuser_aseps(ctx: Context) -> Iterator[Record | Issue]:
    hive = ctx.hive
    yield from command_processor(ctx, "Software")
    yield from policies_system(ctx, "Software")
    yield from office_addins(ctx, "Software")
    yield from shell_extensions(ctx, "Software")
    yield from gpo_scripts(ctx, "Software")
    env = hive.key("Environment")
    script = hive.value(env, "UserInitMprLogonScript")
    if isinstance(script, str) and script.strip():
        yield ctx.autorun(category="logon_script", key=env, name="UserInitMprLogonScript", command=script)


def parse_usrclass_aseps(ctx: Context) -> Iterator[Record | Issue]:
    """Per-user COM servers: every CLSID in the user's classes with an InprocServer32 / LocalServer32
    (Windows looks here before HKLM, so each one overrides or adds a COM object for this user)."""
    hive = ctx.hive
    for base, wow in (("CLSID", False), ("Wow6432Node\\CLSID", True)):
        root = hive.key(base)
        for sub in hive.subkeys(root)[:MAX_SUBKEYS] if root is not None else []:
            for server in ("InprocServer32", "LocalServer32"):
                skey = hive.subkey(sub, server)
                if skey is None:
                    continue
                path = hive.value(skey, "")
                if not path:
                    continue
                name = hive.value(sub, "") or sub.name()
                yield ctx.autorun(category="com_hijack", key=skey, name=str(name), value_name="", command=path,
                                  details={"clsid": sub.name(), "server": server, "wow64": wow,
                                           "threading_model": hive.value(skey, "ThreadingModel")})


def decode_startup_approved(raw: Any) -> tuple[str | None, int | None]:
    """('enabled' | 'disabled', FILETIME when disabled) from a StartupApproved value; the first byte's low
    bit set means disabled (0x03, 0x07...), clear means enabled (0x02, 0x06)."""
    if not isinstance(raw, bytes) or len(raw) < 4:
        return None, None
    state = "disabled" if raw[0] & 1 else "enabled"
    when = struct.unpack_from("<Q", raw, 4)[0] if len(raw) >= 12 and state == "disabled" else None
    return state, when or None

