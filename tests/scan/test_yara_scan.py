"""Scanning: a real collected bundle, decoded records, caps, timeouts, broken members, the compile
cache and findings."""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from triage.bundle.manifest import ManifestEntry
from triage.bundle.reader import BundleReader
from triage.cli import main
from triage.model import Event, Issue, Source
from triage.scan.rules import cache_dir, compile_rules
from triage.scan.yara import YaraHit, YaraScanner, findings_from_hits

MARK = "TRIAGE-PLANTED-7731"
PLANTED_RULE = f'''
rule Planted_Run_Value : planted
{{
    meta:
        description = "planted test value"
        severity = "high"
        attack = "T1547.001"
        reference = "tests/scan/test_yara_scan.py"
        date = "2026-11-25"
    strings:
        $a = "{MARK}" ascii wide
    condition:
        $a
}}
'''
T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg")))


@pytest.fixture(scope="session")
def planted_bundle(make_hosts, tmp_path_factory) -> Path:
    """A bundle collected by triage from a make-host-tree host with a planted Run value."""
    hosts = make_hosts(hosts=1, seed=3, plant=(rf"0:Updater=C:\Users\Public\upd4te.exe /silent {MARK}",),
                       filler_mb=1)
    out = tmp_path_factory.mktemp("bundle")
    assert main(["collect", "--target", str(hosts / "host-000"), "--output", str(out)]) == 0
    (bundle,) = out.glob("*.zip")
    return bundle


@pytest.fixture(scope="session")
def planted_rules(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("rules")
    (d / "planted.yar").write_text(PLANTED_RULE)
    return d / "planted.yar"


def _split(items):
    hits = [x for x in items if isinstance(x, YaraHit)]
    issues = [x for x in items if isinstance(x, Issue)]
    assert len(hits) + len(issues) == len(items)
    return hits, issues


@pytest.mark.parametrize("jobs", [1, 2])
def test_collected_bundle_hit_names_rule_member_and_offsets(planted_bundle, planted_rules, jobs):
    scanner = YaraScanner([planted_rules])
    assert scanner.issues == []
    with BundleReader(planted_bundle) as reader:
        assert len(YaraScanner.bundle_members(reader)) >= 16  # jobs=2 takes the process-pool path
        hits, issues = _split(list(scanner.scan_bundle(reader, jobs=jobs)))
        assert [i for i in issues if i.severity == "error"] == []
        planted = [h for h in hits if h.rule == "Planted_Run_Value"]
        assert planted, [h.rule for h in hits]
        for h in planted:
            assert h.namespace == "user/planted" and h.tags == ("planted",) and h.target == "file"
            assert h.meta["severity"] == "high"
            assert h.source.bundle_path.startswith("files/C/")
            assert h.source.bundle_path.lower().endswith("ntuser.dat")
            with reader.open(h.source.bundle_path) as fh:
                data = fh.read()
            for ident, offset, preview in h.strings:
                assert ident == "$a" and preview == MARK
                assert data[offset:offset + 2 * len(MARK)] == MARK.encode("utf-16-le")
        d = planted[0].to_dict()
        assert json.loads(json.dumps(d))["where"]["bundle_path"] == planted[0].source.bundle_path
        assert d["strings"][0]["offset"] == planted[0].strings[0][1]


def test_parallel_and_serial_scans_agree(planted_bundle, planted_rules):
    scanner = YaraScanner([planted_rules])
    with BundleReader(planted_bundle) as reader:
        key = lambda h: (h.namespace, h.rule, h.source.bundle_path, h.source.locator, h.strings)  # noqa: E731
        serial = sorted(map(key, _split(list(scanner.scan_bundle(reader, jobs=1)))[0]))
        parallel = sorted(map(key, _split(list(scanner.scan_bundle(reader, jobs=2)))[0]))
    assert serial == parallel and serial


def test_findings_take_severity_and_attack_from_meta(planted_bundle, planted_rules):
    """The planted value is seen in the raw NTUSER.DAT only (no decoded records scanned here): a hit in
    raw hive bytes counts two severities lower than its rule (high -> low), and the finding says why."""
    scanner = YaraScanner([planted_rules])
    with BundleReader(planted_bundle) as reader:
        hits, _ = _split(list(scanner.scan_bundle(reader)))
    planted = [h for h in hits if h.rule == "Planted_Run_Value"]
    assert planted and all(h.hive and not h.confirmed and h.rule_severity == "high" for h in planted)
    findings = [f for f in findings_from_hits(hits) if f.rule == "yara:user/planted:Planted_Run_Value"]
    assert len(findings) == 1
    f = findings[0]
    assert f.severity == "low" and f.attack == ("T1547.001",) and f.title == "planted test value"
    assert "raw registry hive" in f.reason and "rule's high" in f.reason
    assert f.evidence[0]["bundle_path"].lower().endswith("ntuser.dat")
    assert f.evidence[0]["hive"] is True and f.evidence[0]["confirmed"] is False
    odd = YaraHit(rule="x", namespace="n", tags=(), meta={"severity": "urgent!"},
                  source=Source(bundle_path="b"), target="file")
    assert findings_from_hits([odd])[0].severity == "medium"


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_analysis_keeps_the_severity_of_a_hive_hit_a_decoded_value_confirms(planted_bundle, planted_rules,
                                                                           tmp_path):
    """End to end: the registry parser decodes the planted Run value into an autostart whose command
    the decoded scan matches, so the raw NTUSER.DAT hit is confirmed and the finding keeps the rule's
    severity; summary.json says which hits were in a hive and confirmed."""
    assert main(["analyze", str(planted_bundle), "--output", str(tmp_path), "--rules", str(planted_rules)]) == 0
    (summary_path,) = tmp_path.glob("hosts/*/summary.json")
    summary = json.loads(summary_path.read_text())
    mine = [y for y in summary["yara"] if y["rule"] == "Planted_Run_Value"]
    raw = [y for y in mine if y["target"] == "file"]
    decoded = [y for y in mine if y["target"] == "decoded"]
    assert raw and all(y["hive"] and y["confirmed"] for y in raw)
    assert decoded and decoded[0]["field"] == "command" and not decoded[0]["hive"]
    assert {y["bundle_path"] for y in decoded} <= {y["bundle_path"] for y in raw}
    (finding,) = [f for f in summary["findings"] if f["rule"] == "yara:user/planted:Planted_Run_Value"]
    assert finding["severity"] == "high" and "raw registry hive" not in finding["reason"]


def test_hive_detection_needs_the_name_and_the_magic():
    """Only a file named like a hive and starting with regf is a hive: a renamed web script or a
    script prefixed with "regf" keeps its rule's severity."""
    from triage.scan.yara import hive_of, is_hive, lowered, settle_hive_hits

    assert is_hive("files/C/Windows/System32/config/SYSTEM", b"regf\x01\x00")
    assert is_hive("files/C/Users/bob/ntuser.dat.LOG1", b"regf")
    assert is_hive("files/C/Users/bob/AppData/Local/Microsoft/Windows/UsrClass.dat", b"regf")
    assert not is_hive("files/C/inetpub/wwwroot/SYSTEM", b"<?php")
    assert not is_hive("files/C/inetpub/wwwroot/shell.php", b"regf")
    assert hive_of("files/C/Windows/System32/config/SAM.LOG2") == "files/C/Windows/System32/config/SAM"
    assert hive_of("files/C/Windows/System32/config/SYSTEM.sav") is None
    assert [lowered(s) for s in ("critical", "high", "medium", "low", "info")] == \
        ["medium", "low", "low", "low", "info"]
    rules = {"severity": "critical", "description": "d", "attack": "T1505.003"}
    src = Source(bundle_path="files/C/Windows/System32/config/SOFTWARE")
    in_hive = YaraHit(rule="r", namespace="n", tags=(), meta=rules, source=src, target="file", hive=True)
    elsewhere = YaraHit(rule="r", namespace="n", tags=(), meta=rules,
                        source=Source(bundle_path="files/C/inetpub/a.aspx"), target="file")
    assert findings_from_hits([in_hive])[0].severity == "medium"
    assert findings_from_hits([in_hive, elsewhere])[0].severity == "critical"  # the strongest hit counts
    # a decoded hit of another hive does not confirm this one
    other = YaraHit(rule="r", namespace="n", tags=(), meta=rules, target="decoded",
                    source=Source(bundle_path="files/C/Users/bob/NTUSER.DAT", locator="Run"))
    assert findings_from_hits([in_hive, other])[0].severity == "critical"  # 'other' itself is critical
    assert [h.confirmed for h in settle_hive_hits([in_hive, other])] == [False, False]


def test_size_cap_scans_the_prefix_and_says_so(tmp_path, planted_rules):
    early = _write(tmp_path / "early.bin", b"\x00" * 100 + MARK.encode() + b"\x00" * 300_000)
    late = _write(tmp_path / "late.bin", b"\x00" * 200_000 + MARK.encode())
    small = _write(tmp_path / "small.bin", MARK.encode("utf-16-le"))
    scanner = YaraScanner([planted_rules], include_pack=False, max_file_size=100_000)
    hits, issues = _split(list(scanner.scan_paths_parallel([early, late, small], jobs=1, root=tmp_path)))
    assert sorted(h.source.bundle_path for h in hits) == ["early.bin", "small.bin"]
    assert sorted((i.severity, i.source.bundle_path) for i in issues) == [("info", "early.bin"),
                                                                           ("info", "late.bin")]
    assert all("size cap" in i.message for i in issues)


def test_timeout_becomes_an_issue_and_the_scan_goes_on(tmp_path, planted_rules):
    slow = tmp_path / "slow.yar"
    slow.write_text("rule Slow { condition: uint8(0) == 0x53 and for all i in (0..filesize - 1) : "
                    "( for all j in (0..100000) : ( uint8(i) != 0x100 ) ) }\n")
    a = _write(tmp_path / "a.bin", b"S" * 200_000)
    b = _write(tmp_path / "b.bin", b"G" + MARK.encode())
    scanner = YaraScanner([slow, planted_rules], include_pack=False, timeout=1)
    hits, issues = _split(list(scanner.scan_paths_parallel([a, b], jobs=1, root=tmp_path)))
    assert [(h.rule, h.source.bundle_path) for h in hits] == [("Planted_Run_Value", "b.bin")]
    assert [(i.severity, i.source.bundle_path) for i in issues] == [("warning", "a.bin")]
    assert "timed out" in issues[0].message


def _hand_bundle(path: Path, members: dict[str, bytes]) -> Path:
    """A zip laid out like a bundle (files/ + meta/manifest.jsonl), for damage the collector never makes."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        lines = []
        for name, data in members.items():
            z.writestr(name, data)
            lines.append(ManifestEntry(path="C:\\" + name[8:].replace("/", "\\"), volume="C", bundle_path=name,
                                       artifact="test", priority=0, outcome="collected",
                                       size=len(data)).to_json())
        z.writestr("meta/manifest.jsonl", "\n".join(lines) + "\n")
    return path


def test_damaged_member_is_an_issue_and_others_are_scanned(tmp_path, planted_rules):
    payload = (MARK + " ").encode() * 2000
    bundle = _hand_bundle(tmp_path / "h_20240101T000000Z.zip",
                          {"files/C/a.txt": payload, "files/C/b.txt": payload})
    raw = bytearray(bundle.read_bytes())
    with zipfile.ZipFile(bundle) as z:
        info = z.getinfo("files/C/a.txt")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    raw[start + 10:start + 40] = b"\xff" * 30  # break the deflate stream of a.txt only
    bundle.write_bytes(bytes(raw))
    scanner = YaraScanner([planted_rules], include_pack=False)
    with BundleReader(bundle) as reader:
        hits, issues = _split(list(scanner.scan_bundle(reader)))
    assert [h.source.bundle_path for h in hits] == ["files/C/b.txt"]
    assert [(i.severity, i.source.bundle_path) for i in issues] == [("error", "files/C/a.txt")]


def test_mam_prefetch_is_also_scanned_decompressed(tmp_path, corpus):
    pf = corpus / "prefetch" / "artemis-win10" / "CL.EXE-B85EC1BB.pf"
    assert pf.read_bytes()[:4] == b"MAM\x04"
    rule = tmp_path / "pf.yar"
    rule.write_text('rule PF_Name { strings: $a = "CL.EXE" wide condition: $a }\n')
    scanner = YaraScanner([rule], include_pack=False)
    hits, issues = _split(list(scanner.scan_paths_parallel([pf], jobs=1, root=corpus)))
    assert issues == []
    assert [(h.target, h.source.locator, h.artifact) for h in hits] == [
        ("decoded", "decompressed prefetch", "prefetch")]
    raw_only = YaraScanner([rule], include_pack=False, decode_prefetch=False)
    assert list(raw_only.scan_paths_parallel([pf], jobs=1, root=corpus)) == []


def _fragment(n: int, total: int, text: str, record: int) -> Event:
    return Event(source=Source(bundle_path="files/C/ps.evtx", locator=f"record {record}"), timestamp=T0,
                 channel="Microsoft-Windows-PowerShell/Operational", provider="PowerShell", event_id=4104,
                 record_id=record, computer="h", category="powershell_script", description="",
                 fields={"script_block": text, "script_block_id": "sb-1", "message_number": n,
                         "message_total": total})


def test_script_block_parts_are_reassembled_before_scanning():
    scanner = YaraScanner()
    parts = [_fragment(2, 2, "katz -DumpCreds", 11), _fragment(1, 2, "Invoke-Mimi", 10)]
    hits, issues = _split(list(scanner.scan_records(parts)))
    assert issues == []
    assert [(h.rule, h.field, h.source.locator) for h in hits] == [
        ("PS_Invoke_Mimikatz", "script_block", "record 10..record 11 (script block sb-1, 2/2 parts reassembled)")]
    assert hits[0].when == T0


def test_incomplete_script_block_is_reported_and_still_scanned():
    scanner = YaraScanner()
    hits, issues = _split(list(scanner.scan_records([_fragment(1, 3, "Invoke-Mimikatz -DumpCreds", 5)])))
    assert [h.rule for h in hits] == ["PS_Invoke_Mimikatz"]
    assert len(issues) == 1 and "1 of 3 parts" in issues[0].message


def test_repeated_text_is_reported_for_every_record():
    scanner = YaraScanner()
    recs = [Event(source=Source(bundle_path="files/C/s.evtx", locator=f"record {i}"), timestamp=T0,
                  channel="Security", provider=None, event_id=4688, record_id=i, computer="h",
                  category="process", description="", fields={"command_line": "vssadmin delete shadows /all"})
            for i in range(3)]
    hits, _ = _split(list(scanner.scan_records(recs)))
    assert [h.source.locator for h in hits] == ["record 0", "record 1", "record 2"]


def test_compile_cache_is_reused_and_keyed_by_sources(tmp_path):
    planted_rules = tmp_path / "p.yar"  # sources unique to this run: no earlier cache entry can match
    planted_rules.write_text(f"// {tmp_path}\n{PLANTED_RULE}")
    first = compile_rules([planted_rules])
    assert not first.from_cache and first.cache_path is not None
    assert first.cache_path.parent == cache_dir() and first.cache_path.name == f"{first.key}.yarc"
    second = compile_rules([planted_rules])
    assert second.from_cache and second.key == first.key
    assert [m.rule for m in second.rules.match(data=MARK.encode())] == ["Planted_Run_Value"]
    changed = tmp_path / "planted.yar"
    changed.write_text(f"// {tmp_path}\n{PLANTED_RULE}".replace("high", "low"))
    third = compile_rules([changed])
    assert third.key != first.key and not third.from_cache


def test_corrupt_cache_file_is_recompiled(planted_rules):
    first = compile_rules([planted_rules])
    first.cache_path.write_bytes(b"not a compiled rules file")
    again = compile_rules([planted_rules])
    assert not again.from_cache and again.rules is not None
    assert [m.rule for m in again.rules.match(data=MARK.encode())] == ["Planted_Run_Value"]


def test_unwritable_cache_dir_still_compiles(tmp_path, monkeypatch, planted_rules):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    compiled = compile_rules([planted_rules])
    assert compiled.rules is not None and compiled.issues == []
    assert compiled.cache_path is None or not str(compiled.cache_path).startswith(str(blocker))
    hits, _ = _split(list(YaraScanner(compiled=compiled).scan_paths_parallel(
        [_write(tmp_path / "m.bin", MARK.encode())], jobs=2, root=tmp_path)))
    assert [h.rule for h in hits] == ["Planted_Run_Value"]


def test_missing_rule_path_is_an_issue(tmp_path):
    compiled = compile_rules([tmp_path / "nope.yar"])
    assert [(i.severity, i.message) for i in compiled.issues] == [("error", "rule path does not exist")]
    assert compiled.rules is not None  # the pack still loads


def test_interrupted_bundle_without_central_directory_is_scanned(planted_bundle, planted_rules, tmp_path):
    """A bundle cut before its central directory (collection interrupted): the reader walks the
    local headers and the journal, and the scan still finds the planted value."""
    with zipfile.ZipFile(planted_bundle) as z:
        cut = z.start_dir
    broken = tmp_path / planted_bundle.name
    broken.write_bytes(planted_bundle.read_bytes()[:cut])
    scanner = YaraScanner([planted_rules])
    with BundleReader(broken) as reader:
        assert not reader.complete
        hits, issues = _split(list(scanner.scan_bundle(reader, jobs=2)))
    assert [i for i in issues if i.severity == "error"] == []
    assert any(h.rule == "Planted_Run_Value" and h.source.bundle_path.lower().endswith("ntuser.dat")
               for h in hits)


def test_a_dead_worker_is_reported_and_the_rest_scanned_in_process(tmp_path, planted_rules, monkeypatch):
    """A worker that dies mid-scan (here: exits on one file, as a libyara crash would) breaks the
    pool; the scan says so and finishes the remaining files in this process."""
    import os

    import triage.scan.yara as ymod

    original = ymod._worker_scan_batch

    def crashing(batch):
        if any(job[2] == "crash.bin" for job in batch) and os.getpid() != parent:
            os._exit(3)
        return original(batch)

    crashing.__module__, crashing.__qualname__ = original.__module__, original.__qualname__
    parent = os.getpid()
    monkeypatch.setattr(ymod, "_worker_scan_batch", crashing)
    monkeypatch.setattr(ymod, "_pool_context", lambda: __import__("multiprocessing").get_context("fork"))
    files = [_write(tmp_path / f"f{i}.bin", MARK.encode() * (i + 1)) for i in range(20)]
    files.append(_write(tmp_path / "crash.bin", MARK.encode()))
    scanner = YaraScanner([planted_rules], include_pack=False)
    hits, issues = _split(list(scanner.scan_paths_parallel(files, jobs=2, root=tmp_path)))
    assert sorted(h.source.bundle_path for h in hits) == sorted(p.name for p in files)
    assert len(issues) == 1 and issues[0].severity == "warning" and "scanned serially" in issues[0].message
