"""Shared set-up for benchmarks: the bundled car query with its features cached."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import numpy as np

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


def revealed(full: QueryData, known: np.ndarray, fixed: np.ndarray) -> QueryData:
    """The simulated annotator: `full` with only rows `known` and `fixed` (the test block, say) labelled."""
    from autocrop.labels import UNLABELLED

    y = np.full_like(full.y, UNLABELLED)
    keep = np.r_[known, fixed].astype(int)
    y[keep] = full.y[keep]
    return full.with_labels(y)


def can_search(data: QueryData) -> bool:
    """Whether `data`'s labels can train a search (train and val each hold both classes)."""
    from autocrop.errors import DataError
    from autocrop.labels import check_trainable

    try:
        check_trainable(data.y, data.splits, "")
    except DataError:
        return False
    return True


def write_section(path: Path, title: str, command: str, lines: list[str], extra: str = "") -> None:
    """Replace (or append) the `title` section of a markdown file with a dated table. The section
    ends at the next heading of level 2 or 3: its ### subsections (earlier runs, written by hand)
    are kept."""
    body = path.read_text() if path.exists() else "# Benchmarks\n"
    section = f"{title}\n\n`{command}` on {time.strftime('%Y-%m-%d')}, 2 CPU cores.\n\n" + "\n".join(lines) + "\n" + extra
    pattern = re.compile(re.escape(title) + r".*?(?=\n###? |\Z)", re.S)
    body = pattern.sub(lambda _m: section, body) if pattern.search(body) else body.rstrip() + "\n\n" + section
    path.write_text(body)
