"""End-to-end extraction speed of each engine against the bare ONNX Runtime model, in one run.

    .venv/bin/python bench/extract.py [--frames 480] [--rounds 3] [--write BENCHMARKS.md]

On the highway footage, for each input size (native 240x320, and 224x224): the bare ONNX Runtime
model (the same truncated graph, same batch) on pre-decoded, preprocessed tensors in memory as the
reference; then `FeatureStore.extract` end to end (decode + preprocess + inference + float16
memory-mapped cache write) with the `onnxruntime` and the `torch` engine. Rounds interleave the
three, so machine noise hits each alike; the ratio is computed within each round.

    .venv/bin/python bench/extract.py --rss 1000,20000

Peak RSS (a fresh process each) of `autocrop extract` and of a 10-trial `autocrop search` on the
footage looped to N frames (symlinked frames and masks, 120x160 input to keep the disk small).
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from common import HIGHWAY, ROOT, car_query, write_section  # noqa: E402

from autocrop.engine import OrtEngine  # noqa: E402
from autocrop.features import FeatureStore  # noqa: E402
from autocrop.pipeline import batched_frames  # noqa: E402
from autocrop.space import load_space  # noqa: E402


def _throughput(frames: int, seconds: float) -> float:
    return frames / seconds


def speed(args: argparse.Namespace) -> list[str]:
    lines = ["| input | engine | frames/s (median of rounds) | ratio to bare ORT (median, min–max) |", "|---|---|---:|---:|"]
    for size in args.sizes.split(","):
        h, w = map(int, size.split("x"))
        with tempfile.TemporaryDirectory() as tmp:
            cfg, data = car_query([f"backbone.input_size=[{h},{w}]", f"cache_dir={tmp}"], extract=False)
            layers = [*load_space(cfg.search.space).layers, data.backbone.layer_names[-1]]
            ids = data.source.ids[: args.frames]
            ref = OrtEngine(data.backbone, layers, Path(tmp))
            batches = [data.backbone.preprocess(f).numpy() for _, f in batched_frames(data.source, ids, cfg.backbone.batch_size or 16)]
            ref.run(batches[0])  # warm up
            rates: dict[str, list[float]] = {"bare ORT (pre-decoded)": [], "onnxruntime": [], "torch": []}
            for engine in ("onnxruntime", "torch"):  # untimed: a new engine export, warm caches
                cfg.backbone.engine = engine
                store = FeatureStore(Path(tmp), data.backbone, data.source, ids[:32])
                store.extract(layers, progress=False)
                shutil.rmtree(store.dir)
            for _ in range(args.rounds):
                t = time.perf_counter()
                for b in batches:
                    ref.run(b)
                rates["bare ORT (pre-decoded)"].append(_throughput(len(ids), time.perf_counter() - t))
                for engine in ("onnxruntime", "torch"):
                    cfg.backbone.engine = engine
                    store = FeatureStore(Path(tmp), data.backbone, data.source, ids)
                    t = time.perf_counter()
                    store.extract(layers, progress=False)
                    rates[engine].append(_throughput(len(ids), time.perf_counter() - t))
                    shutil.rmtree(store.dir)
                print({k: [round(v, 1) for v in vs] for k, vs in rates.items()}, flush=True)
            base = rates["bare ORT (pre-decoded)"]
            for name, vs in rates.items():
                ratio = [v / b for v, b in zip(vs, base, strict=True)]
                spread = f"{statistics.median(ratio):.2f} ({min(ratio):.2f}–{max(ratio):.2f})"
                lines.append(f"| {h}x{w} | {name} | {statistics.median(vs):.1f} | {spread} |")
                print(lines[-1], flush=True)
    return lines


def _looped(tmp: Path, n: int) -> Path:
    """A folder of n frames (and masks) symlinked from the highway footage in a loop."""
    src = sorted((HIGHWAY / "input").glob("*.jpg"))[469:]
    gts = {p.stem[2:]: p for p in (HIGHWAY / "groundtruth").glob("*.png")}
    (tmp / "input").mkdir(parents=True)
    (tmp / "groundtruth").mkdir()
    for i in range(n):
        f = src[i % len(src)]
        (tmp / "input" / f"in{i + 1:06d}.jpg").symlink_to(f)
        (tmp / "groundtruth" / f"gt{i + 1:06d}.png").symlink_to(gts[f.stem[2:]])
    (tmp / "temporalROI.txt").write_text(f"1 {n}\n")
    return tmp


def _peak_rss_mb(cmd: list[str]) -> float:
    out = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{out.stderr[-2000:]}")
    return int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr).group(1)) / 1024


def rss(args: argparse.Namespace) -> list[str]:
    lines = ["| frames | peak RSS extract (MB) | peak RSS 10-trial search (MB) |", "|---:|---:|---:|"]
    for n in map(int, args.rss.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            data = _looped(Path(tmp) / "data", n)
            cfg = (ROOT / "conf" / "car.yaml").read_text()
            cfg = cfg.replace("${AUTOCROP_SHARED:-../../shared}/data/cdnet2014-highway", str(data)).replace("[240, 320]", "[120, 160]")
            cfg = re.sub(r"space: .*", f"space: {ROOT / 'search_spaces' / 'default.yaml'}", cfg)
            cfg = cfg.replace("${AUTOCROP_SHARED:-../../shared}", str(HIGHWAY.parents[1]))
            path = Path(tmp) / "q.yaml"
            path.write_text(cfg)
            common = ["--set", f"cache_dir={tmp}/cache", "--set", f"tracking.dir={tmp}/mlruns"]
            exe = str(Path(sys.executable).with_name("autocrop"))
            ext = _peak_rss_mb([exe, "extract", str(path), "--quiet", *common])
            sea = _peak_rss_mb([exe, "search", str(path), "--quiet", "--no-mlflow", "--trials", "10", *common])
            lines.append(f"| {n:,} | {ext:.0f} | {sea:.0f} |")
            print(lines[-1], flush=True)
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=480)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--sizes", default="240x320,224x224")
    ap.add_argument("--rss", help="comma-separated frame counts for the peak-RSS runs instead of the speed runs")
    ap.add_argument("--write", help="replace this section of a markdown file")
    args = ap.parse_args()
    torch.set_num_threads(2)
    lines = rss(args) if args.rss else speed(args)
    if args.write:
        title = "## Peak memory vs footage length" if args.rss else "## Extraction speed (backbone engine)"
        write_section(ROOT / args.write, title, f".venv/bin/python bench/extract.py {' '.join(sys.argv[1:])}", lines)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
