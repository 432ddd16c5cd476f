"""Which user a per-profile artifact belongs to, when the manifest does not say.

Why: browser databases and shell histories live under a profile folder; the collector's profile
expansion usually records the user on the manifest entry, but entries from ad-hoc or recovered
bundles may not carry it, and the folder name is then the best evidence.
"""

from __future__ import annotations

import re

from triage.parsers.base import ParseInput

_USER_SEGMENT = re.compile(r"(?:^|/)(?:users|home|documents and settings)/([^/]+)/", re.IGNORECASE)


def user_from_path(item: ParseInput) -> str | None:
    """The manifest's user, else the Users/<name>/ (home/<name>/, Documents and Settings/<name>/) segment;
    root's home (/root) gives 'root'."""
    if item.user:
        return item.user
    rel = item.rel_path.replace("\\", "/")
    m = _USER_SEGMENT.search(rel)
    if m:
        return m.group(1)
    return "root" if rel.lower().startswith("root/") else None
