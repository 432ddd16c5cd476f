"""WMI event-consumer persistence in the CIM repository (``Windows\\System32\\wbem\\Repository\\OBJECTS.DATA``).

Why: a permanent WMI subscription (an ``__EventFilter`` bound by a ``__FilterToConsumerBinding`` to a
``CommandLineEventConsumer`` or ``ActiveScriptEventConsumer``) runs attacker code on an event (boot,
logon, a timer) with no file in any autostart location; the repository is the only place it lives.

What this is, plainly: a careful, BOUNDED BYTE SCAN, not a parser of the repository's page/B-tree
structure. OBJECTS.DATA is read in 1 MiB chunks (with overlap, so a record split across chunks is
still seen); at every occurrence of a consumer class name as stored in an instance record (ASCII,
and UTF-16LE) the next ``WINDOW`` bytes are cut into printable strings. Class *definitions* also
contain these names, followed by property names (``CommandLineTemplate``, ``ScriptText``...) and
no values; a hit becomes a record only when the window holds a value that looks like a command or a
script (an executable/script extension, a shell or script host name, a URL). Bindings are scanned
the same way for the consumer and filter names they reference. The scan can miss an instance whose
strings are split across repository pages and can mis-attribute neighbouring strings; each record
says so by carrying the raw strings and the byte offset, for an analyst to check with a full parser.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import ClassVar

from triage.model import ArtifactRecord, Issue, Record
from triage.parsers.base import ParseInput, Parser

CHUNK = 1 << 20
WINDOW = 4096
MAX_BYTES = 2 << 30
MAX_HITS = 1000
MAX_STRINGS = 24
CONSUMERS = ("CommandLineEventConsumer", "ActiveScriptEventConsumer")
BINDING = "__FilterToConsumerBinding"
_ASCII_STR = re.compile(rb"[\x20-\x7e]{4,2048}")
_UTF16_STR = re.compile(rb"(?:[\x20-\x7e]\x00){4,2048}")
_COMMANDISH = re.compile(
    r"\.(?:exe|dll|bat|cmd|ps1|vbs|vbe|js|jse|hta|wsf|scr)\b|powershell|pwsh|cmd(?:\.exe)?\s+/|cscript|wscript|"
    r"mshta|rundll32|regsvr32|https?://|createobject\(|wscript\.shell|\bexec\b", re.IGNORECASE)
# property names of the consumer and binding classes: never values
_SCHEMA_WORDS = {"CommandLineTemplate", "ExecutablePath", "WorkingDirectory", "ScriptText", "ScriptFileName",
                 "ScriptingEngine", "KillTimeout", "RunInteractively", "CreatorSID", "MachineName", "Consumer",
                 "Filter", "Name", "DesktopName", "WindowTitle", "__EventConsumer", "__EventFilter",
                 "DeliverSynchronously", "MaintainSecurityContext", "SlowDownProviders", "Query", "QueryLanguage",
                 "EventNamespace"}
KNOWN_BENIGN = re.compile(r"BVTConsumer|KernCap\.vbs|SCM Event Log Consumer", re.IGNORECASE)


@dataclass(frozen=True, slots=True, kw_only=True)
class WmiPersistence(ArtifactRecord):
    """One WMI consumer instance or filter-to-consumer binding found by the scan.

    kind: 'CommandLineEventConsumer', 'ActiveScriptEventConsumer' or '__FilterToConsumerBinding';
    command: the first command- or script-looking value in the window; strings: the window's strings."""

    record_type: ClassVar[str] = "windows/wmi/persistence"
    artifact: ClassVar[str] = "wmi_persistence"
    title: ClassVar[str] = "WMI event consumers (repository scan)"
    description: ClassVar[str] = (
        "Command-line / script consumers and filter-to-consumer bindings found by a bounded string scan of "
        "the WMI repository (OBJECTS.DATA), with the byte offset and the strings around each hit. Proves the "
        "repository holds such an instance; the scan is heuristic (no page/B-tree parsing) and has no times.")
    columns: ClassVar[tuple[tuple[str, str], ...]] = (
        ("kind", "Kind"), ("command", "Command / script"), ("strings", "Strings near the hit"), ("offset", "Offset"))

    kind: str
    offset: int
    command: str | None
    known_benign: bool
    strings: tuple[str, ...] = ()

    def message(self) -> str:
        return f"WMI {self.kind}: {self.command or ', '.join(self.strings[:4])}"


def window_strings(window: bytes) -> list[str]:
    """Printable ASCII and UTF-16LE strings of a window, in order of appearance, de-duplicated."""
    found = [(m.start(), m.group().decode("ascii")) for m in _ASCII_STR.finditer(window)]
    found += [(m.start(), m.group().decode("utf-16-le")) for m in _UTF16_STR.finditer(window)]
    out: list[str] = []
    for _pos, s in sorted(found):
        s = s.strip()
        if len(s) >= 4 and s not in out:
            out.append(s)
        if len(out) >= MAX_STRINGS:
            break
    return out


def _needles() -> list[tuple[bytes, str]]:
    out = []
    for name in (*CONSUMERS, BINDING):
        out.append((name.encode("ascii"), name))
        out.append((name.encode("utf-16-le"), name))
    return out


def scan(read: Callable[[int], bytes],
         limit: int = MAX_BYTES) -> tuple[list[tuple[str, int, list[str]]], str | None]:
    """(kind, absolute offset, strings after the class name) for each hit; ``read(n)`` streams the file."""
    needles = _needles()
    overlap = WINDOW + max(len(n) for n, _ in needles)
    hits: list[tuple[str, int, list[str]]] = []
    seen: set[int] = set()
    buf, base, total = b"", 0, 0
    while True:
        chunk = read(CHUNK)
        total += len(chunk)
        buf += chunk
        final = not chunk or total >= limit
        scan_to = len(buf) if final else max(0, len(buf) - overlap)
        for needle, kind in needles:
            start = 0
            while len(hits) < MAX_HITS:
                at = buf.find(needle, start, scan_to + len(needle))
                if at < 0 or at >= scan_to:
                    break
                start = at + 1
                if base + at in seen:
                    continue
                seen.add(base + at)
                strings = window_strings(buf[at + len(needle):at + len(needle) + WINDOW])
                hits.append((kind, base + at, strings))
        if len(hits) >= MAX_HITS:
            return hits, f"more than {MAX_HITS} class-name hits: scan stopped"
        if final:
            return hits, (f"file larger than {limit} bytes: scanned the first {limit}" if chunk else None)
        buf, base = buf[scan_to:], base + scan_to


def _value_strings(strings: list[str]) -> list[str]:
    return [s for s in strings if s not in _SCHEMA_WORDS and not s.startswith("__")]


class WmiRepositoryParser(Parser):
    """Consumer instances and bindings in OBJECTS.DATA (INDEX.BTR and MAPPING*.MAP are collected only)."""

    name = "wmi_repository"
    patterns = ("windows/system32/wbem/repository/objects.data", "windows/system32/wbem/repository/*/objects.data")

    def parse(self, item: ParseInput) -> Iterator[Record | Issue]:
        try:
            with item.open() as f:
                hits, problem = scan(f.read, int(item.options.get("max_wmi_bytes", MAX_BYTES)))
        except OSError as exc:
            yield item.issue(f"OBJECTS.DATA unreadable: {exc}")
            return
        if problem:
            yield item.issue(f"WMI repository scan: {problem}", "warning")
        for kind, offset, strings in sorted(hits, key=lambda h: h[1]):
            values = _value_strings(strings)
            if kind == BINDING:
                refs = [s for s in strings if ("EventConsumer" in s or "EventFilter" in s) and "=" in s]
                if not refs:
                    continue
                yield WmiPersistence(source=item.source(f"offset {offset}"), kind=kind, offset=offset,
                                     command=None, known_benign=any(KNOWN_BENIGN.search(s) for s in refs),
                                     strings=tuple(refs[:MAX_STRINGS]))
                continue
            command = next((s for s in values if _COMMANDISH.search(s)), None)
            if command is None:
                continue  # a class definition or an instance without a command-like value
            yield WmiPersistence(source=item.source(f"offset {offset}"), kind=kind, offset=offset,
                                 command=command[:2048],
                                 known_benign=any(KNOWN_BENIGN.search(s) for s in values),
                                 strings=tuple(values[:MAX_STRINGS]))
