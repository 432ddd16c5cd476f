"""The Linux one-file collector: built once per session, checked as an artifact and run as a responder would.

- its table of contents holds the profiles and nothing of the analyzer (PyInstaller's own reader);
- it collects a make-host-tree host, and the bundle verifies with the installed triage, every file's
  hash equal to the source file's;
- a second build of the same inputs at another path gives the same bytes;
- start-up time and size are reported in the run's closing figures (never asserted).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _portable_build import FIGURES, LINUX_NAME, REPO, build_cache, run_build, snapshot, stamp_of

from triage.bundle.reader import BundleReader
from triage.bundle.verify import verify_bundle
from triage.collector_main import COLLECTOR_COMMANDS, is_forbidden

_TOC = r"""
import json, sys, tempfile
from PyInstaller.archive.readers import CArchiveReader, ZlibArchiveReader
arch = CArchiveReader(sys.argv[1])
names = list(arch.toc)
with tempfile.NamedTemporaryFile(suffix=".pyz") as fh:
    fh.write(arch.extract("PYZ.pyz")); fh.flush()
    modules = list(ZlibArchiveReader(fh.name).toc)
print(json.dumps({"entries": names, "modules": modules}))
"""


def _toc(exe: Path) -> dict:
    """The executable's contents, read with the build venv's PyInstaller (the test env may lack it)."""
    venv_python = sorted((build_cache() / "linux").glob("venv-*/bin/python"), key=lambda p: p.stat().st_mtime)[-1]
    proc = subprocess.run([str(venv_python), "-c", _TOC, str(exe)], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def test_sha256_sidecar_matches(linux_collector):
    assert _sha256(linux_collector.exe) == linux_collector.sha256
    published = REPO / "dist" / LINUX_NAME
    assert _sha256(published) == linux_collector.sha256
    assert (REPO / "dist" / f"{LINUX_NAME}.sha256").read_text() == f"{linux_collector.sha256}  {LINUX_NAME}\n"


def test_executable_embeds_profiles_and_no_analyzer(linux_collector):
    toc = _toc(linux_collector.exe)
    profiles = {p.name for p in (REPO / "profiles").glob("*.yaml")}
    assert {e.split("/", 1)[1] for e in toc["entries"] if e.startswith("profiles/")} == profiles
    modules = toc["modules"]
    for module, _help in COLLECTOR_COMMANDS.values():
        assert module in modules
    assert {"triage.collect.collector", "triage.collect.images", "yaml", "psutil", "tqdm"} <= set(modules)
    assert [m for m in modules if is_forbidden(m)] == []
    # nor any analyzer library as a native extension or shared object
    natives = [e.lower() for e in toc["entries"]]
    assert not [e for e in natives if any(k in e for k in ("yara", "pefile", "evtx", "pyscca", "regipy"))]
    assert [m for m in modules if m.startswith("PyInstaller")] == []


def test_collects_a_host_and_the_bundle_verifies(linux_collector, make_hosts, tmp_path):
    host = make_hosts(hosts=1, seed=0) / "host-000"
    out = tmp_path / "out"
    proc = subprocess.run([str(linux_collector.exe), "collect", "--target", str(host), "--output", str(out),
                           "--quiet"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    bundles = sorted(out.glob("*.zip"))
    assert len(bundles) == 1
    report = verify_bundle(bundles[0])
    assert report.ok, report.problems
    # the installed triage verifies it too, as a responder's analyst would
    cli = subprocess.run(["python3", "-m", "triage", "verify", str(bundles[0])], cwd=REPO, capture_output=True,
                         text=True, timeout=300)
    assert cli.returncode == 0 and cli.stdout.startswith("OK"), cli.stdout + cli.stderr
    with BundleReader(bundles[0]) as b:
        assert b.collection["tool"]["frozen"] is True
        collected = [e for e in b.entries if e.outcome == "collected"]
        assert len(collected) >= 20
        for e in collected:
            rel = e.bundle_path.split("/", 2)[2]
            assert e.sha256 == _sha256(host / rel), e.bundle_path
        assert {e.artifact for e in collected} >= {"WindowsEventLogs", "WindowsSystemRegistryHives"}


def test_commands_are_the_collectors(linux_collector):
    proc = subprocess.run([str(linux_collector.exe), "analyze"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "invalid choice: 'analyze'" in proc.stderr
    listed = subprocess.run([str(linux_collector.exe), "profiles", "list"], capture_output=True, text=True,
                            timeout=60)
    assert listed.returncode == 0
    assert {line.split()[0] for line in listed.stdout.splitlines()} == {p.stem for p in (REPO / "profiles").glob("*.yaml")}


def test_startup_time_and_size(linux_collector):
    """Figures only: the run's closing summary prints them."""
    exe = linux_collector.exe
    timings = {}
    for args in (["--version"], ["profiles", "list"]):
        runs = []
        for _ in range(3):
            start = time.monotonic()
            proc = subprocess.run([str(exe), *args], capture_output=True, timeout=60)
            runs.append(time.monotonic() - start)
            assert proc.returncode == 0
        timings[" ".join(args)] = min(runs)
    baseline = []
    for _ in range(3):  # the same command from the installed sources, for a ratio measured in this run
        start = time.monotonic()
        subprocess.run([sys.executable, "-m", "triage", "--version"], cwd=REPO, capture_output=True, timeout=60,
                       check=True)
        baseline.append(time.monotonic() - start)
    size = exe.stat().st_size
    assert size > 1_000_000
    FIGURES.append(f"linux exe: {size / 2**20:.1f} MiB, start-up --version {timings['--version']:.2f} s, "
                   f"profiles list {timings['profiles list']:.2f} s (best of 3); 'python -m triage --version' "
                   f"{min(baseline):.2f} s (exe/python {timings['--version'] / min(baseline):.1f}x)")


def test_build_is_reproducible(linux_collector, tmp_path_factory):
    """Same inputs at another path -> the same bytes."""
    tree = tmp_path_factory.mktemp("build-linux-again") / "elsewhere" / "src"
    tree.parent.mkdir(parents=True)
    shutil.copytree(linux_collector.snapshot, tree, ignore=shutil.ignore_patterns("dist", "__pycache__"))
    again = run_build(tree, "linux", LINUX_NAME, timeout=900)
    FIGURES.append(f"linux rebuild (warm cache): {again.seconds:.1f} s; same sha256: "
                   f"{again.sha256 == linux_collector.sha256}")
    assert again.stamp == linux_collector.stamp
    assert again.sha256 == linux_collector.sha256


def test_snapshot_holds_every_input():
    """The stamp must see a change in triage's sources, or reuse could serve a stale executable."""
    with tempfile.TemporaryDirectory() as d:
        tree = snapshot(Path(d) / "src")
        before = stamp_of(tree)
        (tree / "triage" / "collect" / "command.py").write_text("# changed\n", encoding="utf-8")
        assert stamp_of(tree) != before


def test_encrypted_collection_verifies_with_the_analyst_key(linux_collector, make_hosts, tmp_path):
    """--encrypt-to works in the frozen build (cryptography is inside), and the analyst's triage reads it."""
    host = make_hosts(hosts=1, seed=0) / "host-000"
    key = tmp_path / "analyst"
    subprocess.run([sys.executable, "-m", "triage", "keygen", "--out", str(key)], cwd=REPO, check=True,
                   capture_output=True, timeout=120)
    proc = subprocess.run([str(linux_collector.exe), "collect", "--target", str(host), "--output",
                           str(tmp_path / "out"), "--encrypt-to", f"{key}.pub", "--quiet"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    (sealed,) = sorted((tmp_path / "out").glob("*.tbe"))
    assert not list((tmp_path / "out").glob("*.zip"))  # nothing in clear on the host
    check = subprocess.run([sys.executable, "-m", "triage", "verify", "--key", f"{key}.key", str(sealed)],
                           cwd=REPO, capture_output=True, text=True, timeout=300)
    assert check.returncode == 0 and check.stdout.startswith("OK"), check.stdout + check.stderr
