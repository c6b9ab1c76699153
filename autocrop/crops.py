"""A crop as a box in normalized image coordinates, and its cells on any feature map."""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Crop", "FULL_FRAME", "CENTER_PARAMS", "SIZE_PARAMS"]


@dataclass(frozen=True)
class Crop:
    """Box [x0, x1) x [y0, y1) in [0, 1] image coordinates (x to the right, y down)."""

    x0: float
    y0: float
    x1: float
    y1: float

    def __post_init__(self) -> None:
        if not (0 <= self.x0 < self.x1 <= 1 and 0 <= self.y0 < self.y1 <= 1):
            raise ValueError(f"`0 <= x0 < x1 <= 1` and `0 <= y0 < y1 <= 1` must hold, but got {self}.")

    @classmethod
    def from_center(cls, cx: float, cy: float, w: float, h: float) -> Crop:
        """The box of width w and height h around (cx, cy), clipped to the frame."""
        x0, x1 = max(0.0, cx - w / 2), min(1.0, cx + w / 2)
        y0, y1 = max(0.0, cy - h / 2), min(1.0, cy + h / 2)
        return cls(x0, y0, x1, y1)

    @classmethod
    def from_pixels(cls, box: tuple[float, float, float, float], width: int, height: int) -> Crop:
        x0, y0, x1, y1 = box
        return cls(x0 / width, y0 / height, x1 / width, y1 / height)

    def cells(self, rows: int, cols: int) -> tuple[int, int, int, int]:
        """(r0, r1, c0, c1) of the feature cells whose centres' span the box touches; at least one cell."""
        r0 = min(rows - 1, math.floor(self.y0 * rows))
        c0 = min(cols - 1, math.floor(self.x0 * cols))
        r1 = max(r0 + 1, min(rows, math.ceil(self.y1 * rows)))
        c1 = max(c0 + 1, min(cols, math.ceil(self.x1 * cols)))
        return r0, r1, c0, c1

    @classmethod
    def from_cells(cls, cells: list[int] | tuple[int, ...], rows: int, cols: int) -> Crop:
        """A box whose `cells(rows, cols)` are exactly `cells` (inset a quarter cell from each edge)."""
        r0, r1, c0, c1 = cells
        return cls((c0 + 0.25) / cols, (r0 + 0.25) / rows, (c1 - 0.25) / cols, (r1 - 0.25) / rows)

    def as_list(self) -> list[float]:
        """Full precision: a rounded box can land on a cell boundary and read other cells."""
        return [float(v) for v in (self.x0, self.y0, self.x1, self.y1)]


FULL_FRAME = Crop(0.0, 0.0, 1.0, 1.0)

# Optuna parameter names of a trial's crop; samplers treat these specially
CENTER_PARAMS = ("crop_cx", "crop_cy")
SIZE_PARAMS = ("crop_w", "crop_h")
