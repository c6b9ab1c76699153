"""Shared set-up for benchmarks: the bundled car query with its features cached."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autocrop.config import Config, load_config  # noqa: E402
from autocrop.dataset import QueryData, prepare  # noqa: E402
from autocrop.space import load_space  # noqa: E402

HIGHWAY = ROOT.parent / "shared" / "data" / "cdnet2014-highway"
REGION = (0, 150, 130, 240)  # the car query's region, pixels of the 320x240 frames


def car_query(overrides: list[str] | None = None, extract: bool = True) -> tuple[Config, QueryData]:
    cfg = load_config(ROOT / "conf" / "car.yaml", overrides or [])
    data = prepare(cfg)
    space = load_space(cfg.search.space)
    if extract:
        data.store.extract([*space.layers, data.backbone.layer_names[-1]], progress=True)
    return cfg, data
