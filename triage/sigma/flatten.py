"""A decoded record (pyevtx-rs JSON) -> one flat mapping of field name -> text, as the rules read it.

``flatten(record)`` gives every field; ``flatten(record, keep)`` only the fields whose (display)
name ``keep`` accepts, and exactly what the whole mapping holds for them: the filter is applied to
each name where the whole mapping would set it, and whether a name is set (or overrides another
value) depends on that name alone. :mod:`triage.sigma.lean` uses that to decode only the fields a
bucket's rules test — most of a record's ~40 fields are never read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

try:
    import orjson
except ImportError:  # pragma: no cover - optional: json does the same, ~3x slower
    orjson = None  # type: ignore[assignment]  # optional module: None says it is absent

# System fields that EventData must not shadow (a 104's UserData has its own 'Channel').
SYSTEM_WINS = ("EventID", "Channel", "Provider_Name", "Computer", "EventRecordID", "TimeCreated", "Level",
               "Task", "Opcode", "Keywords", "Version", "Provider_Guid")

# display name -> kept (a dict subclass answers names it has not seen yet: triage.sigma.lean)
Keep = Mapping[str, bool]


def decode(data: str) -> Any:
    """A record's JSON text (the engine's) -> the decoded record; raises ValueError if it is not JSON.

    orjson when installed: ~3.5 us instead of ~11.5 us for a 1.2 KiB record, and every record the
    pre-filter passes is decoded. It gives what json gives for every text the engine writes: the
    engine's numbers come from fixed-width binary values — integers within 64 bits, which orjson
    keeps exact (it would turn a wider one into a float; the engine cannot write one), doubles
    written shortest-round-trip, which both read as the same double — and its strings are valid
    UTF-8. A text orjson refuses (NaN, a lone surrogate escape, not JSON) goes to json, which
    decides."""
    if orjson is not None:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return json.loads(data)


def text(v: Any) -> str | None:
    """A JSON value as the text a rule compares (lists joined by newlines, objects as JSON)."""
    if v is None:
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return str(v)
    if isinstance(v, dict):
        if "#text" in v:
            return text(v["#text"])
        return json.dumps(v, ensure_ascii=False, sort_keys=True)
    if isinstance(v, list):
        return "\n".join(t for t in (text(x) for x in v) if t is not None)
    return str(v)


def flatten(record: dict[str, Any], keep: Keep | None = None) -> dict[str, str | None]:
    """pyevtx-rs JSON ``{"Event": {"System": .., "EventData"/"UserData": ..}}`` -> field name -> text
    (only the names ``keep`` accepts, when given).

    Names are kept as logged (display) here; :func:`triage.sigma.engine.event` lower-cases them."""
    ev = record.get("Event", record) if isinstance(record, dict) else {}
    system = ev.get("System") or {}
    out: dict[str, str | None] = {}
    for part in ("EventData", "UserData"):
        data = ev.get(part)
        if isinstance(data, dict):
            _payload(data, out, part == "UserData", keep)
        elif data is not None and (keep is None or keep["Data"]):
            out["Data"] = text(data)
    sysf: dict[str, str | None] = {}
    for k, v in system.items():
        if isinstance(v, dict) and "#attributes" in v and isinstance(v["#attributes"], dict):
            attrs = v["#attributes"]
            if k == "EventID":
                if keep is None or keep[k]:
                    sysf["EventID"] = text(v.get("#text"))
                continue
            if k == "TimeCreated":
                if keep is None or keep[k]:
                    sysf["TimeCreated"] = text(attrs.get("SystemTime"))
                continue
            for ak, av in attrs.items():
                name = f"{k}_{ak}" if k == "Provider" else ak
                if keep is None or keep[name]:
                    sysf[name] = text(av)
            if "#text" in v and (keep is None or keep[k]):
                sysf[k] = text(v["#text"])
        elif keep is None or keep[k]:
            sysf[k] = text(v)
    for k, value in sysf.items():
        if k in SYSTEM_WINS or k not in out:
            out[k] = value
    return out


def _payload(data: dict[str, Any], out: dict[str, str | None], user: bool, keep: Keep | None) -> None:
    for k, v in data.items():
        if type(v) is str:  # most values: no call to text()
            if k != "#attributes" and (keep is None or keep[k]):
                out[k] = v
            continue
        if k == "#attributes":
            continue
        if user and isinstance(v, dict) and "#text" not in v:
            for k2, v2 in v.items():  # UserData is one element holding the fields
                if k2 != "#attributes" and (keep is None or keep[k2]):
                    out.setdefault(k2, v2 if type(v2) is str else text(v2))
            continue
        if keep is None or keep[k]:
            out[k] = text(v)
