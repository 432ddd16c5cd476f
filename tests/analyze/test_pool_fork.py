"""The EVTX worker pool forks with the collector frozen: the workers never walk the objects they
inherit (a compiled Sigma set is ~10^5 of them), and the parent is left as it was."""

from __future__ import annotations

import gc
import multiprocessing
import sys

import pytest

from triage.analyze.fanout import make_pool


def test_pool_workers_inherit_a_frozen_heap():
    if "fork" not in multiprocessing.get_all_start_methods() or not sys.platform.startswith("linux"):
        pytest.skip("the pool forks only on Linux")
    before = gc.get_freeze_count()
    pool = make_pool(2)
    if pool is None:
        pytest.skip("no process pool here")
    try:
        assert gc.get_freeze_count() == before  # the parent unfroze at once
        inherited = len(gc.get_objects())
        frozen = [pool.submit(gc.get_freeze_count).result() for _ in range(4)]
        assert all(n >= inherited // 2 for n in frozen), (frozen, inherited)
    finally:
        pool.shutdown()
