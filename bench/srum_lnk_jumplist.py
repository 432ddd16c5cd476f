"""SRUM, LNK and JumpList parsers against their bare libraries, on the corpus samples, in the same run.

Why: each parser adds typing, id-map resolution, hourly aggregation (SRUM), DestList walking (JumpLists)
and bounds on top of a library read; that overhead should stay a small multiple of the bare read.
Figures (median of --repeat interleaved runs):
  * SRUM:      triage.parsers.srum over every corpus SRUDB.dat  vs  pyesedb opening the same files and
               reading every value of every record of the id-map, network and app-usage tables;
  * LNK:       triage.parsers.lnk.read_link over the 38 corpus links liblnk reads  vs  bare pylnk open + the
               header/LinkInfo fields (triage also decodes each shell item list with libfwsi and converts the
               times: most of the difference), the one link liblnk refuses (LnkParse3 fallback), and all 39
               against LnkParse3's full JSON reading (the pure-Python alternative);
  * JumpLists: triage.parsers.jumplist over the 27 corpus lists  vs  olefile opening each and reading every
               stream.

    python3 bench/srum_lnk_jumplist.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import LnkParse3  # noqa: E402
import olefile  # noqa: E402
import pyesedb  # noqa: E402
import pylnk  # noqa: E402

from triage.parsers.base import input_from_file  # noqa: E402
from triage.parsers.jumplist import JumpListParser  # noqa: E402
from triage.parsers.lnk import read_link  # noqa: E402
from triage.parsers.srum import SrumParser  # noqa: E402
from triage.parsers.srum_tables import APP_RESOURCE_USAGE, ID_MAP, NETWORK_USAGE  # noqa: E402

CORPUS = (REPO / ".." / "shared" / "corpus").resolve()


def srum_triage(paths: list[Path]) -> int:
    return sum(len(list(SrumParser().parse(input_from_file(p, "Windows/System32/sru/SRUDB.dat")))) for p in paths)


def srum_bare(paths: list[Path]) -> int:
    n = 0
    for p in paths:
        f = pyesedb.file()
        f.open(str(p))
        for name in (ID_MAP, NETWORK_USAGE, APP_RESOURCE_USAGE):
            t = f.get_table_by_name(name)
            if t is None:
                continue
            for i in range(t.number_of_records):
                r = t.get_record(i)
                for j in range(r.number_of_values):
                    r.get_value_data(j)
                n += 1
        f.close()
    return n


def lnk_triage(blobs: list[bytes]) -> int:
    n = 0
    for b in blobs:
        try:
            read_link(b)
            n += 1
        except ValueError:
            pass
    return n


def lnk_bare(blobs: list[bytes]) -> int:
    n = 0
    for b in blobs:
        f = pylnk.file()
        try:
            f.open_file_object(io.BytesIO(b))
        except OSError:
            continue
        (f.local_path, f.network_path, f.command_line_arguments, f.machine_identifier, f.drive_serial_number,
         f.get_file_creation_time_as_integer(), f.droid_file_identifier)
        f.close()
        n += 1
    return n


def lnk_lnkparse3(blobs: list[bytes]) -> int:
    import warnings

    n = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for b in blobs:
            try:
                LnkParse3.lnk_file(io.BytesIO(b)).get_json()
                n += 1
            except Exception:  # reference parser: count what it reads
                pass
    return n


def jl_triage(paths: list[Path]) -> int:
    rel = "Users/u/AppData/Roaming/Microsoft/Windows/Recent/{}/{}"
    return sum(len(list(JumpListParser().parse(input_from_file(
        p, rel.format("AutomaticDestinations" if "automatic" in p.name.lower() else "CustomDestinations", p.name)))))
        for p in paths)


def jl_bare(paths: list[Path]) -> int:
    n = 0
    for p in paths:
        data = p.read_bytes()
        if not data.startswith(olefile.MAGIC):
            n += len(data) > 0
            continue
        with olefile.OleFileIO(data) as ole:
            for s in ole.listdir():
                ole.openstream(s).read()
                n += 1
    return n


def median_time(fn: Callable[[], int], repeat: int) -> tuple[float, int]:
    times, out = [], 0
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    srum = sorted(CORPUS.glob("srum/*/SRUDB.dat"))
    blobs = [p.read_bytes() for p in sorted(CORPUS.glob("lnk/*/*.lnk"))]
    refused = [b for b in blobs if lnk_bare([b]) == 0]  # liblnk refuses these: triage falls back to LnkParse3
    readable = [b for b in blobs if b not in refused]
    jls = sorted(CORPUS.glob("jumplists/*/*Destinations-ms"))
    cases = [("SRUM", srum_triage, srum_bare, srum, f"{len(srum)} databases"),
             ("LNK", lnk_triage, lnk_bare, readable, f"{len(readable)} links"),
             ("JumpLists", jl_triage, jl_bare, jls, f"{len(jls)} files")]
    for name, ours, bare, data, what in cases:
        results: dict[str, list[float]] = {"triage": [], "bare": []}
        counts = {}
        for _ in range(a.repeat):  # interleaved: the two sides see the same machine state
            for label, fn in (("triage", ours), ("bare", bare)):
                t, counts[label] = median_time(lambda fn=fn, data=data: fn(data), 1)
                results[label].append(t)
        mt, mb = statistics.median(results["triage"]), statistics.median(results["bare"])
        print(f"{name:10s} {what:14s} triage {mt * 1000:8.2f} ms ({counts['triage']} records/issues)   "
              f"bare library {mb * 1000:8.2f} ms ({counts['bare']} reads)   ratio {mt / mb:5.2f}x")
    tr, _ = median_time(lambda: lnk_triage(refused), a.repeat)
    print(f"{'LNK':10s} {len(refused)} link(s) liblnk refuses, read by the LnkParse3 fallback: {tr * 1000:8.2f} ms")
    t3, n3 = median_time(lambda: lnk_lnkparse3(blobs), a.repeat)
    tl, _ = median_time(lambda: lnk_triage(blobs), a.repeat)
    print(f"{'LNK':10s} all {len(blobs)} links: triage {tl * 1000:.2f} ms, LnkParse3 full JSON {t3 * 1000:.2f} ms"
          f" ({n3} links): triage is {t3 / tl:.1f}x faster")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
