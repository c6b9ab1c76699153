"""The nested time order behind `label-next --even` and the bench's --even-nested."""

from __future__ import annotations

import numpy as np
import pytest

from autocrop.timegrid import time_order


@pytest.mark.parametrize("n", [1, 7, 300, 1000, 1024])
def test_every_position_once(n):
    order = time_order(n, 3)
    assert sorted(order.tolist()) == list(range(n))


@pytest.mark.parametrize("n", [300, 1000, 1024])
def test_each_power_of_two_prefix_is_an_evenly_spaced_grid_with_a_phase(n):
    """The first 2^k positions are a grid: consecutive ones n / 2^k apart (rounded either way),
    its phase drawn by the seed."""
    phases = set()
    for seed in range(5):
        order = time_order(n, seed)
        for k in range(1, int(np.log2(n)) + 1):
            spacing = np.diff(np.sort(order[: 2**k]))
            assert set(spacing.tolist()) <= {n // 2**k, -(-n // 2**k)}, (seed, k, spacing)
        phases.add(int(order[:8].min()))
    assert len(phases) == 5


def test_any_prefix_leaves_no_gap_much_wider_than_a_grid_of_its_size():
    """Between powers of two too: no stretch of the block without a pick is more than twice a
    grid's spacing. Random frames leave gaps several times wider."""
    n = 1000
    order = time_order(n, 0)
    rng = np.random.default_rng(0)
    for m in (6, 12, 24, 40, 96):
        gap = np.diff(np.r_[0, np.sort(order[:m]), n]).max()
        assert gap <= 2 * n / m + 1, (m, gap)
    drawn = np.diff(np.r_[0, np.sort(rng.choice(n, 96, replace=False)), n]).max()
    assert drawn > 2 * n / 96 + 1  # the same rule fails for random frames: the test can fail


def test_nested_reproducible_and_seeded():
    """The same seed gives the same order (batch after batch, each batch its next frames), another
    seed another start, and an empty block an empty order."""
    a, b = time_order(1000, 5), time_order(1000, 5)
    assert (a == b).all()
    assert not (time_order(1000, 6)[:8] == a[:8]).all()
    assert time_order(0, 1).size == 0
