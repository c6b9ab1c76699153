"""Shared fixtures: real highway footage and real weights from ../shared, tiny sizes for speed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("AUTOCROP_SHARED", ROOT.parent / "shared")).resolve()
HIGHWAY = SHARED / "data" / "cdnet2014-highway"
WEIGHTS = SHARED / "weights" / "mobilenetv2_100_coral"

torch.set_num_threads(2)


def small_config(tmp: Path, **over) -> dict:
    """A real but small query: every 5th labelled highway frame at 120x160 input."""
    cfg = {
        "name": "car-test",
        "footage": {"frames": str(HIGHWAY / "input"), "start": 470, "step": 5},
        "labels": {
            "masks": str(HIGHWAY / "groundtruth"),
            "temporal_roi": str(HIGHWAY / "temporalROI.txt"),
            "region": [[0, 150], [130, 150], [130, 240], [0, 240]],
            "min_fraction": 0.01,
        },
        "split": {"fractions": [0.5, 0.25, 0.25], "blocks": 3},
        "backbone": {
            "model": "mobilenetv2_100",
            "kwargs": {"pad_type": "same", "num_classes": 1001},
            "weights": str(WEIGHTS / "model.safetensors"),
            "input_size": [120, 160],
            "mean": [0.50196] * 3,
            "std": [0.50196] * 3,
        },
        "cache_dir": str(tmp / "cache"),
        "search": {"space": str(tmp / "space.yaml"), "trials": 8, "batch": 4, "max_steps": 60, "patience": 15},
        "tracking": {"dir": str(tmp / "mlruns")},
    }
    for dotted, value in over.items():
        node = cfg
        keys = dotted.split("__")
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        node[keys[-1]] = value
    return cfg


SPACE = {
    "sampler": "paper",
    "layers": ["blocks.3.3", "blocks.5.2"],
    "crop": {"center": [0.1, 0.9], "size": [0.1, 0.5]},
    "heads": {"logistic": {"l2": {"low": 1e-4, "high": 1e-2, "log": True}}, "mlp": {"l2": 1e-4, "hidden": 16}},
}


def write_config(tmp: Path, space: dict | None = None, **over) -> Path:
    (tmp / "space.yaml").write_text(yaml.safe_dump(space or SPACE))
    path = tmp / "query.yaml"
    path.write_text(yaml.safe_dump(small_config(tmp, **over)))
    return path


def load_study(mlruns: Path, name: str = "car-test"):
    """A study from the default storage under `mlruns` (the journal file `autocrop search` writes)."""
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    return optuna.load_study(study_name=name, storage=JournalStorage(JournalFileBackend(str(mlruns / "optuna.journal"))))


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory) -> Path:
    """One feature cache for the small query, shared by every test that only reads it."""
    from autocrop.config import load_config
    from autocrop.dataset import prepare

    tmp = tmp_path_factory.mktemp("shared")
    cfg = load_config(write_config(tmp))
    data = prepare(cfg)
    data.store.extract([*SPACE["layers"], "final"], progress=False)
    return tmp / "cache"


@pytest.fixture
def query(tmp_path, shared_cache) -> Path:
    """A small query config in tmp_path that reuses the session's feature cache."""
    return write_config(tmp_path, cache_dir=str(shared_cache))


@pytest.fixture(scope="session")
def searched(tmp_path_factory, shared_cache) -> Path:
    """A small query searched once (12 trials, MLflow tracked); tests read it, never change it."""
    from autocrop.cli import main

    tmp = tmp_path_factory.mktemp("searched")
    space = {**SPACE, "heads": {**SPACE["heads"], "conv": {"l2": 1e-4, "filters": 4}}}
    cfg = write_config(tmp, space=space, cache_dir=str(shared_cache))
    assert main(["search", str(cfg), "--quiet", "--trials", "12"]) == 0
    return cfg
