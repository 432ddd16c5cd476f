"""Issue 12 asks for memory flat as logs grow. A log's Sigma pass (triage.sigma.hits.LogHits) keeps
per rule a count, two times and its first MAX_SAMPLES records, and holds a batch of queued records
at a time: so one pass over a log's records and one over the same records eight times over must
peak alike, while the matches they count grow eightfold. The records kept grow until each rule
has its MAX_SAMPLES (the issue's cap): with a cap of one record, every rule has it after the first
pass, and whatever else grew with the log would show. (bench/sigma_memory.py measures whole
analyses, EVTX pool workers included.)"""

from __future__ import annotations

import tracemalloc

from _sigma import queued_records


def test_sigma_pass_memory_is_flat_as_the_log_grows(sigmahq, corpus, monkeypatch):
    import triage.sigma.hits as hits_mod
    from triage.model import Source
    from triage.sigma.hits import BATCH, LogHits

    monkeypatch.setattr(hits_mod, "MAX_SAMPLES", 1)

    _, eng = sigmahq
    queued = queued_records(eng, corpus / "evtx" / "museum-win10-aptsimulatorvm")

    def run(times: int) -> tuple[int, int]:
        hits = LogHits(eng, Source(bundle_path="logs/test.evtx"))
        tracemalloc.start()
        try:
            for _ in range(times):
                for i in range(0, len(queued), BATCH):
                    hits.queue.extend(queued[i:i + BATCH])
                    hits.flush()
            matched = sum(m.count for m in hits.records())
            return tracemalloc.get_traced_memory()[1], matched
        finally:
            tracemalloc.stop()

    run(1)  # rule functions, bucket memos and answers are built once per process: not the log's growth
    once, matched_once = run(1)
    eight, matched_eight = run(8)
    assert matched_once > 100 and matched_eight == 8 * matched_once
    print(f"\nSigma pass peak traced memory: {once / 2**20:.2f} MiB for {len(queued):,} records, "
          f"{eight / 2**20:.2f} MiB for eight times as many")
    assert eight < once * 1.05 + 64 * 1024, (once, eight)
