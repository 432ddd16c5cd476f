"""The Windows x64 collector, built on Linux and run under wine: it collects from an NTFS image file
(raw reading through libfsntfs, as on a host whose files are locked) and the bundle verifies on Linux.

Skips with the reason when wine (Debian: wine wine64), mkntfs/ntfs-3g or FUSE is missing.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from _portable_build import FIGURES, WINDOWS_NAME, run_wine

from triage import __version__
from triage.bundle.reader import BundleReader
from triage.bundle.verify import verify_bundle

MiB = 1024 * 1024


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(MiB), b""):
            h.update(chunk)
    return h.hexdigest()


def _ntfs_image(host: Path, dest: Path) -> Path:
    """An NTFS volume image holding the host tree: mkntfs, then a copy through an ntfs-3g FUSE mount."""
    for tool in ("mkntfs", "ntfs-3g"):
        if shutil.which(tool) is None and not Path("/usr/sbin", tool).exists() and not Path("/sbin", tool).exists():
            pytest.skip(f"{tool} is not installed (Debian: ntfs-3g)")
    if not Path("/dev/fuse").exists():
        pytest.skip("FUSE is unavailable (/dev/fuse missing): cannot fill an NTFS image with ntfs-3g")
    img = dest / "volume.img"
    with open(img, "wb") as fh:
        fh.truncate(64 * MiB)
    subprocess.run(["mkntfs", "-F", "-Q", "-q", "-L", "Windows", str(img)], check=True, capture_output=True,
                   timeout=120)
    mnt = dest / "mnt"
    mnt.mkdir()
    mount = subprocess.run(["ntfs-3g", str(img), str(mnt)], capture_output=True, text=True, timeout=120)
    if mount.returncode != 0:
        pytest.skip(f"FUSE is unavailable: ntfs-3g mount failed ({mount.stderr.strip()})")
    try:
        # the tree's pagefile/hiberfil are sparse (400 MiB apparent, nothing allocated): keep them sparse
        subprocess.run(["cp", "-r", "--sparse=always", f"{host}/.", str(mnt)], check=True, capture_output=True,
                       timeout=300)
    finally:
        subprocess.run(["umount", str(mnt)], check=True, capture_output=True, timeout=120)
    return img


@pytest.fixture(scope="module")
def host_image(make_hosts, tmp_path_factory):
    host = make_hosts(hosts=1, seed=0) / "host-000"
    return host, _ntfs_image(host, tmp_path_factory.mktemp("ntfs"))


def test_windows_exe_collects_an_ntfs_image_under_wine(windows_collector, host_image, tmp_path):
    host, img = host_image
    shutil.copy2(windows_collector.exe, tmp_path / WINDOWS_NAME)
    proc = run_wine([WINDOWS_NAME, "collect", "--image", str(img), "--output", "out", "--quiet"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout.decode(errors="replace") + proc.stderr.decode(errors="replace")
    bundles = sorted((tmp_path / "out").glob("*.zip"))
    assert len(bundles) == 1
    report = verify_bundle(bundles[0])
    assert report.ok, report.problems
    with BundleReader(bundles[0]) as b:
        tool, where = b.collection["tool"], b.collection["collector_host"]
        assert tool["frozen"] is True and where["os"].startswith("Windows")  # the Windows build ran
        assert [s["read_method"] for s in b.collection["sources"]] == ["image"]
        collected = [e for e in b.entries if e.outcome == "collected"]
        assert len(collected) >= 20
        for e in collected:
            rel = e.bundle_path.split("/", 2)[2]
            assert e.sha256 == _sha256(host / rel), e.bundle_path


def test_windows_exe_startup_and_size(windows_collector, tmp_path):
    """Figures only (wine adds its own start-up): printed in the run's closing summary."""
    exe = windows_collector.exe
    run_wine(["cmd", "/c", "exit"], cwd=tmp_path, timeout=300)  # wineserver up: time the exe, not wine's boot
    runs = []
    for _ in range(3):
        start = time.monotonic()
        proc = run_wine([str(exe), "--version"], cwd=tmp_path)
        runs.append(time.monotonic() - start)
        assert proc.returncode == 0 and proc.stdout.strip() == f"triage {__version__}".encode(), proc.stdout + proc.stderr
    assert exe.read_bytes()[:2] == b"MZ"
    # baseline measured in the same run: wine starting a trivial Windows program (wine's own share)
    base = []
    for _ in range(3):
        start = time.monotonic()
        run_wine(["cmd", "/c", "exit"], cwd=tmp_path)
        base.append(time.monotonic() - start)
    FIGURES.append(f"windows exe: {exe.stat().st_size / 2**20:.1f} MiB, start-up --version under wine "
                   f"{min(runs):.2f} s (best of 3); wine 'cmd /c exit' {min(base):.2f} s "
                   f"(exe/cmd {min(runs) / min(base):.1f}x)")
