"""Reading an event record's data: EventData/UserData flattened to name -> value, the clean values
(None for '-' and '', ints where Windows logs numbers as text, split hashes), and the few decoders the
typed-event tables share (scheduled-task commands, 'DOMAIN\\name' accounts).

Why apart from the tables (:mod:`triage.parsers.evtx.events`, :mod:`triage.parsers.evtx.event_types`): these
are the vocabulary every table and the full timeline use; the tables say which field lands where.
"""

from __future__ import annotations

import html
import re
from typing import Any


def text(value: Any) -> Any:
    """An EventData value as logged: an element with attributes renders as {'#text': ...}."""
    if isinstance(value, dict):
        return value.get("#text")
    return value


def event_data(event: dict[str, Any]) -> dict[str, Any]:
    """Flat name -> value map of a record's EventData and UserData (values may still be {'#text':..}).

    Named <Data Name=".."> values keep their names; unnamed classic values come as the list
    ``Data``; UserData (e.g. LogFileCleared, TerminalServices EventXML) is flattened one level down.
    """
    return payload_data(event.get("EventData"), event.get("UserData"))


def payload_data(ed: Any, ud: Any = None) -> dict[str, Any]:
    """event_data() from the EventData / UserData objects themselves."""
    if isinstance(ed, dict) and ud is None and "Data" not in ed and "#attributes" not in ed:
        return ed  # the common case (Security, Sysmon, most manifest providers): already flat
    out: dict[str, Any] = {}
    if isinstance(ed, dict):
        for k, v in ed.items():
            if k == "#attributes":
                continue
            v = text(v)
            if k == "Data" and not isinstance(v, list):
                v = [] if v is None else [v]
            out[k] = v
    elif isinstance(ed, str | list):
        out["Data"] = ed if isinstance(ed, list) else [ed]
    if isinstance(ud, dict):
        for child in ud.values():
            if isinstance(child, dict):
                for k, v in child.items():
                    if k != "#attributes":
                        out.setdefault(k, text(v))
    return out


def clean(value: Any) -> Any:
    """'-', '' and whitespace-only strings -> None; other strings stripped; anything else kept."""
    if isinstance(value, str):
        v = value.strip()
        return None if v in ("", "-") else v
    return value


def as_int(value: Any) -> int | None:
    """Decimal or 0x-hex text or int -> int; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        v = value.strip()
        try:
            return int(v, 16) if v.lower().startswith("0x") else int(v)
        except ValueError:
            return None
    return None


def split_hashes(value: Any) -> dict[str, str]:
    """Sysmon 'SHA1=..,MD5=..,SHA256=..,IMPHASH=..' -> {'sha1': .., 'md5': ..}."""
    out: dict[str, str] = {}
    if isinstance(value, str):
        for part in value.split(","):
            name, sep, digest = part.partition("=")
            if sep and digest.strip():
                out[name.strip().lower()] = digest.strip()
    return out


def key_values(blob: Any) -> dict[str, str]:
    """'\\tName=Value' lines of classic PowerShell 400/403/600/800 payloads -> dict (first wins)."""
    out: dict[str, str] = {}
    items = blob if isinstance(blob, list) else [blob]
    for item in items:
        if not isinstance(item, str):
            continue
        for line in item.splitlines():
            name, sep, value = line.strip().partition("=")
            if sep and name and " " not in name and name not in out:
                out[name] = value.strip()
    return out


_TASK_COMMAND = re.compile(r"<Command>(.*?)</Command>(?:\s*<Arguments>(.*?)</Arguments>)?", re.S)
_TASK_COM = re.compile(r"<ClassId>(.*?)</ClassId>", re.S)


def task_commands(task_xml: Any) -> list[str]:
    """Exec actions (Command + Arguments) and COM handlers of a task definition XML, unescaped.

    A regular expression rather than an XML parser: the XML is attacker-controlled and only these
    two elements matter; nothing is expanded or fetched.
    """
    if not isinstance(task_xml, str):
        return []
    cmds = [html.unescape(f"{c.strip()} {(a or '').strip()}".strip()) for c, a in _TASK_COMMAND.findall(task_xml)]
    cmds += [f"COM handler {html.unescape(c.strip())}" for c in _TASK_COM.findall(task_xml)]
    return cmds


def account(domain: Any, name: Any) -> str | None:
    """'DOMAIN\\name' (or just name) from two cleaned fields."""
    d, n = clean(domain), clean(name)
    if n is None:
        return None
    return f"{d}\\{n}" if d else n
