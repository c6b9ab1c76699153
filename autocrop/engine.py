"""The backbone engine: one way to run the reference CNN for extraction and for the edge.

`onnxruntime` (the CPU default): the timm model exported once to a graph truncated at the deepest
requested layer, every requested layer an output, cached under `<cache>/engines/` and keyed like
the features; checked against PyTorch at export. `torch`: the model itself, on the CPU or on CUDA
(half precision, channels-last, non-blocking copies into pinned buffers). `auto` takes CUDA
when a GPU is present, else ONNX Runtime.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

from autocrop.backbone import Backbone
from autocrop.errors import ConfigError
from autocrop.device_batches import cpu_batches, device_batches
from autocrop.sources import FrameSource

__all__ = ["Engine", "TorchEngine", "OrtEngine", "make_engine", "resolve", "EXPORT_TOL"]

log = logging.getLogger("autocrop")
EXPORT_TOL = 1e-3  # max abs difference between ONNX Runtime and PyTorch maps at export (float32)


class Engine:
    """Runs the backbone on preprocessed NCHW float32 batches; returns maps per layer, float32 or
    (`half_outputs`, what the cache stores) float16 converted inside the engine."""

    name = "base"

    def __init__(self, backbone: Backbone, layers: Sequence[str], half_outputs: bool = False):
        backbone.check_layers(layers, "backbone engine")
        self.backbone = backbone
        self.layers = sorted(dict.fromkeys(layers), key=backbone.layer_names.index)
        self.half_outputs = half_outputs

    def run(self, x: np.ndarray | torch.Tensor) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def frames(self, frames: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        """Maps of RGB uint8 frames, preprocessed as the backbone's weights expect."""
        return self.run(self.backbone.preprocess(frames))

    def batches(self, source: FrameSource, ids: Sequence[int], batch: int) -> Iterator[np.ndarray | torch.Tensor]:
        """Preprocessed batches of the footage for `run`: decoded on the CPU ahead of the engine."""
        return cpu_batches(source, ids, batch, self.backbone)


class TorchEngine(Engine):
    """The timm model in PyTorch, stopped after the deepest requested layer."""

    name = "torch"

    def __init__(self, backbone: Backbone, layers: Sequence[str], device: str = "cpu", half_outputs: bool = False,
                 half: bool | None = None):
        self.device = torch.device(device)
        self.half = self.device.type == "cuda" if half is None else half  # float16 compute: on CUDA by default
        if self.device.type == "cuda" or self.half:  # a copy: the backbone's own model stays float32 on the CPU (layers, MACs)
            import copy

            backbone = copy.deepcopy(backbone)
        if self.half:
            backbone.model.half()
        super().__init__(backbone, layers, half_outputs)
        backbone.model.to(self.device, memory_format=torch.channels_last)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed batch shapes: pick the fastest kernels once

    def batches(self, source: FrameSource, ids: Sequence[int], batch: int) -> Iterator[np.ndarray | torch.Tensor]:
        """On CUDA, decoded (nvjpeg for JPEG frames) and normalised on the GPU; on the CPU as every engine."""
        if self.device.type != "cuda":
            return super().batches(source, ids, batch)
        return device_batches(source, ids, batch, self.backbone, self.device, torch.float16 if self.half else torch.float32,
                              jpeg_on_device=self.backbone.spec.gpu_decode)

    @torch.inference_mode()
    def run(self, x: np.ndarray | torch.Tensor) -> dict[str, np.ndarray]:
        t = torch.as_tensor(x).to(self.device, non_blocking=True)
        t = (t.half() if self.half else t.float()).contiguous(memory_format=torch.channels_last)
        maps = self.backbone.tap(t, self.layers)
        dtype = torch.float16 if self.half_outputs else torch.float32
        if self.device.type == "cpu":
            return {n: m.to(dtype).numpy() for n, m in maps.items()}
        host = {n: torch.empty(m.shape, dtype=dtype, pin_memory=True) for n, m in maps.items()}
        for n, m in maps.items():
            host[n].copy_(m.to(dtype), non_blocking=True)  # only the requested layers leave the GPU
        torch.cuda.synchronize(self.device)
        return {n: h.numpy() for n, h in host.items()}


class _Truncated(torch.nn.Module):
    """timm's EfficientNet-family forward (stem, blocks, head), returning the taps, stopping early."""

    def __init__(self, model: torch.nn.Module, layers: Sequence[str], order: Sequence[str], half: bool = False):
        super().__init__()
        self.model, self.wanted, self.half = model, list(layers), half
        self.last = max(order.index(n) for n in layers)
        self.order = list(order)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        m, out, k = self.model, {}, 0
        x = m.bn1(m.conv_stem(x))
        out["stem"] = x
        for s, stage in enumerate(m.blocks):
            for i, blk in enumerate(stage):
                k += 1
                if k > self.last:
                    return self._outputs(out)
                x = blk(x)
                out[f"blocks.{s}.{i}"] = x
        if "final" in self.wanted:
            out["final"] = m.bn2(m.conv_head(x))
        return self._outputs(out)

    def _outputs(self, out: dict[str, torch.Tensor]) -> tuple[torch.Tensor, ...]:
        return tuple(out[n].half() if self.half else out[n] for n in self.wanted)


def _supports_onnx(backbone: Backbone) -> bool:
    m = backbone.model
    return all(hasattr(m, a) for a in ("conv_stem", "bn1", "blocks", "conv_head", "bn2"))


class OrtEngine(Engine):
    """The truncated graph in ONNX Runtime on the CPU, thread counts set for this machine."""

    name = "onnxruntime"

    def __init__(self, backbone: Backbone, layers: Sequence[str], cache_root: Path, threads: int | None = None,
                 half_outputs: bool = False):
        super().__init__(backbone, layers, half_outputs)
        import onnxruntime as ort

        self.path = self._export(Path(cache_root) / "engines")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or len(os.sched_getaffinity(0))
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # idle threads sleep rather than spin: the decode thread needs the cores between batches
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        self.outputs = [o.name for o in self.session.get_outputs()]

    def key(self) -> str:
        spec = self.backbone.spec
        key = {"model": spec.model, "kwargs": spec.kwargs, "weights": self.backbone.weights_digest,
               "input_size": list(spec.input_size), "layers": self.layers, "half_outputs": self.half_outputs,
               "torch": torch.__version__.split("+")[0]}
        return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def _export(self, root: Path) -> Path:
        path = root / f"{self.backbone.spec.model}-{self.key()}.onnx"
        if path.is_file():
            return path
        root.mkdir(parents=True, exist_ok=True)
        h, w = self.backbone.spec.input_size
        module = _Truncated(self.backbone.model, self.layers, self.backbone.layer_names, self.half_outputs).eval()
        probe = torch.randn(2, 3, h, w, generator=torch.Generator().manual_seed(0))
        tmp = path.with_suffix(f".{os.getpid()}.partial")
        _remove_orphans(root.glob(f"{path.stem}.*.partial"))
        try:
            with warnings.catch_warnings(), torch.inference_mode():
                warnings.simplefilter("ignore")
                torch.onnx.export(module, (probe,), str(tmp), dynamo=False, input_names=["pixels"], output_names=self.layers,
                                  dynamic_axes={"pixels": {0: "n"}, **{n: {0: "n"} for n in self.layers}}, opset_version=17)
            diff = self._check(tmp, probe)
            log.info("backbone exported to ONNX (%s, %d outputs); max abs difference to PyTorch %.2e", path.name, len(self.layers), diff)
            os.replace(tmp, path)  # atomic: concurrent exporters write the same bytes
        finally:
            tmp.unlink(missing_ok=True)
        return path

    def _check(self, path: Path, probe: torch.Tensor) -> float:
        import onnxruntime as ort

        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        got = sess.run(None, {"pixels": probe.numpy()})
        want = self.backbone.tap(probe, self.layers)
        diff = max(float(np.abs(g.astype(np.float32) - want[n].numpy()).max() / (1 + np.abs(want[n].numpy()).max() * self.half_outputs))
                   for g, n in zip(got, self.layers, strict=True))
        if diff > EXPORT_TOL:
            raise ConfigError(f"{self.backbone.spec.model}: the ONNX export differs from PyTorch by {diff:.2e} (> {EXPORT_TOL}); "
                              "use `backbone.engine: torch`")
        self.export_diff = diff
        return diff

    def run(self, x: np.ndarray | torch.Tensor) -> dict[str, np.ndarray]:
        arr = x.numpy() if isinstance(x, torch.Tensor) else x
        got = self.session.run(self.outputs, {"pixels": np.ascontiguousarray(arr, dtype=np.float32)})
        return dict(zip(self.outputs, got, strict=True))


def resolve(engine: str, device: str, backbone: Backbone) -> tuple[str, str]:
    """(engine, device) after `auto`: CUDA with PyTorch when a GPU is there, else ONNX Runtime on the CPU."""
    cuda = torch.cuda.is_available()
    if device == "cuda" and not cuda:
        log.warning("backbone.device is cuda but no GPU is visible; running on the CPU")
    dev = "cuda" if device in ("auto", "cuda") and cuda else "cpu"
    if engine == "auto":
        engine = "torch" if dev == "cuda" or not _supports_onnx(backbone) else "onnxruntime"
    if engine == "onnxruntime":
        if not _supports_onnx(backbone):
            raise ConfigError(f"backbone.engine onnxruntime: {backbone.spec.model} is not of timm's EfficientNet family; "
                              "use `backbone.engine: torch`")
        dev = "cpu"
    return engine, dev


def make_engine(backbone: Backbone, layers: Sequence[str], engine: str = "auto", device: str = "auto",
                cache_root: Path | None = None, half_outputs: bool = False) -> Engine:
    name, dev = resolve(engine, device, backbone)
    if name == "onnxruntime":
        return OrtEngine(backbone, layers, cache_root or Path(".autocrop-cache"), half_outputs=half_outputs)
    return TorchEngine(backbone, layers, dev, half_outputs=half_outputs)


def _remove_orphans(partials) -> None:
    """Delete the half-written exports of processes that are gone (killed mid-export)."""
    for p in partials:
        pid = p.name.rsplit(".", 2)[-2]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            p.unlink(missing_ok=True)
        except PermissionError:
            pass
