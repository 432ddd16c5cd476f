"""Which artifact modules run on which hive kind: the one table a new registry artifact is added to
(the autostart locations of registry_asep.py run from here too, for the same guard).

Why a table and a guard: each artifact (ShimCache, BAM, UserAssist...) is one module with one emitter
``parse_<name>(ctx)``; the registry parser calls every emitter listed for the hive's kind. A bug or a
damaged key that makes one emitter raise costs that artifact only (an Issue naming it), never the host's
other artifacts or the autostarts read from the same hive. See docs/adding-an-artifact.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from triage.model import Issue, Record
from triage.parsers.registry.asep import (
    parse_ntuser_aseps,
    parse_software_aseps,
    parse_system_aseps,
    parse_usrclass_aseps,
)
from triage.parsers.registry.autoruns import Context
from triage.parsers.registry.bam import parse_bam
from triage.parsers.registry.mru import parse_recentdocs, parse_runmru, parse_typedpaths
from triage.parsers.registry.muicache import parse_muicache
from triage.parsers.registry.networklist import parse_networklist
from triage.parsers.registry.shellbags import parse_shellbags
from triage.parsers.registry.shimcache import parse_shimcache
from triage.parsers.registry.taskcache_times import parse_task_cache_times
from triage.parsers.registry.taskcache_triggers import parse_task_cache_triggers
from triage.parsers.registry.usb import parse_mountpoints2, parse_usb
from triage.parsers.registry.userassist import parse_userassist

Emitter = Callable[[Context], Iterator[Record | Issue]]

SYSTEM_EMITTERS: tuple[tuple[str, Emitter], ...] = (
    ("shimcache", parse_shimcache),
    ("bam", parse_bam),
    ("usb_devices", parse_usb),
    ("autostarts", parse_system_aseps),
)
SOFTWARE_EMITTERS: tuple[tuple[str, Emitter], ...] = (
    ("network_profiles", parse_networklist),
    ("task_cache_times", parse_task_cache_times),
    ("task_cache_triggers", parse_task_cache_triggers),
    ("autostarts", parse_software_aseps),
)
NTUSER_EMITTERS: tuple[tuple[str, Emitter], ...] = (
    ("userassist", parse_userassist),
    ("recentdocs", parse_recentdocs),
    ("runmru", parse_runmru),
    ("typedpaths", parse_typedpaths),
    ("mountpoints2", parse_mountpoints2),
    ("muicache", parse_muicache),  # XP keeps it in NTUSER.DAT
    ("shellbags", parse_shellbags),  # XP, and Desktop / network views on later versions
    ("autostarts", parse_ntuser_aseps),
)
USRCLASS_EMITTERS: tuple[tuple[str, Emitter], ...] = (
    ("muicache", parse_muicache),
    ("shellbags", parse_shellbags),
    ("autostarts", parse_usrclass_aseps),
)


def _guarded(ctx: Context, emitters: tuple[tuple[str, Emitter], ...]) -> Iterator[Record | Issue]:
    for name, emit in emitters:
        try:
            yield from emit(ctx)
        except Exception as exc:  # one artifact's failure is reported, the others still run
            yield ctx.item.issue(f"{name}: stopped early: {type(exc).__name__}: {exc}", locator=ctx.hive.root_name)


def system_artifacts(ctx: Context) -> Iterator[Record | Issue]:
    yield from _guarded(ctx, SYSTEM_EMITTERS)


def software_artifacts(ctx: Context) -> Iterator[Record | Issue]:
    yield from _guarded(ctx, SOFTWARE_EMITTERS)


def user_artifacts(ctx: Context) -> Iterator[Record | Issue]:
    yield from _guarded(ctx, NTUSER_EMITTERS)


def usrclass_artifacts(ctx: Context) -> Iterator[Record | Issue]:
    yield from _guarded(ctx, USRCLASS_EMITTERS)
