"""Prefetch parser against every prefetch file of the shared corpus and truth.json (pyscca reference).

Deliberate differences from truth: none on the compared fields. ``last_runs`` keeps the slot order
Windows wrote (slot 0 = latest), exactly like truth's ``last_run_times``; it is not re-sorted
(CODE.EXE-2ADE8935.pf has two slots a few ms out of order and both sides keep them as stored).
"""

from __future__ import annotations

import zipfile
from datetime import UTC
from pathlib import Path

import pytest

from triage.model import Execution, Issue
from triage.parsers.base import input_from_file
from triage.parsers.prefetch import PrefetchParser, executable_full_path
from triage.units import iso


def _prefetch_files(corpus: Path) -> list[Path]:
    return sorted(p for p in (corpus / "prefetch").rglob("*") if p.is_file())


@pytest.fixture(scope="session")
def parsed(corpus) -> dict[str, list]:
    """Every corpus prefetch file parsed once: {path relative to corpus: [records and issues]}."""
    parser = PrefetchParser()
    return {p.relative_to(corpus).as_posix(): list(parser.parse(input_from_file(p, f"Windows/Prefetch/{p.name}")))
            for p in _prefetch_files(corpus)}


def test_every_corpus_prefetch_file_is_covered(parsed, truth):
    expected = {k for k, v in truth.items() if v.get("format") == "prefetch"}
    assert set(parsed) == expected
    assert len(parsed) == 226


def test_readable_files_match_truth_exactly(parsed, truth):
    compared = 0
    versions = set()
    for rel, out in parsed.items():
        ref = truth[rel]
        if "error" in ref:
            continue
        issues = [o for o in out if isinstance(o, Issue) and o.severity == "error"]
        assert not issues, (rel, issues)
        (rec,) = [o for o in out if isinstance(o, Execution)]
        got = {
            "executable": rec.executable, "prefetch_hash": rec.prefetch_hash, "version": rec.prefetch_version,
            "run_count": rec.run_count, "last_run_times": [iso(t) for t in rec.last_runs],
            "number_of_volumes": len(rec.volumes), "number_of_filenames": len(rec.referenced_files),
        }
        assert got == {k: ref[k] for k in got}, rel
        assert rec.kind == "prefetch"
        assert rec.source.bundle_path.endswith(Path(rel).name)
        assert all(t.tzinfo is UTC for t in rec.last_runs)
        versions.add((rec.prefetch_version, ref["signature"]))
        compared += 1
    assert compared == 221
    # Every version, including Windows 10/11 MAM-compressed files and decompressed v31 files.
    assert {(17, "SCCA"), (23, "SCCA"), (26, "SCCA"), (30, "MAM-compressed"), (31, "MAM-compressed"),
            (31, "SCCA")} <= versions


def test_unreadable_files_give_an_issue_and_no_record(parsed, truth):
    bad = [rel for rel in parsed if "error" in truth[rel]]
    assert sorted(bad) == sorted([
        "prefetch/corrupted/bad_compression.pf", "prefetch/corrupted/malformed.pf",
        "prefetch/ez-bad/notAPrefetch.pf", "prefetch/truncated/CALC.EXE-3FBEF7FD.pf.truncated",
        "prefetch/truncated/CMD.EXE-4A81B364.pf.truncated"])
    for rel in bad:
        out = parsed[rel]
        assert not [o for o in out if isinstance(o, Execution)], rel
        assert [o for o in out if isinstance(o, Issue) and o.severity == "error"], rel


def test_full_path_and_volumes(parsed):
    rec = next(o for o in parsed["prefetch/ez-win10/CALC.EXE-3FBEF7FD.pf"] if isinstance(o, Execution))
    assert rec.path and rec.path.upper().endswith("\\CALC.EXE")
    assert rec.path in rec.referenced_files
    vol = rec.volumes[0]
    assert set(vol) == {"serial_number", "device_path", "creation_time"}
    assert len(vol["serial_number"]) == 8 and vol["device_path"]
    assert vol["creation_time"] is None or vol["creation_time"].tzinfo is UTC
    found = sum(1 for out in parsed.values() for o in out if isinstance(o, Execution) and o.path)
    assert found >= 200  # a few executables are not among their own referenced files (e.g. NTOSBOOT)


def test_executable_name_cut_to_29_chars_matches_full_name():
    names = ["\\VOLUME{x}\\WINDOWS\\NTDLL.DLL", "\\VOLUME{x}\\PROGRAMDATA\\AM_DELTA_PATCH_1.443.990.0.EXE"]
    assert executable_full_path("AM_DELTA_PATCH_1.443.990.0.EX", names) == names[1]
    assert executable_full_path("NTDLL.DL", names) is None


def test_reads_from_a_zip_member_stream(corpus, tmp_path):
    """Bundles hand parsers a streamed zip member, not a path: same results, no temp copy needed."""
    src = corpus / "prefetch/plaso/AM_DELTA_PATCH_1.443.990.0.EX-7037CF86.pf"  # v31, MAM-compressed
    bundle = tmp_path / "b.zip"
    with zipfile.ZipFile(bundle, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.write(src, "files/C/Windows/Prefetch/" + src.name)
    item = input_from_file(src, f"Windows/Prefetch/{src.name}")
    zf = zipfile.ZipFile(bundle)
    item.open = lambda: zf.open("files/C/Windows/Prefetch/" + src.name)
    item.materialize = lambda: pytest.fail("prefetch must not need a materialized copy")
    (rec,) = [o for o in PrefetchParser().parse(item) if isinstance(o, Execution)]
    assert (rec.executable, rec.prefetch_version, rec.run_count) == ("AM_DELTA_PATCH_1.443.990.0.EX", 31, 1)
    zf.close()


def test_cut_and_mangled_mam_files_never_raise(corpus, tmp_path):
    data = (corpus / "prefetch/ez-win10/CHROME.EXE-B3BA7868.pf").read_bytes()
    # (cutting only the last byte can still decode: the Huffman stream ends in padding)
    variants = [data[:n] for n in (0, 3, 7, 8, 12, 100, len(data) // 2)]
    variants.append(data[:8] + b"\xff" * (len(data) - 8))
    variants.append(b"MAM\x04" + (2**31).to_bytes(4, "little") + data[8:])  # absurd decompressed size
    for i, blob in enumerate(variants):
        path = tmp_path / f"v{i}.pf"
        path.write_bytes(blob)
        out = list(PrefetchParser().parse(input_from_file(path)))
        assert out and all(isinstance(o, Issue) for o in out), (i, out)


def test_patterns_and_signatures():
    assert PrefetchParser.matches("Windows/Prefetch/CMD.EXE-4A81B364.pf")
    assert PrefetchParser.matches("WINDOWS/PREFETCH/CMD.EXE-4A81B364.PF")
    assert not PrefetchParser.matches("Windows/Prefetch/Layout.ini")
    assert (0, b"MAM\x04") in PrefetchParser.signatures and (4, b"SCCA") in PrefetchParser.signatures


def test_oversized_file_is_reported_not_parsed(tmp_path, monkeypatch):
    import triage.parsers.prefetch as mod
    monkeypatch.setattr(mod, "MAX_FILE_SIZE", 16)
    path = tmp_path / "X.pf"
    path.write_bytes(b"\x1e\x00\x00\x00SCCA" + b"\x00" * 64)
    (issue,) = list(PrefetchParser().parse(input_from_file(path)))
    assert isinstance(issue, Issue) and "larger than" in issue.message
