"""Receptive fields of every tappable layer, derived from the network's own convolutions."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["ReceptiveField", "receptive_fields"]


@dataclass(frozen=True)
class ReceptiveField:
    """Per axis (rows, cols): cell i of the layer sees input pixels
    [start + i * stride, start + i * stride + size - 1] (before clipping to the image)."""

    size: tuple[int, int]
    stride: tuple[int, int]
    start: tuple[int, int]

    def box(self, row: int, col: int) -> tuple[int, int, int, int]:
        """(y0, x0, y1, x1) input pixels, inclusive, of one cell (may reach outside the image)."""
        y0 = self.start[0] + row * self.stride[0]
        x0 = self.start[1] + col * self.stride[1]
        return y0, x0, y0 + self.size[0] - 1, x0 + self.size[1] - 1

    def center(self, row: int, col: int) -> tuple[float, float]:
        y0, x0, y1, x1 = self.box(row, col)
        return (y0 + y1) / 2, (x0 + x1) / 2


def _same_pad(size: int, k: int, s: int, d: int) -> int:
    """Left/top padding of TensorFlow SAME (timm's Conv2dSame): total // 2."""
    return max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0) // 2


def _pair(v: int | tuple[int, ...]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def receptive_fields(backbone) -> dict[str, ReceptiveField]:
    """Walk one forward pass: compose every spatial conv/pool in execution order up to each layer.

    Residual shortcuts only add paths with smaller fields, so the conv chain gives the field.
    Convolutions on a 1x1 map (squeeze-excitation) are skipped: they see a pooled vector.
    """
    model: nn.Module = backbone.model
    h, w = backbone.spec.input_size
    state = {"r": [1, 1], "j": [1, 1], "start": [0, 0]}
    fields: dict[str, ReceptiveField] = {}

    def on_conv(module: nn.Module, inputs: tuple[torch.Tensor, ...], _out: torch.Tensor) -> None:
        x = inputs[0]
        if x.dim() != 4 or x.shape[-1] == 1 and x.shape[-2] == 1:
            return
        k, s = _pair(module.kernel_size), _pair(module.stride)
        d = _pair(getattr(module, "dilation", 1))
        for ax in (0, 1):
            if type(module).__name__ in ("Conv2dSame", "MaxPool2dSame", "AvgPool2dSame"):
                pad = _same_pad(x.shape[2 + ax], k[ax], s[ax], d[ax])
            else:
                padding = getattr(module, "padding", 0)
                pad = 0 if isinstance(padding, str) else _pair(padding)[ax]
            k_eff = d[ax] * (k[ax] - 1) + 1
            state["start"][ax] -= pad * state["j"][ax]
            state["r"][ax] += (k_eff - 1) * state["j"][ax]
            state["j"][ax] *= s[ax]

    def on_layer(name: str):
        def fn(*_args) -> None:
            fields[name] = ReceptiveField(tuple(state["r"]), tuple(state["j"]), tuple(state["start"]))

        return fn

    spatial = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)
    handles = [m.register_forward_hook(on_conv) for m in model.modules() if isinstance(m, spatial)]
    handles += [backbone._modules[n].register_forward_hook(on_layer(n)) for n in backbone.layer_names]
    try:
        with torch.no_grad():
            model.forward_features(torch.zeros(1, 3, h, w))
    finally:
        for hd in handles:
            hd.remove()
    return fields
