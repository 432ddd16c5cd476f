"""Scheduled tasks as the Task Scheduler caches them in SOFTWARE\\...\\Schedule\\TaskCache.

Why the registry copy matters: a task can be hidden from the Tasks folder and schtasks (its Tree key's
SD value deleted, or its XML removed) while the service still runs it from this cache. Each Tasks\\{GUID}
key becomes one Autorun; details say whether the Tree entry and its SD exist.

The binary ``Actions`` value is decoded with a bounded reader (layout as documented publicly, e.g. by
cyber.wtf's 'Windows Registry Analysis - Tasks' and the GhostTask research):
  u16 version; if version >= 2: u32 byte length + UTF-16LE principal id; then actions until the end,
  each u16 magic + (u32 length + UTF-16LE) id, then by magic:
  0x6666 exec: path, arguments, working directory strings (+ u16 flags when version >= 3);
  0x7777 COM handler: 16-byte CLSID + data string; 0x8888 e-mail; 0x9999 message box.
Anything that does not fit is reported as undecodable, never guessed.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from triage.model import Issue, Record
from triage.parsers.registry.autoruns import MAX_SUBKEYS, NTCV, Context
from triage.parsers.registry.taskcache_times import dynamic_info
from triage.parsers.registry.taskcache_trigger_decode import decode_triggers
from triage.parsers.registry.taskcache_triggers import trigger_summary
from triage.units import iso

MAX_TREE_DEPTH = 32
MAX_STRING_BYTES = 1 << 16


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def u16(self) -> int:
        if self.pos + 2 > len(self.data):
            raise ValueError("truncated u16")
        v = struct.unpack_from("<H", self.data, self.pos)[0]
        self.pos += 2
        return v

    def u32(self) -> int:
        if self.pos + 4 > len(self.data):
            raise ValueError("truncated u32")
        v = struct.unpack_from("<I", self.data, self.pos)[0]
        self.pos += 4
        return v

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise ValueError(f"length {n} runs past the end")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def string(self) -> str:
        n = self.u32()
        if n > MAX_STRING_BYTES:
            raise ValueError(f"string length {n} too large")
        return self.take(n).decode("utf-16-le", errors="replace").rstrip("\x00")

    def remaining(self) -> int:
        return len(self.data) - self.pos


def decode_actions(data: bytes) -> dict[str, Any]:
    """{'version', 'principal', 'actions': [{'type': 'exec', 'command', 'arguments', ...}]} or raises ValueError."""
    r = _Reader(data)
    version = r.u16()
    if version not in (1, 2, 3):
        raise ValueError(f"unknown Actions version {version}")
    principal = r.string() if version >= 2 else None
    actions: list[dict[str, Any]] = []
    while r.remaining() >= 2 and len(actions) < 64:
        magic = r.u16()
        action_id = r.string()
        if magic == 0x6666:
            act: dict[str, Any] = {"type": "exec", "id": action_id, "command": r.string(),
                                   "arguments": r.string(), "working_directory": r.string()}
            if version >= 3 and r.remaining() >= 2:
                act["flags"] = r.u16()
        elif magic == 0x7777:
            act = {"type": "com_handler", "id": action_id, "clsid": "{" + str(uuid.UUID(bytes_le=r.take(16))).upper() + "}",
                   "data": r.string()}
        elif magic == 0x8888:
            act = {"type": "email", "id": action_id}
            for f in ("from", "to", "cc", "bcc", "reply_to", "server", "subject", "body"):
                act[f] = r.string()
            n = r.u32()
            if n > 256:
                raise ValueError("too many e-mail attachments")
            act["attachments"] = [r.string() for _ in range(n)]
            n = r.u32()
            if n > 256:
                raise ValueError("too many e-mail headers")
            act["headers"] = {r.string(): r.string() for _ in range(n)}
        elif magic == 0x9999:
            act = {"type": "message_box", "id": action_id, "caption": r.string(), "content": r.string()}
        else:
            raise ValueError(f"unknown action magic 0x{magic:04x} at offset {r.pos - 2}")
        actions.append(act)
    return {"version": version, "principal": principal, "actions": actions}


def decode_dynamic_info(data: bytes) -> dict[str, Any]:
    """DynamicInfo (see registry_taskcache_times.py) with ISO-8601 UTC strings, for an autorun's details."""
    info = dynamic_info(data) or {}
    return {k: iso(v) if isinstance(v, datetime) else v for k, v in info.items() if v is not None}


def _tree(ctx: Context, key: Any, path: str, depth: int, out: dict[str, dict[str, Any]], budget: list[int]) -> None:
    """Walk TaskCache\\Tree (bounded depth and count): task GUID -> tree path, SD present, Index."""
    hive = ctx.hive
    for sub in hive.subkeys(key):
        budget[0] -= 1
        if budget[0] < 0 or depth > MAX_TREE_DEPTH:
            return
        sub_path = f"{path}\\{sub.name()}"
        vals = hive.value_map(sub)
        tid = vals.get("id")
        if isinstance(tid, str) and tid:
            out[tid.upper()] = {"tree_path": sub_path, "tree_sd_present": "sd" in vals and bool(vals["sd"]),
                                "tree_index": vals.get("index"), "tree_key": hive.path(sub)}
        else:
            _tree(ctx, sub, sub_path, depth + 1, out, budget)


def task_cache(ctx: Context) -> Iterator[Record | Issue]:
    hive = ctx.hive
    base = f"{NTCV}\\Schedule\\TaskCache"
    tasks = hive.key(f"{base}\\Tasks")
    if tasks is None:
        return
    tree: dict[str, dict[str, Any]] = {}
    tree_key = hive.key(f"{base}\\Tree")
    if tree_key is not None:
        _tree(ctx, tree_key, "", 0, tree, [MAX_SUBKEYS])
    for sub in hive.subkeys(tasks)[:MAX_SUBKEYS]:
        guid = sub.name()
        vals = hive.value_map(sub)
        tpath = vals.get("path") if isinstance(vals.get("path"), str) else None
        t = tree.get(guid.upper(), {})
        details: dict[str, Any] = {"task_id": guid, "task_path": tpath, "in_tree": bool(t), **t}
        for k in ("author", "description", "uri", "date", "source"):
            if isinstance(vals.get(k), str) and vals[k]:
                details[k] = vals[k]
        if isinstance(vals.get("dynamicinfo"), bytes):
            details["dynamic_info"] = decode_dynamic_info(vals["dynamicinfo"])
        if isinstance(vals.get("triggers"), bytes) and vals["triggers"]:
            details.update(trigger_summary(decode_triggers(vals["triggers"])))  # its Issue: task_cache_triggers
        command = ""
        raw = vals.get("actions")
        if isinstance(raw, bytes):
            try:
                dec = decode_actions(raw)
                details["actions"] = dec["actions"]
                details["principal"] = dec["principal"]
                execs = [a for a in dec["actions"] if a["type"] == "exec"]
                command = " ; ".join(" ".join(x for x in (a["command"], a["arguments"]) if x) for a in execs)
                com = [a for a in dec["actions"] if a["type"] == "com_handler"]
                if com:
                    details["com_handler_clsid"] = com[0]["clsid"]
            except (ValueError, struct.error) as exc:
                details["actions_error"] = str(exc)
                yield ctx.item.issue(f"task {tpath or guid}: Actions value not decodable ({exc})", severity="warning",
                                     locator=f"{hive.path(sub)}\\Actions")
        yield ctx.autorun(category="task", key=sub, name=tpath or t.get("tree_path") or guid, command=command,
                          value_name="Actions", details=details)
