"""IOC files (typed lines, CSV, STIX 2.1) and the sweep over the fleet."""

from __future__ import annotations

import hashlib
import json
import sqlite3

import pytest
from _fleet_helpers import HOSTS, PLANTED, copy_store, triage

from triage.fleet import ioc


def test_typed_lines_csv_and_bare_values():
    text = "\n".join([
        "# comment", "",
        "sha256:" + "A" * 64,
        "md5: " + "b" * 32,
        "hash:" + "c" * 40,
        "domain:WWW.Evil.example",
        "ip:10.0.0.1",
        "ipv6:2001:db8::1",
        "path:C:\\Users\\Public\\updater.exe",
        "filename:C:\\temp\\Mimikatz.EXE",
        "regval:-w hidden -enc",
        "url:http://evil.example/x",
        "type,value",
        "sha1," + "d" * 40,
        '"domain","bad.example"',
        "e" * 64,
        "192.168.1.7",
    ])
    iocs, issues = ioc.parse_ioc_text(text, "list.txt")
    assert issues == []
    got = [(i.type, i.value) for i in iocs]
    assert got == [("sha256", "a" * 64), ("md5", "b" * 32), ("sha1", "c" * 40), ("domain", "evil.example"),
                   ("ip", "10.0.0.1"), ("ip", "2001:db8::1"), ("path", "C:\\Users\\Public\\updater.exe"),
                   ("filename", "mimikatz.exe"), ("regval", "-w hidden -enc"), ("url", "http://evil.example/x"),
                   ("sha1", "d" * 40), ("domain", "bad.example"), ("sha256", "e" * 64), ("ip", "192.168.1.7")]
    assert iocs[2].source == "list.txt:5"


def test_bad_lines_are_issues_with_their_line_number():
    iocs, issues = ioc.parse_ioc_text("sha256:1234\nfoo:bar\nip:999.1.1.1\nmd5,zz\nevil.example\n"
                                      "domain:ok.example\n", "x.txt")
    assert [i.value for i in iocs] == ["ok.example"]
    assert [s.split(":")[1] for s in issues] == ["1", "2", "3", "4", "5"]
    assert "not a sha256" in issues[0] and "unknown IOC type" in issues[1]


def test_stix_bundle_indicators():
    bundle = {"type": "bundle", "id": "bundle--1", "objects": [
        {"type": "indicator", "spec_version": "2.1", "id": "indicator--a", "pattern_type": "stix",
         "pattern": "[file:hashes.'SHA-256' = '" + "F" * 64 + "'] OR [file:hashes.MD5 = '" + "1" * 32 + "']"},
        {"type": "indicator", "id": "indicator--b", "pattern_type": "stix",
         "pattern": "[domain-name:value = 'c2.example.net']"},
        {"type": "indicator", "id": "indicator--c", "pattern_type": "stix",
         "pattern": "[ipv4-addr:value = '203.0.113.9'] AND [file:name = 'evil.exe']"},
        {"type": "indicator", "id": "indicator--d", "pattern_type": "stix",
         "pattern": "[windows-registry-key:values[*].data = 'powershell -enc']"},
        {"type": "indicator", "id": "indicator--e", "pattern_type": "sigma", "pattern": "title: x"},
        {"type": "indicator", "id": "indicator--f", "pattern_type": "stix",
         "pattern": "[file:name MATCHES '^evil']"},
        {"type": "malware", "id": "malware--x", "name": "not an indicator"},
    ]}
    iocs, issues = ioc.parse_ioc_text(json.dumps(bundle), "feed.json")
    assert [(i.type, i.value) for i in iocs] == [
        ("sha256", "f" * 64), ("md5", "1" * 32), ("domain", "c2.example.net"), ("ip", "203.0.113.9"),
        ("filename", "evil.exe"), ("regval", "powershell -enc")]
    assert iocs[0].source == "feed.json indicator--a"
    assert any("indicator--e" in s and "sigma" in s for s in issues)
    assert any("indicator--f" in s and "MATCHES" in s for s in issues)


def _corpus_file_on_some_hosts(fleet, corpus) -> tuple[str, set[str]]:
    """A corpus event log placed verbatim (hard link) on some but not all hosts: its SHA-256 from
    the corpus file itself, and the hosts hosts.json says got it."""
    on: dict[str, set[str]] = {}
    for host in fleet.hosts_json["hosts"]:
        for f in host["files"]:
            if f.get("source", "").startswith("evtx/") and f["path"].endswith(".evtx") and not f.get("changed"):
                on.setdefault(f["source"], set()).add(host["name"])
    source = min((s for s, h in on.items() if 1 < len(h) < HOSTS), key=lambda s: (len(on[s]), s))
    return hashlib.sha256((corpus / source).read_bytes()).hexdigest(), on[source]


@pytest.fixture(scope="module")
def sweep_run(fleet, corpus, tmp_path_factory):
    """Re-run over the fleet with IOC files, into a copy of the first run's store: every bundle is
    skipped (already analyzed) and only the fleet analysis runs."""
    out = copy_store(fleet, tmp_path_factory.mktemp("ioc-run"))
    sha, hosts = _corpus_file_on_some_hosts(fleet, corpus)
    lines = out / "iocs.txt"
    lines.write_text(f"# planted command, by a substring of the Run value\nregval:-w hidden -enc\nsha256:{sha}\n"
                     "domain:never-seen.invalid\n")
    stix = out / "iocs.stix.json"
    stix.write_text(json.dumps({"type": "bundle", "id": "bundle--t", "objects": [
        {"type": "indicator", "id": "indicator--p", "pattern_type": "stix",
         "pattern": "[file:name = 'updater.exe']"}]}))
    proc = triage("analyze", str(fleet.bundles), "--output", str(out), "--ioc", str(lines), "--ioc", str(stix),
                  check=False)
    assert proc.returncode == 4, proc.stdout + proc.stderr  # PARTIAL: the garbage and truncated bundles
    conn = sqlite3.connect(out / "fleet.sqlite")
    conn.row_factory = sqlite3.Row
    yield proc, conn, sha, hosts, out
    conn.close()


def _matched(conn, ioc_type, value) -> set[str]:
    return {r[0] for r in conn.execute("SELECT DISTINCT h.name FROM ioc_matches m JOIN hosts h ON h.id = m.host_id"
                                       " WHERE m.ioc_type = ? AND m.ioc_value = ?", (ioc_type, value))}


def test_rerun_with_iocs_skips_every_bundle(sweep_run):
    proc = sweep_run[0]
    assert f"analyzed now: 0 ok, 0 failed; skipped (already analyzed): {HOSTS + 2}" in proc.stdout


def test_sweep_finds_the_planted_command_by_substring(sweep_run):
    _, conn, *_ = sweep_run
    index, (name, command) = next((i, p) for i, p in PLANTED.items() if "-enc" in p[1])
    assert _matched(conn, "regval", "-w hidden -enc") == {f"host-{index:03d}"}
    row = conn.execute("SELECT * FROM ioc_matches WHERE ioc_type = 'regval'").fetchone()
    evidence = json.loads(row["evidence"])
    assert evidence["name"] == name and evidence["command"] == command
    assert evidence["bundle_path"].endswith("NTUSER.DAT") and evidence["locator"]
    assert row["ioc_source"] == "iocs.txt:2"


def test_sweep_finds_a_corpus_file_by_its_hash(sweep_run):
    _, conn, sha, hosts, _ = sweep_run
    assert _matched(conn, "sha256", sha) == hosts
    paths = {json.loads(r[0])["path"] for r in conn.execute(
        "SELECT evidence FROM ioc_matches WHERE ioc_type = 'sha256'")}
    assert all(p.lower().endswith(".evtx") for p in paths)


def test_stix_filename_and_unmatched_iocs(sweep_run):
    _, conn, *_ = sweep_run
    index = next(i for i, p in PLANTED.items() if "updater.exe" in p[1])
    assert f"host-{index:03d}" in _matched(conn, "filename", "updater.exe")
    assert _matched(conn, "domain", "never-seen.invalid") == set()


def test_ioc_matches_become_findings_and_show_in_the_index(sweep_run):
    _, conn, sha, hosts, out = sweep_run
    rows = conn.execute("SELECT h.name, f.rule, f.severity FROM findings f JOIN hosts h ON h.id = f.host_id"
                        " WHERE f.origin = 'ioc'").fetchall()
    assert {r["name"] for r in rows if r["rule"] == "fleet.ioc.sha256"} == hosts
    assert all(r["severity"] == "high" for r in rows)
    page = (out / "index.html").read_text()
    assert sha in page and "-w hidden -enc" in page
