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

from triage.sigma.compile import COMMON_NAMES, name_text

__all__ = ["COMMON_NAMES", "in_names", "name_text"]


def in_names(literals: Iterable[str], text: str) -> set[str]:
    """The literals (lower-case JSON forms, as the pre-filter searches them) that occur in ``text``."""
    return {lit for lit in literals if lit in text}
