"""What the shared backbone buys: edge frames/s with 1..50 queries, against one model per query.

    .venv/bin/python bench/edge_scaling.py [--frames 240] [--rounds 3] [--write BENCHMARKS.md]

Queries: 50 microclassifiers trained on the bundled car query's cached features, each a different
layer x crop x head (logistic, MLP, conv; box crops on five layers; a few pooled), exported as
bundles with drift statistics (made once, kept under the cache folder).

- **shared** (`autocrop serve`'s loop): a frame folder of the highway footage at 240x320 through
  `Service`: decode, one backbone pass per frame up to the deepest layer any bundle reads, every
  head, k-of-n, drift monitors, the JSONL event log and forwarded frames written to disk.
- **one model per query**: what a black-box per-query DNN costs: for each query, the whole
  backbone (a full pass, ONNX Runtime, same engine and batch) and then its head; the frames are
  decoded once for all of them (which favours the baseline).

Rounds interleave every configuration, so the machine's noise hits each alike; the table shows
medians and the min–max of the per-round ratios. The drift statistics' share of the frame time is
measured directly (time inside the monitors over the whole serve time) at 50 queries.
Writes `docs/edge_scaling.png`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from common import HIGHWAY, ROOT, car_query, write_section  # noqa: E402

from autocrop.drift import DriftMonitor  # noqa: E402
from autocrop.edge import EdgeRuntime  # noqa: E402
from autocrop.engine import OrtEngine  # noqa: E402
from autocrop.evaluation import Evaluator, Job  # noqa: E402
from autocrop.export import load_bundle  # noqa: E402
from autocrop.inputs import InputSpec  # noqa: E402
from autocrop.release import write_outcome  # noqa: E402
from autocrop.serve import Service  # noqa: E402
from autocrop.streams import open_stream  # noqa: E402

COUNTS = (1, 5, 10, 25, 50)
LAYERS = ("blocks.6.0", "blocks.5.2", "blocks.4.2", "blocks.3.3", "blocks.2.2")  # the first query reads the deepest
HEADS = (("logistic", {"l2": 1e-3}), ("mlp", {"l2": 1e-4, "hidden": 32}), ("conv", {"l2": 1e-4, "filters": 4}))


def make_bundles(n: int) -> list[Path]:
    """n distinct queries (layer x crop x head), trained on the car query's cache and exported once."""
    cfg, data = car_query()
    root = Path(cfg.cache_dir) / "bench-edge-bundles"
    paths = [root / f"q{i:02d}" for i in range(n)]
    if all((p / "manifest.json").exists() for p in paths):
        return paths
    infos = data.backbone.layers()
    rng = np.random.default_rng(0)
    jobs = []
    for i in range(n):
        layer = LAYERS[i % len(LAYERS)]
        head, hp = HEADS[i % len(HEADS)]
        h, w = infos[layer].height, infos[layer].width
        if i % 10 == 9:  # a few whole-frame pooled queries
            inp = InputSpec(layer, (0, h, 0, w), pooled=True)
            head, hp = "logistic", {"l2": 1e-3}
        else:
            ch, cw = max(1, int(h * rng.uniform(0.15, 0.4))), max(1, int(w * rng.uniform(0.15, 0.4)))
            r0, c0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
            inp = InputSpec(layer, (r0, r0 + ch, c0, c0 + cw))
        jobs.append(Job(i, inp, (0.0, 0.0, 1.0, 1.0), head, hp, i))
    outcomes = Evaluator(data, cfg).run(jobs, keep=True)
    for p, out in zip(paths, outcomes, strict=True):
        if not p.exists():
            write_outcome(p, cfg.model_copy(update={"name": p.name}), data, out, "edge-scaling")
    return paths


def shared_fps(rt: EdgeRuntime, folder: Path, frames: int) -> tuple[float, float]:
    """(frames/s of the service, share of its time in drift monitors)."""
    spent = [0.0]
    push = DriftMonitor.push

    def timed(self, inputs, scores):
        t = time.perf_counter()
        try:
            return push(self, inputs, scores)
        finally:
            spent[0] += time.perf_counter() - t

    DriftMonitor.push = timed
    try:
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            res = Service(rt, [open_stream(0, str(folder))], Path(tmp) / "out", batch=8, progress=False).run(handle_signals=False)
            elapsed = time.perf_counter() - t
    finally:
        DriftMonitor.push = push
    assert res.frames == frames
    return frames / elapsed, spent[0] / elapsed


def per_query_fps(rt: EdgeRuntime, full: OrtEngine, images: list[np.ndarray], k: int) -> float:
    """Each of k queries runs the whole backbone, then its head (frames decoded once, batches of 8)."""
    t = time.perf_counter()
    for a in range(0, len(images), 8):
        x = rt.backbone.preprocess(images[a:a + 8]).numpy()
        for j in range(k):
            maps = full.run(x)
            b = rt.bundles[j]
            b.scores(b.input.gather(maps), rt.sessions[j])
    return len(images) / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=240)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--write", help="replace this section of a markdown file")
    args = ap.parse_args()
    torch.set_num_threads(2)
    paths = make_bundles(max(COUNTS))
    bundles = [load_bundle(p) for p in paths]
    weights = str(HIGHWAY.parents[1] / "weights" / "mobilenetv2_100_coral" / "model.safetensors")
    runtimes = {k: EdgeRuntime(bundles[:k], weights) for k in COUNTS}
    bb = runtimes[1].backbone  # the whole network, every layer a query reads as an output
    full = OrtEngine(bb, [*LAYERS, bb.layer_names[-1]], Path(car_query(extract=False)[0].cache_dir))
    src = sorted((HIGHWAY / "input").glob("*.jpg"))[999:999 + args.frames]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "frames"
        folder.mkdir()
        for f in src:
            os.symlink(f, folder / f.name)
        images = [f for _, f in open_stream(0, str(folder)).src.frames()]
        shared: dict[int, list[float]] = {k: [] for k in COUNTS}
        alone: dict[int, list[float]] = {k: [] for k in COUNTS}
        drift: list[float] = []
        shared_fps(runtimes[1], folder, len(src))  # warm up
        for r in range(args.rounds):
            for k in COUNTS:
                fps, share = shared_fps(runtimes[k], folder, len(src))
                shared[k].append(fps)
                if k == max(COUNTS):
                    drift.append(share)
                n = max(16, len(images) // k)  # fewer frames where each costs k backbones
                alone[k].append(per_query_fps(runtimes[k], full, images[:n], k))
            print(f"round {r + 1}: shared {[round(shared[k][-1], 1) for k in COUNTS]} "
                  f"per-query {[round(alone[k][-1], 2) for k in COUNTS]}", flush=True)
    one = shared[1]
    lines = ["| queries | shared backbone (frames/s) | vs 1 query (min–max) | one model per query (frames/s) | speed-up (min–max) |",
             "|---:|---:|---:|---:|---:|"]
    for k in COUNTS:
        vs_one = [s / o for s, o in zip(shared[k], one, strict=True)]
        speed = [s / a for s, a in zip(shared[k], alone[k], strict=True)]
        lines.append(f"| {k} | {statistics.median(shared[k]):.1f} | {statistics.median(vs_one):.2f} ({min(vs_one):.2f}–{max(vs_one):.2f}) "
                     f"| {statistics.median(alone[k]):.2f} | {statistics.median(speed):.1f}× ({min(speed):.1f}–{max(speed):.1f}) |")
    extra = (f"\nDrift statistics at {max(COUNTS)} queries: {100 * statistics.median(drift):.2f} % of the serve time "
             f"(rounds: {', '.join(f'{100 * d:.2f} %' for d in drift)}).\n")
    print("\n".join(lines) + extra)
    plot(shared, alone, ROOT / "docs" / "edge_scaling.png")
    if args.write:
        write_section(ROOT / args.write, "## Edge service: queries vs frames/s",
                      f".venv/bin/python bench/edge_scaling.py {' '.join(sys.argv[1:])}", lines,
                      extra + "\n![edge scaling](docs/edge_scaling.png)\n")


def plot(shared: dict[int, list[float]], alone: dict[int, list[float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ks = sorted(shared)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(ks, [statistics.median(shared[k]) for k in ks], "o-", label="autocrop serve (one backbone, k heads)")
    ax.plot(ks, [statistics.median(alone[k]) for k in ks], "s--", label="one model per query (k backbones)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(ks, [str(k) for k in ks])
    ax.set_xlabel("queries on one camera")
    ax.set_ylabel("frames/s (2 CPU cores, 240x320)")
    ax.set_title("Edge throughput vs number of queries")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
