"""The feature space label-next measures similarity in: which frames look alike.

Every frame's map of one layer (the last, by default) pooled to a small grid, so where things are
still counts for a region query; centred, reduced to its principal components (fitted on at most
`LABEL_FIT_ROWS` frames spread over the footage, then applied `GATHER_ROWS` frames at a time, so
memory holds the reduced features, not the maps: an hour of footage is 100,000 frames) and scaled
so that the footage's median distance between two of its frames is 1. The de-duplication
threshold (`--min-distance`) is in those units.

Measured and not kept (BENCHMARKS.md): seeking typical frames in the features the best trial's
head reads, or in the query's region (its cells on the last layer). Those spaces keep frames of
one class together better, but after a search on a few labels the best trial's crop can be the
wrong one (far-band's test FN rose at every label count), and a cold start in the region picked
mostly positives: the empty region is one tight cluster, so it gets one pick.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from autocrop.dataset import QueryData
from autocrop.defaults import GATHER_ROWS, LABEL_DIMS, LABEL_FIT_ROWS, LABEL_GRID

__all__ = ["embedding", "nearest_distance"]


def embedding(data: QueryData, layer: str, grid: tuple[int, int] = LABEL_GRID, dims: int = LABEL_DIMS) -> np.ndarray:
    """float32 [rows, dims]: `layer`'s maps pooled to `grid`, reduced and scaled (median pair distance 1)."""
    from sklearn.decomposition import PCA

    maps = data.store.load(layer)
    release = getattr(data.store, "release", lambda: None)  # a memory-mapped cache: drop the pages read so far
    n = len(maps)

    def pooled(rows: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.asarray(maps[rows], dtype=np.float32))
        release()
        return F.adaptive_avg_pool2d(x, grid).flatten(1).numpy()

    fit = np.unique(np.linspace(0, n - 1, min(n, LABEL_FIT_ROWS)).round().astype(int))
    sample = np.concatenate([pooled(fit[lo:lo + GATHER_ROWS]) for lo in range(0, len(fit), GATHER_ROWS)])
    mean = sample.mean(0)
    sample -= mean
    pca = PCA(n_components=max(1, min(dims, len(sample) - 1, sample.shape[1])), svd_solver="randomized", random_state=0)
    if len(fit) == n:  # every frame fits: the sample is the footage
        z = pca.fit_transform(sample).astype(np.float32) if n > 2 else sample
    else:
        pca.fit(sample)
        z = np.concatenate([pca.transform(pooled(np.arange(lo, min(n, lo + GATHER_ROWS))) - mean).astype(np.float32)
                            for lo in range(0, n, GATHER_ROWS)])
    probe = z[np.unique(np.linspace(0, n - 1, min(n, 400)).astype(int))]
    d = np.sqrt(((probe[:, None] - probe[None]) ** 2).sum(-1))
    scale = float(np.median(d[np.triu_indices(len(probe), 1)])) if len(probe) > 1 else 1.0
    return z / (scale if scale > 0 else 1.0)


def nearest_distance(emb: np.ndarray, cands: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """Distance from each candidate row to its nearest anchor row (inf without anchors)."""
    out = np.full(len(cands), np.inf, dtype=np.float64)
    for lo in range(0, len(anchors), 512):
        a = emb[anchors[lo:lo + 512]]
        d = np.sqrt(np.maximum((emb[cands] ** 2).sum(1)[:, None] - 2 * emb[cands] @ a.T + (a ** 2).sum(1)[None], 0))
        out = np.minimum(out, d.min(1))
    return out
