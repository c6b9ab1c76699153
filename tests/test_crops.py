from __future__ import annotations

import pytest

from autocrop.crops import FULL_FRAME, Crop


def test_from_center_clips_to_frame():
    c = Crop.from_center(0.05, 0.95, 0.4, 0.4)
    assert (c.x0, c.y1) == (0.0, 1.0)
    assert c.x1 == pytest.approx(0.25) and c.y0 == pytest.approx(0.75)


def test_cells_cover_box_and_at_least_one_cell():
    region = Crop.from_pixels((0, 150, 130, 240), 320, 240)
    assert region.cells(15, 20) == (9, 15, 0, 9)  # rows floor(9.375)..15, cols 0..ceil(8.125)
    tiny = Crop(0.5, 0.5, 0.501, 0.501)
    assert tiny.cells(8, 10) == (4, 5, 5, 6)
    assert FULL_FRAME.cells(8, 10) == (0, 8, 0, 10)


def test_invalid_box_rejected():
    with pytest.raises(ValueError, match="must hold"):
        Crop(0.5, 0.1, 0.4, 0.2)


def test_from_cells_round_trips():
    for cells in [(0, 1, 0, 1), (9, 15, 5, 10), (3, 8, 0, 20)]:
        assert Crop.from_cells(cells, 15, 20).cells(15, 20) == cells
