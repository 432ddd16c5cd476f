"""Raw NTFS collection vs the same host as a directory tree, measured in the same run.

    python3 bench/collect_raw.py [--scale 8] [--filler-mb 64] [--repeat 3] [--keep DIR]

Builds one make-host-tree host, copies it onto an NTFS volume image (mkntfs + ntfs-3g FUSE mount,
as the tests do), then:

1. `triage collect` (windows-triage profile) from the directory tree (baseline) and from the NTFS
   image (``open_image_sources``): wall time, bytes, throughput, ratio;
2. reading every file of the volume with the two candidate libraries, libfsntfs (through
   ``NtfsSource``) and pytsk3 (directory walk + ``read_random``), against plain ``open()`` on the
   tree: the figures behind the library choice in docs/raw-ntfs.md.

Best of --repeat runs; the page cache is warm for both sides (same bytes, same run), so the ratio
is CPU/parsing overhead, not disk speed. Needs root with /dev/fuse, ntfs-3g, and pytsk3 for part 2.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "collect"))

from ntfs_build import build  # noqa: E402  (the tests' image builder: one way to make the image)

from triage.collect.collector import CollectOptions, Log, collect  # noqa: E402
from triage.collect.images import open_image_sources  # noqa: E402
from triage.collect.ntfs import NtfsSource  # noqa: E402
from triage.collect.source import DirectorySource  # noqa: E402
from triage.profile import load_profile  # noqa: E402

MiB = 1024 * 1024
CHUNK = MiB
SKIP = ("$", "filler")   # NTFS metadata files and the builder's filler are not in the tree


def best(fn, repeat: int):
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def run_collect(sources, out: Path) -> int:
    if out.exists():
        shutil.rmtree(out)
    opts = CollectOptions(profile=load_profile("windows-triage"), output_dir=out, progress=False,
                          hostname="bench")
    res = collect(sources, opts, None, Log())
    return sum(e.size or 0 for e in res.entries if e.outcome == "collected")


def walk_read(source, rel: str = "") -> tuple[int, int]:
    files = size = 0
    for e in source.listdir(rel):
        child = f"{rel}/{e.name}" if rel else e.name
        if e.is_dir and not child.startswith(SKIP):
            f, s = walk_read(source, child)
            files, size = files + f, size + s
        elif e.is_file and not child.startswith(SKIP):
            h = hashlib.sha256()
            with source.open(child) as fh:
                while chunk := fh.read(CHUNK):
                    h.update(chunk)
                    size += len(chunk)
            files += 1
    return files, size


def tsk_read(volume: Path) -> tuple[int, int]:
    import pytsk3

    fs = pytsk3.FS_Info(pytsk3.Img_Info(str(volume)))
    files = size = 0

    def walk(directory, depth=0):
        nonlocal files, size
        for f in directory:
            name = f.info.name.name
            if name in (b".", b"..") or f.info.meta is None or (depth == 0 and name.decode().startswith(SKIP)):
                continue
            if f.info.name.flags & pytsk3.TSK_FS_NAME_FLAG_UNALLOC:
                continue   # pytsk3 lists deleted names too: a live walk must drop them
            if f.info.meta.type == pytsk3.TSK_FS_META_TYPE_DIR:
                if depth < 64:
                    walk(f.as_directory(), depth + 1)
            elif f.info.meta.type == pytsk3.TSK_FS_META_TYPE_REG:
                h = hashlib.sha256()
                total = f.info.meta.size
                off = 0
                while off < total:
                    chunk = f.read_random(off, min(CHUNK, total - off))
                    if not chunk:
                        break
                    h.update(chunk)
                    off += len(chunk)
                size += off
                files += 1

    walk(fs.open_dir("/"))
    return files, size


def capabilities(images) -> None:
    """What each library gives on the same volume (ADS, $FN times, deleted names, sparse runs)."""
    import pytsk3

    (ads_rel, ads_name), ads_data = next(iter(images.ads.items()))
    parent, deleted = images.deleted.rsplit("/", 1)
    with NtfsSource.from_path(images.volume) as src:
        lf = {
            "ADS listed+read": src.streams(ads_rel) == [ads_name] and src.open_stream(ads_rel, ads_name).read() == ads_data,
            "$FN times parsed": bool(src.stat(ads_rel).extra.get("fn_times")),
            "deleted name in listing": deleted in {e.name for e in src.listdir(parent)},
            "sparse runs flagged": any(e.sparse for e in src.extents(images.sparse)),
        }
    fs = pytsk3.FS_Info(pytsk3.Img_Info(str(images.volume)))
    f = fs.open("/" + ads_rel)
    attrs = list(f)
    ads = [a for a in attrs if a.info.type == pytsk3.TSK_FS_ATTR_TYPE_NTFS_DATA and a.info.name]
    ads_ok = bool(ads) and f.read_random(0, ads[0].info.size, ads[0].info.type, ads[0].info.id) == ads_data
    sparse = [r for a in fs.open("/" + images.sparse) if a.info.type == pytsk3.TSK_FS_ATTR_TYPE_NTFS_DATA
              for r in a if r.flags & pytsk3.TSK_FS_ATTR_RUN_FLAG_SPARSE]
    tsk = {
        "ADS listed+read": ads_ok,
        "$FN times parsed": "raw attribute bytes only (meta has $SI times)",
        "deleted name in listing": deleted in {e.info.name.name.decode() for e in fs.open_dir("/" + parent)},
        "sparse runs flagged": bool(sparse),
    }
    print("\ncapabilities on the same volume      libfsntfs | pytsk3")
    for key in lf:
        print(f"  {key:32s} {lf[key]!s:9s} | {tsk[key]}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=int, default=8, help="make-host-tree --scale (event log size factor)")
    ap.add_argument("--filler-mb", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", type=Path, help="build in this directory and keep it")
    args = ap.parse_args()

    base = args.keep or Path(tempfile.mkdtemp(prefix="bench-raw-"))
    base.mkdir(parents=True, exist_ok=True)
    try:
        hosts = base / "hosts"
        if not (hosts / "host-000").is_dir():
            subprocess.run([sys.executable, str(REPO.parent / "shared" / "tools" / "make-host-tree"), "--out",
                            str(hosts), "--quiet", "--no-sparse", f"--scale={args.scale}",
                            f"--filler-mb={args.filler_mb}"], check=True)
        host = hosts / "host-000"
        tree_bytes = sum(p.stat().st_size for p in host.rglob("*") if p.is_file())
        volume_size = ((int(tree_bytes * 1.3) + 64 * MiB) // MiB + 1) * MiB
        img_dir = base / "image"
        if img_dir.exists():
            shutil.rmtree(img_dir)
        img_dir.mkdir()
        images = build(img_dir, host, volume_size=volume_size, wrap=False)
        if images.skip_reason:
            print(f"cannot build the NTFS image: {images.skip_reason}")
            return 2
        tree = images.tree
        print(f"host tree {tree_bytes / MiB:.1f} MiB, NTFS volume image {volume_size / MiB:.0f} MiB "
              f"({images.volume})")

        # 1. triage collect, directory tree vs NTFS image
        t_dir, n_dir = best(lambda: run_collect([DirectorySource(tree, "C")], base / "out-dir"), args.repeat)

        def from_image():
            sources = open_image_sources(images.volume)
            try:
                return run_collect(sources, base / "out-img")
            finally:
                for s in sources:
                    s.close()

        t_img, n_img = best(from_image, args.repeat)
        print(f"\ntriage collect --profile windows-triage (best of {args.repeat})")
        print(f"  directory tree : {t_dir:7.3f} s  {n_dir / MiB:8.1f} MiB  {n_dir / MiB / t_dir:7.1f} MiB/s")
        print(f"  NTFS image     : {t_img:7.3f} s  {n_img / MiB:8.1f} MiB  {n_img / MiB / t_img:7.1f} MiB/s")
        print(f"  ratio image/tree: {t_img / t_dir:.2f}x time")
        if n_dir != n_img:
            print(f"  WARNING: collected bytes differ ({n_dir} vs {n_img})")

        # 2. read every file: os vs libfsntfs vs pytsk3
        t_os, (f_os, b_os) = best(lambda: walk_read(DirectorySource(tree, "C")), args.repeat)

        def fsntfs():
            with NtfsSource.from_path(images.volume) as src:
                return walk_read(src)

        t_lf, (f_lf, b_lf) = best(fsntfs, args.repeat)
        print(f"\nread + SHA-256 every file (best of {args.repeat})")
        print(f"  os open()      : {t_os:7.3f} s  {f_os:6d} files  {b_os / MiB / t_os:7.1f} MiB/s")
        print(f"  libfsntfs      : {t_lf:7.3f} s  {f_lf:6d} files  {b_lf / MiB / t_lf:7.1f} MiB/s"
              f"  ({t_lf / t_os:.2f}x os)")
        try:
            import pytsk3  # noqa: F401
        except ImportError:
            print("  pytsk3         : not installed (pip install pytsk3)")
        else:
            t_tsk, (f_tsk, b_tsk) = best(lambda: tsk_read(images.volume), args.repeat)
            print(f"  pytsk3         : {t_tsk:7.3f} s  {f_tsk:6d} files  {b_tsk / MiB / t_tsk:7.1f} MiB/s"
                  f"  ({t_tsk / t_os:.2f}x os, {t_tsk / t_lf:.2f}x libfsntfs)")
            capabilities(images)
        return 0
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
