"""The EVTX worker pool forks with the collector frozen: the workers never walk the objects they
inherit (a compiled Sigma set is ~10^5 of them), and the parent is left as it was: unfrozen if
nothing was frozen, and with what was frozen (the Sigma engine's rule set) still frozen."""

from __future__ import annotations

import gc
import multiprocessing
import sys

import pytest

from triage.analyze.fanout import make_pool


def _forks():
    if "fork" not in multiprocessing.get_all_start_methods() or not sys.platform.startswith("linux"):
        pytest.skip("the pool forks only on Linux")


def test_pool_workers_inherit_a_frozen_heap():
    _forks()
    gc.unfreeze()  # (an engine built by an earlier test froze its set: this case is a process without one)
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


def test_what_was_frozen_before_the_pool_stays_frozen():
    """gc.unfreeze() thaws everything: after a pool, the Sigma engine's frozen set must not be back
    in the collector's generations (full collections through it cost 90-110 ms per later analysis)."""
    _forks()
    kept = [[i] for i in range(10_000)]  # stands for a compiled rule set
    gc.freeze()
    before = gc.get_freeze_count()
    pool = make_pool(2)
    if pool is None:
        pytest.skip("no process pool here")
    try:
        assert gc.get_freeze_count() >= before
        thawed = {id(o) for o in gc.get_objects(generation=2)}  # by identity: equal lists are not ours
        assert not any(id(x) in thawed for x in kept)
    finally:
        pool.shutdown()
