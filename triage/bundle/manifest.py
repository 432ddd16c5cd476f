"""Manifest entries: one per file the collector looked at, whatever happened to it.

The same entry is written twice: as a journal member right after the file's data (so an
interrupted bundle can be recovered and checked) and as one line of ``meta/manifest.jsonl``
when the bundle is closed.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from triage.model import Outcome

# Outcomes of one file
# (plain strings, as the manifest stores them; triage.model.Outcome says what each means)
COLLECTED = Outcome.COLLECTED.value
PARTIAL = Outcome.PARTIAL.value
MISSING = Outcome.MISSING.value
FAILED = Outcome.FAILED.value
SKIPPED_BUDGET = Outcome.SKIPPED_BUDGET.value
SKIPPED_SIZE = Outcome.SKIPPED_SIZE.value
SKIPPED_DUPLICATE = Outcome.SKIPPED_DUPLICATE.value
SKIPPED_INTERRUPTED = Outcome.SKIPPED_INTERRUPTED.value

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
    def from_dict(cls, data: Any) -> ManifestEntry:
        """Tolerant of extra keys (newer writers) and strict about required ones and about types.

        Why the types: a manifest comes from the suspect host; a list where an entry belongs, or a
        number where a member name belongs, must be a ``ValueError`` with a message (a verification
        problem), never a crash further down (an unhashable name, a comparison of str and int)."""
        if not isinstance(data, dict):
            raise ValueError(f"an entry must be a JSON object, not {_json_type(data)}")
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        missing = sorted(REQUIRED - kwargs.keys())
        if missing:
            raise ValueError(f"missing key(s) {', '.join(missing)}")
        for key, value in kwargs.items():
            allowed = _TYPES[key]
            if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
                raise ValueError(f"key {key!r} is {_json_type(value)}, expected "
                                 f"{' or '.join(_json_type_name(t) for t in allowed)}")
        return cls(**kwargs)

    @property
    def rel_path(self) -> str | None:
        """Path inside the volume with '/' separators (from bundle_path), e.g. 'Windows/System32/config/SYSTEM'."""
        if not self.bundle_path or not self.bundle_path.startswith("files/"):
            return None
        parts = self.bundle_path.split("/", 2)
        return parts[2] if len(parts) == 3 else None


# JSON types each key may hold (bool is excluded from int unless listed: True is not a size).
_S, _N, _I, _D = (str,), (type(None),), (int,), (dict,)
_TYPES: dict[str, tuple[type, ...]] = {
    "path": _S, "volume": _S, "bundle_path": _S + _N, "artifact": _S, "priority": _I, "outcome": _S,
    "role": _S, "companion_of": _S + _N, "user": _S + _N, "size": _I + _N, "source_size": _I + _N,
    "sha256": _S + _N, "sha1": _S + _N, "md5": _S + _N, "times": _D, "owner": _S + _N, "mode": _S + _N,
    "read_method": _S + _N, "error": _S + _N, "extra": _D, "seq": _I,
}
REQUIRED = frozenset(("path", "volume", "bundle_path", "artifact", "priority", "outcome"))


def _json_type_name(t: type) -> str:
    return {str: "a string", int: "an integer", dict: "an object", type(None): "null",
            list: "an array", float: "a number", bool: "a boolean"}.get(t, t.__name__)


def _json_type(value: Any) -> str:
    return _json_type_name(type(value))
