"""label-next's feature spaces on real footage: the query's input tells its classes apart where the scene does not."""

from __future__ import annotations

import numpy as np
import pytest

from autocrop import embedding as emb_mod
from autocrop.config import load_config
from autocrop.dataset import prepare
from autocrop.embedding import embedding, input_embedding
from autocrop.inputs import InputSpec

pytestmark = pytest.mark.slow

REGION_CELLS = (5, 8, 0, 4)  # the small query's region (x 0-130, y 150-240 of 320 x 240) on blocks.3.3's 8 x 10 map


def _neighbours_agree(z: np.ndarray, y: np.ndarray, k: int = 5) -> float:
    """Share of each frame's k nearest frames that carry its label."""
    d = ((z[:, None] - z[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    nn = np.argsort(d, axis=1)[:, :k]
    return float((y[nn] == y[:, None]).mean())


def _median_pair(z: np.ndarray) -> float:
    d = np.sqrt(((z[:, None] - z[None]) ** 2).sum(-1))
    return float(np.median(d[np.triu_indices(len(z), 1)]))


def test_the_query_input_embedding_keeps_neighbours_of_one_class_together_better_than_the_scene(query):
    data = prepare(load_config(query))
    assert data.store.load("blocks.3.3").shape[2:] == (8, 10)
    spec = InputSpec("blocks.3.3", REGION_CELLS)
    scene, region = embedding(data, "final"), input_embedding(data, spec)
    assert scene.shape == (len(data.ids), 64) and region.shape == (len(data.ids), 64)
    for z in (scene, region):  # distances in units of the footage's median pair distance
        assert _median_pair(z) == pytest.approx(1.0, abs=0.05)
    y = data.y
    agree_scene, agree_region = _neighbours_agree(scene, y), _neighbours_agree(region, y)
    assert agree_region > agree_scene + 0.03, (agree_region, agree_scene)
    # a crop away from the region is no better than the scene at this query's classes
    assert _neighbours_agree(input_embedding(data, InputSpec("blocks.3.3", (0, 3, 6, 10))), y) < agree_region


def test_a_fit_on_frames_spread_over_long_footage_keeps_the_distances(query, monkeypatch):
    """Past LABEL_FIT_ROWS frames the principal components are fitted on a spread sample and the
    footage is reduced chunk by chunk: distances stay those of a fit on every frame."""
    data = prepare(load_config(query))
    spec = InputSpec("blocks.5.2", (0, 4, 0, 5))
    full = input_embedding(data, spec)
    monkeypatch.setattr(emb_mod, "LABEL_FIT_ROWS", len(data.ids) // 3)
    monkeypatch.setattr(emb_mod, "GATHER_ROWS", 50)
    sampled = input_embedding(data, spec)
    assert sampled.shape == full.shape and sampled.dtype == np.float32
    pairs = np.random.default_rng(0).integers(0, len(full), (2000, 2))
    dist = [np.sqrt(((z[pairs[:, 0]] - z[pairs[:, 1]]) ** 2).sum(1)) for z in (full, sampled)]
    assert np.corrcoef(*dist)[0, 1] > 0.97
    assert _median_pair(sampled) == pytest.approx(1.0, abs=0.05)
