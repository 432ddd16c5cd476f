"""``triage analyze`` at the terminal and in scripts: exit codes, "not a bundle", --json, the
progress bar, report paths at the end, one host name everywhere, hostile names escaped, messages
shortened between words.

The inputs are real bundles collected by the real CLI from make-host-tree hosts, one of them under
a host name carrying terminal escapes (a name as a compromised machine could report it), plus files
that are not bundles and a truncated bundle.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import shutil
import sqlite3
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest
from _cli import ENV, REPO, collect, triage

from triage.terminal import safe

HOSTILE = "evil\x1b[2J\x1b]0;pwned\x07-\u202egpj.exe"
CONTROL = ("\x1b", "\x07", "\u202e")


@pytest.fixture(scope="module")
def inbox(make_hosts, tmp_path_factory) -> Path:
    hosts = make_hosts(hosts=2, seed=11, filler_mb=1)
    box = tmp_path_factory.mktemp("inbox")
    collect(hosts / "host-000", box / "a")
    collect(hosts / "host-001", box / "b", "--hostname", HOSTILE)
    return box


@pytest.fixture(scope="module")
def human_run(inbox, tmp_path_factory):
    out = tmp_path_factory.mktemp("human")
    return triage("analyze", inbox, "--output", out, "--jobs", "2", "--no-yara"), out


def _fleet_names(out: Path) -> set[str]:
    conn = sqlite3.connect(out / "fleet.sqlite")
    try:
        return {r[0] for r in conn.execute("SELECT h.name FROM bundles b JOIN hosts h ON h.id = b.host_id"
                                           " WHERE b.status = 'ok'")}
    finally:
        conn.close()


def test_hostile_host_name_is_escaped_and_the_same_everywhere(human_run):
    r, out = human_run
    assert r.returncode == 0, r.stdout + r.stderr
    text = r.stdout + r.stderr
    assert not any(c in text for c in CONTROL), "raw control characters reached the terminal"
    names = _fleet_names(out)
    assert HOSTILE in names and len(names) == 2
    for name in names:
        shown = safe(name)
        progress = [ln for ln in r.stderr.splitlines() if ln.startswith("[") and " ok " in ln and shown in ln]
        ranking = [ln for ln in r.stdout.splitlines() if ln.strip()[:1].isdigit() and f"  {shown}  (" in ln]
        reports = [ln for ln in r.stdout.split("\nreports:\n", 1)[1].splitlines() if ln.startswith(f"  {shown} ")]
        assert len(progress) == len(ranking) == len(reports) == 1, (name, r.stdout, r.stderr)
    assert safe(HOSTILE) == "evil\\x1b[2J\\x1b]0;pwned\\x07-\\u202egpj.exe"


def test_report_path_of_every_host_printed_at_the_end(human_run):
    r, out = human_run
    block = r.stdout.split("\nreports:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    paths = [Path(line.split()[-1]) for line in block]
    assert len(paths) == 2 and all(p.is_file() and p.name == "report.html" for p in paths)
    assert {p.parent.parent for p in paths} == {out / "hosts"}
    assert r.stdout.rstrip().splitlines()[-1].startswith(f"fleet: {out / 'index.html'}")
    # where the registry names the machine otherwise (the report's folder and title use that name),
    # the line says so, so that the fleet's name and the folder can be matched
    conn = sqlite3.connect(out / "fleet.sqlite")
    pairs = conn.execute("SELECT name, reported_name FROM hosts").fetchall()
    conn.close()
    for name, reported in pairs:
        (line,) = [ln for ln in block if ln.startswith(f"  {safe(name)} ")]
        assert (f"(registry name {safe(reported)})" in line) == bool(reported and reported != name), line


def test_not_a_bundle_is_never_counted_ok_even_with_force(inbox, tmp_path):
    box = tmp_path / "box"
    shutil.copytree(inbox / "a", box)
    (box / "notes.zip").write_text("meeting notes, not a zip\n")
    (box / "empty.zip").write_bytes(b"PK\x05\x06" + b"\0" * 18)      # a valid but empty ZIP
    text = tmp_path / "readme.txt"
    text.write_text("hello\n")
    out = tmp_path / "out"
    r = triage("analyze", box, text, "--output", out, "--force", "--json", "--no-yara", "--jobs", "1")
    doc = json.loads(r.stdout)
    assert r.returncode == doc["exit_code"] == 4 and doc["meaning"] == "partial"
    status = {Path(b["path"]).name: b["status"] for b in doc["bundles"]}
    assert status.pop("notes.zip") == status.pop("empty.zip") == status.pop("readme.txt") == "not_a_bundle"
    assert list(status.values()) == ["ok"]
    assert all(b["error"].startswith("not a bundle") for b in doc["bundles"] if b["status"] == "not_a_bundle")
    assert len(list((out / "hosts").iterdir())) == 1                 # nothing was analyzed for them
    again = triage("analyze", box, text, "--output", out, "--force", "--no-yara", "--jobs", "1")
    assert again.returncode == 4
    assert "analyzed now: 1 ok, 0 failed" in again.stdout
    assert "not_a_bundle notes.zip: not a bundle" in again.stdout
    only_junk = triage("analyze", text, box / "notes.zip", "--output", tmp_path / "o2", "--force")
    assert only_junk.returncode == 1 and "exit 1: evidence problem" in only_junk.stdout


def test_json_run_for_machines(inbox, tmp_path):
    r = triage("analyze", inbox, "--output", tmp_path / "out", "--json", "--no-yara", "--jobs", "2")
    doc = json.loads(r.stdout)
    assert r.returncode == doc["exit_code"] == 0
    assert {b["status"] for b in doc["bundles"]} == {"ok"} and len(doc["bundles"]) == 2
    for b in doc["bundles"]:
        assert Path(b["report"]).is_file() and json.loads(Path(b["summary"]).read_text())
    assert {b["host"] for b in doc["bundles"]} == {e["host"] for e in doc["ranking"]}
    assert HOSTILE in {e["host"] for e in doc["ranking"]}            # the name itself, JSON-escaped
    assert Path(doc["fleet"]["index"]).is_file() and doc["fleet"]["hosts"] == 2


def test_failure_message_is_shortened_between_words(inbox, tmp_path):
    box = tmp_path / "box"
    box.mkdir()
    (good,) = (inbox / "a").glob("*.zip")
    cut = box / good.name
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])   # a truncated bundle, no sidecar
    out = tmp_path / "out"
    r = triage("analyze", box, "--output", out, "--no-yara", "--jobs", "1")
    assert r.returncode == 1, r.stdout + r.stderr
    conn = sqlite3.connect(out / "fleet.sqlite")
    (full,) = conn.execute("SELECT error FROM bundles").fetchone()
    conn.close()
    assert len(full) > 160, "the test needs a message longer than the line allows"
    for stream, prefix in ((r.stdout, f"  failed       {cut.name}: "), (r.stderr, f"[1/1] failed {cut.name}  ")):
        (line,) = [ln for ln in stream.splitlines() if ln.startswith(prefix)]
        shown = line[len(prefix):]
        assert shown.endswith("...")
        kept = shown[:-3]
        assert full.startswith(kept) and full[len(kept)] in " ,;:", (kept, full)


def test_progress_bar_on_a_terminal(inbox, tmp_path):
    """stderr on a pseudo-terminal: a tqdm bar over the bundles instead of one line per bundle."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))  # 30 rows, 100 columns
    proc = subprocess.Popen([sys.executable, "-m", "triage", "analyze", str(inbox), "--output",
                             str(tmp_path / "out"), "--no-yara", "--jobs", "2"], cwd=REPO, env=ENV,
                            stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    seen = b""
    while True:
        ready, _, _ = select.select([master], [], [], 120)
        if not ready:
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:           # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    stdout = proc.stdout.read().decode()
    assert proc.wait(timeout=120) == 0, stdout + seen.decode(errors="replace")
    os.close(master)
    bar = seen.decode(errors="replace")
    assert "analyze: 100%" in bar and "2/2" in bar and "bundle/s" in bar, bar
    assert "[1/2] ok" not in bar                       # successes only move the bar
    assert "reports:" in stdout


def test_usage_errors_exit_2(tmp_path):
    r = triage("analyze", tmp_path / "nowhere", "--output", tmp_path / "out")
    assert r.returncode == 2 and "no such file or directory" in r.stderr
    assert not (tmp_path / "out").exists()
    assert triage("analyze", tmp_path, "--output", tmp_path / "o", "--jobs", "0").returncode == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    assert triage("analyze", empty, "--output", tmp_path / "o3").returncode == 2
