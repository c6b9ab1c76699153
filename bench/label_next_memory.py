"""Peak memory of `autocrop label-next` against footage length, this checkout against an earlier commit.

    .venv/bin/python bench/label_next_memory.py [--frames 1000,20000] [--against 52d2253] [--write BENCHMARKS.md]

The highway footage looped to N frames (bench/extract.py's symlinked loop, 120x160 input), one
frame in 50 labelled in a CSV (labels from the car query's masks), the last layer extracted once
(by a first label-next run); then the peak RSS (a fresh process each) of a cold-start
`label-next --n 50` with this checkout's code and with `--against`'s (a git worktree of that
commit, run on the same venv and cache). A cold start is label-next's whole path but the heads' votes: the embedding of every frame and k-means
over the unlabelled training frames.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from common import HIGHWAY, ROOT, write_section  # noqa: E402
from extract import _looped, _peak_rss_mb  # noqa: E402
from PIL import Image


def _query(tmp: Path, n: int) -> Path:
    data = _looped(tmp / "data", n)
    masks = sorted((data / "groundtruth").glob("*.png"))
    rows = []
    for i in range(0, n, 50):  # the car query's region (x 0-130, y 150-240): a car covers 1 % of it
        m = np.asarray(Image.open(masks[i]))[150:240, 0:130]
        rows.append(f"{i + 1},{int((m == 255).mean() >= 0.01)}\n")
    (tmp / "labels.csv").write_text("frame,label\n" + "".join(rows))
    weights = HIGHWAY.parents[1] / "weights" / "mobilenetv2_100_coral" / "model.safetensors"
    (tmp / "q.yaml").write_text(f"""name: mem
footage: {{frames: {data / 'input'}}}
labels: {{csv: {tmp / 'labels.csv'}}}
split: {{fractions: [0.5, 0.25, 0.25], blocks: 3}}
backbone:
  model: mobilenetv2_100
  kwargs: {{pad_type: same, num_classes: 1001}}
  weights: {weights}
  input_size: [120, 160]
  mean: [0.50196, 0.50196, 0.50196]
  std: [0.50196, 0.50196, 0.50196]
cache_dir: {tmp / 'cache'}
search: {{space: {ROOT / 'search_spaces' / 'default.yaml'}}}
tracking: {{dir: {tmp / 'mlruns'}}}
""")
    return tmp / "q.yaml"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", default="1000,20000", help="comma-separated footage lengths")
    ap.add_argument("--against", default="52d2253", help="the commit to compare with (its label-next, same venv and cache)")
    ap.add_argument("--write", help="replace this section of a markdown file")
    args = ap.parse_args()
    lines = ["| frames | peak RSS label-next, this checkout (MB) | peak RSS label-next, " + args.against + " (MB) |", "|---:|---:|---:|"]
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "old"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(old), args.against], check=True)
        try:
            for n in map(int, args.frames.split(",")):
                q = _query(Path(tmp) / str(n), n)
                def label_next(code: Path, out: str) -> list[str]:
                    return ["env", f"PYTHONPATH={code}", sys.executable, "-m", "autocrop.cli", "label-next", str(q), "--n", "50",
                            "--cold", "--quiet", "--no-mlflow", "--out", str(Path(tmp) / f"{n}-{out}.csv")]

                subprocess.run(label_next(ROOT, "warm"), check=True, stdout=subprocess.DEVNULL)  # extracts the last layer
                rss = [_peak_rss_mb(label_next(code, name)) for code, name in ((ROOT, "now"), (old, "old"))]
                lines.append(f"| {n:,} | {rss[0]:.0f} | {rss[1]:.0f} |")
                print(lines[-1], flush=True)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)], check=False)
    if args.write:
        write_section(ROOT / args.write, "## Peak memory of label-next vs footage length",
                      f".venv/bin/python bench/label_next_memory.py {' '.join(sys.argv[1:])}", lines)


if __name__ == "__main__":
    main()
