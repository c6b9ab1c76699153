"""Head registry: microclassifiers stacked K at a time, each knowing its exact multiply-adds."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
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


class _Linear(BatchedHead):
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


@register_head("knn")
class KNN(BatchedHead):
    """k nearest training crops (scikit-learn); score = number of positive neighbours, so the
    val threshold is the minimum number of positive neighbours. Stores its training set."""

    trainable = False
    defaults = {"k": 5}

    def build(self, gens: list[torch.Generator]) -> None:
        self.register_buffer("train_x", torch.zeros(self.k, 0, self.width))
        self.register_buffer("train_y", torch.zeros(self.k, 0))

    def fit_closed_form(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.train_x = ((x - self.mean[:, None]) / self.scale[:, None]).clone()
        self.train_y = y.float().expand(self.k, -1).clone()

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        from sklearn.neighbors import KNeighborsClassifier

        out = torch.empty(z.shape[:2])
        for k in range(self.k):
            d = self.dims[k]
            knn = KNeighborsClassifier(n_neighbors=int(self.hparams[k]["k"]), algorithm="brute")
            knn.fit(self.train_x[k, :, :d].numpy(), self.train_y[k].numpy().astype(int))
            out[k] = torch.from_numpy(knn.predict_proba(z[k, :, :d].numpy())[:, -1] * int(self.hparams[k]["k"]))
        return out

    def single(self, k: int) -> BatchedHead:
        one = type(self)([self.shapes[k]], [self.hparams[k]], [0])
        d = self.dims[k]
        one.mean, one.scale = self.mean[k : k + 1, :d].clone(), self.scale[k : k + 1, :d].clone()
        one.train_x, one.train_y = self.train_x[k : k + 1, :, :d].clone(), self.train_y[k : k + 1].clone()
        return one.eval()


def l2_of(params: dict[str, torch.Tensor]) -> torch.Tensor:
    """[K] squared norm of stacked weights (parameters whose names start with `b` are biases)."""
    return sum(p.pow(2).flatten(1).sum(dim=1) for n, p in params.items() if not n.startswith("b"))


def head_madds(kind: str, shape: Shape | int, hparams: dict[str, Any] | None = None, n_train: int = 0) -> int:
    """Multiply-adds of one head on one input, counted by torch's FLOP counter (KNN: distances)."""
    shape = (int(shape),) if isinstance(shape, int) else tuple(shape)
    cls = get_head(kind)
    if cls is KNN:  # one multiply-add per stored training value (squared distances)
        return int(np.prod(shape)) * n_train
    head = cls([shape], [hparams or {}], [0])
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        head.logits(torch.zeros(1, 1, int(np.prod(shape))))
    return counter.get_total_flops() // 2


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
