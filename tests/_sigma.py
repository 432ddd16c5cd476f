"""Where SigmaHQ's rules and regression data are (../shared/sigma), for the Sigma tests and benches."""

from __future__ import annotations

from pathlib import Path

SIGMA = Path(__file__).resolve().parents[1].parent / "shared" / "sigma"
SIGMAHQ_DIRS = [SIGMA / "rules", SIGMA / "rules-threat-hunting", SIGMA / "rules-emerging-threats"]


def log_records(log: Path):
    """The records of one event log the engine can read (pyevtx-rs dicts); unreadable chunks and
    records are skipped, as an analysis reports and passes them."""
    from evtx import PyEvtxParser

    try:
        it = PyEvtxParser(str(log)).records_json()
    except Exception:
        return
    while True:
        try:
            rec = next(it)
        except StopIteration:
            return
        except Exception:
            continue
        yield rec


def museum_records(corpus: Path, limit: int = 3000):
    """The JSON text of the first ``limit`` records of every museum log of the corpus."""
    for log in sorted((corpus / "evtx").glob("museum-*/**/*.evtx")):
        for n, rec in enumerate(log_records(log)):
            if n >= limit:
                break
            yield rec["data"]


def queued_records(engine, folder: Path) -> list[tuple]:
    """Every record of the logs under ``folder`` that a bucket of ``engine`` takes, as the parser
    queues it for a log's Sigma pass: (bucket, record id, written time, JSON text, offset 0)."""
    import json

    from evtx import PyEvtxParser

    from triage.sigma.flatten import flatten

    queued = []
    for log in sorted(folder.rglob("*.evtx")):
        for rec in PyEvtxParser(str(log)).records_json():
            whole = flatten(json.loads(rec["data"]))
            b = engine.bucket(whole.get("Channel"), whole.get("EventID"), whole.get("Provider_Name"))
            if b is not None:
                queued.append((b, rec["event_record_id"], rec["timestamp"], rec["data"], 0))
    return queued
