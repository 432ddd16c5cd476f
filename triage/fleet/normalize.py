"""Normalising commands, paths and domains so that the same item stacks on every host.

Why: one autorun appears as ``"%ProgramFiles%\\X\\x.exe" /bg`` on one host and
``C:\\Program Files\\X\\x.exe /bg`` on another; a per-user Run value carries the user name in its
path; prefetch stores ``\\VOLUME{...}\\WINDOWS\\...``. Least-frequency stacking is only useful once
these spellings count as one item. Normalisation is deliberately conservative (case, quotes,
well-known environment variables, device prefixes, user profile names) and the raw value is always
kept beside the normalised one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from urllib.parse import urlsplit

_ENV = {
    "%systemroot%": "c:\\windows",
    "%windir%": "c:\\windows",
    "%systemdrive%": "c:",
    "%programfiles%": "c:\\program files",
    "%programfiles(x86)%": "c:\\program files (x86)",
    "%programw6432%": "c:\\program files",
    "%commonprogramfiles%": "c:\\program files\\common files",
    "%commonprogramfiles(x86)%": "c:\\program files (x86)\\common files",
    "%programdata%": "c:\\programdata",
    "%allusersprofile%": "c:\\programdata",
    "%public%": "c:\\users\\public",
    "%userprofile%": "c:\\users\\%user%",
    "%appdata%": "c:\\users\\%user%\\appdata\\roaming",
    "%localappdata%": "c:\\users\\%user%\\appdata\\local",
    "%temp%": "c:\\users\\%user%\\appdata\\local\\temp",
    "%tmp%": "c:\\users\\%user%\\appdata\\local\\temp",
}
_ENV_RE = re.compile("|".join(re.escape(k) for k in sorted(_ENV, key=len, reverse=True)))
_PREFIXES = (
    (re.compile(r"^\\\?\?\\"), ""),                          # \??\C:\...
    (re.compile(r"^\\\\\?\\"), ""),                          # \\?\C:\...
    (re.compile(r"^\\systemroot\\"), "c:\\windows\\"),
    (re.compile(r"^system32\\"), "c:\\windows\\system32\\"),  # service ImagePath relative to %SystemRoot%
    (re.compile(r"^\\device\\harddiskvolume\d+\\"), "c:\\"),
    (re.compile(r"^\\volume\{[0-9a-f-]+\}\\"), "c:\\"),      # prefetch volume paths
)
# Built-in profile folders stay as they are; every other profile name becomes %user%.
_KEEP_PROFILES = {"public", "default", "all users", "default user", "%user%"}
_USERS = re.compile(r"(c:\\users\\|c:\\documents and settings\\)([^\\\"]+)")
_SPACE = re.compile(r"\s+")


def _user_folder(m: re.Match) -> str:
    name = m.group(2)
    return m.group(0) if name in _KEEP_PROFILES else m.group(1) + "%user%"


def _literal(text: str) -> Callable[[re.Match[str]], str]:
    """A re.sub replacement that inserts ``text`` as it is (no backslash or group processing)."""
    return lambda _m: text


def normalize_path(path: str | None) -> str:
    """Lower-case Windows path with env vars, device prefixes and user names folded."""
    if not path:
        return ""
    p = path.strip().strip('"').replace("/", "\\").lower()
    p = _ENV_RE.sub(lambda m: _ENV[m.group(0)], p)
    for rx, repl in _PREFIXES:
        p = rx.sub(_literal(repl), p)
    return _USERS.sub(_user_folder, p)


def normalize_command(command: str | None) -> str:
    """A command line for stacking: quotes dropped, spaces collapsed, paths normalised. Cached: the
    same few hundred service and Run commands come back on every host a worker analyzes."""
    if not command:
        return ""
    return _normalize_command(command) if isinstance(command, str) else _normalize_command(str(command))


@lru_cache(maxsize=65536)
def _normalize_command(command: str) -> str:
    c = command.strip().replace('"', "").lower()
    c = _ENV_RE.sub(lambda m: _ENV[m.group(0)], c)
    for rx, repl in _PREFIXES:
        c = rx.sub(_literal(repl), c)
    c = _USERS.sub(_user_folder, c)
    return _SPACE.sub(" ", c).strip()


def basename(path: str | None) -> str:
    """Last component of a Windows or POSIX path, lower-case."""
    if not path:
        return ""
    return re.split(r"[\\/]", path.strip().strip('"'))[-1].lower()


def domain_of(url_or_host: str | None) -> str:
    """Host name of a URL (or the value itself if it is a bare host), lower-case, no port, no 'www.'."""
    if not url_or_host:
        return ""
    text = url_or_host.strip()
    host = urlsplit(text).hostname if "://" in text else text.split("/")[0].split(":")[0]
    host = (host or "").lower().rstrip(".")
    return host[4:] if host.startswith("www.") else host
