"""Literals the pre-filter would find in a record's field NAMES: dropped from it, their groups taken as seen.

The pre-filter searches a record's payload as the engine's JSON writes it (``"EventData":{"User":...``),
so a literal that is part of a field name ('user', 'process', 'command', 'originalfilename', 'time' of
``"UtcTime":``) occurs in every record that has that field, whatever its values: its group is
satisfied on each such record anyway and the literal only costs a Hyperscan call into Python per
record (on Sysmon process creation, ~1 in 5 of them). Dropping such a group from a rule's pre-filter
can only add candidates (the rule is still evaluated on the record, exactly), never lose one.

The names looked at are those the bucket's rules test plus the few that every Sysmon event carries
(Sysmon's schema: RuleName, UtcTime, ProcessGuid, ProcessId); a literal in the name of a field the
bucket's records lack makes its group a little weaker, nothing worse.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from triage.sigma.compile import fields

# Lower-case names in every Sysmon event's EventData (Sysmon's event schema).
COMMON_NAMES = frozenset({"rulename", "utctime", "processguid", "processid"})


def name_text(trees: Iterable[Any]) -> str:
    """The field names the rules of ``trees`` test (plus :data:`COMMON_NAMES`), each as the engine's
    JSON writes a name, lower-cased (``"commandline":``), joined by NUL (in no literal's JSON form)."""
    names: set[str] = set(COMMON_NAMES)
    for tree in trees:
        fields(tree, names)
    return "\x00".join(f'"{n}":' for n in sorted(names))


def in_names(literals: Iterable[str], text: str) -> set[str]:
    """The literals (lower-case JSON forms, as the pre-filter searches them) that occur in ``text``."""
    return {lit for lit in literals if lit in text}
