"""Everything a query needs before training: frames, labels, time-block splits, backbone, cache."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from autocrop.backbone import Backbone, build_backbone
from autocrop.config import Config
from autocrop.features import FeatureStore
from autocrop.labels import SPLITS, block_of, check_trainable, load_labels, split_blocks, subsample
from autocrop.sources import FrameSource, open_source

__all__ = ["QueryData", "prepare"]


@dataclass
class QueryData:
    """The scored frames of a query in time order, their 0/1 labels and split rows."""

    cfg: Config
    source: FrameSource
    backbone: Backbone
    store: FeatureStore
    ids: np.ndarray  # frame ids of the scored frames (the feature store's rows)
    y: np.ndarray  # 0/1 label per row
    splits: dict[str, np.ndarray]  # split -> rows
    blocks: dict[str, np.ndarray] | None = None  # split -> the time block of each of its rows

    def ys(self) -> dict[str, np.ndarray]:
        return {s: self.y[self.splits[s]] for s in SPLITS}

    def describe(self) -> str:
        parts = [f"{s} {len(r)} ({int(self.y[r].sum())} pos)" for s, r in self.splits.items()]
        return f"{len(self.ids)} scored frames: " + ", ".join(parts)


def prepare(cfg: Config, need_trainable: bool = True) -> QueryData:
    source = open_source(cfg.footage)
    labels = load_labels(cfg.labels, source)
    ids = labels.ids[labels.scored]
    y = labels.y[labels.scored].astype(np.int64)
    splits = {s: subsample(rows, cfg.split.max_frames) for s, rows in split_blocks(labels, cfg.split).items()}
    if need_trainable:
        check_trainable(y, splits, str(cfg.source_path))
    backbone = build_backbone(cfg.backbone)
    store = FeatureStore(cfg.cache_dir, backbone, source, ids)
    blocks = {s: block_of(rows, len(ids), cfg.split.blocks) for s, rows in splits.items()}
    return QueryData(cfg, source, backbone, store, ids, y, splits, blocks)
