"""PowerShell 4104 script blocks: the parts of one script, which Windows logs as several records,
joined into one Event (the whole script is what YARA and the findings need).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from triage.model import Event
from triage.parsers.base import ParseInput
from triage.parsers.evtx import events as ee


@dataclass
class Script:
    """A PowerShell 4104 script block being reassembled from MessageNumber/MessageTotal parts."""

    script_block_id: str
    total: int
    first_record: int
    timestamp: datetime
    computer: str | None
    channel: str
    provider: str | None
    path: str | None = None
    parts: dict[int, str] = field(default_factory=dict)
    record_ids: list[int] = field(default_factory=list)


class ScriptBlocks:
    """Reassembles PowerShell 4104 script blocks of one log: a long script is logged as
    MessageTotal records sharing a ScriptBlockId, MessageNumber 1..N, each with a slice of the text.

    add() returns the one 'powershell_script' Event when the last missing part arrives; flush()
    returns the blocks still incomplete at the end of the log (parts rolled out or never written),
    flagged complete=False with the missing part numbers. Duplicate parts are ignored.
    """

    def __init__(self, item: ParseInput) -> None:
        self.item = item
        self.pending: dict[str, Script] = {}

    def add(self, values: dict[str, Any], rid: int, ts: datetime, computer: str | None, channel: str,
            provider: str | None) -> Event | None:
        sbid = ee.clean(ee.text(values.get("ScriptBlockId"))) or f"record-{rid}"
        number = ee.as_int(ee.text(values.get("MessageNumber"))) or 1
        total = max(ee.as_int(ee.text(values.get("MessageTotal"))) or 1, 1)
        part = ee.text(values.get("ScriptBlockText"))
        script = self.pending.get(sbid)
        if script is None:
            script = self.pending[sbid] = Script(sbid, total, rid, ts, computer, channel, provider)
        script.path = script.path or ee.clean(ee.text(values.get("Path")))
        if number not in script.parts:
            script.parts[number] = part if isinstance(part, str) else ""
            script.record_ids.append(rid)
            if rid < script.first_record:
                script.first_record, script.timestamp = rid, ts
        if len(script.parts) >= script.total:
            del self.pending[sbid]
            return self.event(script)
        return None

    def merge(self, other: Script) -> Event | None:
        """Fold in the parts of a block that a later window of the same log found (the windows are
        merged in file order, so this is what add() would have done record by record)."""
        script = self.pending.get(other.script_block_id)
        if script is None:
            script = self.pending[other.script_block_id] = other
        else:
            script.path = script.path or other.path
            for (number, part), rid in zip(other.parts.items(), other.record_ids, strict=False):
                if number not in script.parts:
                    script.parts[number] = part
                    script.record_ids.append(rid)
                    if rid < script.first_record and rid == other.first_record:
                        script.first_record, script.timestamp = rid, other.timestamp
        if len(script.parts) >= script.total:
            del self.pending[script.script_block_id]
            return self.event(script)
        return None

    def flush(self) -> list[Event]:
        out = [self.event(s) for s in self.pending.values()]
        self.pending.clear()
        return out

    def event(self, s: Script) -> Event:
        numbers = sorted(s.parts)
        missing = [n for n in range(1, s.total + 1) if n not in s.parts]
        complete = not missing
        text = "".join(s.parts[n] for n in numbers)
        fields = {"script_block_id": s.script_block_id, "script_block": text, "path": s.path,
                  "message_total": s.total, "parts_found": len(numbers), "complete": complete,
                  "missing_parts": missing[:100], "record_ids": sorted(s.record_ids)}
        preview = " ".join(text.split())[:100]
        state = "" if complete else f", {len(numbers)} of {s.total} parts found"
        desc = f"PowerShell script block {s.script_block_id} ({s.total} part{'s' * (s.total > 1)}{state}): {preview}"
        return Event(source=self.item.source(f"record {s.first_record}"), timestamp=s.timestamp, channel=s.channel,
                     provider=s.provider, event_id=ee.POWERSHELL_SCRIPT_EVENT, record_id=s.first_record,
                     computer=s.computer, category="powershell_script", description=desc, fields=fields)
