"""Run-key style autostart locations shared by HKLM (SOFTWARE) and HKU (NTUSER.DAT): Run, RunOnce,
RunOnceEx, RunServices(Once), their WOW6432Node twins, the Explorer\\Run policy, Winlogon, IFEO,
SilentProcessExit and AppInit_DLLs.

Why one table: the same relative key paths exist in both hives (under 'Software\\' in a user hive) and
consumers must see one location format, e.g. 'HKU\\tony\\Software\\Microsoft\\Windows\\CurrentVersion\\Run'.
Locations use the key names as stored in the hive (WOW6432Node vs Wow6432Node), matched case-insensitively.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from triage.model import Autorun, Issue, Record
from triage.parsers.base import ParseInput
from triage.parsers.registry.hive import Hive

CV = "Microsoft\\Windows\\CurrentVersion"
NTCV = "Microsoft\\Windows NT\\CurrentVersion"
RUN_NAMES = ("Run", "RunOnce", "RunServices", "RunServicesOnce")
MAX_SUBKEYS = 20000  # bound on any enumerated key (IFEO, Notify, RunOnceEx...) of a hostile hive


@dataclass
class Context:
    """What every emitter needs: the input (for provenance), the hive, and whose hive it is."""

    item: ParseInput
    hive: Hive
    user: str | None

    def extra(self) -> dict[str, Any]:
        """Details every record from a replayed hive carries, so an analyst knows the logs mattered."""
        if self.hive.replay is not None:
            return {"hive_logs_replayed": True, "hive_replayed_pages": self.hive.replay.pages}
        return {}

    def autorun(self, *, category: str, key: Any, name: str, command: Any, value_name: str | None = None,
                details: dict[str, Any] | None = None) -> Autorun:
        location = self.hive.path(key)
        vname = value_name if value_name is not None else name
        locator = f"{location}\\{vname or '(default)'}"
        return Autorun(source=self.item.source(locator), category=category, location=location, name=name,
                       command=_text(command), user=self.user, last_write=self.hive.last_write(key),
                       details={**(details or {}), **self.extra()})


def _text(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(str(v) for v in value if v)
    if isinstance(value, bytes):
        return value.hex()
    return "" if value is None else str(value)


def _bounded(hive: Hive, key: Any) -> list[Any]:
    return hive.subkeys(key)[:MAX_SUBKEYS]


def _startup_approved(ctx: Context, prefix: str, which: str) -> dict[str, dict[str, Any]]:
    """Task Manager's enable/disable state of Run values (Explorer\\StartupApproved\\Run / Run32):
    value name (lower) -> {'startup_approved': 'enabled'|'disabled', 'disabled_at': UTC time}."""
    from triage.parsers.registry.asep import decode_startup_approved
    from triage.units import from_filetime

    hive = ctx.hive
    key = hive.key("\\".join(p for p in (prefix, CV, "Explorer\\StartupApproved", which) if p))
    out: dict[str, dict[str, Any]] = {}
    for name, _t, data in hive.values(key) if key is not None else []:
        state, when = decode_startup_approved(data)
        if state:
            out[name.lower()] = {"startup_approved": state, **({"disabled_at": from_filetime(when)} if when else {})}
    return out


def run_keys(ctx: Context, prefix: str) -> Iterator[Record | Issue]:
    """Run/RunOnce/... values. prefix is '' for SOFTWARE, 'Software' for a user hive."""
    hive = ctx.hive
    for view in ("", "WOW6432Node"):
        base = "\\".join(p for p in (prefix, view, CV) if p)
        approved = _startup_approved(ctx, prefix, "Run32" if view else "Run")
        for run in RUN_NAMES:
            key = hive.key(f"{base}\\{run}")
            if key is None:
                continue
            for name, vtype, data in hive.values(key):
                extra = approved.get(name.lower(), {}) if run == "Run" else {}
                yield ctx.autorun(category="run", key=key, name=name, command=data,
                                  details={"key": run, "wow64": bool(view), "value_type": vtype, **extra})
        # RunOnceEx: subkeys (ordered names like 0001) whose values are 'file|function' or commands
        ex = hive.key(f"{base}\\RunOnceEx")
        if ex is not None:
            for sub in _bounded(hive, ex):
                for name, vtype, data in hive.values(sub):
                    yield ctx.autorun(category="run", key=sub, name=name, command=data,
                                      details={"key": "RunOnceEx", "wow64": bool(view), "value_type": vtype})
        # Group-policy Run list
        pol = hive.key(f"{base}\\Policies\\Explorer\\Run")
        if pol is not None:
            for name, vtype, data in hive.values(pol):
                yield ctx.autorun(category="run", key=pol, name=name, command=data,
                                  details={"key": "Policies\\Explorer\\Run", "wow64": bool(view),
                                           "value_type": vtype})


WINLOGON_VALUES = ("Shell", "Userinit", "Taskman", "AppSetup", "GinaDLL", "System", "VmApplet")


def winlogon(ctx: Context, prefix: str) -> Iterator[Record | Issue]:
    """Winlogon Shell/Userinit/... (HKLM and, for Shell, HKCU) and Notify packages."""
    hive = ctx.hive
    key = hive.key("\\".join(p for p in (prefix, NTCV, "Winlogon") if p))
    if key is None:
        return
    values = {n.lower(): (n, d) for n, _, d in hive.values(key)}
    for wanted in WINLOGON_VALUES:
        if wanted.lower() in values:
            name, data = values[wanted.lower()]
            yield ctx.autorun(category="winlogon", key=key, name=name, command=data)
    notify = hive.subkey(key, "Notify")
    if notify is not None:
        for sub in _bounded(hive, notify):
            vals = hive.value_map(sub)
            yield ctx.autorun(category="winlogon", key=sub, name=sub.name(), command=vals.get("dllname", ""),
                              value_name="DllName", details={"notify_package": True,
                                                             **{k: _text(v) for k, v in vals.items()
                                                                if k in ("startup", "logon", "asynchronous")}})


def legacy_windows_load(ctx: Context, prefix: str) -> Iterator[Record | Issue]:
    """HKCU ...\\Windows NT\\CurrentVersion\\Windows Load/Run (old user autostart values)."""
    hive = ctx.hive
    key = hive.key("\\".join(p for p in (prefix, NTCV, "Windows") if p))
    if key is None:
        return
    for name, vtype, data in hive.values(key):
        if name.lower() in ("load", "run") and _text(data).strip():
            yield ctx.autorun(category="run", key=key, name=name, command=data,
                              details={"key": "Windows NT\\CurrentVersion\\Windows", "value_type": vtype})


def appinit(ctx: Context, prefix: str) -> Iterator[Record | Issue]:
    """AppInit_DLLs (loaded into every user32 process when LoadAppInit_DLLs is 1), both views."""
    hive = ctx.hive
    for view in ("", "WOW6432Node"):
        key = hive.key("\\".join(p for p in (prefix, view, NTCV, "Windows") if p))
        if key is None:
            continue
        vals = hive.value_map(key)
        if "appinit_dlls" not in vals:
            continue
        load = vals.get("loadappinit_dlls")
        yield ctx.autorun(category="appinit", key=key, name="AppInit_DLLs", command=vals["appinit_dlls"],
                          details={"load_appinit_dlls": load, "enabled": load == 1 and bool(_text(vals["appinit_dlls"]).strip()),
                                   "require_signed": vals.get("requiresignedappinit_dlls"), "wow64": bool(view)})


IFEO_VALUES = ("Debugger", "GlobalFlag", "VerifierDlls")


def ifeo(ctx: Context, prefix: str) -> Iterator[Record | Issue]:
    """Image File Execution Options Debugger/GlobalFlag and SilentProcessExit MonitorProcess.

    Every IFEO subkey that sets one of those values is reported; subkeys holding only mitigation
    settings (e.g. DisableExceptionChainValidation) start nothing and are not.
    """
    hive = ctx.hive
    for view in ("", "WOW6432Node"):
        root = hive.key("\\".join(p for p in (prefix, view, NTCV, "Image File Execution Options") if p))
        if root is not None:
            for sub in _bounded(hive, root):
                vals = {n.lower(): (n, d) for n, _, d in hive.values(sub)}
                for wanted in IFEO_VALUES:
                    if wanted.lower() in vals:
                        name, data = vals[wanted.lower()]
                        if wanted == "GlobalFlag" and not (isinstance(data, int) and data & 0x200):
                            continue  # only FLG_MONITOR_SILENT_PROCESS_EXIT (0x200) starts something
                        yield ctx.autorun(category="ifeo", key=sub, name=sub.name(), value_name=name,
                                          command=data if wanted != "GlobalFlag" else f"GlobalFlag=0x{data:x}",
                                          details={"value": name, "wow64": bool(view)})
        spe = hive.key("\\".join(p for p in (prefix, view, NTCV, "SilentProcessExit") if p))
        if spe is not None:
            for sub in _bounded(hive, spe):
                vals = hive.value_map(sub)
                if "monitorprocess" in vals:
                    yield ctx.autorun(category="ifeo", key=sub, name=sub.name(), value_name="MonitorProcess",
                                      command=vals["monitorprocess"],
                                      details={"value": "MonitorProcess", "wow64": bool(view),
                                               "reporting_mode": vals.get("reportingmode")})
