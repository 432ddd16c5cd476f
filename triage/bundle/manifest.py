"""Manifest entries: one per file the collector looked at, whatever happened to it.

The same entry is written twice: as a journal member right after the file's data (so an
interrupted bundle can be recovered and checked) and as one line of ``meta/manifest.jsonl``
when the bundle is closed.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

# Outcomes of one file
COLLECTED = "collected"          # whole file in the bundle, hashes computed while it was read
PARTIAL = "partial"              # file changed size while read (growing log): what was read is kept and hashed
MISSING = "missing"              # pattern matched nothing / file vanished between listing and reading
FAILED = "failed"                # could not be read (locked, permission, I/O error); error says why
SKIPPED_BUDGET = "skipped_budget"  # did not fit the global --max-size / --max-time budget
SKIPPED_SIZE = "skipped_size"    # larger than the artifact's per-file cap
SKIPPED_DUPLICATE = "skipped_duplicate"  # e.g. a shadow-copy file identical to the live copy
SKIPPED_INTERRUPTED = "skipped_interrupted"  # planned, not reached: the collection was interrupted

OUTCOMES = (COLLECTED, PARTIAL, MISSING, FAILED, SKIPPED_BUDGET, SKIPPED_SIZE, SKIPPED_DUPLICATE,
            SKIPPED_INTERRUPTED)
HAS_DATA = (COLLECTED, PARTIAL)


@dataclass(slots=True, kw_only=True)
class ManifestEntry:
    """One file. Times are ISO-8601 UTC strings ('modified', 'accessed', 'changed', 'born')."""

    path: str                        # exact original path, e.g. 'C:\\Users\\tony\\NTUSER.DAT' or '/etc/passwd'
    volume: str                      # volume name used under files/, e.g. 'C'
    bundle_path: str | None          # member name, None when nothing was stored
    artifact: str
    priority: int
    outcome: str
    role: str = "primary"            # 'primary' | 'companion' (of companion_of)
    companion_of: str | None = None  # bundle_path of the primary file
    user: str | None = None
    size: int | None = None          # bytes stored (and hashed)
    source_size: int | None = None   # size reported by the source before reading
    sha256: str | None = None
    sha1: str | None = None
    md5: str | None = None
    times: dict[str, str | None] = field(default_factory=dict)
    owner: str | None = None
    mode: str | None = None
    read_method: str | None = None   # 'file_api', 'ntfs_raw', 'image', 'vss'
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # source-specific: ntfs mft entry, $SI/$FN times, ADS...
    seq: int = 0                     # order in which the collector handled it

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ManifestEntry:
        """Tolerant of extra keys (newer writers) and strict about required ones."""
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        return cls(**kwargs)

    @property
    def rel_path(self) -> str | None:
        """Path inside the volume with '/' separators (from bundle_path), e.g. 'Windows/System32/config/SYSTEM'."""
        if not self.bundle_path or not self.bundle_path.startswith("files/"):
            return None
        parts = self.bundle_path.split("/", 2)
        return parts[2] if len(parts) == 3 else None
