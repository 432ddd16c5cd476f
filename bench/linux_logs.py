"""Linux log parsing cost against a bare read of the same file, in the same run.

Why: auth.log/syslog on a busy server run to millions of lines; the parser reads classic syslog
files twice (year rollovers first, then the dates) and classifies every line. Figures, medians of
--repeat interleaved runs (CPU seconds of the bench process) over a generated auth.log (sshd failures and accepts, sudo, cron sessions,
unrelated daemon lines; Dec -> Jan rollover):
  * bare:    read every line and match the syslog header regex once (the least any parser does);
  * triage:  SyslogParser.parse over the same file, every record built;
  * gzip:    the same, on the file gzipped (a rotated auth.log.2.gz);
  * memory:  tracemalloc peak of the triage run while records are counted and dropped (flat: the
             file is streamed; the records are what a host keeps).

    python3 bench/linux_logs.py [--lines 400000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from triage.parsers.base import input_from_file  # noqa: E402
from triage.parsers.linux.syslog import _BSD, SyslogParser  # noqa: E402
from triage.units import iso  # noqa: E402

KINDS = ("sshd[{p}]: Failed password for root from 203.0.113.{o} port {p} ssh2",
         "sshd[{p}]: Accepted publickey for deploy from 192.0.2.{o} port {p} ssh2",
         "sudo:   alice : TTY=pts/1 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/systemctl restart app{o}",
         "CRON[{p}]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)",
         "systemd-logind[{p}]: New session {o} of user alice.",
         "kernel: [UFW BLOCK] IN=eth0 OUT= SRC=198.51.100.{o} DST=10.0.0.5 PROTO=TCP DPT=23")


def make_log(path: Path, n: int) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            month, day = ("Dec", 1 + (i * 30 // n)) if i < n // 2 else ("Jan", 1 + ((i - n // 2) * 30 // n))
            msg = KINDS[i % len(KINDS)].format(p=1000 + i % 60000, o=i % 250)
            f.write(f"{month} {day:2d} {i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d} web1 {msg}\n")


def bare(path: Path) -> int:
    n = 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            n += bool(_BSD.match(line))
    return n


def triage(path: Path, rel: str) -> int:
    item = input_from_file(path, rel)
    item.entry.times = {"modified": iso(datetime(2026, 2, 1, tzinfo=UTC))}
    return sum(1 for r in SyslogParser().parse(item) if hasattr(r, "category"))


def timed(fn, *args) -> tuple[float, int]:
    t0 = time.process_time()   # CPU seconds: the bench box is shared, wall time moves with its load
    n = fn(*args)
    return time.process_time() - t0, n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=400_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "auth.log"
        make_log(log, args.lines)
        gz = Path(tmp) / "auth.log.2.gz"
        gz.write_bytes(gzip.compress(log.read_bytes(), 6))
        times: dict[str, list[float]] = {"bare": [], "triage": [], "gzip": []}
        records = 0
        for _ in range(args.repeat):
            times["bare"].append(timed(bare, log)[0])
            t, records = timed(triage, log, "var/log/auth.log")
            times["triage"].append(t)
            times["gzip"].append(timed(triage, gz, "var/log/auth.log.2.gz")[0])
        tracemalloc.start()
        triage(log, "var/log/auth.log")
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        med = {k: statistics.median(v) for k, v in times.items()}
        size = log.stat().st_size / 2**20
        print(f"auth.log: {args.lines} lines, {size:.1f} MiB, {records} records; medians of {args.repeat}")
        for k in ("bare", "triage", "gzip"):
            print(f"  {k:7s} {med[k]:7.3f} CPU-s  {args.lines / med[k] / 1000:7.0f} k lines/s  "
                  f"{med[k] / med['bare']:5.2f}x bare")
        print(f"  peak traced memory of the triage pass (records dropped as counted): {peak / 2**10:.0f} KiB")


if __name__ == "__main__":
    main()
