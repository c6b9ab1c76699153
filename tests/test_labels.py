from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

from autocrop.cli import main
from autocrop.config import Footage, Labels, Split
from autocrop.errors import DataError
from autocrop.labels import IGNORE, UNLABELLED, FrameLabels, check_trainable, load_labels, split_blocks
from autocrop.sources import FolderSource
from conftest import HIGHWAY, write_config


def _frames(tmp_path, n=4):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(1, n + 1):
        shutil.copy(HIGHWAY / "input" / f"in{i:06d}.jpg", folder / f"in{i:06d}.jpg")
    return FolderSource(folder, Footage(frames=folder))


def test_highway_masks_give_the_documented_positive_rate():
    src = FolderSource(HIGHWAY / "input", Footage(frames=HIGHWAY / "input"))
    spec = Labels(masks=HIGHWAY / "groundtruth", temporal_roi=HIGHWAY / "temporalROI.txt",
                  region=[(0, 150), (130, 150), (130, 240), (0, 240)], min_fraction=0.01)
    lab = load_labels(spec, src)
    assert (lab.y[lab.ids < 470] == IGNORE).all()  # outside temporalROI: ignored, not negative
    scored = lab.y[lab.scored]
    assert len(scored) == 1231
    assert scored.mean() == pytest.approx(0.405, abs=0.01)  # README: 40.5 %


def test_unknown_pixels_are_not_scored(tmp_path):
    src = _frames(tmp_path, 2)
    masks = tmp_path / "gt"
    masks.mkdir()
    m1 = np.zeros((240, 320), np.uint8)
    m1[:, :160] = 170  # half the region unknown ...
    m1[:10, 160:170] = 255  # ... and 100 object pixels in the scored half
    Image.fromarray(m1).save(masks / "gt000001.png")
    Image.fromarray(np.full((240, 320), 170, np.uint8)).save(masks / "gt000002.png")
    spec = Labels(masks=masks, region=[(0, 0), (320, 0), (320, 240), (0, 240)], min_fraction=100 / (160 * 240) - 1e-9)
    lab = load_labels(spec, src)
    assert lab.y.tolist() == [1, IGNORE]  # frame 2: nothing scored at all


def test_csv_labels_and_mismatch(tmp_path):
    src = _frames(tmp_path, 3)
    good = tmp_path / "labels.csv"
    good.write_text("frame,label\n1,1\n2,0\n3,\n")
    assert load_labels(Labels(csv=good), src).y.tolist() == [1, 0, UNLABELLED]  # an empty cell: not labelled yet
    marked = tmp_path / "marked.csv"
    marked.write_text("frame,label\n1,ignore\n2,-1\n")
    with pytest.raises(DataError, match="no frame .* has a label"):
        load_labels(Labels(csv=marked), src)
    assert load_labels(Labels(csv=marked), src, allow_none=True).y.tolist() == [IGNORE, IGNORE, UNLABELLED]
    bad = tmp_path / "bad.csv"
    bad.write_text("frame,label\n1,1\n99,0\n")
    with pytest.raises(DataError, match=r"bad.csv:3: frame 99 is not in the footage .*do not match the frames"):
        load_labels(Labels(csv=bad), src)
    latin = tmp_path / "latin.csv"
    latin.write_bytes("frame,label\n1,1\n2,0 # café\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin.csv: not UTF-8 text .*save the CSV as UTF-8"):
        load_labels(Labels(csv=latin), src)
    bom = tmp_path / "bom.csv"  # what spreadsheet programs write: UTF-8 with a byte-order mark
    bom.write_bytes("\ufeffframe,label\n1,1\n2,0\n3,1\n".encode("utf-8"))
    assert load_labels(Labels(csv=bom), src).y.tolist() == [1, 0, 1]
    appended = tmp_path / "appended.csv"  # a batch appended unfilled after its frames were labelled, then a correction
    appended.write_text("frame,label\n1,1\n2,0\n3,0\n1,\n2,\n3,\n3,1\n")
    assert load_labels(Labels(csv=appended), src).y.tolist() == [1, 0, 1]


def test_mask_size_mismatch(tmp_path):
    src = _frames(tmp_path, 1)
    masks = tmp_path / "gt"
    masks.mkdir()
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(masks / "gt000001.png")
    with pytest.raises(DataError, match="do not match the frames"):
        load_labels(Labels(masks=masks, region=[(0, 0), (5, 0), (5, 5)]), src)


def test_splits_are_contiguous_blocks_in_time():
    lab = FrameLabels(ids=np.arange(100), y=np.r_[np.zeros(50), np.ones(50)].astype(np.int8))
    parts = split_blocks(lab, Split(fractions=(0.5, 0.25, 0.25), blocks=2))
    assert parts["train"].tolist() == [*range(0, 25), *range(50, 75)]
    assert parts["val"].tolist() == [*range(25, 38), *range(75, 88)] or len(parts["val"]) == 25
    assert sorted(np.concatenate(list(parts.values())).tolist()) == list(range(100))
    for rows in parts.values():  # each block is a run of consecutive frames
        runs = np.split(rows, np.flatnonzero(np.diff(rows) != 1) + 1)
        assert len(runs) == 2


def test_no_positives_in_training_block():
    y = np.r_[np.zeros(60), np.ones(40)].astype(np.int64)
    with pytest.raises(DataError, match="train block has 0 positive"):
        check_trainable(y, {"train": np.arange(50), "val": np.arange(50, 75), "test": np.arange(75, 100)}, "q.yaml")


def test_query_without_positives_exit_2(tmp_path, capsys):
    # no car ever fills the whole left-lane region
    cfg = write_config(tmp_path, labels__min_fraction=1.0)
    assert main(["search", str(cfg), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "train block has 0 positive" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "mlruns").exists() and not (tmp_path / "cache").exists()
