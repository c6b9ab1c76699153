"""Frames spread evenly over time, nested batch after batch: `label-next --even`.

The order is the one a seeded scrambled van der Corput sequence (scipy's one-dimensional
scrambled Halton) visits a block's frames in. Every prefix of it is spread evenly (no stretch
without a frame over twice a grid's step), and its first 2^k frames are a grid whose phase the seed
draws. Evenly spaced frames were as strong as label-next's proposals over the highway queries
(bench/label_efficiency.py, BENCHMARKS.md), but a grid of n frames is not the grid of n/2 plus
more, and a user labelling batch by batch can only add frames. This order can: each batch is its
next unlabelled frames, in the gaps of those before, and on the bench that kept the grid's
strength. It needs no search and no features, so it can start before anything is extracted.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import qmc

from autocrop.dataset import QueryData
from autocrop.proposals import Proposal

__all__ = ["time_order", "in_time"]


def time_order(n: int, seed: int) -> np.ndarray:
    """Positions 0..n-1 (frames in time order), each once, in the order the seed's sequence
    visits them; positions its first 4n draws leave out (none, typically) come last."""
    if n <= 0:
        return np.zeros(0, int)
    draws = 1 << (int(np.ceil(np.log2(n))) + 2)
    u = qmc.Halton(1, scramble=True, rng=np.random.default_rng([seed, 0x71])).random(draws)[:, 0]
    pos = np.minimum((u * n).astype(int), n - 1)
    _, first = np.unique(pos, return_index=True)
    order = pos[np.sort(first)]
    return np.r_[order, np.setdiff1d(np.arange(n), order)].astype(int)


def in_time(data: QueryData, n: int, seed: int, min_gap: int) -> list[Proposal]:
    """The next n unlabelled frames of the seed's order over the train and validation blocks
    together (each split gets its share of time), none fewer than `min_gap` frames from another pick."""
    assert data.pool is not None
    train = np.r_[data.splits["train"], data.pool["train"]]
    block = np.sort(np.r_[train, data.splits["val"], data.pool["val"]]).astype(int)
    split = np.where(np.isin(block, train), "train", "val")
    free = np.isin(block, np.r_[data.pool["train"], data.pool["val"]])
    picks: list[Proposal] = []
    for i in time_order(len(block), seed):
        if len(picks) == n:
            break
        row = int(block[i])
        if free[i] and all(abs(row - p.row) >= min_gap for p in picks):
            picks.append(Proposal(int(data.ids[row]), row, str(split[i]), f"even in time: {i / len(block):.1%} through the train and "
                                  f"validation frames, next in seed {seed}'s nested order", 0.0))
    return sorted(picks, key=lambda p: p.row)
