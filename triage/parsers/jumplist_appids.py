"""Well-known JumpList AppIDs -> application names (facts, not code).

Why a table: a ``*Destinations-ms`` file is named after the AppID Windows derives (a CRC-64 of the
application's path or of its explicit AppUserModelID), so the file name alone does not say which
program's jump list it is. Only IDs that are stable across installs and widely documented by DFIR
references are listed; anything else stays unnamed (``app_name`` null) rather than guessed.
"""

from __future__ import annotations

KNOWN_APPIDS: dict[str, str] = {
    "1b4dd67f29cb1962": "Windows Explorer (pinned and recent, Windows 7)",
    "f01b4d95cf55d32a": "Windows Explorer (Windows 8.1 / 10 / 11)",
    "5f7b5f1e01b83767": "Windows Explorer Quick Access (Windows 10 / 11)",
    "7e4dca80246863e3": "Control Panel",
    "9b9cdc69c1c24e2b": "Notepad (64-bit)",
    "918e0ecb43d17e23": "Notepad (32-bit)",
    "12dc1ea8e34b5a6": "Microsoft Paint",
    "1bc392b8e104a00e": "Remote Desktop Connection (mstsc.exe)",
    "5d696d521de238c3": "Google Chrome",
    "28c8b86deab549a1": "Internet Explorer 8-11",
    "590aee7bdd69b59b": "Windows PowerShell (Windows 10)",
}


def app_name(app_id: str) -> str | None:
    return KNOWN_APPIDS.get(app_id.lower())
