"""Hostile bundle metadata: bombs, wrong JSON types, deep nesting, huge names, a file that is no zip.

Each attack goes through the real ``triage verify`` (or ``verify_bundle`` in a child process whose
peak RSS is measured) and must end as a listed problem with a message, bounded in memory.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import craft
import pytest

from triage.bundle import MANIFEST_NAME
from triage.bundle.verify import verify_bundle

REPO = Path(__file__).resolve().parents[2]
RSS_LIMIT_MB = 200

_MEASURE = """
import json, sys
from triage.bundle.verify import verify_bundle
r = verify_bundle(sys.argv[1])
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking parent across exec
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"rss_mb": hwm / 1024,
                  "ok": r.ok, "problems": r.problems}))
"""


def _verify_measured(bundle: Path) -> dict:
    """verify_bundle in a fresh interpreter: its peak RSS is the verification's own."""
    r = subprocess.run([sys.executable, "-c", _MEASURE, str(bundle)], cwd=REPO, capture_output=True,
                       text=True, timeout=600, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout)


def _cli_verify(bundle: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "triage", "verify", str(bundle)], cwd=REPO,
                          capture_output=True, text=True, timeout=600)


def _with_manifest(honest: Path, dest: Path, manifest: craft.Member) -> Path:
    return craft.write_zip(dest, craft.replace(craft.members_of(honest), MANIFEST_NAME, manifest))


def test_manifest_bomb_declared_6gib_is_refused_in_bounded_memory(honest_bundle, tmp_path):
    bundle = _with_manifest(honest_bundle, tmp_path / "bomb.zip", craft.bomb(MANIFEST_NAME, 6 << 30))
    assert bundle.stat().st_size < 16 << 20          # a few MB on disk
    out = _verify_measured(bundle)
    assert not out["ok"]
    assert any("manifest.jsonl is 6.0 GiB, above the" in p for p in out["problems"]), out["problems"]
    assert out["rss_mb"] < RSS_LIMIT_MB, out


def test_manifest_bomb_lying_about_its_size_stops_at_the_declared_size(honest_bundle, tmp_path):
    lying = craft.bomb(MANIFEST_NAME, 6 << 30)
    lying.size = 4096                                 # the directory claims 4 KiB
    bundle = _with_manifest(honest_bundle, tmp_path / "lying.zip", lying)
    out = _verify_measured(bundle)
    assert not out["ok"]
    assert any("CRC" in p or "unreadable" in p for p in out["problems"]), out["problems"]
    assert out["rss_mb"] < RSS_LIMIT_MB, out


def test_one_manifest_line_of_300mib_is_skipped_not_held(honest_bundle, tmp_path):
    """Under the manifest's total limit, far over the line limit: read in pieces and reported."""
    bundle = _with_manifest(honest_bundle, tmp_path / "line.zip", craft.bomb(MANIFEST_NAME, 300 << 20))
    out = _verify_measured(bundle)
    assert not out["ok"]
    assert any(p.startswith("manifest line 1 is unreadable: 300.0 MiB long, above the 1.0 MiB limit")
               for p in out["problems"]), out["problems"]
    assert out["rss_mb"] < RSS_LIMIT_MB, out


@pytest.mark.parametrize("line, message", [
    (b"[]", "an entry must be a JSON object, not an array"),
    (b"5", "an entry must be a JSON object, not an integer"),
    (b"null", "an entry must be a JSON object, not null"),
    (b'"files/C/x"', "an entry must be a JSON object, not a string"),
    (b'{"path": "x", "volume": "C", "bundle_path": ["files/C/x"], "artifact": "a", "priority": 1, '
     b'"outcome": "collected"}', "key 'bundle_path' is an array, expected a string or null"),
    (b'{"path": "x", "volume": "C", "bundle_path": "files/C/x", "artifact": "a", "priority": 1, '
     b'"outcome": "collected", "size": "12"}', "key 'size' is a string, expected an integer or null"),
    (b'{"path": "x"}', "missing key(s) artifact, bundle_path, outcome, priority, volume"),
    (b"[" * 200_000 + b"]" * 200_000, "JSON nested too deeply"),
])
def test_manifest_lines_of_the_wrong_shape_are_messages(honest_bundle, tmp_path, line, message):
    with __import__("zipfile").ZipFile(honest_bundle) as z:
        honest = z.read(MANIFEST_NAME)
    bundle = _with_manifest(honest_bundle, tmp_path / "shape.zip",
                            craft.deflated(MANIFEST_NAME, honest + line + b"\n"))
    r = _cli_verify(bundle)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    n = honest.count(b"\n") + 1
    assert f"manifest line {n} is unreadable: {message}" in r.stdout, r.stdout[-3000:]


@pytest.mark.parametrize("body, message", [
    (b"[1, 2]", "not a JSON object with a bundle_path string"),
    (b'{"bundle_path": {"a": 1}}', "not a JSON object with a bundle_path string"),
    (b"{" * 100, "unreadable journal entry"),
])
def test_journal_entries_of_the_wrong_shape_are_messages(honest_bundle, tmp_path, body, message):
    members = craft.members_of(honest_bundle) + [craft.deflated("meta/journal/99999999.json", body)]
    bundle = craft.write_zip(tmp_path / "journal.zip", members)
    r = _cli_verify(bundle)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr[-3000:]
    assert "meta/journal/99999999.json" in r.stdout and message in r.stdout, r.stdout[-3000:]


def test_huge_member_names_give_short_messages(honest_bundle, tmp_path):
    """25 names of 60 kB: each problem quotes a bounded part of the name and says how long it is."""
    members = craft.members_of(honest_bundle) + [craft.deflated(f"../{i:02d}" + "x" * 60_000, b"evil")
                                                 for i in range(25)]
    report = verify_bundle(craft.write_zip(tmp_path / "names.zip", members))
    assert not report.ok
    unsafe = [p for p in report.problems if p.startswith("unsafe member name")]
    assert len(unsafe) == 25
    assert all(len(p) < 400 and "(60005 characters)" in p for p in report.problems if "xxxx" in p)
    assert sum(len(p) for p in report.problems) < 64_000


def test_a_file_that_is_not_a_zip_is_not_an_interrupted_collection(tmp_path):
    bogus = tmp_path / "notes.zip"
    bogus.write_bytes(b"%PDF-1.7\n" + b"x" * 5000)
    r = _cli_verify(bogus)
    assert r.returncode == 1
    assert "NOT A BUNDLE" in r.stdout and "interrupted" not in r.stdout, r.stdout


def test_problem_lists_are_capped(honest_bundle, tmp_path):
    """3,000 unexpected members: the report keeps 1,000 problems and counts the rest."""
    members = craft.members_of(honest_bundle) + [craft.deflated(f"files/C/extra/{i}", b"") for i in range(3000)]
    report = verify_bundle(craft.write_zip(tmp_path / "many.zip", members))
    assert len(report.problems) == 1001
    assert report.problems[-1] == "... and 2000 more problem(s)"
