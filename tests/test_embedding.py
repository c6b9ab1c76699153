"""label-next's feature space on real footage: long footage is reduced in chunks, with the distances of a fit on every frame."""

from __future__ import annotations

import numpy as np
import pytest

from autocrop import embedding as emb_mod
from autocrop.config import load_config
from autocrop.dataset import prepare
from autocrop.embedding import embedding

pytestmark = pytest.mark.slow


def _median_pair(z: np.ndarray) -> float:
    d = np.sqrt(((z[:, None] - z[None]) ** 2).sum(-1))
    return float(np.median(d[np.triu_indices(len(z), 1)]))


def test_a_fit_on_frames_spread_over_long_footage_keeps_the_distances(query, monkeypatch):
    """Past LABEL_FIT_ROWS frames the principal components are fitted on a spread sample and the
    footage is reduced chunk by chunk: distances stay those of a fit on every frame."""
    data = prepare(load_config(query))
    full = embedding(data, "final")
    assert full.shape == (len(data.ids), 64) and full.dtype == np.float32
    assert _median_pair(full) == pytest.approx(1.0, abs=0.05)  # distances in units of the median pair distance
    monkeypatch.setattr(emb_mod, "LABEL_FIT_ROWS", len(data.ids) // 3)
    monkeypatch.setattr(emb_mod, "GATHER_ROWS", 50)
    sampled = embedding(data, "final")
    assert sampled.shape == full.shape and sampled.dtype == np.float32
    pairs = np.random.default_rng(0).integers(0, len(full), (2000, 2))
    dist = [np.sqrt(((z[pairs[:, 0]] - z[pairs[:, 1]]) ** 2).sum(1)) for z in (full, sampled)]
    assert np.corrcoef(*dist)[0, 1] > 0.97
    assert _median_pair(sampled) == pytest.approx(1.0, abs=0.05)
