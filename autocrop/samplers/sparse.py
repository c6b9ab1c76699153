"""Block-sparse proposals: group-lasso logistic regression whose groups are feature cells.

Along the regularisation path, each support (the cells with non-zero weight) proposes a crop: its
bounding box. The proposals are enqueued into the study; Optuna's TPE samples the rest.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from autocrop.crops import CENTER_PARAMS
from autocrop.defaults import LASSO_ITERS, LASSO_LAMBDAS, LASSO_MAX_ROWS, LASSO_PER_LAYER
from autocrop.inputs import InputSpec
from autocrop.labels import subsample
from autocrop.space import EXTRA_ATTR, MASK_ATTR, SearchSpace

__all__ = ["group_lasso_path", "proposal_params", "sparse_proposals"]


def group_lasso_path(x: np.ndarray, y: np.ndarray, n_lambdas: int = LASSO_LAMBDAS, iters: int = LASSO_ITERS) -> list[np.ndarray]:
    """Supports [H, W] (bool) along a decreasing lambda path, by proximal gradient (ISTA, warm
    starts) on class-balanced logistic loss with one group per cell (all its channels)."""
    n, c, h, w = x.shape
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).reshape(n, -1)
    flat = (xt - xt.mean(0)) / xt.std(0).clamp_min(1e-6)  # [N, C*H*W], cell index fastest within a channel
    yt = torch.from_numpy(y).float()
    wts = torch.where(yt > 0, (yt == 0).sum() / (yt == 1).sum().clamp_min(1), 1.0)
    wts = wts / wts.mean()
    v = torch.randn(flat.shape[1], generator=torch.Generator().manual_seed(0))
    for _ in range(20):  # power iteration: Lipschitz constant of the loss gradient
        v = flat.T @ (flat @ v)
        v /= v.norm()
    step = 1.0 / (0.25 * float(v @ (flat.T @ (flat @ v))) / n)

    def grad(weight: torch.Tensor, bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r = (torch.sigmoid(flat @ weight + bias) - yt) * wts / n
        return flat.T @ r, r.sum()

    weight, bias = torch.zeros(c * h * w), torch.zeros(())
    lam_max = float(grad(weight, bias)[0].reshape(c, h * w).norm(dim=0).max())
    supports = []
    for lam in lam_max * np.geomspace(0.9, 0.05, n_lambdas):
        for _ in range(iters):
            gw, gb = grad(weight, bias)
            weight, bias = weight - step * gw, bias - step * gb
            groups = weight.reshape(c, h * w)
            shrink = (1 - step * lam / groups.norm(dim=0, keepdim=True).clamp_min(1e-12)).clamp_min(0)
            weight = (groups * shrink).reshape(-1)
        supports.append((weight.reshape(c, h * w).norm(dim=0) > 0).reshape(h, w).numpy())
    return supports


def proposal_head(space: SearchSpace) -> tuple[str, dict[str, Any]]:
    """The head enqueued proposals train, the space's first, and its hyper-parameters: the middle
    of each range (geometric for a log range), the first of each list."""
    head = next(iter(space.heads))
    hp = {f"{head}.{k}": (v.low * v.high) ** 0.5 if getattr(v, "log", False) else (v.low + v.high) / 2
          for k, v in space.heads[head].items() if hasattr(v, "low")}
    hp |= {f"{head}.{k}": v[0] for k, v in space.heads[head].items() if isinstance(v, list)}
    return head, hp


def proposal_params(space: SearchSpace, layer: str, crop: dict[str, float]) -> dict[str, Any]:
    """An enqueued trial's parameters: `layer`, read by the proposals' head (`proposal_head`), through
    `crop` (crop_cx, crop_cy, crop_w, crop_h) clipped to the space's ranges."""
    head, hp = proposal_head(space)
    (lo_c, hi_c), (lo_s, hi_s) = space.crop.center, space.crop.size
    return {"layer": layer, "head": head, **hp,
            **{k: float(np.clip(v, lo_c, hi_c) if k in CENTER_PARAMS else np.clip(v, lo_s, hi_s)) for k, v in crop.items()}}


def sparse_proposals(data: Any, space: SearchSpace, per_layer: int = LASSO_PER_LAYER) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(params, user attrs) to enqueue. Per distinct support: its bounding box as a crop; when the
    support does not fill that box, also the support itself as a cell mask; and, across layers,
    pairs of supports read together (the first layer's crop plus the second's cells)."""
    rows = subsample(data.splits["train"], LASSO_MAX_ROWS)
    y = data.y[rows]
    info = data.backbone.layers()
    out: list[tuple[dict[str, Any], dict[str, Any]]] = []
    first_box: dict[str, tuple[dict[str, Any], tuple[int, int, int, int]]] = {}
    for layer in space.layers:
        x = InputSpec(layer, (0, info[layer].height, 0, info[layer].width)).gather(data.store, rows).reshape(
            len(rows), info[layer].channels, info[layer].height, info[layer].width)
        seen: set[tuple[int, int, int, int]] = set()
        for support in group_lasso_path(x, y):
            if not support.any():
                continue
            r, c = np.nonzero(support)
            box = (int(r.min()), int(r.max()) + 1, int(c.min()), int(c.max()) + 1)
            if box in seen:
                continue
            seen.add(box)
            hh, ww = support.shape
            params = proposal_params(space, layer, {"crop_cx": (box[2] + box[3]) / 2 / ww, "crop_cy": (box[0] + box[1]) / 2 / hh,
                                                    "crop_w": (box[3] - box[2]) / ww, "crop_h": (box[1] - box[0]) / hh})
            out.append((params, {}))
            first_box.setdefault(layer, (params, box))
            if support.sum() < (box[1] - box[0]) * (box[3] - box[2]):
                out.append((params, {MASK_ATTR: [[int(i), int(j)] for i, j in zip(r, c, strict=True)]}))
            if len(seen) >= per_layer:
                break
    layers = [lay for lay in space.layers if lay in first_box]
    for a, b in zip(layers, layers[1:], strict=False):  # neighbouring layers, each at its sparsest support
        out.append((first_box[a][0], {EXTRA_ATTR: [{"layer": b, "cells": list(first_box[b][1])}]}))
    return out
