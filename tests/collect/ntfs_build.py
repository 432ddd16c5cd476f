"""Builds real NTFS images for the raw-NTFS tests, once per session (never stored in the repo).

A make-host-tree host is copied onto a fresh ``mkntfs`` volume through an ``ntfs-3g`` FUSE mount,
with what raw reading must get right: an alternate data stream (Zone.Identifier of a download),
non-ASCII names, a fragmented file (fill the volume with small files, free every other one, then
write), a sparse file, and a deleted file. The volume is then wrapped in an MBR disk (behind a
small non-Windows NTFS data partition), a GPT disk (EFI partition + two Windows volumes), an MBR
disk with an extended partition, and E01 (single segment of the MBR disk; split segments of the
volume). ``expected`` maps every file path (relative, '/') to its SHA-256, from the source tree
and the files written here, so tests compare what raw reading returns byte for byte.

When FUSE or a tool is missing, ``NtfsImages.skip_reason`` says which, and only the tests that
need the images skip with that reason.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

MiB = 1024 * 1024
VOLUME_SIZE = 80 * MiB
DATA_VOLUME_SIZE = 8 * MiB
FILLER_SIZE = 64 * 1024
ZONE_ID = (b"[ZoneTransfer]\r\nZoneId=3\r\nReferrerUrl=https://downloads.example.invalid/\r\n"
           b"HostUrl=https://downloads.example.invalid/invoice_2024.exe\r\n")
SECTOR = 512
_CACHE: dict[str, NtfsImages] = {}


@dataclass
class NtfsImages:
    skip_reason: str | None = None
    tree: Path | None = None                       # the source tree (host + extras), as copied
    volume: Path | None = None                     # NTFS volume image
    data_volume: Path | None = None                # small NTFS volume without Windows
    mbr: Path | None = None                        # p1 data NTFS, p2 Windows volume
    gpt: Path | None = None                        # p1 EFI (not NTFS), p2 + p3 Windows volumes
    mbr_extended: Path | None = None               # p1 data NTFS, p5 (logical) data NTFS, no Windows
    e01: Path | None = None                        # MBR disk, one segment
    e01_split: Path | None = None                  # volume, many segments (first: .E01)
    expected: dict[str, str] = field(default_factory=dict)   # rel path -> sha256
    ads: dict[tuple[str, str], bytes] = field(default_factory=dict)  # (rel, stream) -> data
    user: str = ""
    non_ascii: list[str] = field(default_factory=list)
    fragmented: str = ""
    sparse: str = ""
    sparse_data_offset: int = 0
    deleted: str = ""
    filler_dir: str = "filler"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(MiB):
            h.update(chunk)
    return h.hexdigest()


def _tree_hashes(root: Path) -> dict[str, str]:
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            p = Path(dirpath) / name
            if p.is_file() and not p.is_symlink():
                out[p.relative_to(root).as_posix()] = sha256_file(p)
    return out


def _need_tools() -> str | None:
    for tool in ("mkntfs", "ntfs-3g", "sfdisk", "ewfacquire"):
        if shutil.which(tool) is None and not Path("/sbin", tool).exists() and not Path("/usr/sbin", tool).exists():
            return f"{tool} is not installed (Debian: ntfs-3g, fdisk, ewf-tools)"
    if not Path("/dev/fuse").exists():
        return "FUSE is unavailable (/dev/fuse missing): cannot fill an NTFS image with ntfs-3g"
    return None


def _run(*cmd: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(list(cmd), check=True, capture_output=True, timeout=120, **kw)


def _mkntfs(path: Path, size: int, label: str) -> None:
    with open(path, "wb") as fh:
        fh.truncate(size)
    _run("mkntfs", "-F", "-Q", "-q", "-L", label, str(path))


def _write_at(dst: Path, src: Path, offset: int) -> None:
    with open(src, "rb") as fi, open(dst, "r+b") as fo:
        fo.seek(offset)
        shutil.copyfileobj(fi, fo, MiB)


def _disk(path: Path, script: str, parts: list[tuple[Path | None, int]], size: int) -> None:
    """A disk image: sfdisk lays out the table, then each volume is copied to its offset."""
    with open(path, "wb") as fh:
        fh.truncate(size)
    _run("sfdisk", "--no-reread", "--no-tell-kernel", "-q", str(path), input=script.encode())
    for vol, offset in parts:
        if vol is not None:
            _write_at(path, vol, offset)


def build(base: Path, host: Path, *, volume_size: int | None = None, wrap: bool = True) -> NtfsImages:
    """Build everything under ``base`` (see module docstring); ``wrap=False`` stops after the volume."""
    key = str(base)
    if key in _CACHE:
        return _CACHE[key]
    out = NtfsImages()
    _CACHE[key] = out
    reason = _need_tools()
    if reason:
        out.skip_reason = reason
        return out
    rng = random.Random(1234)
    tree = base / "tree"
    shutil.copytree(host, tree, symlinks=True)
    users = sorted(p.name for p in (tree / "Users").iterdir() if p.is_dir() and p.name not in ("Default", "Public"))
    user = users[0]
    out.user = user
    # extras in the source tree
    download = f"Users/{user}/Downloads/invoice_2024.exe"
    (tree / download).parent.mkdir(parents=True, exist_ok=True)
    (tree / download).write_bytes(b"MZ" + rng.randbytes(20000))
    out.ads[(download, "Zone.Identifier")] = ZONE_ID
    na1 = f"Users/{user}/Documents/Résumé – 履歴書.txt"
    na2 = f"Users/{user}/Desktop/Ñandú Ω/notes ü€.txt"
    for rel in (na1, na2):
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_bytes(("non-ASCII name " + rel).encode() + rng.randbytes(3000))
    out.non_ascii = [na1, na2]
    frag = f"Users/{user}/Documents/fragmented.bin"
    frag_data = rng.randbytes(12 * MiB)  # larger than any free run, even the MFT zone
    out.fragmented = frag
    sparse = "Windows/Temp/sparse.bin"
    sparse_offset = 3 * MiB
    sparse_tail = rng.randbytes(40000)
    out.sparse, out.sparse_data_offset = sparse, sparse_offset
    out.deleted = f"Users/{user}/Documents/deleted-secret.txt"

    vol = base / "volume.img"
    volume_size = volume_size or VOLUME_SIZE
    _mkntfs(vol, volume_size, "Windows")
    mnt = base / "mnt"
    mnt.mkdir()
    try:
        _run("ntfs-3g", "-o", "streams_interface=windows", str(vol), str(mnt))
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        err = exc.stderr.decode(errors="replace").strip() if getattr(exc, "stderr", None) else str(exc)
        out.skip_reason = f"FUSE is unavailable: ntfs-3g mount failed ({err})"
        return out
    try:
        shutil.copytree(tree, mnt, symlinks=True, dirs_exist_ok=True, copy_function=shutil.copyfile)
        with open(f"{mnt / download}:Zone.Identifier", "wb") as fh:
            fh.write(ZONE_ID)
        # sparse file: a hole then data (ntfs-3g leaves the hole unallocated)
        (mnt / sparse).parent.mkdir(parents=True, exist_ok=True)
        with open(mnt / sparse, "wb") as fh:
            fh.seek(sparse_offset)
            fh.write(sparse_tail)
        # fill the volume with small files, free every other one, then write: fragmentation
        filler = mnt / out.filler_dir
        filler.mkdir()
        made: list[Path] = []
        for i in range(10000):
            p = filler / f"f{i:05d}.bin"
            try:
                with open(p, "wb") as fh:
                    fh.write(rng.randbytes(FILLER_SIZE))
            except OSError:
                with contextlib.suppress(OSError):
                    p.unlink()
                break
            made.append(p)
        for p in made[::2]:
            p.unlink()
        (mnt / frag).write_bytes(frag_data)
        remaining = {p.relative_to(mnt).as_posix(): sha256_file(p) for p in made[1::2]}
        # deleted file, last so that no later file reuses its MFT record: written, synced, removed
        (mnt / out.deleted).write_bytes(b"DELETED-SECRET " * 50)
        os.sync()
        (mnt / out.deleted).unlink()
    finally:
        _run("umount", str(mnt))
    # the source tree gets the files written straight to the volume
    (tree / frag).write_bytes(frag_data)
    (tree / sparse).parent.mkdir(parents=True, exist_ok=True)
    with open(tree / sparse, "wb") as fh:
        fh.seek(sparse_offset)
        fh.write(sparse_tail)
    out.tree = tree
    out.volume = vol
    out.expected = {**_tree_hashes(tree), **remaining}
    if not wrap:
        return out

    data = base / "data.img"
    _mkntfs(data, DATA_VOLUME_SIZE, "Data")
    out.data_volume = data
    vol_s, data_s = volume_size // SECTOR, DATA_VOLUME_SIZE // SECTOR
    # MBR: p1 data volume, p2 Windows volume
    p1, p2 = 2048, 2048 + data_s
    out.mbr = base / "disk-mbr.img"
    _disk(out.mbr, f"label: dos\nstart={p1}, size={data_s}, type=7\nstart={p2}, size={vol_s}, type=7\n",
          [(data, p1 * SECTOR), (vol, p2 * SECTOR)], (p2 + vol_s + 2048) * SECTOR)
    # GPT: EFI system partition (not NTFS), then two Windows volumes
    esp_s = 4 * MiB // SECTOR
    g1, g2 = 2048, 2048 + esp_s
    g3 = g2 + vol_s
    out.gpt = base / "disk-gpt.img"
    _disk(out.gpt, "label: gpt\n"
          f"start={g1}, size={esp_s}, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=\"EFI system\"\n"
          f"start={g2}, size={vol_s}, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7, name=\"Basic data\"\n"
          f"start={g3}, size={vol_s}, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7, name=\"Basic data 2\"\n",
          [(vol, g2 * SECTOR), (vol, g3 * SECTOR)], (g3 + vol_s + 2048) * SECTOR)
    # MBR with an extended partition: p1 data, p5 logical data; no Windows anywhere
    e1 = 2048
    ext = e1 + data_s
    e5 = ext + 2048
    out.mbr_extended = base / "disk-mbr-ext.img"
    _disk(out.mbr_extended, f"label: dos\nstart={e1}, size={data_s}, type=7\n"
          f"start={ext}, size={data_s + 4096}, type=5\nstart={e5}, size={data_s}, type=7\n",
          [(data, e1 * SECTOR), (data, e5 * SECTOR)], (ext + data_s + 4096 + 2048) * SECTOR)
    # E01: the MBR disk in one segment; the volume in 1 MiB segments
    _run("ewfacquire", "-u", "-q", "-t", str(base / "disk"), "-c", "fast", str(out.mbr))
    out.e01 = base / "disk.E01"
    _run("ewfacquire", "-u", "-q", "-t", str(base / "split"), "-c", "none", "-S", "1MiB", str(vol))
    out.e01_split = base / "split.E01"
    return out


def walk_files(source, rel: str = "") -> dict[str, str]:
    """rel path -> sha256 of every file a FileSource lists, read through its open()."""
    out: dict[str, str] = {}
    for entry in source.listdir(rel):
        child = f"{rel}/{entry.name}" if rel else entry.name
        if entry.is_dir:
            out.update(walk_files(source, child))
        elif entry.is_file:
            h = hashlib.sha256()
            with source.open(child) as fh:
                while chunk := fh.read(MiB):
                    h.update(chunk)
            out[child] = h.hexdigest()
    return out


def user_files(files: dict[str, str]) -> dict[str, str]:
    """Drop NTFS metadata files ($MFT... and $Extend/...) which are not in the source tree."""
    return {k: v for k, v in files.items() if not k.startswith("$")}


def session_images(tmp_path_factory, make_hosts) -> NtfsImages:
    """The session's images (built on first call; every test module shares them)."""
    base = tmp_path_factory.getbasetemp() / "ntfs-images"
    if str(base) in _CACHE:
        return _CACHE[str(base)]
    base.mkdir(exist_ok=True)
    host = make_hosts(hosts=1, seed=0, filler_mb=1, no_sparse=True) / "host-000"
    return build(base, host)
