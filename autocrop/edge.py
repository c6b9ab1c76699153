"""Multi-tenant edge runtime: one backbone pass per frame for N exported microclassifiers.

The backbone runs only as deep as the deepest layer any bundle reads; each bundle's head runs in
ONNX Runtime on its crop; decisions are k-of-n smoothed per query. Imports neither optuna,
lightning nor mlflow.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from autocrop.backbone import Backbone
from autocrop.config import Backbone as BackboneSpec
from autocrop.errors import DataError
from autocrop.export import Bundle

__all__ = ["EdgeRuntime"]

_SHARED_KEYS = ("model", "kwargs", "weights_digest", "input_size", "mean", "std")


class EdgeRuntime:
    """Score frames for every bundle; `weights` is the backbone weights the bundles were made with."""

    def __init__(self, bundles: Sequence[Bundle], weights: str):
        if not bundles:
            raise DataError("no bundles given; export one with `autocrop export`")
        ref = bundles[0].manifest["backbone"]
        for b in bundles[1:]:
            other = b.manifest["backbone"]
            diff = [k for k in _SHARED_KEYS if other[k] != ref[k]]
            if diff:
                raise DataError(f"{b.path}: its backbone differs from {bundles[0].path} in {', '.join(diff)}; "
                                "one runtime serves bundles of one backbone")
        spec = BackboneSpec(model=ref["model"], kwargs=ref["kwargs"], weights=weights,
                            input_size=tuple(ref["input_size"]), mean=tuple(ref["mean"]), std=tuple(ref["std"]))
        self.backbone = Backbone(spec)
        if self.backbone.weights_digest != ref["weights_digest"]:
            raise DataError(f"{weights}: weights digest {self.backbone.weights_digest} is not the bundles' "
                            f"{ref['weights_digest']}; pass the weights the bundles were exported with")
        self.bundles = list(bundles)
        self.sessions = [b.session() for b in self.bundles]
        needed = {b.manifest["layer"] for b in self.bundles} | {e["layer"] for b in self.bundles for e in b.manifest.get("extra_inputs") or []}
        self.layers = sorted(needed, key=self.backbone.layer_names.index)
        self._votes = [deque(maxlen=b.manifest["smoothing"]["n"]) for b in self.bundles]

    @property
    def names(self) -> list[str]:
        return [f"{b.manifest['query']}#{b.manifest['trial']}" for b in self.bundles]

    def scores(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        """[frames, bundles] head scores for RGB uint8 frames."""
        maps = self.backbone.tap(self.backbone.preprocess(frames), self.layers)
        out = np.empty((len(frames), len(self.bundles)), dtype=np.float32)
        for j, (b, sess) in enumerate(zip(self.bundles, self.sessions, strict=True)):
            fmap = maps[b.manifest["layer"]].float().numpy()
            if b.manifest["pooled"]:
                x = fmap.mean(axis=(2, 3))
            elif b.manifest.get("cell_mask"):
                rows, cols = np.array(b.manifest["cell_mask"]).T
                x = fmap[:, :, rows, cols]
            else:
                r0, r1, c0, c1 = b.manifest["cells"]
                x = fmap[:, :, r0:r1, c0:c1]
            extra = b.manifest.get("extra_inputs") or []
            if extra:  # several layers: flattened and concatenated in manifest order
                parts = [x.reshape(len(x), -1)]
                for e in extra:
                    r0, r1, c0, c1 = e["cells"]
                    parts.append(maps[e["layer"]].float().numpy()[:, :, r0:r1, c0:c1].reshape(len(x), -1))
                x = np.concatenate(parts, axis=1)
            out[:, j] = b.scores(x, sess)
        return out

    def run(self, frames: Iterable[tuple[int, np.ndarray]], batch: int = 8) -> Iterator[tuple[int, list[bool]]]:
        """(frame id, smoothed decision per bundle), in frame order."""
        buf: list[tuple[int, np.ndarray]] = []
        for item in frames:
            buf.append(item)
            if len(buf) == batch:
                yield from self._decide(buf)
                buf = []
        if buf:
            yield from self._decide(buf)

    def _decide(self, buf: list[tuple[int, np.ndarray]]) -> Iterator[tuple[int, list[bool]]]:
        scores = self.scores([f for _, f in buf])
        for (fid, _), row in zip(buf, scores, strict=True):
            decisions = []
            for j, b in enumerate(self.bundles):
                self._votes[j].append(bool(row[j] >= b.threshold))
                decisions.append(sum(self._votes[j]) >= b.manifest["smoothing"]["k"])
            yield fid, decisions
