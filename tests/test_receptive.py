"""Receptive fields computed from the network agree with a gradient probe."""

from __future__ import annotations

import pytest
import torch

from autocrop.backbone import Backbone
from autocrop.config import Backbone as Spec
from autocrop.receptive import receptive_fields

MODELS = {"mobilenetv2_100": {"pad_type": "same"}, "tf_efficientnet_lite0": {}}


def _probe(bb: Backbone, layer: str, row: int, col: int) -> tuple[int, int, int, int]:
    """Bounding box (y0, x0, y1, x1) of input pixels with a non-zero gradient for one cell."""
    h, w = bb.spec.input_size
    model = bb.model.double()
    grad = torch.zeros(1, 3, h, w, dtype=torch.float64)
    for seed in range(3):  # several inputs: a dead ReLU for one input can hide a pixel
        x = torch.randn(1, 3, h, w, dtype=torch.float64, generator=torch.Generator().manual_seed(seed), requires_grad=True)
        with torch.enable_grad():
            out = {}
            hook = bb._modules[layer].register_forward_hook(lambda m, i, o: out.__setitem__("y", o))
            try:
                model.forward_features(x)
            finally:
                hook.remove()
            out["y"][0, :, row, col].sum().backward()
        grad += x.grad.abs()
    nz = grad[0].sum(0).nonzero()
    return int(nz[:, 0].min()), int(nz[:, 1].min()), int(nz[:, 0].max()), int(nz[:, 1].max())


@pytest.mark.parametrize("model", sorted(MODELS))
@pytest.mark.parametrize("size", [(96, 128), (120, 160)])
def test_receptive_field_matches_gradient_probe(model, size):
    bb = Backbone(Spec(model=model, kwargs=MODELS[model], weights="none", input_size=size))
    bb.model.eval()
    fields = receptive_fields(bb)
    info = bb.layers()
    for layer in ("stem", "blocks.1.0", "blocks.2.1", "blocks.4.1"):
        rf = fields[layer]
        assert rf.stride == (info[layer].stride, info[layer].stride)
        row, col = info[layer].height // 2, info[layer].width // 2
        y0, x0, y1, x1 = rf.box(row, col)
        expect = (max(y0, 0), max(x0, 0), min(y1, size[0] - 1), min(x1, size[1] - 1))
        assert _probe(bb, layer, row, col) == expect, layer


def test_fields_grow_with_depth():
    bb = Backbone(Spec(model="mobilenetv2_100", kwargs={"pad_type": "same"}, weights="none", input_size=(224, 224)))
    sizes = [rf.size[0] for rf in receptive_fields(bb).values()]
    assert sizes == sorted(sizes) and sizes[0] == 3 and sizes[-1] > 224
