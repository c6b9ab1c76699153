"""Table 3 of the paper, on real footage: every registered head on one crop, val/test FP/FN and cost.

    .venv/bin/python bench/heads_table.py [--layer blocks.4.2] [--write BENCHMARKS.md]

The crop is the car query's region (what a good search converges to); the pooled final layer
(the transfer-learning baseline) is shown for each head too. Each head gets a small L2 grid and
keeps the value with the lowest val FN at val FP <= 5 %.
"""

from __future__ import annotations

import argparse
import re

import torch
from common import REGION, ROOT, car_query

from autocrop.crops import Crop
from autocrop.heads import HEADS
from autocrop.defaults import BASELINE_L2
from autocrop.evaluation import Evaluator
from autocrop.selection import best_of
from autocrop.space import TrialSpec

HP = {"mlp": {"hidden": 200}, "conv": {"filters": 8}, "temporal": {"window": 5, "hidden": 16}, "knn": {"k": 5}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layer", default="blocks.4.2")
    ap.add_argument("--write", help="replace the heads section of this markdown file")
    args = ap.parse_args()
    torch.set_num_threads(2)
    cfg, data = car_query()
    ev = Evaluator(data, cfg)
    target = cfg.search.operating_point.target
    region = Crop.from_pixels(REGION, 320, 240)
    lines = ["| input | head | MACs | val FP | val FN | test FP | test FN | test event recall (2-of-3) |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for pooled, layer, crop in ((False, args.layer, region), (True, data.backbone.layer_names[-1], region)):
        for kind in sorted(HEADS):
            l2s = (None,) if kind == "knn" else BASELINE_L2
            specs = [TrialSpec(layer, crop, kind, {**HP.get(kind, {}), **({} if l2 is None else {"l2": l2})}, pooled=pooled) for l2 in l2s]
            ev.cfg.search.smoothing.k, ev.cfg.search.smoothing.n = 2, 3
            r = best_of([o.record for o in ev.run([ev.job(s, 0) for s in specs])], target)
            where = f"pooled `{layer}`" if pooled else f"`{layer}` crop {list(r.input.cells)}"
            lines.append(f"| {where} | {kind} | {r.cost_madds:,} | {r.val_fp:.3f} | {r.val_fn:.3f} | "
                         f"{r.test_fp:.3f} | {r.test_fn:.3f} | {r.metrics['test_event_recall']:.2f} |")
            print(lines[-1], flush=True)
    if args.write:
        path = ROOT / args.write
        body = path.read_text() if path.exists() else "# Benchmarks\n"
        section = ("## Heads on one crop (paper Table 3)\n\n`.venv/bin/python bench/heads_table.py --write BENCHMARKS.md`; "
                   f"car query, threshold at val FP <= {target:.0%}, 1231 frames in 3 train|val|test cycles.\n\n" + "\n".join(lines) + "\n")
        pattern = re.compile(r"## Heads on one crop.*?(?=\n## |\Z)", re.S)
        body = pattern.sub(section, body) if pattern.search(body) else body.rstrip() + "\n\n" + section
        path.write_text(body)


if __name__ == "__main__":
    main()
