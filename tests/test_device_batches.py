"""The GPU extraction path, run on the CPU: device-side JPEG decode and preprocessing, the CUDA
cache key, and the layer writers that overlap the engine.

A GPU-only check (nvjpeg, float16, frames/s on an H100) is `bench/extract_cuda.py`; here the same
code runs with `device="cpu"`, where torchvision decodes with libjpeg-turbo as PIL does.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from autocrop.backbone import Backbone
from autocrop.config import Backbone as Spec
from autocrop.config import Footage
from autocrop.device_batches import cpu_batches, device_batches, jpeg_folder
from autocrop.engine import TorchEngine
from autocrop.errors import DataError
from autocrop.layer_files import LayerFile, LayerWriters
from autocrop.pipeline import prefetch_batches
from autocrop.sources import open_source
from conftest import HIGHWAY, WEIGHTS


def _backbone(size=(120, 160)) -> Backbone:
    return Backbone(Spec(model="mobilenetv2_100", kwargs={"pad_type": "same", "num_classes": 1001},
                         weights=str(WEIGHTS / "model.safetensors"), input_size=size, mean=(0.50196,) * 3, std=(0.50196,) * 3))


def _folder(tmp_path, first=900, n=20, suffix=".jpg"):
    d = tmp_path / "frames"
    d.mkdir()
    for i in range(first, first + n):
        src = HIGHWAY / "input" / f"in{i:06d}.jpg"
        if suffix == ".jpg":
            shutil.copy(src, d / src.name)
        else:
            Image.open(src).save(d / f"in{i:06d}{suffix}")
    return d


@pytest.mark.parametrize("size", [(240, 320), (120, 160)])  # native (no resize) and resized on the device
def test_device_decode_gives_the_cpu_pipeline_batches(tmp_path, size):
    bb = _backbone(size)
    src = open_source(Footage(frames=_folder(tmp_path)))
    assert jpeg_folder(src, src.ids)
    on_device = torch.cat(list(device_batches(src, src.ids, 8, bb, "cpu")))
    on_cpu = torch.cat(list(prefetch_batches(src, src.ids, 8, bb.preprocess)))
    assert on_device.shape == (20, 3, *size)
    torch.testing.assert_close(on_device, on_cpu, rtol=0, atol=1e-6)  # the same pixels, the same arithmetic
    half = torch.cat(list(device_batches(src, src.ids[:8], 8, bb, "cpu", torch.float16)))
    assert half.dtype == torch.float16 and torch.equal(half, on_cpu[:8].half())
    # what a CPU engine reads: torchvision's decoder, the same pixels and lookup table as PIL's path
    assert torch.equal(torch.cat(list(cpu_batches(src, src.ids, 8, bb))), on_cpu)


def test_other_footage_is_decoded_on_the_cpu_and_normalised_on_the_device(tmp_path):
    bb = _backbone()
    src = open_source(Footage(frames=_folder(tmp_path, n=6, suffix=".png")))
    assert not jpeg_folder(src, src.ids)
    got = torch.cat(list(device_batches(src, src.ids, 4, bb, "cpu")))
    torch.testing.assert_close(got, torch.cat(list(prefetch_batches(src, src.ids, 4, bb.preprocess))), rtol=0, atol=1e-6)
    maps = TorchEngine(bb, ["blocks.2.2"]).run(got)
    assert maps["blocks.2.2"].shape[0] == 6


def test_a_damaged_jpeg_is_refused_naming_the_file(tmp_path):
    d = _folder(tmp_path)
    bad = d / "in000911.jpg"
    bad.write_bytes(bad.read_bytes()[:400])
    src = open_source(Footage(frames=d))
    with pytest.raises(DataError) as err:
        list(device_batches(src, src.ids, 8, _backbone(), "cpu"))
    msg = str(err.value)
    assert msg.startswith(f"{bad}: unreadable frame 911 (") and "footage.stop" in msg and "\n" not in msg and ".cpp" not in msg


def test_a_frame_of_another_size_is_refused_naming_it(tmp_path):
    d = _folder(tmp_path)
    Image.open(d / "in000913.jpg").resize((160, 120)).save(d / "in000913.jpg")
    src = open_source(Footage(frames=d))
    with pytest.raises(DataError, match=r"in000913.jpg: frame 913 is 160x120, the first frame is 320x240"):
        list(device_batches(src, src.ids, 8, _backbone(), "cpu"))


def test_a_cuda_cache_is_its_own_and_the_study_fingerprint_ignores_it(query, monkeypatch):
    from autocrop.config import load_config
    from autocrop.dataset import prepare
    from autocrop.fingerprint import fingerprint
    from autocrop.space import load_space

    cpu = prepare(load_config(query, []))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    gpu = prepare(load_config(query, []))
    gpu_cpu_decode = prepare(load_config(query, ["backbone.gpu_decode=false"]))
    assert gpu.store.key["device"] == "cuda+nvjpeg" and gpu_cpu_decode.store.key["device"] == "cuda"
    assert len({cpu.store.dir, gpu.store.dir, gpu_cpu_decode.store.dir}) == 3  # float16 / nvjpeg maps never read for CPU ones
    assert "device" not in cpu.store.key  # CPU caches keep their keys
    space = load_space(cpu.cfg.search.space)
    assert fingerprint(cpu, space)["backbone"] == fingerprint(gpu, space)["backbone"]  # a study may go on with either


def test_float16_compute_leaves_the_shared_model_float32():
    bb = _backbone()
    eng = TorchEngine(bb, ["blocks.2.2"], half=True)
    assert next(eng.backbone.model.parameters()).dtype == torch.float16
    assert next(bb.model.parameters()).dtype == torch.float32  # layers(), MACs and other engines still use it


def test_layer_writers_keep_order_sync_as_they_go_and_raise_errors(tmp_path, monkeypatch):
    import autocrop.layer_files as lf

    synced = []
    monkeypatch.setattr(lf, "SYNC_BYTES", 200)  # two batches of 144 bytes
    monkeypatch.setattr(lf.os, "fdatasync", lambda fd: synced.append(fd))
    files = {n: LayerFile(tmp_path / f"{n}.npy", (12, 2, 3, 4)) for n in ("a", "b")}
    writers = LayerWriters(files, depth=1)
    rows = np.arange(12 * 24, dtype=np.float16).reshape(12, 2, 3, 4)
    for k in range(0, 12, 3):
        writers.write({"a": rows[k:k + 3], "b": -rows[k:k + 3]})
    writers.drain()
    for f in files.values():
        f.close()
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), rows)
    np.testing.assert_array_equal(np.load(tmp_path / "b.npy"), -rows)
    assert len(synced) >= 2  # the disk is handed its work during extraction, not only at the end

    bad = LayerWriters({"a": LayerFile(tmp_path / "c.npy", (4, 2, 3, 4))})
    bad.write({"a": np.zeros((2, 9), np.float16)})  # a shape the file does not hold
    with pytest.raises(ValueError, match="rows of shape"):
        bad.drain()
    assert all(p._shutdown for p in bad._pools.values())  # no writer thread outlives the error


def test_extract_refuses_a_damaged_frame_in_one_line_and_writes_nothing(tmp_path, capsys):
    from autocrop.cli import main
    from conftest import write_config

    d = _folder(tmp_path, first=470, n=10)
    bad = d / "in000474.jpg"
    bad.write_bytes(bad.read_bytes()[:500])
    cfg = write_config(tmp_path, footage={"frames": str(d)})
    assert main(["extract", str(cfg), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert f"{bad}: unreadable frame 474 (" in err, err
    assert len(err.splitlines()) == 1 and "footage.stop" in err
    assert not list((tmp_path / "cache").rglob("*.npy"))  # nothing half-written
