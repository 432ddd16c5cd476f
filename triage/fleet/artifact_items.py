"""Stackable items of host artifacts for the fleet store's ``artifact_items`` table.

Why: an application that moved bytes on one host out of 240 (SRUM), or a document/program opened from a
shortcut or jump list on one host only (LNK, JumpList targets), is the kind of rarity stacking is for.
The summary's ``artifacts.<name>.entries`` carry many rows per item (SRUM: one per hour), so each item
is reduced to one row per (artifact, normalised item, user) of a bundle, with the provenance of its first
entry. ``STACKED`` says which field of which artifact is the item; adding an artifact here is one line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from triage.fleet.normalize import normalize_path

# artifact name in summary.json -> the entry field that names the stackable item
STACKED: dict[str, str] = {
    "srum_network": "app",
    "srum_app_usage": "app",
    "lnk_files": "target",
    "jumplists": "target",
    "defender_detections": "threat",
    "defender_mplog": "threat",
    "setupapi_devices": "target",
    "bits_transfers": "url",
    "wmi_persistence": "command",
    # registry artifacts of few items per host (not ShellBags / RecentDocs: hundreds of per-user
    # paths each, every one "rare")
    "usb_devices": "serial",
    "mountpoints2": "target",
    "network_profiles": "name",
    "runmru": "command",
    "typedpaths": "path",
    "muicache": "executable",
    "timeline_activities": "app",
}
# items that are not paths are compared case-insensitively as they are (a threat name's '/' or a URL's
# '//' must not become a path separator)
NOT_PATHS: dict[str, Callable[[str], str]] = {
    "defender_detections": str.lower,
    "defender_mplog": str.lower,
    "bits_transfers": str.lower,
    "usb_devices": str.lower,
    "network_profiles": str.lower,
    "timeline_activities": str.lower,
}
# entries worth a row: MountPoints2's volume GUIDs are every host's own disks; its shares are the item
KEEP: dict[str, Callable[[dict], bool]] = {
    "mountpoints2": lambda e: e.get("kind") == "network",
}
MAX_ITEMS_PER_ARTIFACT = 20_000  # per bundle: a hostile summary cannot flood the store


def artifact_item_rows(artifacts: Any) -> list[tuple[Any, ...]]:
    """(artifact, item, item_norm, user, bundle_path, locator) rows from summary.json ``artifacts``."""
    if not isinstance(artifacts, dict):
        return []
    rows: list[tuple[Any, ...]] = []
    for name, field in STACKED.items():
        section = artifacts.get(name)
        entries = section.get("entries") if isinstance(section, dict) else None
        seen: set[tuple[str, Any]] = set()
        keep = KEEP.get(name)
        for e in _dicts(entries):
            if keep is not None and not keep(e):
                continue
            item = e.get(field)
            if not isinstance(item, str) or not item.strip():
                continue
            norm = NOT_PATHS.get(name, normalize_path)(item.strip())
            key = (norm, e.get("user"))
            if key in seen:
                continue
            if len(seen) >= MAX_ITEMS_PER_ARTIFACT:
                break
            seen.add(key)
            rows.append((name, item, norm, e.get("user"), e.get("bundle_path"), e.get("locator")))
    return rows


def _dicts(value: Any) -> Iterable[dict]:
    return (v for v in value if isinstance(v, dict)) if isinstance(value, list) else ()
