"""The edge service: a live stream that drops and comes back, events equal to in-process predictions,
clean stops, bandwidth, and one-line errors."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from autocrop.cli import main
from autocrop.export import load_bundle
from autocrop.metrics import smooth_k_of_n
from autocrop.streams import LiveSource
from conftest import HIGHWAY, ROOT, WEIGHTS

W = str(WEIGHTS / "model.safetensors")


def _camera():
    spec = importlib.util.spec_from_file_location("camera", ROOT / "examples" / "camera.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _events(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]


def _wait(pred, timeout: float, what: str):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def bundles(searched, tmp_path_factory) -> list[Path]:
    tmp = tmp_path_factory.mktemp("serve-bundles")
    out = []
    for trial in ("0", "-1"):  # a searched crop and the pooled baseline
        assert main(["export", str(searched), "--trial", trial, "--out", str(tmp / f"t{trial}")]) == 0
        out.append(tmp / f"t{trial}")
    return out


def test_replayed_frames_are_skipped_and_a_restarted_clock_is_not():
    src = LiveSource(0, "tcp://x")
    assert [src._accept(t) for t in (0.0, 0.04, 0.08, 0.04, 0.08, 0.12)] == [True, True, True, False, False, True]
    assert src.replayed == 2
    assert src._accept(0.0) is False and src.replayed == 3  # 0.12 s back: a replay
    src = LiveSource(0, "tcp://x")
    src._last_pts = 100.0
    assert src._accept(1.0) is True and src._accept(1.04) is True
    sampled = LiveSource(0, "tcp://x", fps=10)
    assert [sampled._accept(i * 0.04) for i in range(6)] == [True, False, False, True, False, True]


@pytest.mark.slow
def test_live_stream_killed_and_restarted(bundles, tmp_path):
    """Serve two bundles from a camera on 127.0.0.1 that is killed mid-stream and restarted from an
    earlier keyframe: every frame is scored once, and each decision equals the bundle's prediction in
    process on the same decoded frames."""
    import av

    cam = _camera()
    ts = cam.encode(cam.frame_files(HIGHWAY / "input", first=1000, count=60), tmp_path / "ref.ts", fps=25, gop=10)
    port = _port()
    out = tmp_path / "served"
    serve = subprocess.Popen([sys.executable, "-m", "autocrop.cli", "serve", *map(str, bundles), "--source",
                              f"tcp://127.0.0.1:{port}", "--weights", W, "--out", str(out), "--quiet", "--batch", "4"],
                             stderr=subprocess.PIPE, text=True)
    camera = [sys.executable, str(ROOT / "examples" / "camera.py"), str(ts), "--url", f"tcp://127.0.0.1:{port}?listen=1"]
    try:
        first = subprocess.Popen([*camera, "--fps", "25"], stdout=subprocess.PIPE, text=True)
        for line in first.stdout:  # kill it once 30 frames are out
            if line.strip() == "sent 29":
                break
        first.kill()
        first.wait()
        _wait(lambda: (out / "events.jsonl").exists() and any(e.get("state") == "lost" for e in _events(out)), 30, "the loss")
        # back from frame 25 (keyframe 20): frames 20..29 are sent again and must not be scored twice
        subprocess.run([*camera, "--fps", "50", "--start", "25"], check=True, capture_output=True, timeout=60)
        _wait(lambda: any(e.get("frame") is not None and e.get("pts") is not None and round(e["pts"] * 25) == 59
                          for e in _events(out)), 30, "the last frame")
    finally:
        serve.send_signal(signal.SIGTERM)
        err = serve.communicate(timeout=30)[1]
    assert serve.returncode == 0, err
    events = _events(out)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stopped_by"] == "SIGTERM" and summary["sources"][0]["replayed"] >= 10
    assert summary["sources"][0]["reconnects"] >= 1
    names = [load_bundle(b).name for b in bundles]
    decided = [e for e in events if e["type"] == "decision"]
    got = {q: {round(e["pts"] * 25): e for e in decided if e["query"] == q} for q in names}
    for q in names:
        assert len(got[q]) == len([e for e in decided if e["query"] == q]), "a frame was scored twice"
        assert sorted(got[q]) == list(range(60)), "frames were lost"
    # in process: the same bitstream decoded here, the backbone, the heads from safetensors, k-of-n
    with av.open(str(ts)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    lost = next(i for i, e in enumerate(events) if e.get("state") == "lost")
    first_new = next(round(e["pts"] * 25) for e in events[lost:] if e["type"] == "decision")  # windows restart here
    from autocrop.edge import EdgeRuntime

    rt = EdgeRuntime([load_bundle(b) for b in bundles], W)
    maps = rt.maps(frames)
    for b, q in zip(rt.bundles, names, strict=True):
        with torch.no_grad():
            x = b.input.gather(maps)
            scores = b.head()(torch.from_numpy(x)[None])[0].numpy()
        k, n = b.manifest["smoothing"]["k"], b.manifest["smoothing"]["n"]
        raw = scores >= b.threshold
        want = np.concatenate([smooth_k_of_n(raw[:first_new], k, n), smooth_k_of_n(raw[first_new:], k, n)])
        np.testing.assert_allclose([got[q][i]["score"] for i in range(60)], scores, rtol=1e-5, atol=1e-4)  # events carry 6 significant digits
        assert [got[q][i]["decision"] for i in range(60)] == [bool(v) for v in want]


def _folder(tmp: Path, ids) -> Path:
    d = tmp / "frames"
    d.mkdir()
    for i in ids:
        os.symlink(HIGHWAY / "input" / f"in{i:06d}.jpg", d / f"in{i:06d}.jpg")
    return d


@pytest.mark.slow
def test_folder_source_outputs_and_bandwidth(bundles, tmp_path, capsys):
    frames = _folder(tmp_path, range(1000, 1040))
    out = tmp_path / "served"
    assert main(["serve", *map(str, bundles), "--source", str(frames), "--weights", W, "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "served 40 frames" in printed and "of stream" in printed
    events = _events(out)
    summary = json.loads((out / "summary.json").read_text())
    names = [load_bundle(b).name for b in bundles]
    for j, q in enumerate(names):
        mine = [e for e in events if e.get("query") == q and e["type"] == "decision"]
        assert [e["frame"] for e in mine] == list(range(1000, 1040))
        wanted = [e["frame"] for e in mine if e["decision"]]
        files = sorted((out / "forwarded").glob(f"{q.replace('#', '_')}/*.jpg"))
        assert len(files) == len(wanted) == summary["queries"][j]["positives"]
        sizes = sum((HIGHWAY / "input" / f"in{f:06d}.jpg").stat().st_size for f in wanted)
        assert summary["queries"][j]["bytes_forwarded"] == sizes == sum(f.stat().st_size for f in files)
    assert summary["bytes_in"] == sum((HIGHWAY / "input" / f"in{i:06d}.jpg").stat().st_size for i in range(1000, 1040))
    assert summary["forwarded"]["bytes"] <= sum(q["bytes_forwarded"] for q in summary["queries"])


@pytest.mark.slow
def test_sigterm_in_process_stops_cleanly(bundles, tmp_path):
    """A stop in the middle of the footage finishes the batch in hand and writes whole lines and a summary."""
    from autocrop.edge import EdgeRuntime
    from autocrop.serve import Service
    from autocrop.streams import open_stream

    frames = _folder(tmp_path, range(1000, 1200))
    rt = EdgeRuntime([load_bundle(b) for b in bundles], W)
    src = open_stream(0, str(frames))
    read = src.frames

    def stop_at_frame_40(stop):  # the stop arrives mid-footage however fast this machine serves (a timer raced it)
        for k, item in enumerate(read(stop)):
            if k == 40:
                stop.set()
            yield item

    src.frames = stop_at_frame_40
    svc = Service(rt, [src], tmp_path / "out", batch=4, progress=False)
    res = svc.run(handle_signals=False)
    assert 0 < res.frames <= 41
    events = _events(tmp_path / "out")  # every line parses
    assert len([e for e in events if e["type"] == "decision"]) == 2 * res.frames
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["frames"] == res.frames


@pytest.mark.parametrize("case", ["out-not-empty", "duplicate", "missing-source", "fps", "down"])
def test_bad_input_is_one_line(bundles, tmp_path, capsys, case):
    frames = _folder(tmp_path, range(1000, 1004))
    out = tmp_path / "out"
    args = ["serve", str(bundles[0]), "--source", str(frames), "--weights", W, "--out", str(out), "--quiet"]
    if case == "out-not-empty":
        out.mkdir()
        (out / "x").write_text("x")
    elif case == "duplicate":
        args.insert(2, str(bundles[0]))
    elif case == "missing-source":
        args[args.index("--source") + 1] = str(tmp_path / "nope")
    elif case == "fps":
        args += ["--fps", "0"]
    elif case == "down":
        args[args.index("--source") + 1] = f"tcp://127.0.0.1:{_port()}"
        args += ["--give-up", "1"]
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("autocrop: error:")
    hint = {"out-not-empty": "not an empty folder", "duplicate": "give each bundle once", "missing-source": "nope",
            "fps": "--fps", "down": "no stream for 1 s"}[case]
    assert hint in err[0]
    if case != "down":  # a run that started keeps its log of what happened; the others write nothing
        assert not out.exists() or case == "out-not-empty"


@pytest.mark.slow
def test_k_of_n_carries_across_batches(bundles):
    """A stream fed in uneven batches smooths as the whole sequence would (2 of the last 3 frames)."""
    from autocrop.config import Footage
    from autocrop.edge import EdgeRuntime
    from autocrop.sources import FolderSource

    rt = EdgeRuntime([load_bundle(b) for b in bundles], W)
    for b in rt.bundles:
        b.manifest["smoothing"] = {"k": 2, "n": 3}
    src = FolderSource(HIGHWAY / "input", Footage(frames=HIGHWAY / "input", start=1000, stop=1023))
    frames = [f for _, f in src.frames()]
    first = rt.stream().step(rt.maps(frames)).scores
    for j, b in enumerate(rt.bundles):  # a threshold inside this window's scores: both kinds of frame
        b.manifest["threshold"] = float(np.median(first[:, j]))
    stream = rt.stream()
    steps = [stream.step(rt.maps(frames[a:b])) for a, b in ((0, 1), (1, 3), (3, 11), (11, 24))]
    scores = np.concatenate([s.scores for s in steps])
    decisions = np.concatenate([s.decisions for s in steps])
    for j, b in enumerate(rt.bundles):
        raw = scores[:, j] >= b.threshold
        assert 0 < raw.sum() < len(raw)  # both kinds of frame, or the test proves nothing
        assert decisions[:, j].tolist() == smooth_k_of_n(raw, 2, 3).astype(bool).tolist()
