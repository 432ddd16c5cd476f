"""Microsoft Defender DetectionHistory files -> one :class:`DefenderDetection` per file.

``ProgramData\\Microsoft\\Windows Defender\\Scans\\History\\Service\\DetectionHistory\\<nn>\\<GUID>``
holds one file per detection shown in Windows Security's "Protection history". Why it matters: it
survives the quarantine and the clean-up, and names the threat, the detected resources (file path,
command line, registry value...), the user, the process and the detection / remediation times.

Format facts (libyal dtformats, "Windows Defender scan DetectionHistory file format", checked on the
corpus files against the MPLog of the same machine): a sequence of values, each u32 data size,
u32 data type, data, padded to 8 bytes; types 0x15 UTF-16LE string, 0x0a FILETIME, 0x1e GUID,
0x28 threat-tracking blob, others small integers. A value "Magic.Version:1.2" starts each set:
set 1 (before the first separator) = threat id, detection GUID; set 2 = threat name (index 1),
category (index 4); each further set = one resource: type (1), location (2), tracking blob (5); the
last resource set also carries the last status change time (6), domain user (12), process (14),
initial detection time (18) and remediation time (20). A value at an index that does not have the
expected type is left out, never guessed. The tracking blob's ``ThreatTracking*`` keys (SHA-256,
SHA-1, MD5, size) are read by a bounded key scan.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from triage.model import ArtifactRecord, Issue, Record
from triage.parsers.base import ParseInput, Parser, read_small
from triage.parsers.wintime import filetime_utc

MAX_FILE_BYTES = 4 << 20
MAX_VALUES = 4096
MAX_RESOURCES = 256
SEPARATOR = "Magic.Version:1.2"
T_STRING, T_FILETIME, T_GUID, T_BLOB = 0x15, 0x0A, 0x1E, 0x28
_TRACKING = "ThreatTracking".encode("utf-16-le")
_TRACKING_KEYS = {"ThreatTrackingSha256": "sha256", "ThreatTrackingSha1": "sha1", "ThreatTrackingMD5": "md5",
                  "ThreatTrackingSize": "size"}


@dataclass(frozen=True, slots=True, kw_only=True)
class DefenderDetection(ArtifactRecord):
    """One Defender detection (Protection history entry)."""

    record_type: ClassVar[str] = "windows/defender/detection_history"
    artifact: ClassVar[str] = "defender_detections"
    title: ClassVar[str] = "Defender detection history"
    description: ClassVar[str] = (
        "Detections Microsoft Defender kept in its DetectionHistory files: threat name, detected resources, "
        "user, process, first detection and remediation time (UTC). Proves Defender flagged these "
        "resources; not that they ran, nor that the remediation succeeded.")
    columns: ClassVar[tuple[tuple[str, str], ...]] = (
        ("detected", "Initial detection (UTC)"), ("threat", "Threat"), ("resources", "Resources"),
        ("user", "User"), ("process", "Process"), ("remediated", "Remediation (UTC)"))

    threat: str | None
    threat_id: int | None = None
    detection_id: str | None = None
    category: int | None = None
    resources: tuple[str, ...] = ()
    user: str | None = None
    process: str | None = None
    detected: datetime | None = None      # InitialDetectionTime
    remediated: datetime | None = None    # RemediationTime
    status_changed: datetime | None = None  # LastThreatStatusChangeTime
    sha256: str | None = None
    sha1: str | None = None
    md5: str | None = None

    def times(self) -> list[tuple[datetime, str]]:
        out = []
        if self.detected:
            out.append((self.detected, "Defender initial detection"))
        if self.remediated:
            out.append((self.remediated, "Defender remediation"))
        if self.status_changed and self.status_changed not in (self.detected, self.remediated):
            out.append((self.status_changed, "Defender threat status last changed"))
        return out

    def message(self) -> str:
        res = "; ".join(self.resources[:3])
        return f"Defender detected {self.threat or '(unknown threat)'}: {res}"


def read_values(data: bytes) -> tuple[list[tuple[int, Any]], str | None]:
    """(type, decoded value) pairs in file order and a problem text if the walk stopped early."""
    out: list[tuple[int, Any]] = []
    pos = 0
    while pos + 8 <= len(data):
        if len(out) >= MAX_VALUES:
            return out, f"more than {MAX_VALUES} values"
        size, kind = struct.unpack_from("<II", data, pos)
        if size > len(data) - pos - 8:
            return out, f"value at offset {pos} claims {size} bytes past the end of the file"
        raw = data[pos + 8:pos + 8 + size]
        value: Any
        if kind == T_STRING:
            value = raw.decode("utf-16-le", errors="replace").split("\x00", 1)[0]
        elif kind == T_FILETIME and size == 8:
            value = filetime_utc(struct.unpack("<Q", raw)[0])
        elif kind == T_GUID and size == 16 or kind == T_BLOB:
            value = raw
        elif size <= 8:
            value = int.from_bytes(raw, "little")
        else:
            value = raw
        out.append((kind, value))
        pos = (pos + 8 + size + 7) & ~7
    if pos < len(data):
        return out, f"value header at offset {pos} cut short: the file ends past the end of its last value"
    return out, None


def tracking_values(blob: bytes) -> dict[str, Any]:
    """The hash/size keys of a threat-tracking blob: key size, UTF-16 key, u32 type, value (bounded scan)."""
    out: dict[str, Any] = {}
    start = 0
    for _ in range(256):
        at = blob.find(_TRACKING, start)
        if at < 4:
            break
        start = at + 2
        (klen,) = struct.unpack_from("<I", blob, at - 4)
        if klen > 256 or at + klen + 4 > len(blob):
            continue
        key = blob[at:at + klen].decode("utf-16-le", errors="replace").rstrip("\x00")
        name = _TRACKING_KEYS.get(key)
        if not name:
            continue
        p = at + klen
        (vtype,) = struct.unpack_from("<I", blob, p)
        if vtype == 6 and p + 8 <= len(blob):
            (vlen,) = struct.unpack_from("<I", blob, p + 4)
            if vlen <= 1024 and p + 8 + vlen <= len(blob):
                out[name] = blob[p + 8:p + 8 + vlen].decode("utf-16-le", errors="replace").rstrip("\x00")
        elif vtype == 4 and p + 12 <= len(blob):
            out[name] = struct.unpack_from("<Q", blob, p + 4)[0]
    return out


def _at(values: list[tuple[int, Any]], index: int, kind: int) -> Any:
    if index < len(values) and values[index][0] == kind:
        return values[index][1]
    return None


def decode_detection(data: bytes) -> tuple[dict[str, Any], list[str]]:
    """Fields of one DetectionHistory file and the problems met (never raises)."""
    values, problem = read_values(data)
    problems = [problem] if problem else []
    sets: list[list[tuple[int, Any]]] = [[]]
    for v in values:
        if v[0] == T_STRING and v[1] == SEPARATOR:
            sets.append([])
        sets[-1].append(v)
    if len(sets) < 2:
        return {}, problems + ["no 'Magic.Version' value: not a DetectionHistory file"]
    head, threat_set, resource_sets = sets[0], sets[1], sets[2:2 + MAX_RESOURCES]
    out: dict[str, Any] = {"threat": _at(threat_set, 1, T_STRING), "category": None, "resources": []}
    if head and isinstance(head[0][1], int):
        out["threat_id"] = head[0][1]
    guid = next((v for k, v in head if k == T_GUID and isinstance(v, bytes) and len(v) == 16), None)
    if guid:
        out["detection_id"] = "{" + str(uuid.UUID(bytes_le=guid)).upper() + "}"
    if len(threat_set) > 4 and isinstance(threat_set[4][1], int):
        out["category"] = threat_set[4][1]
    for rs in resource_sets:
        rtype, loc = _at(rs, 1, T_STRING), _at(rs, 2, T_STRING)
        if rtype or loc:
            out["resources"].append(f"{rtype or '?'}:{loc or ''}")
        blob = _at(rs, 5, T_BLOB)
        if isinstance(blob, bytes):
            for k, v in tracking_values(blob).items():
                out.setdefault(k, v)
        for name, index, kind in (("status_changed", 6, T_FILETIME), ("user", 12, T_STRING),
                                  ("process", 14, T_STRING), ("detected", 18, T_FILETIME),
                                  ("remediated", 20, T_FILETIME)):
            value = _at(rs, index, kind)
            if value is not None:
                out[name] = value
    return out, problems


class DefenderDetectionHistoryParser(Parser):
    """One record per DetectionHistory file (a Protection history entry)."""

    name = "defender_detection_history"
    patterns = ("programdata/microsoft/windows defender/scans/history/service/detectionhistory/*",)

    def parse(self, item: ParseInput) -> Iterator[Record | Issue]:
        data = read_small(item, MAX_FILE_BYTES, "DetectionHistory file")
        if isinstance(data, Issue):
            yield data
            return
        fields, problems = decode_detection(data)
        for p in problems:
            yield item.issue(f"DetectionHistory: {p}", "error" if not fields else "warning")
        if not fields:
            return
        yield DefenderDetection(
            source=item.source("values"), threat=fields.get("threat"), threat_id=fields.get("threat_id"),
            detection_id=fields.get("detection_id"), category=fields.get("category"),
            resources=tuple(fields["resources"]), user=fields.get("user") or None,
            process=fields.get("process") or None,
            detected=fields.get("detected"), remediated=fields.get("remediated"),
            status_changed=fields.get("status_changed"), sha256=fields.get("sha256"), sha1=fields.get("sha1"),
            md5=fields.get("md5"))
