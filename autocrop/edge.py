"""Multi-tenant edge runtime: one backbone pass per frame for N exported microclassifiers.

The backbone runs only as deep as the deepest layer any bundle reads; each bundle's input is
gathered from the live maps by the same `InputSpec.gather` that training used over the cache
(temporal windows from a ring buffer), its head runs in ONNX Runtime, and decisions are k-of-n
smoothed per query. Imports neither optuna, lightning nor mlflow.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from autocrop.backbone import Backbone
from autocrop.config import Backbone as BackboneSpec
from autocrop.drift import DriftCheck, DriftMonitor
from autocrop.errors import DataError
from autocrop.engine import make_engine
from autocrop.export import Bundle
from autocrop.inputs import FrameWindow
from autocrop.metrics import smooth_k_of_n

__all__ = ["EdgeRuntime", "Stream", "Step"]

_SHARED_KEYS = ("model", "kwargs", "weights_digest", "input_size", "mean", "std")


class EdgeRuntime:
    """Score frames for every bundle; `weights` is the backbone weights the bundles were made with."""

    def __init__(self, bundles: Sequence[Bundle], weights: str, engine: str = "auto", device: str = "auto",
                 cache_dir: Path = Path(".autocrop-cache")):
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
        self.inputs = [b.input for b in self.bundles]
        known = set(self.backbone.layer_names)
        for b, inp in zip(self.bundles, self.inputs, strict=True):
            unknown = [lay for lay in inp.layers if lay not in known]
            if unknown:
                raise DataError(f"{b.path}: reads layer `{unknown[0]}`, which {ref['model']} does not have; export the bundle again")
        names = [b.name for b in self.bundles]
        dup = next((n for n in names if names.count(n) > 1), None)
        if dup:
            paths = [str(b.path) for b in self.bundles if b.name == dup]
            raise DataError(f"{paths[1]}: query `{dup}` is also served from {paths[0]}; give each bundle once")
        self.sessions = [b.session() for b in self.bundles]
        self.drift_refs = [b.drift() for b in self.bundles]
        self.layers = sorted({lay for inp in self.inputs for lay in inp.layers}, key=self.backbone.layer_names.index)
        self.engine = make_engine(self.backbone, self.layers, engine, device, cache_dir)
        self._default = self.stream()

    @property
    def names(self) -> list[str]:
        return [b.name for b in self.bundles]

    def stream(self, drift: bool = True) -> Stream:
        """Fresh per-stream state: temporal windows, smoothing votes, drift monitors."""
        return Stream(self, drift)

    def maps(self, frames: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        """float32 [frames, C, H, W] of every layer any bundle reads: one backbone pass (frames may differ in size)."""
        shapes = {f.shape for f in frames}
        if len(shapes) <= 1:
            return self.engine.frames(frames)
        x = torch.cat([self.backbone.preprocess([f]) for f in frames])
        return self.engine.run(x)

    def scores(self, frames: Sequence[np.ndarray], stream: Stream | None = None) -> np.ndarray:
        """[frames, bundles] head scores for consecutive RGB uint8 frames of one stream.

        Temporal bundles read each frame with the frames before it (kept across calls); call
        `reset()` where the stream has a gap.
        """
        return (stream or self._default).step(self.maps(frames)).scores

    def reset(self) -> None:
        """Forget temporal windows and smoothing votes (a new stream, or a gap in one)."""
        self._default.reset()

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
        step = self._default.step(self.maps([f for _, f in buf]))
        for (fid, _), row in zip(buf, step.decisions, strict=True):
            yield fid, [bool(d) for d in row]


@dataclass
class Step:
    """One batch of one stream: per frame and bundle, the score and the smoothed decision; drift checks."""

    scores: np.ndarray  # [n, bundles] float32
    decisions: np.ndarray  # [n, bundles] bool, k-of-n smoothed
    drift: list[tuple[int, DriftCheck]]  # (bundle index, check)


class Stream:
    """What the runtime remembers about one stream between batches."""

    def __init__(self, rt: EdgeRuntime, drift: bool = True):
        self.rt = rt
        self._windows = [FrameWindow(inp.window) for inp in rt.inputs]
        self._votes = [np.zeros(0, dtype=bool) for _ in rt.bundles]  # the last n-1 raw decisions, carried over
        self.monitors = [DriftMonitor(ref) if ref is not None and drift else None for ref in rt.drift_refs]

    def reset(self) -> None:
        """Forget temporal windows, smoothing votes and drift windows (a new stream, or a gap in one)."""
        for w in self._windows:
            w.reset()
        self._votes = [np.zeros(0, dtype=bool) for _ in self.rt.bundles]
        for m in self.monitors:
            if m is not None:
                m.reset()

    def step(self, maps: dict[str, np.ndarray]) -> Step:
        """Score consecutive frames of this stream from their backbone maps."""
        rt = self.rt
        n = len(next(iter(maps.values())))
        scores = np.empty((n, len(rt.bundles)), dtype=np.float32)
        decisions = np.empty((n, len(rt.bundles)), dtype=bool)
        checks: list[tuple[int, DriftCheck]] = []
        for j, (b, sess) in enumerate(zip(rt.bundles, rt.sessions, strict=True)):
            per_frame = rt.inputs[j].gather(maps)
            scores[:, j] = b.scores(self._windows[j].push(per_frame), sess)
            k, m = b.manifest["smoothing"]["k"], b.manifest["smoothing"]["n"]
            votes = np.concatenate([self._votes[j], scores[:, j] >= b.threshold])  # causal: frames before this batch count
            decisions[:, j] = smooth_k_of_n(votes, k, m)[-n:].astype(bool)
            self._votes[j] = votes[len(votes) - (m - 1):] if m > 1 else votes[:0]
            if self.monitors[j] is not None:
                checks += [(j, c) for c in self.monitors[j].push(per_frame, scores[:, j])]
        return Step(scores, decisions, checks)
