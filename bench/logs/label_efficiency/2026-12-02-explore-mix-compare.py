"""A variant of label-next (run with `--methods proposals` from a tree with its patch) against
label-next as published (the proposals lines of the fine-grid logs): paired per (query, seed,
count past the first), per query and over all, by the search judge and the fixed input; with each
query's mean test FN per count. The bench's own log parser, means and paired test do the work.

    .venv/bin/python bench/logs/label_efficiency/2026-12-02-explore-mix-compare.py                      # from the repository root
    .venv/bin/python bench/logs/label_efficiency/2026-12-02-explore-mix-compare.py val-near-threshold   # the other screen

The argument names the variant's logs (2026-12-02-NAME-*.log); explore-mix by default: the cold
start's mix as the exploration half after a search (2026-12-02-explore-mix.patch).
"""

import sys
from pathlib import Path

sys.path.insert(0, "bench")
from label_efficiency import from_logs, mean_curve, paired  # noqa: E402

LOGS = Path("bench/logs/label_efficiency")
variant = sys.argv[1] if len(sys.argv) > 1 else "explore-mix"
published, _, _ = from_logs(sorted(LOGS.glob("2026-12-02-fine-grid-*.log")))
screened, _, _ = from_logs(sorted(LOGS.glob(f"2026-12-02-{variant}-*.log")))
# the variant's frames as "proposals", the published ones as the method it is paired with
both = {q: {"proposals": runs["proposals"], "published": published[q]["proposals"]} for q, runs in screened.items()}
for judge in ("test", "fixed"):
    for q, runs in both.items():
        print(f"{q}: " + paired({q: runs}, judge, "published"))
        for name, curves in runs.items():
            print(f"    {name:9s} " + " ".join(f"{r['labels']:.0f}:{r[f'{judge}_fn']:.3f}" for r in mean_curve(curves)[1:]))
    print("ALL: " + paired(both, judge, "published"))
