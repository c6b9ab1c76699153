"""Everything a query needs before training: frames, labels, time-block splits, backbone, cache."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from autocrop.backbone import Backbone, build_backbone
from autocrop.config import Config
from autocrop.features import FeatureStore
from autocrop.labels import SPLITS, UNLABELLED, FrameLabels, block_of, check_trainable, load_labels, split_blocks, subsample
from autocrop.sources import FrameSource, open_source

__all__ = ["QueryData", "prepare"]


@dataclass
class QueryData:
    """A query's candidate frames in time order (labelled or not), their labels, and split rows.

    The rows are every frame that can carry a label (the feature store's rows); `splits` holds the
    labelled rows of each split (what trains and scores), `pool` its unlabelled ones (what
    `label-next` may propose)."""

    cfg: Config
    source: FrameSource
    backbone: Backbone
    store: FeatureStore
    ids: np.ndarray  # frame id per row
    y: np.ndarray  # per row: 1, 0 or labels.UNLABELLED
    splits: dict[str, np.ndarray]  # split -> its labelled rows
    blocks: dict[str, np.ndarray] | None = None  # split -> the time block of each of its rows
    pool: dict[str, np.ndarray] | None = None  # split -> its unlabelled rows

    def ys(self) -> dict[str, np.ndarray]:
        return {s: self.y[self.splits[s]] for s in SPLITS}

    def with_labels(self, y: np.ndarray) -> QueryData:
        """The same frames and features with other labels per row (1, 0 or UNLABELLED), e.g. a
        simulated annotator's: splits stay where they are, their labelled rows follow `y`."""
        y = np.asarray(y, dtype=np.int64)
        assert y.shape == self.y.shape
        splits, blocks, pool = _split(self.cfg, self.ids, y)
        return replace(self, y=y, splits=splits, blocks=blocks, pool=pool)

    @property
    def labelled(self) -> int:
        return int((self.y >= 0).sum())

    def describe(self) -> str:
        parts = [f"{s} {len(r)} ({int(self.y[r].sum())} pos)" for s, r in self.splits.items()]
        unlabelled = len(self.ids) - self.labelled
        return f"{self.labelled} labelled frames: " + ", ".join(parts) + (f"; {unlabelled} not labelled yet" if unlabelled else "")


def prepare(cfg: Config, need_trainable: bool = True, allow_unlabelled: bool = False) -> QueryData:
    """A query's data; `allow_unlabelled` (label-next's cold start) accepts footage with no label yet."""
    source = open_source(cfg.footage)
    labels = load_labels(cfg.labels, source, allow_none=allow_unlabelled)
    ids = labels.ids[labels.candidates]
    y = labels.y[labels.candidates].astype(np.int64)
    splits, blocks, pool = _split(cfg, ids, y)
    if need_trainable:
        check_trainable(y, splits, str(cfg.source_path))
    backbone = build_backbone(cfg.backbone)
    store = FeatureStore(cfg.cache_dir, backbone, source, ids)
    return QueryData(cfg, source, backbone, store, ids, y, splits, blocks, pool)


def _split(cfg: Config, ids: np.ndarray, y: np.ndarray) -> tuple[dict[str, np.ndarray], ...]:
    """(labelled rows, their time blocks, unlabelled rows) per split."""
    parts = split_blocks(FrameLabels(ids, y), cfg.split)
    splits = {s: subsample(rows[y[rows] >= 0], cfg.split.max_frames) for s, rows in parts.items()}
    blocks = {s: block_of(rows, len(ids), cfg.split.blocks) for s, rows in splits.items()}
    pool = {s: rows[y[rows] == UNLABELLED] for s, rows in parts.items()}
    return splits, blocks, pool
