"""Event logs parsed as windows of chunks (in worker processes) give what the sequential parser gives.

Every corpus .evtx file (healthy, dirty, bad-chunk, truncated, hostile) is parsed both ways with
windows of 1 and 3 chunks, so each window boundary, each script block split across windows and each
damaged chunk is exercised; the outputs must be equal, record for record and issue for issue.
"""

from __future__ import annotations

import os
import signal
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

import pytest

from triage.model import EventLogStats, Issue
from triage.parsers.base import input_from_file
from triage.parsers.evtx.parser import EvtxParser
from triage.parsers.evtx.windows import ChunkWindow, LogSource, merge_windows, submit_windows, window_job


def _now(fn, *args) -> Future:
    """Run the job in this process (same code path as a pool, without the process start-up)."""
    fut: Future = Future()
    try:
        fut.set_result(fn(*args))
    except Exception as exc:
        fut.set_exception(exc)
    return fut


def _key(obj) -> str:
    return f"{type(obj).__name__}:{obj!r}"


def _sequential(path: Path, rel: str):
    return sorted(_key(o) for o in EvtxParser().parse(input_from_file(path, rel)))


def _windowed(path: Path, rel: str, chunks: int, submit=_now):
    item = input_from_file(path, rel)
    src = LogSource(str(path), 0, path.stat().st_size)
    return sorted(_key(o) for o in merge_windows(item, submit_windows(submit, src, item, chunks)))


def corpus_logs(corpus: Path) -> list[Path]:
    return sorted(p for p in corpus.rglob("*.evtx") if p.is_file())


def test_every_corpus_log_parses_the_same_in_windows(corpus):
    logs = corpus_logs(corpus)
    assert len(logs) > 20
    multi = 0
    for path in logs:
        rel = f"Windows/System32/winevt/Logs/{path.name}"
        want = _sequential(path, rel)
        src = LogSource(str(path), 0, path.stat().st_size)
        multi += src.slots > 1
        for chunks in (1, 3):
            assert _windowed(path, rel, chunks) == want, f"{path} (windows of {chunks} chunks)"
    assert multi > 10  # most logs really are split


def test_windows_in_real_worker_processes(corpus):
    logs = [p for p in corpus_logs(corpus) if LogSource(str(p), 0, p.stat().st_size).slots >= 4][:3]
    assert logs
    with ProcessPoolExecutor(2) as pool:
        for path in logs:
            rel = f"Windows/System32/winevt/Logs/{path.name}"
            assert _windowed(path, rel, 2, pool.submit) == _sequential(path, rel)


def test_script_block_split_across_windows_is_reassembled(corpus):
    """A 4104 block whose parts are read by different windows comes out whole and once, as the
    sequential add() makes it (the corpus has no multi-part block, so the parts are made here)."""
    from datetime import UTC, datetime

    from triage.parsers.evtx.parser import ScriptBlocks

    item = input_from_file(corpus / "evtx/museum-win10-rathbunvm/Microsoft-Windows-PowerShell%4Operational.evtx")
    t = [datetime(2024, 1, 1, 10, 0, s, tzinfo=UTC) for s in range(8)]
    args = ("HOST", "Microsoft-Windows-PowerShell/Operational", "Microsoft-Windows-PowerShell")

    def part(sbid, n, total, body):
        return {"ScriptBlockId": sbid, "MessageNumber": n, "MessageTotal": total, "ScriptBlockText": body,
                "Path": "C:\\x.ps1"}

    # file order: A2 A1 | B1 A2(dup) | A3 B3  (three windows)
    stream = [("A", 2, "bbb", 11), ("A", 1, "aaa", 10), ("B", 1, "x", 12), ("A", 2, "bbb", 13),
              ("A", 3, "ccc", 14), ("B", 3, "z", 15)]
    seq = ScriptBlocks(item)
    want = [e for sbid, n, body, rid in stream if (e := seq.add(part(sbid, n, 3, body), rid, t[rid - 10], *args))]
    want += seq.flush()
    windows = [stream[0:2], stream[2:4], stream[4:6]]
    merged = ScriptBlocks(item)
    got = []
    for w in windows:
        local = ScriptBlocks(item)
        got += [e for sbid, n, body, rid in w if (e := local.add(part(sbid, n, 3, body), rid, t[rid - 10], *args))]
        got += [e for s in local.pending.values() if (e := merged.merge(s))]
    got += merged.flush()
    assert sorted(map(_key, got)) == sorted(map(_key, want))
    done = [e for e in got if e.fields["complete"]]
    assert len(done) == 1 and done[0].fields["script_block"] == "aaabbbccc"
    assert done[0].fields["record_ids"] == [10, 11, 14] and done[0].timestamp == t[0]


def test_window_view_maps_header_and_chunks(tmp_path):
    header = b"ElfFile\x00" + bytes(4088)
    chunks = [bytes([i]) * 65536 for i in range(5)]
    path = tmp_path / "x.evtx"
    path.write_bytes(b"JUNK" + header + b"".join(chunks) + b"tail")  # base 4: the log starts inside a file
    src = LogSource(str(path), 4, 4096 + 5 * 65536 + 4)
    assert src.slots == 5
    with ChunkWindow(src, 2, 2) as w:
        data = w.read()
    assert data == header + chunks[2] + chunks[3]
    with ChunkWindow(src, 4, 9) as w:  # clipped at the last whole chunk; the partial tail is not shown
        assert w.read() == header + chunks[4]
        w.seek(4096 + 10)
        assert w.read(3) == bytes([4]) * 3


def test_a_lost_window_is_reported_and_the_rest_kept(corpus):
    path = max(corpus_logs(corpus), key=lambda p: p.stat().st_size)
    rel = f"Windows/System32/winevt/Logs/{path.name}"
    item = input_from_file(path, rel)
    src = LogSource(str(path), 0, path.stat().st_size)
    calls = []

    def flaky(fn, *args):
        calls.append(args)
        if len(calls) == 2:  # the second window's worker dies
            fut: Future = Future()
            fut.set_exception(RuntimeError("worker died"))
            return fut
        return _now(fn, *args)

    out = list(merge_windows(item, submit_windows(flaky, src, item, 1)))
    lost = [o for o in out if isinstance(o, Issue) and "could not be parsed (worker process" in o.message]
    assert len(lost) == 1 and lost[0].source.locator == "chunk 1"
    stats = [o for o in out if isinstance(o, EventLogStats)][0]
    full = [o for o in EvtxParser().parse(input_from_file(path, rel)) if isinstance(o, EventLogStats)][0]
    assert 0 < stats.records < full.records


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX signals")
def test_a_killed_worker_process_is_reported_and_the_log_still_summarised(corpus):
    """A worker killed mid-run breaks the pool: every window still queued is reported lost (an
    Issue naming its chunks), the log still gets its statistics, and nothing raises."""
    path = max(corpus_logs(corpus), key=lambda p: p.stat().st_size)
    rel = f"Windows/System32/winevt/Logs/{path.name}"
    item = input_from_file(path, rel)
    src = LogSource(str(path), 0, path.stat().st_size)
    with ProcessPoolExecutor(1) as pool:
        pid = pool.submit(os.getpid).result()
        os.kill(pid, signal.SIGKILL)
        out = list(merge_windows(item, submit_windows(pool.submit, src, item, 4), timeout=60))
    assert any(isinstance(o, Issue) and "could not be parsed (worker process" in o.message for o in out)
    assert any(isinstance(o, EventLogStats) for o in out)


def test_window_job_is_plain_data(corpus):
    """What crosses the process boundary pickles (records, issues, partial statistics)."""
    import pickle

    path = max(corpus_logs(corpus), key=lambda p: p.stat().st_size)
    item = input_from_file(path, f"Windows/System32/winevt/Logs/{path.name}")
    res = window_job(LogSource(str(path), 0, path.stat().st_size), (item.entry, item.rel_path, {}), 0, 2)
    again = pickle.loads(pickle.dumps(res))
    assert [_key(o) for o in again.items] == [_key(o) for o in res.items]
    assert again.partial.counts == res.partial.counts
