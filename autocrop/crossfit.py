"""Cross-fitting over the footage's time cycles, for queries with few labels.

With a held-out validation split a label either trains a head or sets its threshold, never both,
and on a few dozen labels both halves starve: a head trained on 24 frames needs more validation
labels for its threshold than one trained on every frame (BENCHMARKS.md, "every label twice").
Cross-fitting lets every label do both. The labelled frames of the training and validation blocks
are pooled; each time cycle of the split (`split.blocks`: train|val|test, so a cycle's frames are
a contiguous stretch of footage, and cycles are kept apart by their test blocks) is held out in
turn while the head trains on the others. The threshold comes from the held-out (out-of-fold)
scores by the usual rule, the target held in each cycle as in each validation block. The head
kept is the mean of the folds' heads: for the linear heads one linear head of the same kind
(`mean_linear`); other heads are trained once more on every pooled label instead (their mean
is not one head of their kind), at the out-of-fold threshold. The test block is never touched.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from autocrop.config import Config
from autocrop.dataset import QueryData
from autocrop.defaults import CROSSFIT_BELOW
from autocrop.errors import DataError
from autocrop.heads import BatchedHead, get_head
from autocrop.labels import block_of
from autocrop.train import Candidate

__all__ = ["Fold", "folds", "fit_folds", "cross_ys", "mean_linear"]


@dataclass(frozen=True)
class Fold:
    """One time cycle held out: the labelled rows that train, the labelled and unlabelled rows it scores."""

    cycle: int
    train: np.ndarray
    held: np.ndarray
    unlabelled: np.ndarray


def folds(data: QueryData, cfg: Config) -> list[Fold] | None:
    """The folds to cross-fit `data` on, or None for the held-out validation split.

    `search.operating_point.crossfit`: `off` never; `on` whenever every fold can train (both
    classes in the other cycles) and every cycle holds a label; `auto` (the default) as `on` while
    the training and validation blocks hold fewer than `CROSSFIT_BELOW` labels together, where a
    held-out split starves (BENCHMARKS.md)."""
    mode = cfg.search.operating_point.crossfit
    if mode == "on" and cfg.split.blocks < 2:
        raise DataError(f"{cfg.source_path}: search.operating_point.crossfit is on, but split.blocks is 1: folds are time cycles, "
                        "so set split.blocks to 2 or more, or crossfit to auto")
    if mode == "off" or cfg.split.blocks < 2:
        return None
    rows = np.sort(np.r_[data.splits["train"], data.splits["val"]]).astype(int)
    if mode == "auto" and len(rows) >= CROSSFIT_BELOW:
        return None
    pool = np.zeros(0, int) if data.pool is None else np.sort(np.r_[data.pool["train"], data.pool["val"]]).astype(int)
    cyc, pool_cyc = (block_of(r, len(data.ids), cfg.split.blocks) for r in (rows, pool))
    out = []
    for k in range(cfg.split.blocks):
        train, held = rows[cyc != k], rows[cyc == k]
        if not len(held) or len(np.unique(data.y[train])) < 2:
            if mode == "on":
                why = "holds no labelled training or validation frame" if not len(held) else "leaves labels of one class only to train on"
                raise DataError(f"{cfg.source_path}: search.operating_point.crossfit is on, but time cycle {k + 1} of {cfg.split.blocks} "
                                f"{why}: label frames of both classes in every cycle, or set it to auto")
            return None
        out.append(Fold(k, train, held, pool[pool_cyc == k]))
    return out


def mean_linear(heads: list[BatchedHead]) -> BatchedHead:
    """One linear head (K = 1) whose score is the mean of the given linear heads' scores: each
    head's standardization folded into its weights, then weights and biases averaged."""
    one = heads[0]
    out = type(one)(one.shapes[:1], one.hparams[:1], [0])
    d = one.dims[0]
    with torch.no_grad():
        w = torch.stack([h.weight[0, :d] / h.scale[0, :d] for h in heads])
        b = torch.stack([h.bias[0] - (h.weight[0, :d] / h.scale[0, :d] * h.mean[0, :d]).sum() for h in heads])
        out.weight[0, :d] = w.mean(0)
        out.bias[0] = b.mean()
        out.mean.zero_()
        out.scale.fill_(1.0)
    return out.eval()


def fit_folds(folds: list[Fold], data: QueryData, jobs: list, shapes: list, fit: Callable, keep: bool
              ) -> tuple[list[dict[str, Any]], list[dict[str, np.ndarray]], list[BatchedHead | None], int]:
    """Train one stackable group of jobs (`evaluation.Job`, all of one head kind) on every fold:
    per job its hyper-parameters, its scores (`val`: out-of-fold on the pooled labelled rows in
    `cross_ys` order; `val_unlabelled`: out-of-fold; `test`: the kept head's), the kept head (with
    `keep`), and the most steps a run took. `fit(cands, ys)` is `train.fit_heads` with the search's
    settings."""
    linear = get_head(jobs[0].head).linear
    test = data.splits["test"]
    test_x = {inp: inp.gather_windows(data.store, test) for inp in dict.fromkeys(j.input for j in jobs)}  # once, not per fold

    def run(rows: dict[str, np.ndarray]):
        inputs = {inp: {s: inp.gather_windows(data.store, r) for s, r in rows.items()} | {"test": x} for inp, x in test_x.items()}
        cands = [Candidate(j.head, j.hparams, j.seed, inputs[j.input], shape) for j, shape in zip(jobs, shapes, strict=True)]
        del inputs
        return fit(cands, {s: data.y[r] for s, r in rows.items()} | {"test": data.y[test]})

    scores: list[dict[str, list[np.ndarray]]] = [{"val": [], "val_unlabelled": [], "test": []} for _ in jobs]
    heads: list[list[BatchedHead]] = [[] for _ in jobs]  # per job, its fold heads (linear heads kept: their mean)
    most, hparams = 0, []
    for f in folds:
        head, s, steps = run({"train": f.train, "val": f.held} | ({"val_unlabelled": f.unlabelled} if len(f.unlabelled) else {}))
        most, hparams = max(most, steps), hparams or [dict(hp) for hp in head.hparams]
        for k in range(len(jobs)):
            scores[k]["val"].append(s["val"][k])
            scores[k]["val_unlabelled"].append(s["val_unlabelled"][k] if "val_unlabelled" in s else np.zeros(0))
            scores[k]["test"].append(s["test"][k])
            if keep and linear:
                heads[k].append(head.single(k))
    out = [{"val": np.concatenate(c["val"]), "val_unlabelled": np.concatenate(c["val_unlabelled"]),
            "test": np.mean(c["test"], axis=0)} for c in scores]
    if linear:
        kept: list[BatchedHead | None] = [mean_linear(h) if keep else None for h in heads]
    else:  # the mean of other heads is not one head of their kind: train once more on every pooled label
        pooled = np.concatenate([f.held for f in folds])
        head, s, steps = run({"train": pooled, "val": pooled})
        most = max(most, steps)
        for k in range(len(jobs)):
            out[k]["test"] = s["test"][k]
        kept = [head.single(k) if keep else None for k in range(len(jobs))]
    for o in out:
        if not len(o["val_unlabelled"]):
            del o["val_unlabelled"]
    return hparams, out, kept, most


def cross_ys(folds: list[Fold], data: QueryData) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """The labels `fit_folds`' scores line up with (`val`: the pooled labelled rows, fold by fold),
    and the cycle of each out-of-fold score and each unlabelled one: the blocks the target holds in."""
    held = np.concatenate([f.held for f in folds])
    ys = {"val": data.y[held], "test": data.y[data.splits["test"]]}
    return ys, np.concatenate([np.full(len(f.held), f.cycle) for f in folds]), \
        np.concatenate([np.full(len(f.unlabelled), f.cycle) for f in folds])
