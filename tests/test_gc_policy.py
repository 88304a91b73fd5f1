"""contracts.gc_policy.serving, the garbage collector's settings both servers run under."""

from __future__ import annotations

import gc

from contracts import gc_policy


def test_serving_freezes_and_raises_the_young_threshold_then_restores_both() -> None:
    before = gc.get_threshold()
    frozen_before = gc.get_freeze_count()
    with gc_policy.serving():
        assert gc.get_threshold() == (max(before[0], gc_policy.GEN0_THRESHOLD), *before[1:])
        assert gc.get_freeze_count() > frozen_before
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_serving_leaves_automatic_collection_off_when_it_was() -> None:
    before = gc.get_threshold()
    gc.set_threshold(0, *before[1:])
    try:
        with gc_policy.serving():
            assert gc.get_threshold()[0] == 0
            assert gc.get_freeze_count() > 0
        assert gc.get_freeze_count() == 0
    finally:
        gc.set_threshold(*before)
