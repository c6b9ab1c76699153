"""Extraction on a GPU: frames/s end to end, against its parts, in one run (issue 9's GPU check).

    PYTHONPATH=. python bench/extract_cuda.py --data DIR/input --weights FILE [--frames 20000]

Needs only torch, torchvision, timm, onnxruntime, pydantic and PyYAML (no MLflow, Optuna or
PyAV), so it runs on a bare GPU machine. On the highway frames looped to `--frames` (symlinks),
for each input size, with the default search space's layers and the last layer (what `make
search` extracts):

- agreement: the CUDA engine (nvjpeg decode, float16) against ONNX Runtime on the CPU (PIL
  decode, float32) on 64 real frames, per layer: max |difference| / max |reference|;
- nvjpeg decode alone (files already in memory), batched;
- the bare engine on one pre-decoded batch already on the GPU (float16, the layers copied to
  pinned host memory): the ceiling of the pipeline;
- the pipeline without the cache write (read files, decode, normalise, engine, copy back);
- `FeatureStore.extract` end to end (the above plus the float16 cache written, hashed and synced).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autocrop.backbone import Backbone  # noqa: E402
from autocrop.config import Backbone as Spec  # noqa: E402
from autocrop.config import Footage  # noqa: E402
from autocrop.device_batches import device_batches  # noqa: E402
from autocrop.engine import OrtEngine, TorchEngine  # noqa: E402
from autocrop.features import FeatureStore  # noqa: E402
from autocrop.sources import open_source  # noqa: E402
import yaml  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _looped(frames: Path, out: Path, n: int) -> Path:
    src = sorted(frames.glob("*.jpg"))
    out.mkdir(parents=True)
    for i in range(n):
        (out / f"in{i + 1:06d}.jpg").symlink_to(src[i % len(src)].resolve())
    return out


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _rate(n: int, fn) -> tuple[float, float]:
    t = time.perf_counter()
    fn()
    dt = time.perf_counter() - t
    return n / dt, dt


def one_size(args, size: tuple[int, int], folder: Path, tmp: Path, device: torch.device) -> dict:
    spec = Spec(model="mobilenetv2_100", kwargs={"pad_type": "same", "num_classes": 1001}, weights=str(args.weights),
                input_size=size, mean=(0.50196,) * 3, std=(0.50196,) * 3, engine="torch", device=device.type,
                batch_size=args.batch)
    bb = Backbone(spec)
    layers = [*yaml.safe_load((ROOT / "search_spaces" / "default.yaml").read_text())["layers"], bb.layer_names[-1]]  # no Optuna there
    src = open_source(Footage(frames=folder))
    ids = src.ids[: args.frames]
    res: dict = {"input": f"{size[0]}x{size[1]}", "frames": len(ids), "batch": args.batch, "layers": layers}

    # agreement on real frames
    few = ids[:64]
    ref = OrtEngine(bb, layers, tmp / "engines")
    pil = [f for _, f in src.frames(few)]
    want = ref.frames(pil)
    cuda = TorchEngine(bb, layers, device.type)
    got = {n: [] for n in layers}
    for x in device_batches(src, few, 32, bb, device, torch.float16 if device.type == "cuda" else torch.float32):
        for n, m in cuda.run(x).items():
            got[n].append(m)
    same_decode = cuda.frames(pil)  # PIL decode, engine precision: separates decode from precision
    res["agreement"] = {
        n: {"max_rel": float(np.abs(np.concatenate(got[n]) - want[n]).max() / np.abs(want[n]).max()),
            "mean_rel": float(np.abs(np.concatenate(got[n]) - want[n]).mean() / np.abs(want[n]).max()),
            "max_rel_pil_decode": float(np.abs(same_decode[n] - want[n]).max() / np.abs(want[n]).max())}
        for n in layers}
    print("agreement", json.dumps(res["agreement"]), flush=True)

    # nvjpeg decode alone
    from torchvision.io import ImageReadMode, decode_jpeg

    files = [torch.from_numpy(np.fromfile(src.file(i), dtype=np.uint8)) for i in ids[: min(len(ids), 8192)]]
    decode_jpeg(files[: args.batch], mode=ImageReadMode.RGB, device=device)
    _sync(device)

    def decode_all():
        for k in range(0, len(files), args.batch):
            decode_jpeg(files[k:k + args.batch], mode=ImageReadMode.RGB, device=device)
        _sync(device)

    res["decode_fps"], _ = _rate(len(files), decode_all)

    # the bare engine: one pre-decoded batch on the device, layers copied to pinned memory
    eng = TorchEngine(bb, layers, device.type, half_outputs=True)
    x = next(device_batches(src, ids[: args.batch], args.batch, bb, device, torch.float16 if device.type == "cuda" else torch.float32))
    for _ in range(3):
        eng.run(x)
    reps = max(1, len(ids) // args.batch)

    def bare():
        for _ in range(reps):
            eng.run(x)

    res["bare_engine_fps"], _ = _rate(reps * len(x), bare)
    if device.type == "cuda":  # float32 compute: its speed, and its agreement with the CPU (same PIL decode)
        e32 = TorchEngine(bb, layers, device.type, half=False)
        f32 = e32.frames(pil)
        res["agreement_fp32_pil_decode_max_rel"] = {n: float(np.abs(f32[n] - want[n]).max() / np.abs(want[n]).max()) for n in layers}
        x32 = x.float()
        for _ in range(3):
            e32.run(x32)

        def bare32():
            for _ in range(reps):
                e32.run(x32)

        res["bare_engine_fp32_fps"], _ = _rate(reps * len(x), bare32)

    # the pipeline without the cache write
    def pipeline():
        for b in eng.batches(src, ids, args.batch):
            eng.run(b)

    res["pipeline_no_write_fps"], _ = _rate(len(ids), pipeline)

    # end to end: FeatureStore.extract (warm-up on other frames first: a cache of its own)
    cache = Path(args.cache or tmp) / "cache"
    if len(ids) > args.batch:
        FeatureStore(cache, bb, src, ids[: args.batch]).extract(layers, progress=False)
    store = FeatureStore(cache, bb, src, ids)
    res["extract_fps"], dt = _rate(len(ids), lambda: store.extract(layers, progress=False))
    assert store.damage(layers[0], verify=True) is None
    if args.sync_compare:  # the same, the disk flushed only at the end (no periodic fdatasync)
        import autocrop.layer_files as lf

        for n in layers:
            store.path(n).unlink()
        keep, lf.SYNC_BYTES = lf.SYNC_BYTES, 1 << 62
        res["extract_fps_sync_at_end"], _ = _rate(len(ids), lambda: store.extract(layers, progress=False))
        lf.SYNC_BYTES = keep
    res["cache_bytes_per_frame"] = sum(store.path(n).stat().st_size for n in layers) / len(ids)
    res["extract_seconds"] = dt
    for n in layers:
        store.path(n).unlink()
    print(json.dumps({k: v for k, v in res.items() if k != "agreement"}), flush=True)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True, help="a folder of the highway JPEG frames")
    ap.add_argument("--weights", type=Path, required=True, help="mobilenetv2_100 .safetensors")
    ap.add_argument("--frames", type=int, default=20000)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--sizes", default="240x320,224x224")
    ap.add_argument("--cache", help="where the feature cache is written (default: a temporary folder)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--sync-compare", action="store_true", help="also extract with the disk flushed only at the end")
    args = ap.parse_args()
    device = torch.device(args.device)
    info = {"torch": torch.__version__, "device": torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu",
            "cpus": len(os.sched_getaffinity(0))}
    with tempfile.NamedTemporaryFile(dir=args.cache) as f:  # what the cache's disk and one hashing thread can take
        block = np.random.default_rng(0).integers(0, 255, 64 << 20, dtype=np.uint8).tobytes()
        t = time.perf_counter()
        for _ in range(32):
            f.write(block)
        f.flush()
        os.fdatasync(f.fileno())
        info["disk_write_GBps"] = 32 * len(block) / (time.perf_counter() - t) / 1e9
        import hashlib

        h, t = hashlib.sha256(), time.perf_counter()
        for _ in range(8):
            h.update(block)
        info["sha256_GBps"] = 8 * len(block) / (time.perf_counter() - t) / 1e9
    print(json.dumps(info), flush=True)
    out = {"info": info, "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = _looped(args.data, Path(tmp) / "frames", args.frames)
        for size in args.sizes.split(","):
            h, w = map(int, size.split("x"))
            out["runs"].append(one_size(args, (h, w), folder, Path(tmp), device))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
