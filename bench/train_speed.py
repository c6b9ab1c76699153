"""Trials per minute on cached features: batched Lightning runs vs one Trainer per trial vs scikit-learn.

    .venv/bin/python bench/train_speed.py [--trials 48] [--batch 8]

Workloads on the car query (1231 highway frames, threshold on val, test metrics):
  sampled: the crops a search really trains: layer x crop drawn by the paper's sampler;
  region:  one large crop (the query region on blocks.3.3, 3456 inputs), trials differ in L2.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import optuna
import torch
from common import REGION, car_query
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from autocrop.crops import Crop
from autocrop.samplers import make_sampler
from autocrop.evaluation import Evaluator
from autocrop.space import TrialSpec, load_space, suggest


def _sampled_specs(space, kind: str, n: int) -> list[TrialSpec]:
    study = optuna.create_study(directions=["minimize"] * 3, sampler=make_sampler("paper", 0))
    specs = []
    for _ in range(n):
        t = study.ask()
        spec = suggest(t, space)
        specs.append(TrialSpec(spec.layer, spec.crop, kind, {"l2": 10 ** -np.random.uniform(1, 5), **({"hidden": 200} if kind == "mlp" else {})}))
        study.tell(t, [0, 0, 0])
    return specs


def _rate(n: int, seconds: float) -> float:
    return n / seconds * 60


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=48)
    ap.add_argument("--batch", type=int, default=8)
    args = ap.parse_args()
    torch.set_num_threads(2)
    cfg, data = car_query()
    ev = Evaluator(data, cfg)
    space = load_space(cfg.search.space)
    region = Crop.from_pixels(REGION, 320, 240)
    print(f"{len(data.ids)} frames; <= {cfg.search.max_steps} full-batch Adam steps, patience {cfg.search.patience}; "
          f"{args.trials} trials per row; torch threads {torch.get_num_threads()}")
    print(f"{'workload':>8} {'head':>9} {'batched':>9} {'1 Trainer/trial':>16} {'sklearn loop':>13}  (trials/min)")
    for workload in ("sampled", "region"):
        for kind in ("logistic", "svm", "mlp"):
            if workload == "sampled":
                specs = _sampled_specs(space, kind, args.trials)
            else:
                specs = [TrialSpec("blocks.3.3", region, kind, {"l2": float(l2), **({"hidden": 200} if kind == "mlp" else {})})
                         for l2 in np.logspace(-5, -1, args.trials)]
            jobs = [ev.job(spec, i) for i, spec in enumerate(specs)]
            ev.run(jobs[:2])  # warm caches
            t = time.perf_counter()
            for i in range(0, len(jobs), args.batch):
                ev.run(jobs[i : i + args.batch])
            batched = _rate(len(specs), time.perf_counter() - t)
            t = time.perf_counter()
            for job in jobs:
                ev.run([job])
            alone = _rate(len(specs), time.perf_counter() - t)
            ref = ""
            if kind == "logistic":
                t = time.perf_counter()
                for job, spec in zip(jobs, specs, strict=True):
                    x = ev.inputs(job.input)
                    xtr = StandardScaler().fit_transform(x["train"])
                    LogisticRegression(C=1 / (spec.hparams["l2"] * len(xtr)), class_weight="balanced", max_iter=300).fit(xtr, ev.ys["train"])
                ref = f"{_rate(len(specs), time.perf_counter() - t):13.1f}"
            print(f"{workload:>8} {kind:>9} {batched:9.1f} {alone:16.1f} {ref:>13}", flush=True)


if __name__ == "__main__":
    main()
