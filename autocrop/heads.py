"""Head registry: microclassifiers stacked K at a time, each knowing its exact multiply-adds."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["HEADS", "BatchedHead", "register_head", "get_head", "head_madds"]

HEADS: dict[str, type[BatchedHead]] = {}


def register_head(name: str) -> Callable[[type[BatchedHead]], type[BatchedHead]]:
    """Class decorator adding a head kind to HEADS; a second head of the same name is an error."""

    def add(cls: type[BatchedHead]) -> type[BatchedHead]:
        if name in HEADS:
            raise ValueError(f"head `{name}` is already registered by {HEADS[name].__qualname__}")
        cls.kind = name
        HEADS[name] = cls
        return cls

    return add


def get_head(name: str) -> type[BatchedHead]:
    if name not in HEADS:
        raise KeyError(f"unknown head `{name}`; registered heads: {', '.join(sorted(HEADS))}")
    return HEADS[name]


class BatchedHead(nn.Module):
    """K independent heads of one kind over flattened crops, zero-padded to a common width.

    Head k reads its first dims[k] inputs; its weights on padded inputs start at zero and, since
    padded inputs are zero, never change its output, so training K heads together gives each the
    same result as training it alone with the same seed.
    """

    kind: ClassVar[str] = ""
    loss: ClassVar[str] = "logistic"  # logistic (BCE) or hinge
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, dims: Sequence[int], hparams: Sequence[dict[str, Any]], seeds: Sequence[int]):
        super().__init__()
        self.dims = [int(d) for d in dims]
        self.hparams = [{**self.defaults, **hp} for hp in hparams]
        self.k, self.width = len(self.dims), max(self.dims)
        self.register_buffer("mean", torch.zeros(self.k, self.width))
        self.register_buffer("scale", torch.ones(self.k, self.width))
        self.build([torch.Generator().manual_seed(int(s)) for s in seeds])

    def build(self, gens: list[torch.Generator]) -> None:
        raise NotImplementedError

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        """[K, N, width] standardized inputs -> [K, N] scores."""
        raise NotImplementedError

    def l2(self) -> torch.Tensor:
        """[K] squared norm of each head's weights (not biases)."""
        raise NotImplementedError

    def standardize_from(self, x: torch.Tensor) -> None:
        """Per-head, per-input mean and scale from training inputs [K, N, width].

        Each input is standardized and divided by sqrt(d): Adam moves every weight by about `lr`
        per step, so without it a 3,000-input head's logits jump by ~lr*d after one step.
        """
        self.mean.copy_(x.mean(dim=1))
        std = x.std(dim=1)
        std = torch.where(std > 1e-6, std, torch.ones_like(std))
        self.scale.copy_(std * torch.tensor(self.dims, dtype=std.dtype).sqrt()[:, None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits((x - self.mean[:, None]) / self.scale[:, None])

    def _padded(self, gens: list[torch.Generator], shape_of: Callable[[int], tuple[int, ...]], fan_in: Callable[[int], int]) -> torch.Tensor:
        """Stacked uniform(+-1/sqrt(fan_in)) init, each head from its own generator, zero past its dims."""
        out = torch.zeros(self.k, *shape_of(self.width))
        for k, g in enumerate(gens):
            shape = shape_of(self.dims[k])
            bound = 1 / math.sqrt(fan_in(self.dims[k]))
            out[k][tuple(slice(0, s) for s in shape)] = (torch.rand(shape, generator=g) * 2 - 1) * bound
        return out


class _Linear(BatchedHead):
    def build(self, gens: list[torch.Generator]) -> None:
        self.weight = nn.Parameter(torch.zeros(self.k, self.width))
        self.bias = nn.Parameter(torch.zeros(self.k))

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        return torch.einsum("knd,kd->kn", z, self.weight) + self.bias[:, None]

    def l2(self) -> torch.Tensor:
        return self.weight.pow(2).sum(dim=1)


@register_head("svm")
class LinearSVM(_Linear):
    """Linear SVM: a linear score trained with the (class-weighted) hinge loss and an L2 penalty."""

    loss = "hinge"
    defaults = {"l2": 1e-3}


@register_head("logistic")
class Logistic(_Linear):
    """Logistic regression: a linear score trained with class-weighted cross-entropy and L2."""

    loss = "logistic"
    defaults = {"l2": 1e-3}


@register_head("mlp")
class MLP(BatchedHead):
    """The paper's 2-layer MLP: `hidden` ReLU units, then one output."""

    defaults = {"l2": 1e-4, "hidden": 200}

    def build(self, gens: list[torch.Generator]) -> None:
        hidden = {int(hp["hidden"]) for hp in self.hparams}
        if len(hidden) != 1:
            raise ValueError(f"heads stacked together must share `hidden`, got {sorted(hidden)}")
        h = hidden.pop()
        self.w1 = nn.Parameter(self._padded(gens, lambda d: (d, h), lambda _d: 1))  # inputs are already /sqrt(d)
        self.b1 = nn.Parameter(torch.zeros(self.k, h))
        self.w2 = nn.Parameter(self._padded(gens, lambda _d: (h,), lambda _d: h))
        self.b2 = nn.Parameter(torch.zeros(self.k))

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        hid = torch.relu(torch.bmm(z, self.w1) + self.b1[:, None])
        return torch.einsum("knh,kh->kn", hid, self.w2) + self.b2[:, None]

    def l2(self) -> torch.Tensor:
        return self.w1.pow(2).sum(dim=(1, 2)) + self.w2.pow(2).sum(dim=1)


def head_madds(kind: str, dim: int, hparams: dict[str, Any] | None = None) -> int:
    """Multiply-adds of one head on one input of `dim` values, counted by torch's FLOP counter."""
    head = get_head(kind)([dim], [hparams or {}], [0])
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        head.logits(torch.zeros(1, 1, dim))
    return counter.get_total_flops() // 2
