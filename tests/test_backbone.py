from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from autocrop.backbone import PACKAGE_WEIGHTS, Backbone
from autocrop.config import Backbone as Spec
from autocrop.errors import ConfigError, DataError
from conftest import WEIGHTS

CORAL = dict(model="mobilenetv2_100", kwargs={"pad_type": "same", "num_classes": 1001},
             weights=str(WEIGHTS / "model.safetensors"), mean=(128 / 255,) * 3, std=(128 / 255,) * 3)
LABELS = (WEIGHTS / "imagenet_labels.txt").read_text().splitlines()  # index 0 = background
EXPECTED = {"cat.bmp": "Egyptian cat", "parrot.jpg": "macaw", "hot_dog.jpg": "hotdog"}


def _top1(bb: Backbone, name: str, offset: int) -> str:
    img = np.asarray(Image.open(WEIGHTS / name).convert("RGB"))
    with torch.no_grad():
        logits = bb.model(bb.preprocess([img]))
    return LABELS[int(logits.argmax()) + offset]


def test_shared_mobilenetv2_weights_are_real():
    bb = Backbone(Spec(**CORAL, input_size=(224, 224)))
    for name, label in EXPECTED.items():
        assert _top1(bb, name, offset=0).startswith(label)


def test_packaged_efficientnet_lite0_weights_are_real():
    bb = Backbone(Spec(model="tf_efficientnet_lite0", weights=PACKAGE_WEIGHTS, input_size=(224, 224)))
    assert bb.mean == pytest.approx((127 / 255,) * 3)
    for name, label in EXPECTED.items():
        assert _top1(bb, name, offset=1).startswith(label)  # 1000 classes, no background


@pytest.mark.parametrize("model,weights,kwargs", [
    ("mobilenetv2_100", "none", {"pad_type": "same"}),
    ("tf_efficientnet_lite0", "none", {}),
])
@pytest.mark.parametrize("size", [(120, 160), (224, 224)])
def test_listed_layers_match_real_output_shapes(model, weights, kwargs, size):
    """timm-style contract: every listed layer's channels and size are what the network produces."""
    bb = Backbone(Spec(model=model, weights=weights, kwargs=kwargs, input_size=size))
    info = bb.layers()
    assert list(info)[0] == "stem" and list(info)[-1] == "final"
    assert "blocks.3.1" in info
    maps = bb.tap(torch.zeros(1, 3, *size), list(info))
    for name, t in maps.items():
        assert (info[name].channels, info[name].height, info[name].width) == tuple(t.shape[1:]), name
        assert info[name].stride in (2, 4, 8, 16, 32)


def test_tap_stops_at_the_deepest_requested_layer():
    bb = Backbone(Spec(**CORAL, input_size=(96, 128)))
    calls = []
    h = bb.model.conv_head.register_forward_hook(lambda *a: calls.append(1))
    out = bb.tap(torch.zeros(1, 3, 96, 128), ["blocks.2.0"])
    h.remove()
    assert list(out) == ["blocks.2.0"] and calls == []


def test_unknown_layer_suggests(tmp_path):
    bb = Backbone(Spec(**CORAL, input_size=(96, 128)))
    with pytest.raises(ConfigError, match=r"unknown layer `blocks.3.9` for mobilenetv2_100; did you mean `blocks.3.\d`\?"):
        bb.check_layers(["blocks.3.9"], "space.yaml")


def test_weights_that_do_not_fit_are_refused():
    spec = dict(CORAL, kwargs={"pad_type": "same"})  # 1000 classes: the classifier does not fit
    with pytest.raises(ConfigError, match="weights do not fit .* num_classes"):
        Backbone(Spec(**spec))


def test_truncated_weights_file_is_refused(tmp_path):
    bad = tmp_path / "model.safetensors"
    bad.write_bytes((WEIGHTS / "model.safetensors").read_bytes()[:1000])
    with pytest.raises(DataError, match="cannot read weights"):
        Backbone(Spec(**dict(CORAL, weights=str(bad))))


def test_pth_weights_load_without_unpickling(tmp_path):
    bb = Backbone(Spec(**CORAL, input_size=(96, 128)))
    path = tmp_path / "w.pth"
    torch.save(bb.model.state_dict(), path)
    again = Backbone(Spec(**dict(CORAL, weights=str(path))))
    assert torch.equal(again.model.conv_stem.weight, bb.model.conv_stem.weight)


def test_backbone_prefix_madds_match_the_published_count():
    bb = Backbone(Spec(**CORAL, input_size=(224, 224)))
    prefix = bb.prefix_madds()
    values = list(prefix.values())
    assert values == sorted(values)
    # MobileNetV2 1.0/224 is published at ~300M multiply-adds; the 1001-class classifier is not in `final`
    assert 290e6 < prefix["final"] < 310e6
