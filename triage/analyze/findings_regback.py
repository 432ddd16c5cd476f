"""Findings from comparing the RegBack hive copies' autostarts with the live hives' (same shape as findings.py).

Why: an autostart present in System32\\config\\RegBack\\<hive> but absent from the live <hive>, or present in
both with another command, was removed or changed after the backup was made - what an intruder cleaning
up persistence (or hijacking an existing entry) leaves behind. Provenance is the RegBack file and key.
The live side counts only when the live hive yielded records in this bundle; otherwise the finding says
the live hive was not available and is informational. Services and drivers change with every update,
so their differences are 'low'; every other autostart kind is 'medium'.
"""

from __future__ import annotations

from collections.abc import Iterator

from triage.analyze.findings import Context, Rule, _finding, _short
from triage.model import Autorun, Finding
from triage.parsers.registry.regback import RegBackAutostart, autostart_key

CHURNING = {"service", "driver"}


def _live_hive(bundle_path: str) -> str | None:
    """'software' for files/C/Windows/System32/config/SOFTWARE; None for any other member."""
    low = bundle_path.replace("\\", "/").lower()
    head, _, name = low.rpartition("/")
    return name if head.endswith("system32/config") else None


def _same(command: str) -> str:
    """Commands compared as Windows does paths: case and surrounding blanks do not count."""
    return " ".join(command.split()).lower()


def rule_regback_autostart_diff(ctx: Context) -> Iterator[Finding]:
    """An autostart of a RegBack copy missing from, or different in, the live hive of the same name."""
    backups: list[RegBackAutostart] = ctx.of(RegBackAutostart)
    if not backups:
        return
    live_hives: set[str] = set()
    for recs in ctx.by_type.values():
        for r in recs:
            hive = _live_hive(r.source.bundle_path or "")
            if hive:
                live_hives.add(hive)
    live: dict[tuple[object, ...], set[str]] = {}
    for a in ctx.of(Autorun):
        if _live_hive(a.source.bundle_path or ""):
            live.setdefault(autostart_key(a.location, a.name, a.user, a.category), set()).add(a.command)
    for b in backups:
        now = live.get(autostart_key(b.location, b.name, b.autorun_user, b.category))
        if now is not None and _same(b.command) in {_same(c) for c in now}:
            continue
        have_live = b.hive.lower() in live_hives
        sev = "info" if not have_live else "low" if b.category in CHURNING else "medium"
        what = f"{b.category} '{_short(b.name, 60)}' at {_short(b.location, 120)}"
        if now is None:
            title = f"Autostart only in the RegBack copy of {b.hive}: {_short(b.name, 60)}"
            reason = (f"RegBack {b.hive} holds {what} running '{_short(b.command)}'; the live {b.hive} "
                      + ("does not (removed after the backup)" if have_live else "was not available to compare"))
        else:
            title = f"Autostart changed since the RegBack copy of {b.hive}: {_short(b.name, 60)}"
            reason = (f"RegBack {b.hive}: {what} ran '{_short(b.command)}'; the live hive now runs "
                      f"'{_short(' | '.join(sorted(now)))}'")
        yield _finding("regback_autostart_diff", sev, title, reason, b, b.last_write, ("T1547", "T1070"),
                       command=b.command, live_commands=sorted(now) if now else None, name=b.name,
                       location=b.location, hive=b.hive)


REGBACK_RULES: tuple[tuple[str, Rule], ...] = (("regback_autostart_diff", rule_regback_autostart_diff),)
