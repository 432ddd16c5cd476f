"""The 'startup_folder' parser: files in a user's or the common Startup folder run at logon.

Every file there is one Autorun(category='startup_folder'): for a .lnk shortcut the command is its
target plus arguments (read with the project's one LNK reader, lnk.read_link), for anything else (.bat, .vbs,
.exe, .url...) the command is the file itself. desktop.ini (folder display settings) starts nothing and
is skipped. last_write is the file's modification time from the manifest entry.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from triage.model import Autorun, Issue, Record
from triage.parsers.base import ParseInput, Parser
from triage.parsers.lnk import LnkError, read_link
from triage.parsers.tasks import manifest_time, windows_path
from triage.units import iso

DEFAULT_MAX_LNK_BYTES = 1 << 20
_USER = re.compile(r"^(?:users|documents and settings)/([^/]+)/", re.IGNORECASE)
_COMMON = re.compile(r"^(?:programdata|documents and settings/all users)/", re.IGNORECASE)


class StartupFolderParser(Parser):
    name = "startup_folder"
    patterns = (
        "users/*/appdata/roaming/microsoft/windows/start menu/programs/startup/*",
        "programdata/microsoft/windows/start menu/programs/startup/*",
        "documents and settings/*/start menu/programs/startup/*",
    )

    def parse(self, item: ParseInput) -> Iterator[Record | Issue]:
        fname = item.rel_path.rsplit("/", 1)[-1]
        if fname.lower() == "desktop.ini":
            return
        file_path = windows_path(item)
        location = file_path.rsplit("\\", 1)[0]
        common = bool(_COMMON.match(item.rel_path))
        m = _USER.match(item.rel_path)
        user = item.user or (m.group(1) if m and not common else None)
        details: dict = {"scope": "all_users" if common else "user", "file_path": file_path}
        command = file_path
        if fname.lower().endswith(".lnk"):
            cap = int((item.options or {}).get("max_lnk_bytes", DEFAULT_MAX_LNK_BYTES))
            try:
                with item.open() as f:
                    data = f.read(cap + 1)
            except OSError as exc:
                yield item.issue(f"cannot read shortcut: {exc}")
                return
            if len(data) > cap:
                yield item.issue(f"shortcut larger than {cap} bytes: target not read", severity="warning")
            else:
                try:
                    link = read_link(data)
                except LnkError as exc:
                    yield item.issue(f"not a readable shortcut: {exc}", severity="warning")
                    link = None
                if link is not None:
                    for w in link.warnings:
                        yield item.issue(f"shortcut partly unreadable: {w}", severity="warning")
                    command = " ".join(x for x in (link.target, link.arguments) if x) or file_path
                    details.update({k: v for k, v in {
                        "lnk_target": link.target, "lnk_arguments": link.arguments,
                        "lnk_working_dir": link.working_dir, "lnk_description": link.description,
                        "lnk_network_path": link.network_path, "lnk_machine_id": link.machine_id,
                        "lnk_relative_path": link.relative_path, "lnk_icon_location": link.icon_location,
                        "lnk_env_target": link.env_target, "lnk_show_command": link.show_command,
                        "lnk_target_created": iso(link.target_created),
                        "lnk_target_modified": iso(link.target_modified),
                        "lnk_target_accessed": iso(link.target_accessed),
                        "lnk_target_size": link.target_size}.items() if v not in (None, "")})
        yield Autorun(source=item.source(file_path), category="startup_folder", location=location, name=fname,
                      command=command, user=user, last_write=manifest_time(item), details=details)
