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
    import autocrop.engine as engine

    real, calls = engine.OrtEngine.run, []

    def dies_midway(self, x):  # killed on the third batch, after two were written
        calls.append(len(x))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(self, x)

    monkeypatch.setattr(engine.OrtEngine, "run", dies_midway)
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


@pytest.mark.slow
def test_two_extractors_on_a_cold_cache_make_one_correct_cache(tmp_path):
    """Started together on one cache folder, both finish; the cache equals a one-process cache bit for bit."""
    import subprocess
    import sys

    cfg = write_config(tmp_path, footage__step=10)
    cmd = [sys.executable, "-m", "autocrop.cli", "extract", str(cfg), "--quiet"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-800:] for o in outs]
    assert sum("already cached" in o[0] for o in outs) == 1  # the waiter reused the other's work
    single = tmp_path / "single"
    single.mkdir()
    cfg2 = write_config(single, footage__step=10)
    assert subprocess.run([*cmd[:-2], str(cfg2), "--quiet"], capture_output=True).returncode == 0
    data, ref = prepare(load_config(cfg)), prepare(load_config(cfg2))
    layers = sorted(p.name for p in ref.store.dir.glob("*.npy"))
    assert layers and sorted(p.name for p in data.store.dir.glob("*.npy")) == layers
    for name in layers:
        assert (data.store.dir / name).read_bytes() == (ref.store.dir / name).read_bytes()
    assert not list(data.store.dir.glob("*.partial.npy"))


@pytest.mark.slow
def test_damaged_cache_files_are_refused_and_repaired(tmp_path, capsys):
    cfg = write_config(tmp_path, footage__step=40)
    assert main(["extract", str(cfg), "--quiet"]) == 0
    data = prepare(load_config(cfg))
    path = data.store.path("blocks.3.3")
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])  # truncated
    with pytest.raises(DataError, match="damaged cache file.*truncated.*autocrop extract"):
        prepare(load_config(cfg)).store.load("blocks.3.3")
    capsys.readouterr()
    assert main(["search", str(cfg), "--quiet", "--no-mlflow", "--trials", "2"]) == 0  # a search repairs it first
    assert "damaged cache file" in capsys.readouterr().err and path.read_bytes() == good
    path.write_bytes(good[:1000])
    assert main(["extract", str(cfg), "--quiet"]) == 0
    out = capsys.readouterr()
    assert "damaged cache file" in out.err and "wrote blocks.3.3" in out.out
    assert path.read_bytes() == good
    flipped = bytearray(good)
    flipped[-3] ^= 0x40  # same size, other bytes: only the checksum sees it
    path.write_bytes(bytes(flipped))
    assert main(["extract", str(cfg), "--quiet"]) == 0 and "already cached" in capsys.readouterr().out
    assert main(["extract", str(cfg), "--quiet", "--verify"]) == 0
    out = capsys.readouterr()
    assert "checksum mismatch" in out.err and path.read_bytes() == good


def _resident_kb(path) -> int:
    """Resident kB of this process's mappings of `path` (Linux /proc/self/smaps)."""
    total, inside = 0, False
    for line in open("/proc/self/smaps"):
        if "-" in line.split(" ", 1)[0] and len(line.split()) >= 5:
            inside = line.rstrip().endswith(str(path))
        elif inside and line.startswith("Rss:"):
            total += int(line.split()[1])
    return total


def test_gathering_in_chunks_reads_exact_values_and_keeps_only_a_chunk_resident(query, monkeypatch):
    """Long footage: the search's memory holds the inputs, not the cached layers they come from."""
    data = prepare(load_config(query))
    monkeypatch.setattr("autocrop.inputs.GATHER_ROWS", 40)
    rows = np.arange(len(data.ids))
    for spec in (InputSpec("final", (0, 4, 0, 5), pooled=True), InputSpec("blocks.3.3", (1, 5, 2, 7))):
        got = spec.gather(data.store, rows)
        ref = np.load(data.store.path(spec.layer))  # read whole, no memory map
        want = ref.astype(np.float32).mean(axis=(2, 3)) if spec.pooled else ref[:, :, 1:5, 2:7].astype(np.float32).reshape(len(rows), -1)
        np.testing.assert_allclose(got, want, rtol=1e-6)
        frame_kb = ref[0].nbytes / 1024
        assert _resident_kb(data.store.path(spec.layer)) <= 40 * frame_kb + 64  # at most a chunk stays mapped in
    final = data.store.load("final")
    assert np.isfinite(final[rows].astype(np.float32).sum())  # plain slicing still works, and maps the pages it reads:
    assert _resident_kb(data.store.path("final")) > 100 * final[0].nbytes / 1024  # the measure sees them
