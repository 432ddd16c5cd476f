"""Where SigmaHQ's rules and regression data are (../shared/sigma), for the Sigma tests and benches."""

from __future__ import annotations

from pathlib import Path

SIGMA = Path(__file__).resolve().parents[1].parent / "shared" / "sigma"
SIGMAHQ_DIRS = [SIGMA / "rules", SIGMA / "rules-threat-hunting", SIGMA / "rules-emerging-threats"]


def museum_records(corpus: Path, limit: int = 3000):
    """The JSON text of the first ``limit`` records of every museum log of the corpus."""
    from evtx import PyEvtxParser

    for log in sorted((corpus / "evtx").glob("museum-*/**/*.evtx")):
        try:
            it = PyEvtxParser(str(log)).records_json()
        except Exception:
            continue
        for n, rec in enumerate(it):
            if n >= limit:
                break
            yield rec["data"]
