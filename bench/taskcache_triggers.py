"""TaskCache Triggers decoding vs a bare pass over the same bytes, in the same run.

Run from the repo root:  python3 bench/taskcache_triggers.py [--tasks N] [--rounds R]
Input (made in memory): N Triggers values as Windows 10 writes them (header, job bucket, then a logon,
a boot, a daily time and an event trigger: ~700 bytes each; no corpus hive holds a TaskCache). A real
SOFTWARE hive holds 150-300 tasks; N defaults to 2000. Figures (best of R, interleaved):
  baseline   every value unpacked as 8-byte words (struct.iter_unpack) -- a floor for touching each byte;
  decoder    decode_triggers() on every value (all fields, bounded, never raising);
  ratio      decoder / baseline, and the per-task cost in microseconds.
"""

from __future__ import annotations

import argparse
import struct
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

import _task_triggers as tt  # noqa: E402

from triage.parsers.registry.taskcache_trigger_decode import decode_triggers  # noqa: E402


def _values(n: int) -> list[bytes]:
    return [tt.header(principal=f"Author{i}") + tt.logon_trigger(None) + tt.generic(0xFFFF)
            + tt.time_trigger(mode=1, data=(1, 0, 0), tid=f"T{i}")
            + tt.event_trigger("<QueryList><Query Id=\"0\"><Select Path=\"System\">*</Select></Query></QueryList>")
            for i in range(n)]


def _baseline(values: list[bytes]) -> int:
    total = 0
    for v in values:
        for (w,) in struct.iter_unpack("<Q", v[:len(v) - len(v) % 8]):
            total ^= w
    return total


def _decode(values: list[bytes]) -> int:
    return sum(len(decode_triggers(v).triggers) for v in values)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    values = _values(args.tasks)
    best = {"baseline": float("inf"), "decoder": float("inf")}
    for _ in range(args.rounds):
        for name, fn in (("baseline", _baseline), ("decoder", _decode)):
            t0 = time.perf_counter()
            fn(values)
            best[name] = min(best[name], time.perf_counter() - t0)
    assert _decode(values) == 4 * args.tasks
    size = sum(map(len, values))
    print(f"{args.tasks} Triggers values, {size / 1e6:.2f} MB, best of {args.rounds}")
    print(f"  baseline (8-byte words): {best['baseline'] * 1e3:8.1f} ms")
    print(f"  decoder:                 {best['decoder'] * 1e3:8.1f} ms  "
          f"({best['decoder'] / args.tasks * 1e6:.1f} us per task)")
    print(f"  ratio decoder / baseline: {best['decoder'] / best['baseline']:.1f}x")


if __name__ == "__main__":
    main()
