"""Prefetch throughput: triage's parser vs bare pyscca, same files, same run.

Run from the repo root:  python3 bench/prefetch.py [--rounds N]
Input: every readable prefetch file under ../shared/corpus/prefetch (MAM-compressed v30/v31 and
uncompressed v17-v31). Figures (best of N rounds, MB = 10^6 bytes of on-disk input):
  baseline   pyscca.open(path) + the same fields read (executable, hash, version, run count, 8 run
             times, every file name, every volume) -- the library alone;
  parser     PrefetchParser.parse on the file (read into memory, signature/size checks, pyscca on a
             stream, Execution records built);
  mam-only   pyfwnt.lzxpress_huffman_decompress of the MAM files alone (the decompression share).
"""

from __future__ import annotations

import argparse
import struct
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import pyfwnt  # noqa: E402
import pyscca  # noqa: E402

from triage.model import Execution  # noqa: E402
from triage.parsers.base import input_from_file  # noqa: E402
from triage.parsers.prefetch import PrefetchParser  # noqa: E402

CORPUS = (REPO / ".." / "shared" / "corpus").resolve()


def readable_files() -> list[Path]:
    out = []
    for p in sorted((CORPUS / "prefetch").rglob("*.pf")):
        try:
            pyscca.open(str(p)).close()
        except OSError:
            continue
        out.append(p)
    return out


def bare_pyscca(paths: list[Path]) -> int:
    n = 0
    for p in paths:
        f = pyscca.open(str(p))
        _ = (f.executable_filename, f.prefetch_hash, f.format_version, f.run_count)
        for i in range(8):
            try:
                f.get_last_run_time_as_integer(i)
            except OSError:
                break
        _ = [f.get_filename(i) for i in range(f.number_of_filenames)]
        for i in range(f.number_of_volumes):
            v = f.get_volume_information(i)
            _ = (v.device_path, v.serial_number, v.get_creation_time_as_integer())
        f.close()
        n += 1
    return n


def triage_parser(paths: list[Path]) -> int:
    parser = PrefetchParser()
    n = 0
    for p in paths:
        n += sum(1 for r in parser.parse(input_from_file(p)) if isinstance(r, Execution))
    return n


def mam_only(blobs: list[bytes]) -> int:
    for b in blobs:
        (size,) = struct.unpack_from("<I", b, 4)
        pyfwnt.lzxpress_huffman_decompress(b[8:], size)
    return len(blobs)


def best_interleaved(jobs: list[tuple], rounds: int) -> list[tuple[float, int]]:
    """Best time of each (fn, arg) over ``rounds``, the jobs alternating inside every round so that
    load from other processes hits baseline and parser alike."""
    times: list[list[float]] = [[] for _ in jobs]
    results = [0] * len(jobs)
    for _ in range(rounds):
        for i, (fn, arg) in enumerate(jobs):
            t0 = time.perf_counter()
            results[i] = fn(arg)
            times[i].append(time.perf_counter() - t0)
    return [(min(t), r) for t, r in zip(times, results, strict=True)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    paths = readable_files()
    total = sum(p.stat().st_size for p in paths)
    mam = [p.read_bytes() for p in paths]
    mam = [b for b in mam if b[:4] == b"MAM\x04"]
    mam_in = sum(len(b) for b in mam)
    mam_out = sum(struct.unpack_from("<I", b, 4)[0] for b in mam)

    for p in paths:  # warm the page cache once so both sides read from memory
        p.read_bytes()
    (t_base, n_base), (t_parse, n_parse), (t_mam, _) = best_interleaved(
        [(bare_pyscca, paths), (triage_parser, paths), (mam_only, mam)], args.rounds)
    assert n_base == n_parse == len(paths), (n_base, n_parse, len(paths))

    mb = total / 1e6
    print(f"prefetch files: {len(paths)} readable ({len(mam)} MAM-compressed), {mb:.2f} MB on disk; "
          f"MAM {mam_in / 1e6:.2f} MB -> {mam_out / 1e6:.2f} MB decompressed; best of {args.rounds}")
    print(f"baseline  bare pyscca open+read : {t_base * 1e3:8.1f} ms  {mb / t_base:7.1f} MB/s  "
          f"{len(paths) / t_base:8.0f} files/s")
    print(f"parser    PrefetchParser.parse  : {t_parse * 1e3:8.1f} ms  {mb / t_parse:7.1f} MB/s  "
          f"{len(paths) / t_parse:8.0f} files/s")
    print(f"mam-only  pyfwnt decompression  : {t_mam * 1e3:8.1f} ms  {mam_in / 1e6 / t_mam:7.1f} MB/s in, "
          f"{mam_out / 1e6 / t_mam:7.1f} MB/s out")
    print(f"ratio parser/baseline throughput: {t_base / t_parse:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
