"""The 'registry' parser: SYSTEM, SOFTWARE, SAM, SECURITY, every NTUSER.DAT / UsrClass.dat, Amcache.hve.

What it yields (triage.model): HostFact (computer name, time zone, last shutdown, control
set, domain, OS product/build/UBR/version/edition, install date, owner), UserAccount (ProfileList, SAM),
Autorun (Run keys of HKLM, WOW6432Node and every user, Explorer\\Run policies, services and drivers,
Winlogon, IFEO / SilentProcessExit, AppInit_DLLs, the TaskCache), Execution(kind='amcache'), and Issue
for everything it could not read.

The hive kind comes from the root key's subkeys (a SYSTEM hive renamed 'backup.dat' is still SYSTEM);
the file name only decides whether the parser is called. A dirty hive has its transaction logs (the
companions that travel with it in the bundle) replayed first, in a private temp copy: the replay is
reported as an info Issue and recorded in each Autorun's details.

Options (ParseInput.options): 'replay_logs' (default True), 'max_hive_bytes' (default 1 GiB).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import ClassVar

from triage.model import Issue, Record
from triage.parsers.base import ParseInput, Parser
from triage.parsers.registry import autoruns as ar
from triage.parsers.registry.accounts import parse_sam
from triage.parsers.registry.amcache import parse_amcache
from triage.parsers.registry.artifacts import (
    software_artifacts,
    system_artifacts,
    user_artifacts,
    usrclass_artifacts,
)
from triage.parsers.registry.autoruns import Context
from triage.parsers.registry.hive import (
    AMCACHE,
    BCD,
    DEFAULT_MAX_HIVE_BYTES,
    NTUSER,
    SAM,
    SECURITY,
    SOFTWARE,
    SYSTEM,
    UNKNOWN,
    USRCLASS,
    HiveError,
    companion_names,
    open_clean_hive,
    open_hive,
)
from triage.parsers.registry.software import parse_software
from triage.parsers.registry.system import parse_system

_USER_DIR = re.compile(r"(?:^|/)(?:users|documents and settings)/([^/]+)/", re.IGNORECASE)
_EMBEDDED_USER = re.compile(r"\\([^\\?:]+)\\(?:ntuser|usrclass)\.dat$", re.IGNORECASE)

NAME_KINDS = {"system": SYSTEM, "software": SOFTWARE, "sam": SAM, "security": SECURITY, "ntuser.dat": NTUSER,
              "usrclass.dat": USRCLASS, "amcache.hve": AMCACHE, "default": NTUSER}


DEFAULT_USER = ".DEFAULT"  # HKU\\.DEFAULT: the DEFAULT hive, which S-1-5-18 (LocalSystem) loads as its user hive


def profile_user(item: ParseInput, embedded_name: str = "") -> str | None:
    """The profile a user hive belongs to: the manifest's user, else Users/<name>/ in its path, else
    '.DEFAULT' for System32\\config\\DEFAULT (and its RegBack copy), else the path Windows wrote into the
    hive's base block (\\??\\C:\\Users\\<name>\\ntuser.dat)."""
    if item.user:
        return item.user
    low = item.rel_path.replace("\\", "/").lower()
    if low.endswith("/default") and "system32/config/" in low:
        return DEFAULT_USER
    m = _USER_DIR.search(item.rel_path.replace("\\", "/"))
    if m:
        return m.group(1)
    m = _EMBEDDED_USER.search(embedded_name)
    return m.group(1) if m else None


def root_name(kind: str, user: str | None) -> str:
    who = user or "?"
    return {SYSTEM: "HKLM\\SYSTEM", SOFTWARE: "HKLM\\SOFTWARE", SAM: "HKLM\\SAM", SECURITY: "HKLM\\SECURITY",
            NTUSER: f"HKU\\{who}", USRCLASS: f"HKU\\{who}_Classes", AMCACHE: "Amcache",
            BCD: "HKLM\\BCD00000000"}.get(kind, "HIVE")


class RegistryParser(Parser):
    name = "registry"
    patterns: ClassVar[tuple[str, ...]] = (
        "windows/system32/config/system",
        "windows/system32/config/software",
        "windows/system32/config/sam",
        "windows/system32/config/security",
        "windows/system32/config/default",
        "users/*/ntuser.dat",
        "documents and settings/*/ntuser.dat",
        "users/*/appdata/local/microsoft/windows/usrclass.dat",
        "documents and settings/*/local settings/application data/microsoft/windows/usrclass.dat",
        "windows/appcompat/programs/amcache.hve",
    )
    signatures: ClassVar[tuple[tuple[int, bytes], ...]] = ((0, b"regf"),)

    def parse(self, item: ParseInput) -> Iterator[Record | Issue]:
        opts = item.options or {}
        max_bytes = int(opts.get("max_hive_bytes", DEFAULT_MAX_HIVE_BYTES))
        try:
            opened = None
            if item.stream is not None:  # a clean hive is opened from memory, no temporary copy
                with item.stream() as fh:
                    data = fh.read(max_bytes + 1)
                opened = open_clean_hive(data) if len(data) <= max_bytes else None
                del data
            if opened is None:  # dirty (logs to replay) or above the cap: the file route says what to do
                opened = open_hive(item.materialize(), companion_names(item.companions),
                                   replay=bool(opts.get("replay_logs", True)), max_bytes=max_bytes)
        except HiveError as exc:
            yield item.issue(f"unreadable hive: {exc}")
            return
        except OSError as exc:
            yield item.issue(f"cannot read hive file: {exc}")
            return
        except Exception as exc:  # damaged input the library trips on while opening
            yield item.issue(f"unreadable hive: {type(exc).__name__}: {exc}")
            return
        hive = opened.hive
        for severity, message in opened.notes:
            yield item.issue(message, severity=severity)
        name_kind = NAME_KINDS.get(item.rel_path.rsplit("/", 1)[-1].lower())
        if hive.kind == UNKNOWN:
            yield item.issue(f"hive kind not recognised from its root keys (file name suggests {name_kind}); "
                             "nothing extracted", severity="warning")
            return
        if name_kind and name_kind != hive.kind:
            yield item.issue(f"file is named like a {name_kind} hive but its root keys are those of a {hive.kind} "
                             "hive; parsed as the latter", severity="warning")
        user = profile_user(item, hive.base.embedded_name) if hive.kind in (NTUSER, USRCLASS) else None
        hive.root_name = root_name(hive.kind, user)
        ctx = Context(item=item, hive=hive, user=user)
        try:
            if hive.kind == SYSTEM:
                yield from parse_system(ctx)
                yield from system_artifacts(ctx)
            elif hive.kind == SOFTWARE:
                yield from parse_software(ctx)
                yield from software_artifacts(ctx)
            elif hive.kind == NTUSER:
                yield from ar.run_keys(ctx, "Software")
                yield from ar.winlogon(ctx, "Software")
                yield from ar.legacy_windows_load(ctx, "Software")
                yield from user_artifacts(ctx)
            elif hive.kind == USRCLASS:
                yield from usrclass_artifacts(ctx)
            elif hive.kind == SAM:
                yield from parse_sam(ctx)
            elif hive.kind == AMCACHE:
                yield from parse_amcache(ctx)
            # SECURITY, BCD: recognised (and checked for damage) but no facts extracted yet
        except Exception as exc:  # python-registry on a damaged hive: keep what was yielded, report the rest
            yield item.issue(f"hive parsing stopped early: {type(exc).__name__}: {exc}", locator=hive.root_name)
        for where, problem in hive.problems:
            yield item.issue(f"part of the hive could not be read: {problem}", severity="warning",
                             locator=where or hive.root_name)
        if hive.problem_count > len(hive.problems):
            yield item.issue(f"{hive.problem_count - len(hive.problems)} more unreadable parts of the hive not "
                             "listed", severity="warning", locator=hive.root_name)
