"""Collector end to end on make-host-tree hosts: hashes, selection, budgets, soundness, tamper detection."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import zipfile
from pathlib import Path

import pytest

from triage.bundle.manifest import COLLECTED, SKIPPED_BUDGET, SKIPPED_SIZE
from triage.bundle.reader import BundleReader
from triage.bundle.verify import verify_bundle
from triage.cli import main

ARTIFACT_KINDS = {"evtx", "prefetch", "hive-ntuser", "hive-log", "hive-sam", "hive-security", "hive-software",
                  "hive-system", "browser-chrome", "browser-edge", "browser-firefox"}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def collect(target: Path, out: Path, *extra: str, expect: int = 0) -> Path:
    rc = main(["collect", "--target", str(target), "--output", str(out), "--quiet", *extra])
    assert rc == expect  # 4 (exit_codes.PARTIAL) when a budget left files out
    bundles = sorted(out.glob("*.zip"))
    assert len(bundles) == 1
    return bundles[0]


def _noatime_sha256(path: Path) -> str:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOATIME", 0))
    with os.fdopen(fd, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def snapshot(tree: Path) -> dict[str, tuple]:
    """Content hash, mtime and atime (ns) of every file: the target must be unchanged by collection.
    Times are taken before the test's own read, which uses O_NOATIME so it does not disturb them."""
    out = {}
    for p in sorted(tree.rglob("*")):
        if p.is_file() and not p.is_symlink():
            st = p.stat()
            out[str(p.relative_to(tree))] = (st.st_mtime_ns, st.st_atime_ns, _noatime_sha256(p))
    return out


@pytest.fixture(scope="module", params=[0, 5, 11])
def collected(request, make_hosts, tmp_path_factory):
    fleet = make_hosts(hosts=1, seed=request.param, filler_mb=2)
    host = fleet / "host-000"
    before = snapshot(host)
    out = tmp_path_factory.mktemp(f"bundle-{request.param}")
    bundle = collect(host, out)
    after = snapshot(host)  # now, before any other test reads the tree
    hosts = json.loads((fleet / "hosts.json").read_text())["hosts"][0]
    return host, bundle, (before, after), hosts


def test_every_collected_file_hash_equals_source(collected):
    host, bundle, _, _ = collected
    assert verify_bundle(bundle).ok
    with BundleReader(bundle) as b:
        got = [e for e in b.entries if e.outcome == COLLECTED and e.volume == "C"]
        assert got
        for e in got:
            rel = e.path[3:].replace("\\", "/")
            assert e.sha256 == _noatime_sha256(host / rel), e.path
            with b.open(e.bundle_path) as fh:
                assert hashlib.sha256(fh.read()).hexdigest() == e.sha256


def test_every_artifact_collected_and_no_filler(collected):
    host, bundle, _, hosts = collected
    with BundleReader(bundle) as b:
        taken = {e.path[3:].replace("\\", "/").lower() for e in b.entries if e.outcome == COLLECTED and e.volume == "C"}
        names = b.names()
    wanted = {f["path"].lower() for f in hosts["files"] if f["kind"] in ARTIFACT_KINDS}
    assert wanted <= taken, wanted - taken
    # make-host-tree places History-journal files as filler; they are the databases' companions, so taken.
    filler = {f["path"].lower() for f in hosts["files"]
              if f["kind"].startswith("filler") and not f["path"].endswith(("-journal", "-wal"))}
    assert not (filler & taken), filler & taken
    assert not any("pagefile.sys" in n.lower() or "/documents/" in n.lower() for n in names)


def test_target_unchanged(collected):
    _, _, (before, after), _ = collected
    assert after == before


def test_manifest_records_provenance(collected):
    _, bundle, _, _ = collected
    with BundleReader(bundle) as b:
        rec = b.collection
        assert rec["status"] == "complete" and rec["profile"]["name"] == "windows-triage"
        assert rec["started"].endswith("Z") and rec["finished"].endswith("Z")
        assert rec["totals"]["collected"] == sum(1 for e in b.entries if e.outcome == COLLECTED)
        hive = next(e for e in b.entries if e.path.endswith("NTUSER.DAT") and e.outcome == COLLECTED)
        assert hive.user and hive.times["modified"].endswith("Z") and hive.artifact == "WindowsUserRegistryHives"
        logs = [e for e in b.entries if e.role == "companion" and e.companion_of == hive.bundle_path]
        for log in logs:
            assert log.outcome == COLLECTED
        missing = [e for e in b.entries if e.outcome == "missing"]
        assert any(e.artifact == "WindowsRecycleBinMetadata" for e in missing)


def test_budget_respected_in_priority_order(make_hosts, tmp_path):
    host = make_hosts(hosts=1, seed=5, filler_mb=2) / "host-000"
    bundle = collect(host, tmp_path, "--max-size", "3MiB", expect=4)
    with BundleReader(bundle) as b:
        entries = b.entries
    taken = sum(e.size for e in entries if e.outcome == COLLECTED and e.volume == "C")
    assert taken <= 3 * 1024 * 1024
    skipped = [e for e in entries if e.outcome == SKIPPED_BUDGET and e.role == "primary"]
    assert skipped and all(e.source_size is not None and "size budget" in e.error for e in skipped)
    # Priority order: a file handled after a skipped one only got in because it was smaller than what
    # was left, which was already less than the skipped file needed.
    for s in skipped:
        for c in entries:
            if c.outcome == COLLECTED and c.seq > s.seq and c.volume == "C":
                assert c.size < s.source_size, (c.path, s.path)
    # and the highest-priority artifact came first
    assert min(e.seq for e in entries if e.outcome == COLLECTED and e.volume == "C") == min(
        e.seq for e in entries if e.artifact == "WindowsEventLogs")
    assert verify_bundle(bundle).ok


def test_per_file_cap_and_time_budget(tmp_path, make_hosts):
    host = make_hosts(hosts=1, seed=5, filler_mb=2) / "host-000"
    prof = tmp_path / "tiny.yaml"
    prof.write_text("name: tiny\ndescription: t\nartifacts:\n"
                    "  - name: Logs\n    priority: 1\n    max_file_size: 64KiB\n"
                    "    paths: ['%%environ_systemroot%%\\System32\\winevt\\Logs\\*.evtx']\n")
    bundle = collect(host, tmp_path / "o", "--profile", str(prof))
    with BundleReader(bundle) as b:
        outcomes = {e.outcome for e in b.entries}
        assert SKIPPED_SIZE in outcomes
        assert all(e.size <= 64 * 1024 for e in b.entries if e.outcome == COLLECTED)
    bundle2 = collect(host, tmp_path / "t", "--max-time", "0s", expect=4)
    with BundleReader(bundle2) as b:
        assert all(e.outcome != COLLECTED for e in b.entries if e.volume == "C")
        assert any(e.outcome == SKIPPED_BUDGET for e in b.entries)


def test_store_and_extra_hashes(make_hosts, tmp_path):
    host = make_hosts(hosts=1, seed=0, filler_mb=2) / "host-000"
    bundle = collect(host, tmp_path, "--compression", "store", "--hash", "md5", "--hash", "sha1")
    with zipfile.ZipFile(bundle) as z:
        assert all(i.compress_type == zipfile.ZIP_STORED for i in z.infolist())
    with BundleReader(bundle) as b:
        e = next(e for e in b.entries if e.outcome == COLLECTED and e.volume == "C")
        data = (host / e.path[3:].replace("\\", "/")).read_bytes()
        assert e.md5 == hashlib.md5(data).hexdigest() and e.sha1 == hashlib.sha1(data).hexdigest()
    assert verify_bundle(bundle).ok


def test_links_not_followed_and_odd_names(tmp_path):
    """Symlinks out of the target are never followed; non-ASCII and long names keep their exact path."""
    root = tmp_path / "host"
    logs = root / "Windows/System32/winevt/Logs"
    logs.mkdir(parents=True)
    (logs / "Security.evtx").write_bytes(b"ElfFile\x00" + b"x" * 100)
    secret = tmp_path / "outside.txt"
    secret.write_text("outside the target")
    os.symlink(secret, logs / "Linked.evtx")
    os.symlink(tmp_path, root / "Windows" / "Prefetch")
    odd = "Ümlaut ünïcödé " + "x" * 150 + ".evtx"
    (logs / odd).write_bytes(b"odd")
    bundle = collect(root, tmp_path / "out")
    with BundleReader(bundle) as b:
        paths = {e.path for e in b.entries if e.outcome == COLLECTED}
        assert "C:\\Windows\\System32\\winevt\\Logs\\Security.evtx" in paths
        assert f"C:\\Windows\\System32\\winevt\\Logs\\{odd}" in paths
        assert not any("Linked" in p or "outside" in p for p in paths)
    assert verify_bundle(bundle).ok


def test_output_on_target_volume_warns(make_hosts, tmp_path, capsys):
    host = make_hosts(hosts=1, seed=0, filler_mb=2) / "host-000"
    work = tmp_path / "copy"
    shutil.copytree(host, work, symlinks=True)
    bundle = collect(work, work / "evidence-out")
    with BundleReader(bundle) as b:
        assert any("on the volume being collected" in w for w in b.collection["warnings"])
    assert "on the volume being collected" in capsys.readouterr().err


# -- tampering ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def clean_bundle(make_hosts, tmp_path_factory):
    host = make_hosts(hosts=1, seed=0, filler_mb=2) / "host-000"
    return collect(host, tmp_path_factory.mktemp("clean"), "--compression", "store")


def _rewrite(src: Path, dst: Path, edit) -> Path:
    """Copy a bundle member by member, letting ``edit(name, data)`` change, drop (None) or add members."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = edit(info.filename, zin.read(info))
            if data is not None:
                zout.writestr(info.filename, data)
        extra = edit("__add__", b"")
        if extra:
            zout.writestr(*extra)
    dst.with_name(dst.name + ".sha256").write_text(f"{sha256(dst)}  {dst.name}\n")
    return dst


def test_flipped_byte_detected(clean_bundle, tmp_path):
    bad = tmp_path / clean_bundle.name
    shutil.copy(clean_bundle, bad)
    shutil.copy(clean_bundle.with_name(clean_bundle.name + ".sha256"), tmp_path)
    with BundleReader(bad) as b:
        e = next(e for e in b.entries if e.outcome == COLLECTED and e.size > 1000)
        off = b.zip.getinfo(e.bundle_path).header_offset + 30 + len(e.bundle_path.encode()) + 100
    with open(bad, "r+b") as fh:
        fh.seek(off)
        byte = fh.read(1)
        fh.seek(off)
        fh.write(bytes([byte[0] ^ 0xFF]))
    r = verify_bundle(bad)
    assert not r.ok
    assert any("sidecar" in p for p in r.problems)
    assert any(e.bundle_path in p for p in r.problems)
    assert main(["verify", str(bad)]) == 1


def test_dropped_entry_detected(clean_bundle, tmp_path):
    with BundleReader(clean_bundle) as b:
        victim = next(e for e in b.entries if e.outcome == COLLECTED and e.artifact == "WindowsPrefetchFiles")
    def edit(name, data):
        if name == victim.bundle_path:
            return None
        if name == "meta/manifest.jsonl":
            return b"".join(ln + b"\n" for ln in data.splitlines() if victim.bundle_path.encode() not in ln)
        return None if name == "__add__" else data
    r = verify_bundle(_rewrite(clean_bundle, tmp_path / clean_bundle.name, edit))
    assert not r.ok
    assert any("changed after collection" in p for p in r.problems)
    assert any("in the journal but not in the manifest" in p for p in r.problems)


def test_added_entry_detected(clean_bundle, tmp_path):
    def edit(name, data):
        if name == "__add__":
            return ("files/C/Windows/Temp/planted.exe", b"MZ evil")
        return data
    r = verify_bundle(_rewrite(clean_bundle, tmp_path / clean_bundle.name, edit))
    assert not r.ok and any("unexpected member 'files/C/Windows/Temp/planted.exe'" in p for p in r.problems)


def test_edited_manifest_detected(clean_bundle, tmp_path):
    with BundleReader(clean_bundle) as b:
        victim = next(e for e in b.entries if e.outcome == COLLECTED)
    def edit(name, data):
        if name == "meta/manifest.jsonl":
            return data.replace(victim.sha256.encode(), b"0" * 64)
        return None if name == "__add__" else data
    r = verify_bundle(_rewrite(clean_bundle, tmp_path / clean_bundle.name, edit))
    assert not r.ok
    assert any(victim.bundle_path in p and "SHA256" in p for p in r.problems)
    assert any("changed after collection" in p for p in r.problems)


def test_clean_bundle_verifies(clean_bundle):
    r = verify_bundle(clean_bundle)
    assert r.ok, r.problems
    assert main(["verify", str(clean_bundle)]) == 0
