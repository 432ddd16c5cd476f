"""Safe member names for the bundle.

Original names are kept exactly in the manifest; member names only have to be safe to extract on
Windows, Linux and macOS: no separators or reserved characters inside a segment, no '.'/'..',
bounded length. The mapping is deterministic so the same file always lands at the same member.
"""

from __future__ import annotations

import hashlib
import re

_BAD = re.compile(r'[\x00-\x1f<>:"\\|?*\x7f]')
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}
MAX_SEGMENT_BYTES = 200


def safe_segment(name: str) -> str:
    out = _BAD.sub(lambda m: f"%{ord(m.group()):02X}", name)
    out = out.rstrip(" .") or "_"
    if out in (".", ".."):
        out = out.replace(".", "%2E")
    if out.split(".")[0].lower() in _RESERVED:
        out = "_" + out
    raw = out.encode("utf-8", "surrogateescape")
    if len(raw) > MAX_SEGMENT_BYTES:
        digest = hashlib.sha256(raw).hexdigest()[:12]
        out = raw[: MAX_SEGMENT_BYTES - 14].decode("utf-8", "ignore") + "~" + digest
    try:
        out.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes from a POSIX file name (surrogateescape)
        out = out.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return out


def member_name(prefix: str, volume: str, rel: str) -> str:
    """'files/' + volume + sanitised relative path, e.g. files/C/Windows/System32/config/SYSTEM."""
    segs = [safe_segment(s) for s in rel.split("/") if s]
    return "/".join([prefix.rstrip("/"), safe_segment(volume), *segs])


def is_safe_member(name: str) -> bool:
    """True when a member name from a bundle can be used under a directory without escaping it."""
    if not name or name.startswith(("/", "\\")) or "\\" in name or "\x00" in name:
        return False
    if re.match(r"^[A-Za-z]:", name):
        return False
    return all(seg not in ("", ".", "..") for seg in name.rstrip("/").split("/"))
