from __future__ import annotations

import numpy as np
import pytest

from autocrop.cli import main
from autocrop.config import load_config
from autocrop.crops import Crop
from autocrop.dataset import prepare
from autocrop.errors import DataError
from autocrop.inputs import InputSpec
from conftest import write_config


def test_cache_holds_float16_maps_of_every_layer(query):
    data = prepare(load_config(query))
    assert data.store.missing(["blocks.3.3", "blocks.5.2", "final"]) == []
    arr = data.store.load("blocks.3.3")
    assert arr.dtype == np.float16 and arr.shape[0] == len(data.ids)
    info = data.backbone.layers()["blocks.3.3"]
    assert arr.shape[1:] == (info.channels, info.height, info.width)
    spec = InputSpec("blocks.3.3", Crop(0.0, 0.5, 0.5, 1.0).cells(info.height, info.width))
    crop = spec.gather(data.store)
    assert spec.shape({"blocks.3.3": info.channels})[1:] == (4, 5)  # 8x10 map at 120x160
    assert crop.dtype == np.float32 and crop.shape == (len(data.ids), info.channels * 4 * 5)


def test_cache_key_changes_with_input_size(query):
    a = prepare(load_config(query))
    b = prepare(load_config(query, ["backbone.input_size=[96, 128]"]))
    assert a.store.dir != b.store.dir


def test_interrupted_extraction_leaves_no_complete_layer(tmp_path, monkeypatch):
    data = prepare(load_config(write_config(tmp_path, footage__step=40)))
    real = data.source.frames

    def dies_midway(ids):
        for n, item in enumerate(real(ids)):
            if n == 10:
                raise KeyboardInterrupt
            yield item

    monkeypatch.setattr(data.source, "frames", dies_midway)
    data.store.backbone.spec.batch_size = 4
    with pytest.raises(KeyboardInterrupt):
        data.store.extract(["blocks.3.3"], progress=False)
    assert data.store.missing(["blocks.3.3"]) == ["blocks.3.3"]
    assert list(data.store.dir.glob("*.npy")) == []  # no partial file either
    monkeypatch.undo()
    assert data.store.extract(["blocks.3.3"], progress=False) == ["blocks.3.3"]


def test_unreadable_frame_during_extraction(tmp_path, capsys):
    import shutil

    from conftest import HIGHWAY

    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(470, 490):
        shutil.copy(HIGHWAY / "input" / f"in{i:06d}.jpg", frames / f"in{i:06d}.jpg")
    (frames / "in000485.jpg").write_bytes(b"\xff\xd8 truncated")
    cfg = write_config(tmp_path, footage={"frames": str(frames)})
    assert main(["extract", str(cfg), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "in000485.jpg: unreadable frame 485" in err
    assert not list((tmp_path / "cache").rglob("*.npy"))


def test_unknown_layer_in_space_exit_2_before_any_work(tmp_path, capsys):
    from conftest import SPACE

    cfg = write_config(tmp_path, space={**SPACE, "layers": ["blocks.3.3", "block.5.2"]})
    assert main(["search", str(cfg), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "unknown layer `block.5.2`" in err and "did you mean `blocks.5.2`" in err
    assert not (tmp_path / "mlruns").exists() and not (tmp_path / "cache").exists()
