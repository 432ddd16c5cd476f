"""The 'task_xml' parser: scheduled-task definitions in Windows\\System32\\Tasks (Task Scheduler 2.0 XML).

Each Exec action becomes one Autorun(category='task') whose command is the program plus its arguments;
a task with only COM-handler actions becomes one Autorun with an empty command and the handler CLSID
in details. Details carry what an analyst triages a task by: author, triggers, run level, user id,
hidden flag, enabled flag, registration date, URI.

The files come off a suspect host: they are read with a size cap, decoded by their BOM (Windows writes
UTF-16LE with a BOM), and any DOCTYPE/ENTITY declaration is refused before parsing, so no entity
expansion or external resolution can happen (the defusedxml rule, without the dependency).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from triage.model import Autorun, Issue, Record
from triage.parsers.base import ParseInput, Parser

DEFAULT_MAX_TASK_BYTES = 1 << 20
MAX_TRIGGERS = 64
_DECL = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)
_TASKS_DIR = re.compile(r"windows/(?:system32|syswow64)/tasks/", re.IGNORECASE)
_DTD = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


def decode_xml_bytes(data: bytes) -> str:
    """Text of an XML file by its BOM; UTF-16 without BOM is recognised by its NUL bytes."""
    if data.startswith(b"\xff\xfe"):
        return data[2:].decode("utf-16-le", errors="replace")
    if data.startswith(b"\xfe\xff"):
        return data[2:].decode("utf-16-be", errors="replace")
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    if len(data) >= 2 and data[0] != 0 and data[1] == 0:
        return data.decode("utf-16-le", errors="replace")
    if len(data) >= 2 and data[0] == 0 and data[1] != 0:
        return data.decode("utf-16-be", errors="replace")
    return data.decode("utf-8", errors="replace")


def safe_parse_xml(text: str) -> ET.Element:
    """Parse untrusted XML text: refuses DTDs (hence entities), drops the encoding declaration that no
    longer applies to already-decoded text. Raises ValueError / ET.ParseError."""
    if _DTD.search(text):
        raise ValueError("XML with a DOCTYPE or ENTITY declaration refused (hostile-input rule)")
    return ET.fromstring(_DECL.sub("", text, count=1))


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(el: ET.Element | None, name: str) -> ET.Element | None:
    if el is None:
        return None
    for c in el:
        if _local(c.tag) == name:
            return c
    return None


def _text(el: ET.Element | None, *path: str) -> str | None:
    for name in path:
        el = _child(el, name)
    if el is None or el.text is None:
        return None
    return el.text.strip()


def _bool(value: str | None) -> bool | None:
    return None if value is None else value.strip().lower() in ("true", "1")


def _flat(el: ET.Element, depth: int = 0) -> dict[str, Any]:
    """A trigger element as a small dict: simple children by name, nested ones one level down."""
    out: dict[str, Any] = {}
    for c in list(el)[:32]:
        name = _local(c.tag)
        if len(c) and depth < 2:
            out[name] = _flat(c, depth + 1)
        elif c.text and c.text.strip():
            out[name] = c.text.strip()[:1024]
    return out


def parse_task_xml(root: ET.Element) -> dict[str, Any]:
    """The fields triage needs from a <Task> element."""
    if _local(root.tag) != "Task":
        raise ValueError(f"root element is <{_local(root.tag)}>, not <Task>")
    reg = _child(root, "RegistrationInfo")
    principals = _child(root, "Principals")
    principal = principals[0] if principals is not None and len(principals) else None
    settings = _child(root, "Settings")
    triggers = [{"type": _local(t.tag), **_flat(t)} for t in list(_child(root, "Triggers") or [])[:MAX_TRIGGERS]]
    actions = []
    for a in list(_child(root, "Actions") or [])[:64]:
        kind = _local(a.tag)
        if kind == "Exec":
            actions.append({"type": "exec", "command": _text(a, "Command") or "", "arguments": _text(a, "Arguments"),
                            "working_directory": _text(a, "WorkingDirectory")})
        elif kind == "ComHandler":
            actions.append({"type": "com_handler", "clsid": _text(a, "ClassId"), "data": _text(a, "Data")})
        else:
            actions.append({"type": kind, **_flat(a)})
    return {
        "author": _text(reg, "Author"), "description": _text(reg, "Description"), "uri": _text(reg, "URI"),
        "registration_date": _text(reg, "Date"), "source": _text(reg, "Source"),
        "user_id": _text(principal, "UserId"), "group_id": _text(principal, "GroupId"),
        "run_level": _text(principal, "RunLevel"), "logon_type": _text(principal, "LogonType"),
        "hidden": _bool(_text(settings, "Hidden")), "enabled": _bool(_text(settings, "Enabled")),
        "triggers": triggers, "actions": actions,
        "actions_context": actions_el.get("Context") if (actions_el := _child(root, "Actions")) is not None else None,
    }


def manifest_time(item: ParseInput, which: str = "modified") -> datetime | None:
    """A manifest time (ISO-8601 string) as an aware UTC datetime, None if absent or malformed."""
    value = (item.entry.times or {}).get(which)
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt.astimezone(UTC) if dt.tzinfo else dt.replace(tzinfo=UTC)


def windows_path(item: ParseInput) -> str:
    """'C:\\Windows\\System32\\Tasks\\X' from the entry's volume and the path inside it."""
    return f"{item.entry.volume or 'C'}:\\" + item.rel_path.replace("/", "\\")


class TaskXmlParser(Parser):
    name = "task_xml"
    patterns = ("windows/system32/tasks/*", "windows/syswow64/tasks/*")

    @classmethod
    def matches(cls, rel_path: str) -> bool:
        return super().matches(rel_path) and not rel_path.lower().endswith(".job")  # job_files.py reads those

    def parse(self, item: ParseInput) -> Iterator[Record | Issue]:
        cap = int((item.options or {}).get("max_task_bytes", DEFAULT_MAX_TASK_BYTES))
        try:
            with item.open() as f:
                data = f.read(cap + 1)
        except OSError as exc:
            yield item.issue(f"cannot read task file: {exc}")
            return
        if len(data) > cap:
            yield item.issue(f"task file larger than {cap} bytes: not parsed", severity="warning")
            return
        if not data.strip(b"\x00 \r\n\t\xff\xfe"):
            yield item.issue("empty task file", severity="warning")
            return
        try:
            task = parse_task_xml(safe_parse_xml(decode_xml_bytes(data)))
        except (ET.ParseError, ValueError) as exc:
            yield item.issue(f"not a readable task XML: {exc}")
            return
        location = windows_path(item)
        m = _TASKS_DIR.search(item.rel_path)
        name = "\\" + item.rel_path[m.end():].replace("/", "\\") if m else location
        details = {k: v for k, v in task.items() if k != "actions" and v not in (None, [], "")}
        com = [a for a in task["actions"] if a["type"] == "com_handler"]
        if com:
            details["com_handler_clsid"] = com[0]["clsid"]
            details["com_handler_data"] = com[0]["data"]
        details["actions"] = task["actions"]
        execs = [a for a in task["actions"] if a["type"] == "exec"]
        common = dict(category="task", location=location, name=name, user=task["user_id"],
                      last_write=manifest_time(item))
        if not execs:
            yield Autorun(source=item.source(f"{location} Actions"), command="", details=details, **common)
        for i, a in enumerate(execs):
            command = " ".join(x for x in (a["command"], a["arguments"]) if x)
            yield Autorun(source=item.source(f"{location} Actions/Exec[{i + 1}]"), command=command,
                          details={**details, "action_index": i + 1, "working_directory": a["working_directory"]},
                          **common)
