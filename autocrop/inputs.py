"""What a head reads: one frozen description, and one `gather` for cached and live feature maps.

An `InputSpec` names a layer and the cells read on it (a box, or exactly a set of cells), more
(layer, box) pairs concatenated after it, a temporal window of consecutive frames, or the pooled
map. Training gathers it over the feature cache; the edge gathers it over live backbone maps and
keeps a ring buffer for windows. The bundle manifest stores `to_dict()`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from autocrop.defaults import GATHER_ROWS

__all__ = ["InputSpec", "FrameWindow", "window_rows", "Cells"]

Cells = tuple[int, int, int, int]  # (r0, r1, c0, c1): rows r0..r1-1, columns c0..c1-1


@dataclass(frozen=True)
class InputSpec:
    """The input of one microclassifier; every field is in feature-map cells, never pixels."""

    layer: str
    cells: Cells  # bounding box on `layer` (the whole map when pooled)
    mask: tuple[tuple[int, int], ...] | None = None  # read exactly these (row, col) cells, in this order
    extra: tuple[tuple[str, Cells], ...] = ()  # more (layer, box) read, flattened and concatenated after
    window: int = 1  # consecutive frames read together, oldest first (temporal heads)
    pooled: bool = False  # global-average-pooled `layer` (the transfer-learning baseline)

    def __post_init__(self) -> None:
        r0, r1, c0, c1 = self.cells
        if not (0 <= r0 < r1 and 0 <= c0 < c1):
            raise ValueError(f"`0 <= r0 < r1` and `0 <= c0 < c1` must hold, but got cells={self.cells}")
        if self.window < 1:
            raise ValueError(f"`window >= 1` must hold, but got window={self.window}")
        if self.pooled and (self.mask or self.extra):
            raise ValueError("a pooled input reads one whole map: no cell mask or extra layers")

    @property
    def layers(self) -> tuple[str, ...]:
        """Every layer read, the main one first."""
        return (self.layer, *(lay for lay, _ in self.extra))

    @property
    def kind(self) -> str:
        """One word for reports: pooled | mask | box | layers, with `+window` for temporal inputs."""
        base = "pooled" if self.pooled else "mask" if self.mask else "layers" if self.extra else "box"
        return base + ("+window" if self.window > 1 else "")

    def frame_shape(self, channels: Mapping[str, int]) -> tuple[int, ...]:
        """Shape of one frame's input: (C, h, w) for one map, (C, cells, 1) for a mask, (D,) for several layers."""
        c = channels[self.layer]
        if self.pooled:
            shape: tuple[int, ...] = (c, 1, 1)
        elif self.mask:
            shape = (c, len(self.mask), 1)
        else:
            r0, r1, c0, c1 = self.cells
            shape = (c, r1 - r0, c1 - c0)
        if self.extra:
            d = int(np.prod(shape)) + sum(channels[lay] * (b[1] - b[0]) * (b[3] - b[2]) for lay, b in self.extra)
            shape = (d,)
        return shape

    def shape(self, channels: Mapping[str, int]) -> tuple[int, ...]:
        """Shape the head sees: the frame shape, with the window in front when there is one."""
        one = self.frame_shape(channels)
        return (self.window, *one) if self.window > 1 else one

    def gather(self, maps: Mapping[str, np.ndarray], rows: np.ndarray | slice | None = None) -> np.ndarray:
        """float32 [N, D]: each frame's input, flattened, from maps [frames, C, H, W] (cache or live).

        `rows` picks frames first, so a memory-mapped cache reads only those frames; many rows are
        read `GATHER_ROWS` at a time, and a cache that can (`FeatureStore.release`) drops the pages
        read after each chunk, so memory holds the inputs, not the layers they come from.
        """
        if isinstance(rows, np.ndarray) and len(rows) > GATHER_ROWS:
            release = getattr(maps, "release", lambda: None)
            first = self.gather(maps, rows[:GATHER_ROWS])
            out = np.empty((len(rows), first.shape[1]), np.float32)
            out[:GATHER_ROWS] = first
            release()
            for lo in range(GATHER_ROWS, len(rows), GATHER_ROWS):
                out[lo:lo + GATHER_ROWS] = self.gather(maps, rows[lo:lo + GATHER_ROWS])
                release()
            return out
        sel = slice(None) if rows is None else rows

        def box(layer: str, cells: Cells) -> np.ndarray:
            r0, r1, c0, c1 = cells
            return np.asarray(maps[layer][sel, :, r0:r1, c0:c1], dtype=np.float32)

        if self.pooled:
            x = np.asarray(maps[self.layer][sel], dtype=np.float32).mean(axis=(2, 3))
        elif self.mask:
            r, c = np.array(self.mask).T
            x = box(self.layer, self.cells)[:, :, r - self.cells[0], c - self.cells[2]]
        else:
            x = box(self.layer, self.cells)
        parts = [x.reshape(len(x), -1)] + [box(lay, b).reshape(len(x), -1) for lay, b in self.extra]
        return np.ascontiguousarray(np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0])

    def gather_windows(self, maps: Mapping[str, np.ndarray], rows: np.ndarray) -> np.ndarray:
        """float32 [len(rows), window*D]: like `gather`, each row preceded by its window's frames
        (cache rows in time order; see `window_rows`)."""
        if self.window == 1:
            return self.gather(maps, rows)
        idx = window_rows(np.asarray(rows), self.window)
        uniq, inv = np.unique(idx, return_inverse=True)
        per_frame = self.gather(maps, uniq)
        return per_frame[inv.reshape(idx.shape)].reshape(len(rows), -1)

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "cells": list(self.cells),
            "mask": [list(c) for c in self.mask] if self.mask else None,
            "extra": [{"layer": lay, "cells": list(b)} for lay, b in self.extra],
            "window": self.window,
            "pooled": self.pooled,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> InputSpec:
        mask = d.get("mask")
        return cls(
            layer=str(d["layer"]),
            cells=tuple(int(v) for v in d["cells"]),  # type: ignore[arg-type]
            mask=tuple((int(r), int(c)) for r, c in mask) if mask else None,
            extra=tuple((str(e["layer"]), tuple(int(v) for v in e["cells"])) for e in d.get("extra") or ()),  # type: ignore[misc]
            window=int(d.get("window", 1)),
            pooled=bool(d.get("pooled", False)),
        )

    @staticmethod
    def mask_box(mask: Sequence[Sequence[int]]) -> Cells:
        """The bounding box of a cell mask."""
        r, c = np.array(mask).T
        return int(r.min()), int(r.max()) + 1, int(c.min()), int(c.max()) + 1


def window_rows(rows: np.ndarray, window: int) -> np.ndarray:
    """[len(rows), window] row indices of each frame's window, oldest first, repeating the first
    frame of a contiguous run where the window would reach before it (as `FrameWindow` does at the
    start of a stream)."""
    rows = np.asarray(rows)
    out = np.empty((len(rows), window), dtype=rows.dtype)
    out[:, -1] = rows
    pos = np.arange(len(rows))
    for j in range(1, window):
        prev = pos - 1
        ok = (prev >= 0) & (rows[np.maximum(prev, 0)] == rows[pos] - 1)
        pos = np.where(ok, prev, pos)
        out[:, -1 - j] = rows[pos]
    return out


class FrameWindow:
    """A ring buffer of the last `window` frames' inputs on a live stream; the first frame fills
    the window until enough frames have arrived (as `window_rows` does for cached runs)."""

    def __init__(self, window: int):
        self.window = window
        self._buf: deque[np.ndarray] = deque(maxlen=window)

    def push(self, per_frame: np.ndarray) -> np.ndarray:
        """[N, D] inputs of consecutive frames -> [N, window*D] windows, oldest frame first."""
        if self.window == 1:
            return per_frame
        out = np.empty((len(per_frame), self.window * per_frame.shape[1]), dtype=per_frame.dtype)
        for i, row in enumerate(per_frame):
            if not self._buf:
                self._buf.extend([row] * (self.window - 1))
            self._buf.append(row)
            out[i] = np.concatenate(self._buf)
        return out

    def reset(self) -> None:
        """Forget the past, e.g. after a gap in a live stream."""
        self._buf.clear()
