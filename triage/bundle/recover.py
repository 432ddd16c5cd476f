"""Rebuild a verifiable bundle from an interrupted one.

Every file whose data and journal entry were both written before the interruption is copied into a
new bundle after its bytes are re-hashed and found equal to what the journal recorded while
collecting. The original is never modified; the new bundle's collection record says it is a
recovery, of what, and what could not be recovered.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from triage import __version__
from triage.bundle import COLLECTION_NAME, FILES_PREFIX, LOG_NAME, MANIFEST_NAME, VOLATILE_PREFIX
from triage.bundle.limits import READ_ERRORS, clip
from triage.bundle.manifest import HAS_DATA, ManifestEntry
from triage.bundle.names import is_safe_member
from triage.bundle.reader import START_NAME, BundleReader
from triage.bundle.sidecar import write_sidecar
from triage.bundle.writer import BundleWriter, json_bytes
from triage.units import iso, utc_now

DATA_PREFIXES = (FILES_PREFIX, VOLATILE_PREFIX)   # where collected data lives; meta/ is rewritten here


def recover_bundle(src: str | Path, output_dir: str | Path | None = None) -> tuple[Path, dict]:
    src = Path(src)
    out_dir = Path(output_dir) if output_dir else src.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    dest = out_dir / (src.stem + ".recovered.zip")
    with BundleReader(src) as b:
        src_sha = b.sha256
        entries = b.journal_entries()
        start = dict(b.collection)
        recovered: list[ManifestEntry] = []
        lost: list[dict] = []
        with open(dest, "xb") as raw:
            w = BundleWriter(raw, compression="deflate")
            for e in entries:
                if e.outcome not in HAS_DATA or not e.bundle_path:
                    recovered.append(e)
                    continue
                if not is_safe_member(e.bundle_path) or not e.bundle_path.startswith(DATA_PREFIXES):
                    # a name that climbs out of an extraction directory (or poses as metadata) is never
                    # written into a bundle we sign with a fresh sidecar
                    lost.append({"path": clip(e.path), "bundle_path": clip(e.bundle_path),
                                 "reason": "unsafe member name: not copied into the recovered bundle"})
                    continue
                try:
                    h = hashlib.sha256()
                    data_iter = _member_chunks(b, e.bundle_path, h)
                    res = w.add_stream(e.bundle_path, data_iter)
                except (KeyError, *READ_ERRORS) as exc:
                    lost.append({"path": e.path, "bundle_path": e.bundle_path, "reason": f"unreadable: {exc}"})
                    continue
                if res.hashes["sha256"] != e.sha256 or res.size != e.size:
                    lost.append({"path": e.path, "bundle_path": e.bundle_path,
                                 "reason": "data does not match the hash recorded while collecting"})
                    continue
                w.journal(e.to_json())
                recovered.append(e)
            manifest = "".join(x.to_json() + "\n" for x in recovered).encode("utf-8")
            record = {
                **{k: v for k, v in start.items() if k != "status"},
                "status": "recovered",
                "recovery": {
                    "source_bundle": src.name, "source_sha256": src_sha, "recovered_at": iso(utc_now()),
                    "tool_version": __version__, "files_recovered": sum(1 for x in recovered if x.outcome in HAS_DATA),
                    "files_lost": lost,
                    "note": "the original collection was interrupted; only files finished and journaled before "
                            "the interruption are here, each re-hashed against its journal entry",
                },
                "manifest_sha256": hashlib.sha256(manifest).hexdigest(),
            }
            w.add_bytes(MANIFEST_NAME, manifest)
            w.add_bytes(LOG_NAME, f"{iso(utc_now())} INFO    recovered from {src.name}\n".encode())
            w.add_bytes(COLLECTION_NAME, json_bytes(record))
            sha = w.close()
    write_sidecar(dest, sha)
    return dest, record


def _member_chunks(b: BundleReader, name: str, h):
    with b.open(name) as fh:
        while block := fh.read(4 << 20):
            h.update(block)
            yield block


__all__ = ["recover_bundle", "START_NAME", "json"]
