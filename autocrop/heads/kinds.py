"""The trainable heads: linear (SVM, logistic), the paper's MLP, spatial conv, attention pooling, temporal."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from autocrop.heads.base import BatchedHead, register_head

__all__ = ["LinearSVM", "Logistic", "MLP", "SpatialConv", "AttentionPool", "Temporal"]


class _Linear(BatchedHead):
    linear = True

    def build(self, gens: list[torch.Generator]) -> None:
        self.weight = nn.Parameter(torch.zeros(self.k, self.width))
        self.bias = nn.Parameter(torch.zeros(self.k))

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        # one matrix-vector product per head on its own width: on CPUs a batched bmm of
        # matrix-vector products is several times slower than K plain ones
        dims = self.active_dims if z.shape[0] == len(self.active_dims) else self.dims
        return torch.stack([(z[k, :, :d] @ self.weight[k, :d, None])[:, 0] for k, d in enumerate(dims)]) + self.bias[:, None]


@register_head("svm")
class LinearSVM(_Linear):
    """Linear SVM: a linear score trained with the (class-weighted) hinge loss and an L2 penalty."""

    loss = "hinge"
    defaults = {"l2": 1e-3}


@register_head("logistic")
class Logistic(_Linear):
    """Logistic regression: a linear score trained with class-weighted cross-entropy and L2."""

    defaults = {"l2": 1e-3}


@register_head("mlp")
class MLP(BatchedHead):
    """The paper's 2-layer MLP: `hidden` ReLU units, then one output."""

    defaults = {"l2": 1e-4, "hidden": 200}

    def build(self, gens: list[torch.Generator]) -> None:
        h = int(self.shared("hidden"))
        self.w1 = nn.Parameter(self._padded(gens, lambda d: (d, h), lambda _d: 1.0))  # inputs are already /sqrt(d)
        self.b1 = nn.Parameter(torch.zeros(self.k, h))
        self.w2 = nn.Parameter(self._padded(gens, lambda _d: (h,), lambda _d: 1 / math.sqrt(h)))
        self.b2 = nn.Parameter(torch.zeros(self.k))

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        dims = self.active_dims if z.shape[0] == len(self.active_dims) else self.dims
        hid = torch.stack([torch.relu(z[k, :, :d] @ self.w1[k, :d] + self.b1[k]) for k, d in enumerate(dims)])  # true widths, no padding
        return torch.einsum("knh,kh->kn", hid, self.w2) + self.b2[:, None]


@register_head("conv")
class SpatialConv(BatchedHead):
    """FilterForward-style: separable 3x3 conv (depthwise, then 1x1 to `filters`), ReLU, dense."""

    spatial = True
    defaults = {"l2": 1e-4, "filters": 8}

    def build(self, gens: list[torch.Generator]) -> None:
        c, h, w = self.shapes[0][-3:]
        f = int(self.shared("filters"))
        self.wd = nn.Parameter(self._padded(gens, lambda _d: (c, 1, 3, 3), lambda _d: 1 / 3))
        self.wp = nn.Parameter(self._padded(gens, lambda _d: (f, c, 1, 1), lambda _d: 1 / math.sqrt(c)))
        self.bp = nn.Parameter(torch.zeros(self.k, f))
        self.wo = nn.Parameter(self._padded(gens, lambda _d: (f * h * w,), lambda _d: 1 / math.sqrt(f * h * w)))
        self.bo = nn.Parameter(torch.zeros(self.k))

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        k, n = z.shape[:2]
        x = self._cells(z).permute(1, 0, 2, 3, 4).flatten(1, 2)  # [N, K*C, h, w]
        x = F.conv2d(x, self.wd.flatten(0, 1), padding=1, groups=x.shape[1])
        x = F.conv2d(x, self.wp.flatten(0, 1), self.bp.flatten(), groups=k)  # [N, K*f, h, w]
        x = torch.relu(x).reshape(n, k, -1).transpose(0, 1)  # [K, N, f*h*w]
        return torch.einsum("knd,kd->kn", x, self.wo) + self.bo[:, None]


@register_head("attention")
class AttentionPool(BatchedHead):
    """Attention pooling over the crop's cells: softmax(q . cell) weights, then a linear output."""

    spatial = True
    defaults = {"l2": 1e-4}

    def build(self, gens: list[torch.Generator]) -> None:
        c = self.shapes[0][-3]
        self.query = nn.Parameter(self._padded(gens, lambda _d: (c,), lambda _d: 1 / math.sqrt(c)))
        self.weight = nn.Parameter(self._padded(gens, lambda _d: (c,), lambda _d: 1 / math.sqrt(c)))
        self.bias = nn.Parameter(torch.zeros(self.k))

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        cells = self._cells(z).flatten(3)  # [K, N, C, h*w]
        attn = torch.softmax(torch.einsum("kncs,kc->kns", cells, self.query), dim=-1)
        pooled = torch.einsum("kncs,kns->knc", cells, attn)
        return torch.einsum("knc,kc->kn", pooled, self.weight) + self.bias[:, None]


@register_head("temporal")
class Temporal(BatchedHead):
    """A window of consecutive frames: a shared per-frame projection to `hidden`, then a linear
    layer over the window (FilterForward's windowed head). Input shape (window, C, h, w)."""

    spatial = True
    defaults = {"l2": 1e-4, "window": 5, "hidden": 16}

    def build(self, gens: list[torch.Generator]) -> None:
        t, d = self.shapes[0][0], int(np.prod(self.shapes[0][1:]))
        h = int(self.shared("hidden"))
        self.w1 = nn.Parameter(self._padded(gens, lambda _d: (d, h), lambda _d: 1 / math.sqrt(d)))
        self.b1 = nn.Parameter(torch.zeros(self.k, h))
        self.w2 = nn.Parameter(self._padded(gens, lambda _d: (t, h), lambda _d: 1 / math.sqrt(t * h)))
        self.b2 = nn.Parameter(torch.zeros(self.k))

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        t = self.shapes[0][0]
        frames = z.reshape(z.shape[0], z.shape[1], t, -1)  # [K, N, T, D]
        hid = torch.relu(torch.einsum("kntd,kdh->knth", frames, self.w1) + self.b1[:, None, None])
        return torch.einsum("knth,kth->kn", hid, self.w2) + self.b2[:, None]
