"""Skip, never error, when a corpus sample a test needs is missing from ../shared."""

from __future__ import annotations

from pathlib import Path

import pytest


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"corpus file missing: {path}")
    return path
