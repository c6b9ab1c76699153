"""The head registry and the base of every head: K heads stacked, each knowing its multiply-adds."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["HEADS", "BatchedHead", "register_head", "get_head", "head_madds", "save_head", "load_head"]

HEADS: dict[str, type[BatchedHead]] = {}
Shape = tuple[int, ...]


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
    """K independent heads of one kind; head k reads an input of shape shapes[k] (C, h, w).

    Inputs arrive flattened and zero-padded to a common width, [K, N, width]. Flat heads start
    their weights on padded inputs at zero, and padded inputs are zero, so training K heads
    together gives each the result it gets alone with the same seed. Spatial heads (`spatial`)
    are only stacked with heads of the same shape.
    """

    kind: ClassVar[str] = ""
    loss: ClassVar[str] = "logistic"  # logistic (BCE) or hinge
    spatial: ClassVar[bool] = False  # needs every stacked head to share one input shape
    trainable: ClassVar[bool] = True  # False: fitted in closed form by `fit_closed_form`
    linear: ClassVar[bool] = False  # a score linear in the inputs (`weight`, `bias`): heads of it average into one
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, shapes: Sequence[Shape], hparams: Sequence[dict[str, Any]], seeds: Sequence[int]):
        super().__init__()
        self.shapes = [tuple(int(v) for v in s) for s in shapes]
        self.dims = [int(np.prod(s)) for s in self.shapes]
        self.hparams = [{**self.defaults, **hp} for hp in hparams]
        self.k, self.width = len(self.dims), max(self.dims)
        self.active_dims = self.dims  # widths of the heads being trained, when training drops some
        if self.spatial and len(set(self.shapes)) != 1:
            raise ValueError(f"`{self.kind}` heads stacked together must share one input shape, got {sorted(set(self.shapes))}")
        self.register_buffer("mean", torch.zeros(self.k, self.width))
        self.register_buffer("scale", torch.ones(self.k, self.width))
        self.build([torch.Generator().manual_seed(int(s)) for s in seeds])

    def build(self, gens: list[torch.Generator]) -> None:
        raise NotImplementedError

    @classmethod
    def madds(cls, shape: Shape, hparams: dict[str, Any], n_train: int) -> int:
        """Multiply-adds of one head on one input, counted by torch's FLOP counter."""
        head = cls([shape], [hparams], [0])
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            head.logits(torch.zeros(1, 1, int(np.prod(shape))))
        return counter.get_total_flops() // 2

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        """[K, N, width] standardized inputs -> [K, N] scores."""
        raise NotImplementedError

    def shared(self, name: str) -> Any:
        """A hyper-parameter that must be equal across stacked heads (it shapes the parameters)."""
        values = {hp[name] for hp in self.hparams}
        if len(values) != 1:
            raise ValueError(f"heads stacked together must share `{name}`, got {sorted(values)}")
        return values.pop()

    def standardize_from(self, x: torch.Tensor) -> None:
        """Per-head, per-input mean and scale from training inputs [K, N, width].

        Flat heads also divide by sqrt(d): Adam moves every weight by about `lr` per step, so
        without it a 3,000-input head's logits jump by ~lr*d after one step.
        """
        self.mean.copy_(x.mean(dim=1))
        std = x.std(dim=1)
        std = torch.where(std > 1e-6, std, torch.ones_like(std))
        if not self.spatial:
            std = std * torch.tensor(self.dims, dtype=std.dtype).sqrt()[:, None]
        self.scale.copy_(std)

    def forward(self, x: torch.Tensor, standardized: bool = False) -> torch.Tensor:
        return self.logits(x if standardized else (x - self.mean[:, None]) / self.scale[:, None])

    def single(self, k: int) -> BatchedHead:
        """Head k alone (K = 1, its own width), e.g. for export."""
        one = type(self)([self.shapes[k]], [self.hparams[k]], [0])
        state = {}
        for name, t in one.state_dict().items():
            src = self.state_dict()[name][k]
            state[name] = src[tuple(slice(0, s) for s in t.shape[1:])].unsqueeze(0).clone()
        one.load_state_dict(state)
        return one.eval()

    def _padded(self, gens: list[torch.Generator], shape_of: Callable[[int], Shape], bound: Callable[[int], float]) -> torch.Tensor:
        """Stacked uniform(+-bound) init, each head from its own generator, zero past its dims."""
        out = torch.zeros(self.k, *shape_of(self.width))
        for k, g in enumerate(gens):
            shape = shape_of(self.dims[k])
            out[k][tuple(slice(0, s) for s in shape)] = (torch.rand(shape, generator=g) * 2 - 1) * bound(self.dims[k])
        return out

    def _cells(self, z: torch.Tensor) -> torch.Tensor:
        """[K, N, C*h*w] -> [K, N, C, h, w] for spatial heads."""
        c, h, w = self.shapes[0][-3:]
        return z.reshape(z.shape[0], z.shape[1], c, h, w)


def l2_of(params: dict[str, torch.Tensor]) -> torch.Tensor:
    """[K] squared norm of stacked weights (parameters whose names start with `b` are biases)."""
    return sum(p.pow(2).flatten(1).sum(dim=1) for n, p in params.items() if not n.startswith("b"))


def head_madds(kind: str, shape: Shape | int, hparams: dict[str, Any] | None = None, n_train: int = 0) -> int:
    """Multiply-adds of one head on one input, counted by torch's FLOP counter (KNN: distances)."""
    shape = (int(shape),) if isinstance(shape, int) else tuple(shape)
    return get_head(kind).madds(shape, hparams or {}, n_train)


def save_head(head: BatchedHead, path: Path) -> None:
    """One head (K = 1) as safetensors, with its kind, shape and hyper-parameters as metadata."""
    from safetensors.torch import save_file

    if head.k != 1:
        raise ValueError(f"save one head at a time (`head.single(k)`), got K={head.k}")
    meta = {"kind": head.kind, "shape": json.dumps(head.shapes[0]), "hparams": json.dumps(head.hparams[0])}
    save_file({n: t.contiguous() for n, t in head.state_dict().items()}, str(path), metadata=meta)


def load_head(path: Path) -> BatchedHead:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
        state = {n: f.get_tensor(n) for n in f.keys()}
    head = get_head(meta["kind"])([tuple(json.loads(meta["shape"]))], [json.loads(meta["hparams"])], [0])
    for name in ("train_x", "train_y"):
        if name in state:
            setattr(head, name, state[name])
    head.load_state_dict(state)
    return head.eval()
