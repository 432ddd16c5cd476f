"""Verify a bundle: structure, every manifest entry's size and hashes, unexpected members, sidecar.

Anyone can do the same without our code (docs/bundle-format.md); this is the reference check.
Problems are collected, never raised, so one report lists everything wrong with a bundle.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from triage.bundle import COLLECTION_NAME, JOURNAL_PREFIX, LOG_NAME, MANIFEST_NAME
from triage.bundle import limits as L
from triage.bundle.kind import file_kind
from triage.bundle.manifest import HAS_DATA, SKIPPED_INTERRUPTED, ManifestEntry
from triage.bundle.names import is_safe_member
from triage.bundle.reader import START_NAME, BundleReader
from triage.bundle.sidecar import sidecar_path, sidecar_words

KNOWN_META = {MANIFEST_NAME, COLLECTION_NAME, LOG_NAME, START_NAME}
MAX_PROBLEMS = 1000   # a report lists this many problems, then says how many more there were


class Problems(list):
    """The problems of one report: the first MAX_PROBLEMS kept, the rest only counted (a hostile
    bundle can make hundreds of thousands, each a string; memory stays bounded)."""

    dropped = 0

    def append(self, item: str) -> None:
        if len(self) < MAX_PROBLEMS:
            super().append(item)
        else:
            self.dropped += 1

    def extend(self, items) -> None:
        for item in items:
            self.append(item)

    def final(self) -> list[str]:
        return list(self) + ([f"... and {self.dropped} more problem(s)"] if self.dropped else [])


@dataclass
class VerifyReport:
    path: str
    ok: bool = False
    incomplete: bool = False
    encrypted: bool = False
    problems: list[str] = field(default_factory=Problems)
    checked: int = 0
    sha256: str | None = None
    recoverable: int | None = None
    status: str | None = None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def _sidecar(path: Path, sha: str, report: VerifyReport) -> None:
    side = sidecar_path(path)
    if not side.is_file():
        report.problems.append(f"no sidecar {side.name}: the collection did not finish or the sidecar was not copied")
        return
    try:
        text = sidecar_words(path)
    except OSError as exc:
        report.problems.append(f"sidecar unreadable: {exc}")
        return
    if not text or text[0].lower() != sha:
        report.problems.append(f"bundle SHA-256 {sha} does not match the sidecar "
                               f"({L.clip(text[0], 80) if text else 'empty'})")


def verify_bundle(path: str | Path, *, copy_out=None, reader: BundleReader | None = None) -> VerifyReport:
    """Check a bundle (see the module docstring); problems are listed in the report, never raised.

    copy_out: optional ``copy_out(entry) -> (binary file, done(error))`` or None, asked for every
    member as it is hashed: the member's bytes are also written to that file, so a caller that
    needs a private copy of a member (the analyzer's event logs) gets it from the same inflate as
    the hash; ``done`` is called once the member has been read, with None or the read error.
    reader: the caller's open BundleReader of the same file (left open), instead of opening another.
    """
    path = Path(path)
    report = VerifyReport(path=str(path))
    if not path.is_file():
        report.problems = ["no such file"]
        return report
    if file_kind(path).kind == "encrypted":
        # Encrypted bundles are the shipping layer's format: the verify command dispatches them to
        # triage.ship.decrypt (this layer must not import it); a caller that got here was not told.
        report.encrypted = True
        report.problems = ["encrypted bundle: verify it with 'triage verify' (--key to check the contents)"
                           " or run 'triage decrypt' first"]
        return report

    if reader is not None:
        _check_plain(path, reader, report, copy_out)
    else:
        with BundleReader(path) as b:
            _check_plain(path, b, report, copy_out)
    if isinstance(report.problems, Problems):
        report.problems = report.problems.final()
    report.ok = not report.problems
    return report


def _check_plain(path: Path, b: BundleReader, report: VerifyReport, copy_out) -> None:
    """The checks of a plain (unencrypted) bundle, appended to ``report``."""
    report.sha256 = b.sha256
    if b.not_a_zip:
        report.problems.append("not a ZIP file (no ZIP header at its start): not a triage bundle")
        return
    _sidecar(path, b.sha256, report)
    report.problems.extend(b.problems)
    status = b.collection.get("status")
    report.status = status if isinstance(status, str) else None
    if b.zip is None:
        report.incomplete = True
        report.recoverable = len(b.entries)
        report.problems.append(
            f"no central directory: the collection was interrupted; {len(b.entries)} finished file(s) are "
            f"recoverable with 'triage recover {path.name}'")
        return
    infos = b.zip.infolist()
    names = [i.filename for i in infos]
    seen: set[str] = set()
    for n in names:
        if n in seen:
            report.problems.append(f"duplicate member name {L.shown(n)}")
        seen.add(n)
        if not is_safe_member(n):
            report.problems.append(f"unsafe member name {L.shown(n)}")
    if COLLECTION_NAME not in seen:
        report.problems.append("missing meta/collection.json")
        report.incomplete = True
    if MANIFEST_NAME not in seen:
        report.problems.append("missing meta/manifest.jsonl")
        report.incomplete = True
    else:
        msha = _manifest_sha256(b, report)
        recorded = b.collection.get("manifest_sha256")
        if recorded and msha and recorded != msha:
            report.problems.append("meta/manifest.jsonl was changed after collection (its SHA-256 differs "
                                   "from the one in meta/collection.json)")
    if b.collection.get("status") == "interrupted":
        report.incomplete = True
        left = sum(1 for e in b.entries if e.outcome == SKIPPED_INTERRUPTED)
        report.problems.append(f"the collection was interrupted: {left} planned file(s) were not collected")

    expected: dict[str, ManifestEntry] = {}
    for e in b.entries:
        if e.outcome in HAS_DATA and e.bundle_path:
            if e.bundle_path in expected:
                report.problems.append(f"manifest lists {e.bundle_path} twice")
            expected[e.bundle_path] = e
    for name, e in expected.items():
        if name not in seen:
            report.problems.append(f"missing member {L.shown(name)} (manifest: {L.shown(e.path)})")
            continue
        hashers = {k: hashlib.new(k) for k in ("sha256", "sha1", "md5") if getattr(e, k)}
        size = 0
        tee = copy_out(e) if copy_out is not None else None
        failure: BaseException | None = None
        try:
            with b.open(name) as fh:
                while block := fh.read(1 << 20):  # the inflater's block size: no re-joining
                    size += len(block)
                    for h in hashers.values():
                        h.update(block)
                    if tee is not None and failure is None:
                        try:  # the copy's own trouble (a full temp disk) is not the bundle's
                            tee[0].write(block)
                        except OSError as exc:
                            failure = exc
        except L.READ_ERRORS as exc:
            failure = failure or exc
            report.problems.append(f"{L.shown(name)}: unreadable member: {str(exc)[:300]}")
            continue
        finally:
            if tee is not None:
                tee[1](failure)
        report.checked += 1
        if e.size is not None and size != e.size:
            report.problems.append(f"{L.shown(name)}: size {size} != manifest {e.size}")
        for k, h in hashers.items():
            if h.hexdigest() != getattr(e, k):
                report.problems.append(f"{L.shown(name)}: {k.upper()} {h.hexdigest()} != manifest "
                                       f"{L.shown(getattr(e, k), 80)}")
    journal: dict[str | None, dict] = {}
    for n in names:
        if n.startswith(JOURNAL_PREFIX):
            try:
                with b.open(n) as fh:
                    j = L.loads(L.read_capped(fh, L.MAX_JOURNAL_ENTRY, "the entry"))
                if not isinstance(j, dict) or not isinstance(j.get("bundle_path"), (str, type(None))):
                    raise ValueError("not a JSON object with a bundle_path string")
                journal[j.get("bundle_path")] = j
            except L.READ_ERRORS as exc:
                report.problems.append(f"{L.shown(n)}: unreadable journal entry: {str(exc)[:300]}")
    for n in names:
        if n in expected or n in KNOWN_META or n.startswith(JOURNAL_PREFIX):
            continue
        report.problems.append(f"unexpected member {L.shown(n)} (not in the manifest)")
    for bp, e in expected.items():
        j = journal.get(bp)
        if j is None:
            report.problems.append(f"{L.shown(bp)}: no journal entry (manifest edited?)")
        elif j.get("sha256") != e.sha256 or j.get("size") != e.size:
            report.problems.append(f"{L.shown(bp)}: manifest disagrees with the journal written during "
                                   "collection")
    for jbp in journal:
        if jbp not in expected:
            report.problems.append(f"{L.shown(jbp)}: in the journal but not in the manifest (entry dropped?)")


def _manifest_sha256(b: BundleReader, report: VerifyReport) -> str | None:
    """SHA-256 of meta/manifest.jsonl, streamed (never read whole), None when it cannot be read."""
    assert b.zip is not None
    declared = b.zip.getinfo(MANIFEST_NAME).file_size
    if declared > L.MAX_MANIFEST_BYTES:
        return None   # the reader already said it is too large
    h = hashlib.sha256()
    try:
        with b.open(MANIFEST_NAME) as fh:
            while block := fh.read(1 << 20):
                h.update(block)
    except L.READ_ERRORS as exc:
        report.problems.append(f"{MANIFEST_NAME} unreadable: {str(exc)[:300]}")
        return None
    return h.hexdigest()
