"""One YARA rule matching one scanned buffer (:class:`YaraHit`), and how severe it counts.

Why hives are special: a raw registry hive is a heap of UTF-16 names and values of every installed
component, live or deleted, without the key that gives a string its meaning, so a rule's text can sit
there harmlessly. A raw-file hit in a hive or hive log (a Windows hive's name *and* the ``regf`` magic:
:func:`is_hive`) is marked ``hive=True`` and, unless confirmed by a decoded value of the same hive,
counts :data:`SEVERITY_STEPS_IN_HIVE` severities lower (:func:`lowered`). See :mod:`triage.scan.yara`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from triage.model import Source
from triage.scan.lint import SEVERITIES

PREVIEW_BYTES = 64
# File names Windows gives its registry hives (System32\config, RegBack, user profiles, Amcache...).
# Both the name and the "regf" magic must say hive before a hit's severity is lowered: a web script
# renamed SYSTEM or one that starts with "regf" keeps its severity (neither alone makes a hive).
HIVE_NAMES = frozenset({"system", "software", "sam", "security", "default", "components", "drivers",
                        "elam", "bbi", "bcd", "bcd-template", "userdiff", "ntuser.dat", "usrclass.dat",
                        "amcache.hve", "syscache.hve"})
HIVE_MAGIC = b"regf"
_HIVE_LOG = re.compile(r"\.log[12]?$", re.IGNORECASE)
SEVERITY_STEPS_IN_HIVE = 2               # unconfirmed raw-hive hits count this many severities lower



def hive_of(bundle_path: str) -> str | None:
    """The hive a path names (itself, or the hive whose transaction log it is), by file name only;
    None when the name is not one of :data:`HIVE_NAMES`."""
    base = _HIVE_LOG.sub("", bundle_path)
    name = base.rsplit("/", 1)[-1].rsplit("\\", 1)[-1].lower()
    return base if name in HIVE_NAMES else None


def is_hive(bundle_path: str, head: bytes) -> bool:
    """Whether a file is a registry hive or hive log: a hive's name and the regf magic in its first
    bytes (transaction logs of both formats start with a copy of the hive's base block)."""
    return head[:4] == HIVE_MAGIC and hive_of(bundle_path) is not None


def lowered(severity: str, steps: int = SEVERITY_STEPS_IN_HIVE) -> str:
    """A severity ``steps`` levels lower, never below 'low' ('info' stays 'info')."""
    if severity == "info" or severity not in SEVERITIES:
        return severity
    return SEVERITIES[min(SEVERITIES.index(severity) + steps, SEVERITIES.index("low"))]


@dataclass(frozen=True, slots=True, kw_only=True)
class YaraHit:
    """One rule matching one scanned buffer.

    source: the bundle member (and, for decoded content, the record's locator) that matched.
    target: 'file' (the member's bytes) or 'decoded' (text a parser decoded, or a decompressed file).
    artifact / field: for decoded content, the record type and the field scanned, e.g.
      ('windows/evtx/event', 'script_block').
    strings: (identifier, offset in the scanned buffer, preview of the matched bytes), at most
      MAX_STRINGS_PER_HIT; strings_truncated says whether more were left out.
    when: the record's time when the decoded content has one (UTC), else None.
    hive: a raw-file hit inside a registry hive or hive log (:func:`is_hive`).
    confirmed: for a hive hit, whether a decoded value of the same hive matched the same rule
      (:func:`settle_hive_hits`); an unconfirmed hive hit counts :data:`SEVERITY_STEPS_IN_HIVE`
      severities lower than its rule says.
    process: for a hit in volatile/processes.json (or connections.json), the pid, name and image of
      the process whose entry matched (:func:`triage.scan.yara_process.attribute`).
    """

    rule: str
    namespace: str
    tags: tuple[str, ...]
    meta: dict[str, Any]
    source: Source
    target: str
    strings: tuple[tuple[str, int, str], ...] = ()
    strings_truncated: bool = False
    artifact: str | None = None
    field: str | None = None
    when: datetime | None = None
    hive: bool = False
    confirmed: bool = False
    process: dict[str, Any] | None = None  # a hit on volatile data: the process it matched (yara_process)

    @property
    def rule_severity(self) -> str:
        """The severity the rule's meta gives ('medium' when it gives none or an unknown one)."""
        sev = str(self.meta.get("severity", "")).lower()
        return sev if sev in SEVERITIES else "medium"

    @property
    def severity(self) -> str:
        """The severity this hit counts with: the rule's, lowered for an unconfirmed hive hit."""
        sev = self.rule_severity
        return lowered(sev) if self.hive and not self.confirmed else sev

    def to_dict(self) -> dict[str, Any]:
        from triage.units import iso

        return {
            "rule": self.rule,
            "namespace": self.namespace,
            "tags": list(self.tags),
            "meta": dict(self.meta),
            "where": self.source.to_dict(),
            "target": self.target,
            "artifact": self.artifact,
            "field": self.field,
            "when": iso(self.when),
            "strings": [{"identifier": i, "offset": o, "data": d} for i, o, d in self.strings],
            "strings_truncated": self.strings_truncated,
            "severity": self.severity,
            "hive": self.hive,
            "confirmed": self.confirmed,
            "process": self.process,
        }


def preview(data: bytes) -> str:
    """Readable preview of matched bytes: UTF-16LE text shown as text, others with \\x escapes."""
    cut = data[:PREVIEW_BYTES]
    if len(cut) >= 4 and len(cut) % 2 == 0 and not any(cut[1::2]):
        text = cut.decode("utf-16-le", "backslashreplace")
    else:
        text = cut.decode("latin-1")
    text = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in text)
    return text + ("..." if len(data) > PREVIEW_BYTES else "")
