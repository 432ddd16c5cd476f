"""Volume Shadow Copies: yesterday's version of what an attacker deleted or changed.

A shadow copy store holds the blocks of an NTFS volume as they were when the snapshot was taken.
libvshadow rebuilds each store as a whole-volume view from the same bytes we already read (a live
volume device, a disk image partition), and ``NtfsSource`` parses that view like any volume, so the
collector collects a store exactly like the live volume.

Naming (what goes under files/ in the bundle): ``<volume>@vss<N>_<created>`` where N is the
store's 1-based position in the catalog (oldest first, as libvshadow lists them) and <created> the
snapshot's creation time in UTC as YYYYmmddTHHMMSSZ, e.g. ``C@vss1_20131203T063509Z``. The name
sorts by store order, says which volume it copies and when, and has no character a ZIP member
name or a Windows/Linux path would choke on. ``source.info`` holds the full creation time
(``created`` ISO UTC, microseconds), the store, copy and copy-set GUIDs and the store index.

Deduplication: most files of a store equal the live copy; storing them twice tells nothing. The
collector looks each store file up in the live copy's hashes (``LiveIndex``) and, when the sizes
match, hashes the store file (``live_duplicate``); identical files are recorded as
``skipped_duplicate`` with the live copy's hash, not stored.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from triage.collect.ntfs import NtfsError, NtfsSource
from triage.units import from_filetime, iso

HASH_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class ShadowStore:
    """What the catalog says about one store."""

    index: int                  # 0-based position in the catalog (oldest first)
    created: str | None         # ISO-8601 UTC creation time of the snapshot
    identifier: str
    copy_identifier: str
    copy_set_identifier: str
    volume_size: int


def store_volume_name(volume: str, index: int, created: str | None) -> str:
    """``C@vss1_20131203T063509Z`` (see module docstring); index is 0-based."""
    stamp = "unknown"
    if created:
        stamp = created[:19].replace("-", "").replace(":", "") + "Z"
    return f"{volume}@vss{index + 1}_{stamp}"


def _open_vshadow(source: NtfsSource) -> tuple[Any, Any]:
    """A pyvshadow volume over the bytes under ``source`` (own file position), or (None, None)."""
    import pyvshadow

    vol = pyvshadow.volume()
    if source.device_path is not None:
        if not pyvshadow.check_volume_signature(source.device_path):
            return None, None
        vol.open(source.device_path)
        return vol, None
    fileobj = source.fileobj
    if fileobj is None:
        return None, None
    # a separate view so libvshadow's seek/read never moves the live source's position
    view = fileobj.clone() if hasattr(fileobj, "clone") else fileobj
    if not pyvshadow.check_volume_signature_file_object(view):
        return None, None
    vol.open_file_object(view)
    return vol, view


def list_stores(source: NtfsSource) -> list[ShadowStore]:
    """The catalog of the volume under ``source`` (empty when it has no shadow copies)."""
    vol, _ = _open_vshadow(source)
    if vol is None:
        return []
    try:
        return [_describe(vol.get_store(i), i) for i in range(vol.get_number_of_stores())]
    finally:
        vol.close()


def _describe(store: Any, index: int) -> ShadowStore:
    try:
        created = iso(from_filetime(store.get_creation_time_as_integer()))
    except (OSError, OverflowError, ValueError):
        created = None
    return ShadowStore(index=index, created=created, identifier=str(store.get_identifier()),
                       copy_identifier=str(store.get_copy_identifier()),
                       copy_set_identifier=str(store.get_copy_set_identifier()),
                       volume_size=store.get_volume_size())


def shadow_sources(source: NtfsSource, *, notes: list[str] | None = None) -> list[NtfsSource]:
    """One ``NtfsSource`` per shadow copy store of ``source``'s volume, oldest first.

    ``source`` must be a raw NTFS source (an image volume, or the live volume device). Stores
    that cannot be parsed are left out with a note in ``notes``; a volume without shadow copies
    gives []. Closing every returned source closes the shadow-copy handle.
    """
    notes = notes if notes is not None else []
    try:
        vol, _view = _open_vshadow(source)
    except (OSError, RuntimeError) as exc:
        notes.append(f"{source.volume}: cannot read the shadow copy catalog: {exc}")
        return []
    if vol is None:
        return []
    lock = threading.RLock()     # stores share one libvshadow handle: one lock for all of them
    refs = {"n": 0}

    def make_release() -> Any:
        refs["n"] += 1

        def release() -> None:
            refs["n"] -= 1
            if refs["n"] == 0:
                vol.close()
        return release

    out: list[NtfsSource] = []
    count = vol.get_number_of_stores()
    for i in range(count):
        try:
            store = vol.get_store(i)
            meta = _describe(store, i)
        except (OSError, RuntimeError) as exc:
            notes.append(f"{source.volume}: shadow copy store {i + 1} unreadable: {exc}")
            continue
        info = {**source.info, "shadow_copy": {
            "store_index": i + 1, "created": meta.created, "identifier": meta.identifier,
            "copy_identifier": meta.copy_identifier, "copy_set_identifier": meta.copy_set_identifier},
            "live_volume": source.volume}
        for key in ("serial_number", "label", "cluster_size"):
            info.pop(key, None)
        release = make_release()
        try:
            src = NtfsSource(store, store_volume_name(source.volume, i, meta.created), read_method="vss",
                             kind="vss", info=info, closers=[release], lock=lock)
        except NtfsError as exc:
            release()
            notes.append(f"{source.volume}: shadow copy store {i + 1} is not a readable NTFS volume: {exc}")
            continue
        src.live_volume = source.volume  # type: ignore[attr-defined]
        out.append(src)
    if not out:
        vol.close()
    return out


# --- deduplication against the live copy ------------------------------------------------------

class LiveIndex:
    """(size, sha256) of the live copy of each file, keyed case-insensitively by path in volume.

    Build it from the live source's manifest entries (``from_entries``) or add as you collect.
    """

    def __init__(self, case_sensitive: bool = False) -> None:
        self._by_path: dict[str, tuple[int, str, str | None]] = {}
        self._fold = (lambda s: s) if case_sensitive else str.casefold

    def add(self, rel: str, size: int, sha256: str, bundle_path: str | None = None,
            stream: str | None = None) -> None:
        self._by_path[self._key(rel, stream)] = (size, sha256, bundle_path)

    def get(self, rel: str, stream: str | None = None) -> tuple[int, str, str | None] | None:
        return self._by_path.get(self._key(rel, stream))

    def _key(self, rel: str, stream: str | None) -> str:
        key = self._fold(rel.strip("/"))
        return f"{key}:{self._fold(stream)}" if stream else key

    def __len__(self) -> int:
        return len(self._by_path)

    @classmethod
    def from_entries(cls, entries: Iterable[Any], volume: str) -> LiveIndex:
        """From ManifestEntry objects of ``volume`` that hold data (collected or partial).

        Named streams (role 'stream', or ``extra['stream']``) are keyed by file and stream; the
        stream name is taken from the original path's ':<stream>' suffix.
        """
        index = cls()
        index.add_entries(entries, volume)
        return index

    def add_entries(self, entries: Iterable[Any], volume: str) -> None:
        """Add the data-holding ManifestEntry objects of ``volume`` (see ``from_entries``)."""
        for e in entries:
            if e.volume != volume or not e.sha256 or e.size is None or e.outcome not in ("collected", "partial"):
                continue
            rel = e.rel_path
            if rel is None:
                continue
            stream = (e.extra or {}).get("stream")
            if stream is None and e.role == "stream" and ":" in e.path.rsplit("\\", 1)[-1]:
                stream = e.path.rsplit(":", 1)[1]
            if stream:
                for sep in (":", "%3A"):   # bundle member suffix for the stream, as the writer names it
                    cut = rel.rfind(sep)
                    if cut > 0:
                        rel = rel[:cut]
                        break
            self.add(rel, e.size, e.sha256, e.bundle_path, stream)


@dataclass(frozen=True, slots=True)
class DuplicateCheck:
    """Result of comparing a store file with the live copy."""

    duplicate: bool
    sha256: str | None = None           # the store file's hash when it was computed
    size: int | None = None
    live_bundle_path: str | None = None


def live_duplicate(shadow: NtfsSource, rel: str, live: LiveIndex | Mapping[str, tuple[int, str]],
                   *, stream: str | None = None) -> DuplicateCheck:
    """Is ``rel`` (or its ``stream``) in store ``shadow`` byte-identical to the live copy?

    Cheap when not: no live copy or a different size answers without reading. Otherwise the store
    file is hashed (SHA-256, streamed) and compared. Read errors answer 'not a duplicate' so the
    collector then tries (and records the failure of) the real read.
    """
    if isinstance(live, LiveIndex):
        hit = live.get(rel, stream)
    else:
        found = live.get(rel.strip("/").casefold())
        hit = (found[0], found[1], None) if found else None
    if hit is None:
        return DuplicateCheck(False)
    live_size, live_sha, live_bundle = hit
    try:
        meta = shadow.stat_stream(rel, stream) if stream else shadow.stat(rel)
        if meta.size != live_size:
            return DuplicateCheck(False, size=meta.size)
        h = hashlib.sha256()
        size = 0
        with (shadow.open_stream(rel, stream) if stream else shadow.open(rel)) as fh:
            while chunk := fh.read(HASH_CHUNK):
                h.update(chunk)
                size += len(chunk)
    except (OSError, ValueError):
        return DuplicateCheck(False)
    digest = h.hexdigest()
    return DuplicateCheck(digest == live_sha and size == live_size, digest, size, live_bundle)


class SkipIdenticalToLive:
    """The collector's ``skip_hook`` for ``--vss``: skip a store file identical to the live copy.

    ``hook(source, planned, rel, meta)`` (or the older ``hook(source, planned, meta)``, where the
    file is found among the planned paths by its MFT entry) returns None for live sources and for
    store files that differ, else the reason recorded with outcome ``skipped_duplicate``, naming
    the live copy and the SHA-256 both share. Live hashes come from ``note_collected(entry)``
    when the collector reports its finished entries, else the live file is hashed once (cached).
    """

    def __init__(self, sources: Iterable[Any]) -> None:
        self.live = {s.volume: s for s in sources if getattr(s, "kind", "") != "vss"}
        self.index: dict[str, LiveIndex] = {v: LiveIndex() for v in self.live}
        self._lock = threading.Lock()

    def note_collected(self, entry: Any) -> None:
        """Feed a finished live ManifestEntry (saves re-reading the live file)."""
        if entry.volume in self.index:
            with self._lock:
                self.index[entry.volume].add_entries([entry], entry.volume)

    def _live_hash(self, live: Any, volume: str, rel: str) -> tuple[int, str, str | None] | None:
        with self._lock:
            hit = self.index[volume].get(rel)
        if hit is not None:
            return hit
        try:
            h = hashlib.sha256()
            size = 0
            with live.open(rel) as fh:
                while chunk := fh.read(HASH_CHUNK):
                    h.update(chunk)
                    size += len(chunk)
        except (OSError, ValueError):
            return None
        with self._lock:
            self.index[volume].add(rel, size, h.hexdigest())
            return self.index[volume].get(rel)

    def __call__(self, source: Any, planned: Any, rel_or_meta: Any, meta: Any = None) -> str | None:
        if getattr(source, "kind", "") != "vss":
            return None
        volume = getattr(source, "live_volume", None)
        live = self.live.get(volume)
        if live is None or volume is None:
            return None
        if meta is None:
            meta, rel = rel_or_meta, self._find_rel(source, planned, rel_or_meta)
            if rel is None:
                return None
        else:
            rel = rel_or_meta
        if rel is None:
            return None
        try:
            live_meta = live.stat(rel)
        except (OSError, ValueError):
            return None
        if live_meta.size != meta.size:
            return None
        hit = self._live_hash(live, volume, rel)
        if hit is None:
            return None
        index = LiveIndex()
        index.add(rel, hit[0], hit[1], hit[2])
        check = live_duplicate(source, rel, index)
        if not check.duplicate:
            return None
        where = hit[2] or live.original_path(rel)
        return f"identical to the live copy {where} (sha256 {check.sha256})"

    @staticmethod
    def _find_rel(source: Any, planned: Any, meta: Any) -> str | None:
        candidates = [planned.rel, *getattr(planned, "companions", ())]
        want = (meta.extra or {}).get("mft_entry")
        if len(candidates) == 1 or want is None:
            return candidates[0]
        for rel in candidates:
            try:
                if source.stat(rel).extra.get("mft_entry") == want:
                    return rel
            except OSError:
                continue
        return None


def skip_identical_to_live(sources: Iterable[Any]) -> SkipIdenticalToLive:
    """``CollectOptions.skip_hook`` for ``--vss`` (see SkipIdenticalToLive)."""
    return SkipIdenticalToLive(list(sources))
