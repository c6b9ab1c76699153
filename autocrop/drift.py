"""Drift alarms: does the scene a microclassifier reads still look like its training footage?

At export a bundle stores the per-dimension mean and spread of its head's input over the training
frames, and an alarm level calibrated on held-out validation footage. On the edge, a monitor per
(stream, query) keeps a sliding window of the last `window` frames' inputs and every `every`
frames computes the **mean shift**: the root mean square, over the input's dimensions, of the
window mean's distance from the training mean in training standard deviations,

    mean_shift = sqrt(mean_d(((mean_window[d] - mean_train[d]) / std_train[d]) ** 2)).

Passing traffic moves a few cells for a few frames; a darker scene, a blurred lens or a camera
that moved a few cells shifts every dimension at once and for good. The alarm level is
`DRIFT_MARGIN` times the largest mean shift of any window of validation frames (frames the
statistics were not fitted on), so ordinary footage of the query's camera stays below it.
The score histogram of the validation frames travels along and the alarm reports the window's
mean score beside it, as context for the person who gets the alarm.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["DriftReference", "DriftMonitor", "DRIFT_FILE", "DRIFT_WINDOW", "DRIFT_EVERY", "DRIFT_MARGIN"]

DRIFT_FILE = "drift.safetensors"
DRIFT_WINDOW = 30  # frames in the sliding window compared with training
DRIFT_EVERY = 10  # frames between two checks: an alarm comes at most window + every frames after a change
DRIFT_MARGIN = 2.0  # alarm level = margin x the largest validation window's shift
MAX_DIMS = 2048  # wider inputs are watched on every stride-th dimension, at most this many (a drift moves them all)
STD_FLOOR = 0.1  # a dimension's spread is at least this share of the median spread (dead channels)
SCORE_BINS = 20


@dataclass(frozen=True)
class DriftReference:
    """What a head's input looked like in training, and when to call it drift."""

    mean: np.ndarray  # [D] training mean of each input dimension (one frame's input, no window)
    std: np.ndarray  # [D] training standard deviation, floored
    threshold: float  # alarm when the mean shift exceeds this
    val_max: float  # the largest validation window's shift (threshold = margin x this)
    score_edges: np.ndarray  # [SCORE_BINS + 1] validation score histogram edges
    score_counts: np.ndarray  # [SCORE_BINS] and counts
    window: int = DRIFT_WINDOW
    every: int = DRIFT_EVERY
    stride: int = 1  # every stride-th input dimension is watched

    @classmethod
    def fit(cls, train: np.ndarray, val: np.ndarray, val_scores: np.ndarray | None = None,
            window: int = DRIFT_WINDOW, every: int = DRIFT_EVERY, margin: float = DRIFT_MARGIN) -> DriftReference:
        """Statistics of training inputs [N, D]; alarm level from windows of validation inputs [M, D] in time order."""
        stride = -(-train.shape[1] // MAX_DIMS)
        train, val = train[:, ::stride], val[:, ::stride]
        train = np.asarray(train, dtype=np.float64)
        mean, std = train.mean(axis=0), train.std(axis=0)
        std = np.maximum(std, STD_FLOOR * float(np.median(std)) + 1e-6)
        val = np.asarray(val, dtype=np.float64)
        w = max(1, min(window, len(val)))
        starts = range(0, max(1, len(val) - w + 1), max(1, every))
        val_max = max(mean_shift(val[a:a + w].mean(axis=0), mean, std) for a in starts)
        scores = np.asarray(val_scores if val_scores is not None else [0.0], dtype=np.float64)
        counts, edges = np.histogram(scores, bins=SCORE_BINS)
        return cls(mean.astype(np.float32), std.astype(np.float32), float(margin * val_max), float(val_max),
                   edges.astype(np.float32), counts.astype(np.float32), window, every, stride)

    @property
    def score_mean(self) -> float:
        centres = (self.score_edges[:-1] + self.score_edges[1:]) / 2
        return float((centres * self.score_counts).sum() / max(self.score_counts.sum(), 1))

    def manifest(self) -> dict[str, Any]:
        """The manifest's `drift` entry (the arrays live in `DRIFT_FILE`)."""
        return {"file": DRIFT_FILE, "statistic": "mean_shift", "threshold": self.threshold, "val_max": self.val_max,
                "window": self.window, "every": self.every, "stride": self.stride,
                "dims": int(self.mean.size)}

    def save(self, path: Path) -> None:
        from safetensors.numpy import save_file

        save_file({"mean": self.mean, "std": self.std, "score_edges": self.score_edges, "score_counts": self.score_counts}, str(path))

    @classmethod
    def load(cls, path: Path, entry: dict[str, Any]) -> DriftReference:
        from safetensors.numpy import load_file

        t = load_file(str(path))
        return cls(t["mean"], t["std"], float(entry["threshold"]), float(entry["val_max"]), t["score_edges"],
                   t["score_counts"], int(entry["window"]), int(entry["every"]), int(entry.get("stride", 1)))


def mean_shift(window_mean: np.ndarray, mean: np.ndarray, std: np.ndarray) -> float:
    """RMS over dimensions of the window mean's standardized distance from the training mean."""
    z = (window_mean - mean) / std
    return float(np.sqrt(np.dot(z, z) / z.size))


@dataclass
class DriftCheck:
    """One check of one stream for one query: `alarm` is True when it starts, False when it clears."""

    row: int  # index of the frame (in the pushed batch) that completed the check
    value: float
    threshold: float
    score_mean: float
    changed: bool  # the alarm state flipped at this check
    alarm: bool


class DriftMonitor:
    """Sliding-window mean shift of one query's per-frame inputs on one stream.

    Frames go into a ring buffer a batch at a time; only at a check (every `every` frames) is the
    window's mean computed, so the cost per frame is a row copy and 1/every of a window sum.
    """

    def __init__(self, ref: DriftReference):
        self.ref = ref
        self._ring = np.zeros((ref.window, ref.mean.size), dtype=np.float32)
        self._scores = np.zeros(ref.window, dtype=np.float32)
        self._n = 0  # frames seen since the last reset
        self.alarm = False

    def reset(self) -> None:
        """A new stream or a gap: start the window again (the alarm state is kept)."""
        self._n = 0

    def push(self, inputs: np.ndarray, scores: np.ndarray) -> list[DriftCheck]:
        """Add consecutive frames' inputs [n, D] and scores [n]; the checks they complete."""
        out = []
        w, every = self.ref.window, self.ref.every
        if self.ref.stride > 1:
            inputs = inputs[:, ::self.ref.stride]
        i = 0
        while i < len(inputs):
            seen = self._n + 1  # frames seen once row i is in
            # the next check: once the window is full, every `every` frames
            due = w if seen <= w else seen + (-(seen - w)) % every
            j = min(len(inputs), i + due - seen + 1)  # rows i..j-1 go in now
            a = self._n % w
            b = min(w, a + j - i)  # a batch may wrap around the ring's end: two slices
            self._ring[a:b], self._scores[a:b] = inputs[i:i + b - a], scores[i:i + b - a]
            rest = j - i - (b - a)
            self._ring[:rest], self._scores[:rest] = inputs[j - rest:j], scores[j - rest:j]
            self._n += j - i
            if self._n == due:
                value = mean_shift(self._ring.sum(axis=0) / w, self.ref.mean, self.ref.std)
                alarm = value > self.ref.threshold
                out.append(DriftCheck(j - 1, value, self.ref.threshold, float(self._scores.sum()) / w, alarm != self.alarm, alarm))
                self.alarm = alarm
            i = j
        return out
