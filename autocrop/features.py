"""FeatureStore: extract every requested layer once, float16 on disk, never serve a partial cache."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from autocrop.backbone import Backbone
from autocrop.engine import make_engine, resolve
from autocrop.pipeline import prefetch_batches
from autocrop.sources import FrameSource

__all__ = ["FeatureStore"]

_PARTIAL = ".partial.npy"


class FeatureStore:
    """Cached feature maps of one backbone over one set of frames, one .npy file per layer.

    The directory is keyed by (model, kwargs, weights digest, input size, preprocessing, engine,
    frame digest), so a change to any of them extracts afresh. A layer file appears only by an
    atomic rename after every frame is written; an interrupted run leaves only `*.partial.npy`
    files, which are never read and are removed by the next extraction. Layers are read
    memory-mapped: memory does not grow with the number of frames.
    """

    def __init__(self, root: Path, backbone: Backbone, source: FrameSource, ids: Sequence[int]):
        self.backbone = backbone
        self.source = source
        self.ids = [int(i) for i in ids]
        spec = backbone.spec
        self.root = Path(root)
        self.engine_name, self.device = resolve(spec.engine, spec.device, backbone)
        key = {
            "model": spec.model,
            "kwargs": spec.kwargs,
            "weights": backbone.weights_digest,
            "input_size": list(spec.input_size),
            "preprocessing": backbone.preprocessing,
            "engine": self.engine_name,
            "frames": source.digest(self.ids),
        }
        digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]
        self.key = key
        self.dir = self.root / f"{spec.model}-{digest}"
        self._maps: dict[str, np.ndarray] = {}

    def path(self, layer: str) -> Path:
        return self.dir / f"{layer}.npy"

    def missing(self, layers: Sequence[str]) -> list[str]:
        return [n for n in dict.fromkeys(layers) if not self.path(n).is_file()]

    def extract(self, layers: Sequence[str], progress: bool = True) -> list[str]:
        """One backbone pass per frame for every missing layer; returns the layers written."""
        todo = self.missing(layers)
        if not todo:
            return []
        self.backbone.check_layers(todo, "feature extraction")
        self.dir.mkdir(parents=True, exist_ok=True)
        for stale in self.dir.glob("*" + _PARTIAL):
            stale.unlink()
        info = self.backbone.layers()
        partial = {n: self.dir / f"{n}{_PARTIAL}" for n in todo}
        files: dict[str, _LayerFile] = {}
        try:
            for n in todo:
                files[n] = _LayerFile(partial[n], (len(self.ids), info[n].channels, info[n].height, info[n].width))
            self._fill(files, progress)
            for n in todo:
                files.pop(n).close()
                os.replace(partial[n], self.path(n))
            self._write_meta()
        finally:
            for f in files.values():
                f.abort()
            for p in partial.values():
                p.unlink(missing_ok=True)
        return todo

    def _fill(self, arrays: dict[str, _LayerFile], progress: bool) -> None:
        """Decode and preprocess in a background thread while the engine runs and maps are written."""
        spec = self.backbone.spec
        engine = make_engine(self.backbone, list(arrays), self.engine_name, self.device, self.root, half_outputs=True)
        bar = tqdm(total=len(self.ids), unit="frame", desc=f"extract {len(arrays)} layer(s) [{engine.name}]",
                   disable=not progress, dynamic_ncols=True)
        with bar:
            for x in prefetch_batches(self.source, self.ids, spec.batch_size, self.backbone.preprocess):
                for n, m in engine.run(x).items():
                    arrays[n].append(m)
                bar.update(len(x))

    def _write_meta(self) -> None:
        meta = {"key": self.key, "ids": self.ids, "layers": sorted(p.name[:-4] for p in self.dir.glob("*.npy") if not p.name.endswith(_PARTIAL))}
        tmp = self.dir / "meta.json.tmp"
        tmp.write_text(json.dumps(meta, indent=1, default=str))
        os.replace(tmp, self.dir / "meta.json")

    def load(self, layer: str) -> np.ndarray:
        """The whole layer, float16 [frames, C, H, W], memory-mapped (read from disk as sliced)."""
        if layer not in self._maps:
            path = self.path(layer)
            if not path.is_file():
                raise FileNotFoundError(f"{path}: layer `{layer}` is not extracted; run `autocrop extract CONFIG`")
            self._maps[layer] = np.load(path, mmap_mode="r")
        return self._maps[layer]

    def __getitem__(self, layer: str) -> np.ndarray:
        """float16 [frames, C, H, W]: the store is a mapping of layer -> maps, as `InputSpec.gather` reads."""
        return self.load(layer)


class _LayerFile:
    """A float16 .npy file written front to back: the header for the final shape, then rows
    appended as they come (sequential writes; no page faults of a fresh memory map)."""

    def __init__(self, path: Path, shape: tuple[int, ...]):
        self.path, self.shape, self.rows = path, shape, 0
        self._f = open(path, "wb")
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float16)), "fortran_order": False, "shape": shape}
        np.lib.format.write_array_header_1_0(self._f, header)

    def append(self, maps: np.ndarray) -> None:
        if tuple(maps.shape[1:]) != self.shape[1:]:
            raise ValueError(f"{self.path}: rows of shape {maps.shape[1:]}, the file holds {self.shape[1:]}")
        self._f.write(np.ascontiguousarray(maps, dtype=np.float16).data)
        self.rows += len(maps)

    def close(self) -> None:
        """Complete: every row written and flushed to disk before the file may be published."""
        if self.rows != self.shape[0]:
            raise RuntimeError(f"{self.path}: {self.rows} of {self.shape[0]} frames written; not publishing a partial layer")
        self._f.flush()
        os.fsync(self._f.fileno())
        self._f.close()

    def abort(self) -> None:
        self._f.close()
