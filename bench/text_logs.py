"""Issue-15 file artifacts: MPLog, setupapi.dev.log and the WMI repository scan vs a bare read, same run.

Run from the repo root:  python3 bench/text_logs.py [--scale K] [--rounds N]
Inputs (made once in a temp dir, never in the corpus): the corpus Windows 10 MPLog (UTF-16) and
Windows 10 setupapi.dev.log repeated K times (default 20: ~12 MB and ~23 MB), and a 64 MiB
OBJECTS.DATA of random bytes with one consumer instance near the end. Figures (best of N, interleaved):
  baseline   the same file decoded and iterated line by line with io.TextIOWrapper (text logs), or
             read in 1 MiB chunks (OBJECTS.DATA) -- what any reader pays;
  parser     the triage parser over the same file (records built, bounded line reader; byte scans
             for OBJECTS.DATA and a 64 MiB qmgr0.dat of random bytes with 64 URLs);
  peak       tracemalloc peak of one parser run: memory stays flat whatever the file size.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from triage.parsers.base import input_from_file  # noqa: E402
from triage.parsers.bits_queue import BitsQueueParser  # noqa: E402
from triage.parsers.defender_mplog import DefenderMpLogParser  # noqa: E402
from triage.parsers.setupapi import SetupApiParser  # noqa: E402
from triage.parsers.wmi_repository import WmiRepositoryParser  # noqa: E402

CORPUS = (REPO / ".." / "shared" / "corpus").resolve()
MPLOG = CORPUS / "defender/museum-win10-aptsimulatorvm/Support/MPLog-20220310-113238.log"
SETUPAPI = CORPUS / "setupapi/museum-win10-rathbunvm/setupapi.dev.log"
INSTANCE = b"CommandLineEventConsumer\x00\x00\x00\x08Updater\x00\x00powershell.exe -nop -enc SQBFAFgA\x00"


def scaled_text(src: Path, dest: Path, k: int, utf16: bool) -> Path:
    data = src.read_bytes()
    body = data[2:] if utf16 else data  # one BOM, k bodies
    with dest.open("wb") as f:
        if utf16:
            f.write(data[:2])
        for _ in range(k):
            f.write(body)
    return dest


def bare_lines(path: Path) -> int:
    with path.open("rb") as raw:
        head = raw.read(2)
        raw.seek(0)
        enc = "utf-16" if head == b"\xff\xfe" else "utf-8"
        return sum(1 for _ in io.TextIOWrapper(raw, encoding=enc, errors="replace"))


def bare_chunks(path: Path) -> int:
    n = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            n += len(chunk)
    return n


def run_parser(parser, rel: str):
    def go(path: Path) -> int:
        return sum(1 for _ in parser.parse(input_from_file(path, rel)))
    return go


def best(jobs: list[tuple], rounds: int) -> list[float]:
    times: list[list[float]] = [[] for _ in jobs]
    for _ in range(rounds):
        for i, (fn, arg) in enumerate(jobs):
            t0 = time.perf_counter()
            fn(arg)
            times[i].append(time.perf_counter() - t0)
    return [min(t) for t in times]


def peak(fn, arg) -> int:
    tracemalloc.start()
    fn(arg)
    _, top = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return top


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-text-") as tmp:
        d = Path(tmp)
        mplog = scaled_text(MPLOG, d / "MPLog-1.log", args.scale, utf16=True)
        setupapi = scaled_text(SETUPAPI, d / "setupapi.dev.log", args.scale, utf16=False)
        objects = d / "OBJECTS.DATA"
        with objects.open("wb") as f:
            for _ in range(64):
                f.write(os.urandom(1 << 20))
            f.write(INSTANCE)
        qmgr = d / "qmgr0.dat"
        with qmgr.open("wb") as f:
            for i in range(64):
                f.write(os.urandom(1 << 20))
                f.write(f"https://198.51.100.{i}/a.exe".encode("utf-16-le") + b"\0\0")
        cases = [
            ("MPLog", mplog, bare_lines, run_parser(DefenderMpLogParser(), "ProgramData/Microsoft/Windows Defender/"
                                                    "Support/MPLog-1.log")),
            ("setupapi.dev.log", setupapi, bare_lines, run_parser(SetupApiParser(), "Windows/INF/setupapi.dev.log")),
            ("OBJECTS.DATA scan", objects, bare_chunks, run_parser(WmiRepositoryParser(),
                                                                   "Windows/System32/wbem/Repository/OBJECTS.DATA")),
            ("qmgr0.dat scan", qmgr, bare_chunks, run_parser(BitsQueueParser(),
                                                             "ProgramData/Microsoft/Network/Downloader/qmgr0.dat")),
        ]
        print(f"scale {args.scale}, best of {args.rounds} (baseline and parser interleaved)")
        for name, path, base, parse in cases:
            t_base, t_parse = best([(base, path), (parse, path)], args.rounds)
            mb = path.stat().st_size / 1e6
            print(f"{name:18s} {mb:7.1f} MB  baseline {t_base * 1e3:8.1f} ms ({mb / t_base:6.1f} MB/s)  "
                  f"parser {t_parse * 1e3:8.1f} ms ({mb / t_parse:6.1f} MB/s)  ratio parser/baseline time "
                  f"{t_parse / t_base:5.2f}x  parser peak {peak(parse, path) / 1e6:5.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
