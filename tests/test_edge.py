"""The edge runtime reproduces the exported heads' scores from raw frames."""

from __future__ import annotations

import numpy as np
import pytest

from autocrop.cli import main
from autocrop.config import load_config
from autocrop.dataset import prepare
from autocrop.edge import EdgeRuntime
from autocrop.errors import DataError
from autocrop.export import load_bundle
from conftest import WEIGHTS

pytestmark = pytest.mark.slow


def test_two_bundles_one_backbone_pass(searched, tmp_path):
    assert main(["export", str(searched), "--trial", "0", "--out", str(tmp_path / "a")]) == 0
    assert main(["export", str(searched), "--trial", "-1", "--out", str(tmp_path / "b")]) == 0  # pooled baseline
    bundles = [load_bundle(tmp_path / "a"), load_bundle(tmp_path / "b")]
    rt = EdgeRuntime(bundles, str(WEIGHTS / "model.safetensors"))
    data = prepare(load_config(searched))
    rows = np.arange(0, len(data.ids), 10)[:12]
    frames = [f for _, f in data.source.frames([int(data.ids[r]) for r in rows])]
    live = rt.scores(frames)
    for j, b in enumerate(bundles):  # same as the bundle on the cached (float16) features
        cached = b.input.gather(data.store, rows)
        np.testing.assert_allclose(live[:, j], b.scores(cached), atol=0.02 * (1 + np.abs(live[:, j]).max()))
    decisions = list(rt.run(zip([int(data.ids[r]) for r in rows], frames, strict=True)))
    assert [fid for fid, _ in decisions] == [int(data.ids[r]) for r in rows] and all(len(d) == 2 for _, d in decisions)


def test_wrong_weights_are_refused(searched, tmp_path):
    import torch
    from safetensors.torch import load_file, save_file

    assert main(["export", str(searched), "--trial", "0", "--out", str(tmp_path / "a")]) == 0
    state = load_file(str(WEIGHTS / "model.safetensors"))
    state["conv_stem.weight"] = torch.zeros_like(state["conv_stem.weight"])
    other = tmp_path / "other.safetensors"
    save_file(state, str(other))
    with pytest.raises(DataError, match="weights digest"):
        EdgeRuntime([load_bundle(tmp_path / "a")], str(other))


def test_run_command_prints_decisions(searched, tmp_path, capsys):
    import shutil

    from conftest import HIGHWAY

    assert main(["export", str(searched), "--trial", "0", "--out", str(tmp_path / "a")]) == 0
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in (1000, 1001, 1002):
        shutil.copy(HIGHWAY / "input" / f"in{i:06d}.jpg", frames)
    capsys.readouterr()
    assert main(["run", str(tmp_path / "a"), "--frames", str(frames), "--weights", str(WEIGHTS / "model.safetensors")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "frame,car-test#0" and [ln.split(",")[0] for ln in lines[1:]] == ["1000", "1001", "1002"]
    assert all(ln.split(",")[1] in ("0", "1") for ln in lines[1:])
    assert main(["run", str(tmp_path / "missing"), "--frames", str(frames), "--weights", "x"]) == 2
