"""Which search strategy finds good microclassifiers fastest? Hypervolume vs trials, per sampler.

    .venv/bin/python bench/search_strategies.py [--trials 100] [--seeds 3] [--write BENCHMARKS.md]

Two highway queries (left and right lane near the camera), every sampler, several seeds, linear
heads (logistic, svm) over the default layers and crops. Prints, per query and sampler, the
hypervolume of (log cost, val FP, val FN) after 25/50/100 trials (mean ± sd over seeds) and how
many trials it needs to reach the best val FN (at val FP <= 5 %) that the paper's random sampler
reaches in all its trials. Writes docs/search_strategies.png and, with --write, a table.
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from common import ROOT, car_query  # noqa: E402

from autocrop.plots import hypervolume_history  # noqa: E402
from autocrop.samplers import SAMPLERS  # noqa: E402
from autocrop.search import run_search  # noqa: E402
from autocrop.selection import meets  # noqa: E402
from autocrop.study import trial_records  # noqa: E402
from autocrop.space import load_space  # noqa: E402

QUERIES = {
    "left lane near": [[0, 150], [130, 150], [130, 240], [0, 240]],
    "right lane near": [[140, 150], [260, 150], [260, 240], [140, 240]],
}
TARGET_FP = 0.05


def _best_fn_history(recs: list[dict]) -> np.ndarray:
    best, out = 1.0, []
    for r in sorted(recs, key=lambda r: r.number):
        if meets(r, max_fp=TARGET_FP):
            best = min(best, r.val_fn)
        out.append(best)
    return np.array(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--samplers", default=",".join(SAMPLERS))
    ap.add_argument("--write", help="replace the strategies section of this markdown file")
    args = ap.parse_args()
    torch.set_num_threads(2)
    samplers = args.samplers.split(",")
    hv: dict[tuple[str, str], np.ndarray] = {}
    fn: dict[tuple[str, str], np.ndarray] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for qname, region in QUERIES.items():
            cfg, data = car_query([f"labels.region={region}", "search.max_steps=200"])
            space = load_space(cfg.search.space)
            space.heads = {k: v for k, v in space.heads.items() if k in ("logistic", "svm")}
            for sampler in samplers:
                runs_hv, runs_fn = [], []
                for seed in range(args.seeds):
                    cfg.search.seed = seed
                    cfg.search.storage = f"sqlite:///{tmp}/{qname.replace(' ', '_')}-{sampler}-{seed}.db"
                    t = time.perf_counter()
                    study = run_search(cfg, data, space, args.trials, sampler, f"{sampler}-{seed}", tracker=None, progress=False)
                    recs = trial_records(study)
                    runs_hv.append(hypervolume_history(recs))
                    runs_fn.append(_best_fn_history(recs))
                    print(f"{qname:>16} {sampler:>7} seed {seed}: hv {runs_hv[-1][-1]:.4f}, best val FN {runs_fn[-1][-1]:.3f} "
                          f"({time.perf_counter() - t:.0f} s)", flush=True)
                hv[qname, sampler], fn[qname, sampler] = np.array(runs_hv), np.array(runs_fn)

    fig, axes = plt.subplots(1, len(QUERIES), figsize=(6 * len(QUERIES), 4), sharey=True)
    for ax, qname in zip(np.atleast_1d(axes), QUERIES, strict=True):
        for sampler in samplers:
            m, s = hv[qname, sampler].mean(0), hv[qname, sampler].std(0)
            x = np.arange(1, len(m) + 1)
            ax.plot(x, m, label=sampler)
            ax.fill_between(x, m - s, m + s, alpha=0.15)
        ax.set_title(f"{qname}: hypervolume (log cost, val FP, val FN)")
        ax.set_xlabel("trials")
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].legend()
    fig.tight_layout()
    out_png = ROOT / "docs" / "search_strategies.png"
    out_png.parent.mkdir(exist_ok=True)
    fig.savefig(out_png, dpi=100)

    n = args.trials
    marks = [m for m in (25, 50, 100) if m <= n]
    rows = ["| query | sampler | " + " | ".join(f"HV @{m}" for m in marks) + " | best val FN @ FP<=5% | trials to reach paper@"
            f"{n} (per seed) |", "|---|---|" + "---:|" * (len(marks) + 2)]
    for qname in QUERIES:
        ref = fn[qname, "paper"][:, -1].mean() if ("paper" in samplers) else None
        for sampler in samplers:
            h, f = hv[qname, sampler], fn[qname, sampler]
            reach = []
            for run in f:
                hit = np.flatnonzero(run <= ref + 1e-9) if ref is not None else []
                reach.append(str(int(hit[0]) + 1) if len(hit) else f">{n}")
            cells = " | ".join(f"{h[:, m - 1].mean():.4f} ± {h[:, m - 1].std():.4f}" for m in marks)
            rows.append(f"| {qname} | {sampler} | {cells} | {f[:, -1].mean():.3f} ± {f[:, -1].std():.3f} | {', '.join(reach)} |")
    table = "\n".join(rows)
    print(table)
    if args.write:
        path = ROOT / args.write
        body = path.read_text() if path.exists() else "# Benchmarks\n"
        section = (f"## Search strategies (issue 3)\n\n`.venv/bin/python bench/search_strategies.py --trials {n} --seeds {args.seeds} "
                   f"--write {args.write}`; linear heads, default layers and crop ranges, {args.seeds} seeds; the paper's reference is "
                   f"the mean over seeds of its best val FN (val FP <= 5 %) after {n} trials.\n\n"
                   f"![hypervolume vs trials](docs/search_strategies.png)\n\n{table}\n")
        pattern = re.compile(r"## Search strategies.*?(?=\n## |\Z)", re.S)
        body = pattern.sub(section, body) if pattern.search(body) else body.rstrip() + "\n\n" + section
        path.write_text(body)


if __name__ == "__main__":
    main()
