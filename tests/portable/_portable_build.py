"""Builds of the portable collector for the tests (fixtures re-exported by conftest.py), once per session, from a snapshot of the inputs.

Each build runs ``scripts/build-collector`` in a private copy of the inputs (triage/, profiles/,
packaging/, the script), so that a file another engineer edits mid-build cannot make two builds
differ, and so that the reproducibility test can build the same inputs again at another path.
The build environments (Linux venv, Windows CPython and wheels, wine prefix) are cached under
$TRIAGE_BUILD_DIR or ~/.cache/triage/collector-build, keyed by the pins they come from.

The Linux executable is built every session (about a minute with a warm cache). The Windows build
under wine takes minutes, so an executable whose recorded inputs stamp matches the snapshot's is
reused (from dist/ or the cache); the figures at the end of the run say which.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DIST = REPO / "dist"
LINUX_NAME = "triage-collector-linux-x86_64"
WINDOWS_NAME = "triage-collector-windows-x64.exe"
FIGURES: list[str] = []


def build_cache() -> Path:
    if os.environ.get("TRIAGE_BUILD_DIR"):
        return Path(os.environ["TRIAGE_BUILD_DIR"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "triage" / "collector-build"


@dataclass
class Built:
    exe: Path
    sha256: str
    stamp: str
    seconds: float | None     # build wall time; None when an earlier build was reused
    snapshot: Path


def snapshot(dest: Path) -> Path:
    """Copy the build's inputs to ``dest`` (a private tree the build script can run in)."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    dest.mkdir(parents=True)
    shutil.copytree(REPO / "triage", dest / "triage", ignore=ignore)
    shutil.copytree(REPO / "profiles", dest / "profiles", ignore=ignore)
    shutil.copytree(REPO / "packaging", dest / "packaging", ignore=ignore)
    (dest / "scripts").mkdir()
    shutil.copy2(REPO / "scripts" / "build-collector", dest / "scripts" / "build-collector")
    return dest


def stamp_of(tree: Path) -> str:
    return subprocess.run([str(tree / "scripts" / "build-collector"), "stamp"], capture_output=True, text=True,
                          check=True).stdout.strip()


def build_env() -> dict[str, str]:
    env = dict(os.environ, TRIAGE_BUILD_DIR=str(build_cache()))
    # Linux bytes do not depend on it; the Windows PE header does: fixed, so snapshots agree
    env.setdefault("SOURCE_DATE_EPOCH", "315532800")
    return env


def run_build(tree: Path, target: str, name: str, timeout: int) -> Built:
    stamp = stamp_of(tree)
    start = time.monotonic()
    proc = subprocess.run([str(tree / "scripts" / "build-collector"), target], capture_output=True, text=True,
                          env=build_env(), timeout=timeout)
    seconds = time.monotonic() - start
    if proc.returncode != 0:
        pytest.fail(f"scripts/build-collector {target} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    exe = tree / "dist" / name
    sha = (tree / "dist" / f"{name}.sha256").read_text().split()[0]
    return Built(exe=exe, sha256=sha, stamp=stamp, seconds=seconds, snapshot=tree)


def publish(built: Built, name: str) -> None:
    """Copy a fresh build to dist/ (with .sha256 and .inputs) so a later session can reuse it."""
    DIST.mkdir(exist_ok=True)
    for suffix in ("", ".sha256", ".inputs"):
        shutil.copy2(built.snapshot / "dist" / f"{name}{suffix}", DIST / f"{name}{suffix}")


def reusable(name: str, stamp: str) -> Path | None:
    for folder in (DIST, build_cache() / "exe" / stamp):
        exe, inputs = folder / name, folder / f"{name}.inputs"
        if exe.is_file() and inputs.is_file() and inputs.read_text().strip() == stamp:
            return exe
    return None


def cache_exe(built: Built, name: str) -> None:
    folder = build_cache() / "exe" / built.stamp
    folder.mkdir(parents=True, exist_ok=True)
    for suffix in ("", ".sha256", ".inputs"):
        shutil.copy2(built.snapshot / "dist" / f"{name}{suffix}", folder / f"{name}{suffix}")


@pytest.fixture(scope="session")
def linux_collector(tmp_path_factory) -> Built:
    tree = snapshot(tmp_path_factory.mktemp("build-linux") / "src")
    built = run_build(tree, "linux", LINUX_NAME, timeout=900)
    publish(built, LINUX_NAME)
    FIGURES.append(f"linux build: {built.seconds:.1f} s (cache {build_cache()})")
    return built


def wine_available() -> str | None:
    if shutil.which("wine") is None:
        return "wine is not installed (Debian packages: wine wine64)"
    return None


@pytest.fixture(scope="session")
def windows_collector(tmp_path_factory) -> Built:
    reason = wine_available()
    if reason:
        pytest.skip(reason)
    tree = snapshot(tmp_path_factory.mktemp("build-windows") / "src")
    stamp = stamp_of(tree)
    found = reusable(WINDOWS_NAME, stamp)
    if found is not None:
        sha = (found.parent / f"{WINDOWS_NAME}.sha256").read_text().split()[0]
        FIGURES.append(f"windows build: reused {found} (inputs stamp {stamp} matches)")
        return Built(exe=found, sha256=sha, stamp=stamp, seconds=None, snapshot=tree)
    built = run_build(tree, "windows", WINDOWS_NAME, timeout=1800)
    publish(built, WINDOWS_NAME)
    cache_exe(built, WINDOWS_NAME)
    FIGURES.append(f"windows build (wine): {built.seconds:.1f} s")
    return built


def wine_env() -> dict[str, str]:
    return dict(os.environ, WINEPREFIX=str(build_cache() / "windows" / "wineprefix"), WINEDEBUG="-all",
                WINEDLLOVERRIDES="mscoree,mshtml=")


def run_wine(args: list[str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run a Windows program under wine with stdin, stdout and stderr as pipes (CPython needs them)."""
    return subprocess.run(["wine", *args], cwd=cwd, env=wine_env(), input=b"",
                          capture_output=True, timeout=timeout)
