"""The backbone engine: ONNX Runtime and PyTorch agree on real frames; selection and fallbacks."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from autocrop.backbone import Backbone
from autocrop.config import Backbone as Spec
from autocrop.engine import OrtEngine, TorchEngine, make_engine, resolve
from autocrop.errors import ConfigError
from conftest import HIGHWAY, WEIGHTS

LAYERS = ["blocks.2.2", "blocks.4.2", "final"]


def _spec(**over) -> Spec:
    return Spec(model="mobilenetv2_100", kwargs={"pad_type": "same", "num_classes": 1001}, weights=str(WEIGHTS / "model.safetensors"),
                input_size=(120, 160), mean=(0.50196,) * 3, std=(0.50196,) * 3, **over)


def _frames(n: int = 6) -> list[np.ndarray]:
    from PIL import Image

    return [np.asarray(Image.open(HIGHWAY / "input" / f"in{i:06d}.jpg").convert("RGB")) for i in range(900, 900 + n)]


def test_onnxruntime_and_torch_agree_within_float16_on_real_frames(tmp_path):
    bb = Backbone(_spec())
    ort_maps = OrtEngine(bb, LAYERS, tmp_path).frames(_frames())
    torch_maps = TorchEngine(bb, LAYERS).frames(_frames())
    for n in LAYERS:
        assert ort_maps[n].shape == torch_maps[n].shape
        scale = np.abs(torch_maps[n]).max()
        # float16 keeps ~3 significant digits: the cache cannot tell the engines apart
        assert np.abs(ort_maps[n] - torch_maps[n]).max() <= 1e-3 * scale
        np.testing.assert_array_equal(ort_maps[n].astype(np.float16), ort_maps[n].astype(np.float16))


def test_export_is_cached_checked_and_truncated(tmp_path, caplog):
    bb = Backbone(_spec())
    with caplog.at_level(logging.INFO, logger="autocrop"):
        first = OrtEngine(bb, ["blocks.2.2"], tmp_path)
    assert "max abs difference to PyTorch" in caplog.text and first.export_diff < 1e-3
    again = OrtEngine(bb, ["blocks.2.2"], tmp_path)
    assert again.path == first.path and len(list((tmp_path / "engines").glob("*.onnx"))) == 1
    deep = OrtEngine(bb, ["blocks.2.2", "final"], tmp_path)
    assert deep.path != first.path and first.path.stat().st_size < deep.path.stat().st_size / 3  # stops at its layer


def test_export_that_disagrees_is_refused(tmp_path, monkeypatch):
    import autocrop.engine as engine

    monkeypatch.setattr(engine, "EXPORT_TOL", -1.0)
    with pytest.raises(ConfigError, match="differs from PyTorch"):
        OrtEngine(Backbone(_spec()), ["blocks.2.2"], tmp_path)
    assert not list((tmp_path / "engines").glob("*"))  # nothing half-written


def test_auto_picks_onnxruntime_without_a_gpu_and_torch_with_one(monkeypatch, caplog):
    bb = Backbone(_spec())
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve("auto", "auto", bb) == ("onnxruntime", "cpu")
    with caplog.at_level(logging.WARNING, logger="autocrop"):
        assert resolve("auto", "cuda", bb) == ("onnxruntime", "cpu")
    assert caplog.text.count("no GPU is visible") == 1
    assert resolve("torch", "auto", bb) == ("torch", "cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve("auto", "auto", bb) == ("torch", "cuda")
    assert resolve("auto", "cpu", bb) == ("onnxruntime", "cpu")


def test_other_families_run_in_torch():
    bb = Backbone(Spec(model="resnet18", weights="none", input_size=(64, 64)))
    assert resolve("auto", "cpu", bb) == ("torch", "cpu")
    with pytest.raises(ConfigError, match="use `backbone.engine: torch`"):
        resolve("onnxruntime", "cpu", bb)
    maps = make_engine(bb, [bb.layer_names[1]], "auto", "cpu").run(torch.zeros(1, 3, 64, 64))
    assert list(maps) == [bb.layer_names[1]]


def test_cache_of_one_engine_is_not_read_for_the_other(query):
    from autocrop.config import load_config
    from autocrop.dataset import prepare

    a = prepare(load_config(query, ["backbone.engine=onnxruntime"])).store
    b = prepare(load_config(query, ["backbone.engine=torch"])).store
    assert a.dir != b.dir and a.key["engine"] == "onnxruntime" and b.key["engine"] == "torch"


def test_frames_of_two_sizes_are_refused_in_one_line(tmp_path, capsys):
    import shutil

    from PIL import Image

    from autocrop.cli import main
    from conftest import write_config

    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(470, 480):
        shutil.copy(HIGHWAY / "input" / f"in{i:06d}.jpg", frames)
    Image.open(frames / "in000475.jpg").resize((160, 120)).save(frames / "in000475.jpg")
    cfg = write_config(tmp_path, footage={"frames": str(frames)})
    assert main(["extract", str(cfg), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "in000475.jpg: frame 475 is 160x120, the first frame is 320x240" in err and len(err.strip().splitlines()) == 1
    assert not list((tmp_path / "cache").rglob("*.npy"))  # nothing half-written


def test_input_size_too_small_is_a_config_error(query, capsys):
    from autocrop.cli import main

    assert main(["layers", str(query), "--set", "backbone.input_size=[0, 0]"]) == 2
    assert "`backbone.input_size`" in capsys.readouterr().err


def test_long_splits_are_subsampled_in_whole_runs():
    from autocrop.labels import subsample

    rows = np.arange(10_000)
    kept = subsample(rows, 1000)
    assert 900 <= len(kept) <= 1000 and kept[0] == 0 and kept[-1] == 9999
    runs = np.split(kept, np.flatnonzero(np.diff(kept) != 1) + 1)
    assert all(len(r) == 50 for r in runs)  # windows stay whole
    assert subsample(rows[:500], 1000) is not None and len(subsample(rows[:500], 1000)) == 500
