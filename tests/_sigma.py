"""Where SigmaHQ's rules and regression data are (../shared/sigma), for the Sigma tests and benches."""

from __future__ import annotations

from pathlib import Path

SIGMA = Path(__file__).resolve().parents[1].parent / "shared" / "sigma"
SIGMAHQ_DIRS = [SIGMA / "rules", SIGMA / "rules-threat-hunting", SIGMA / "rules-emerging-threats"]
