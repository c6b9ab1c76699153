"""The every-label search's pick on each suite query at the bench's 16 trials and at the default
budget (`search.trials`, 40 in the bundled config): does the region-first default lose anything
a user with the default budget would see? (2026-12-03)

    AUTOCROP_SHARED=../shared .venv/bin/python bench/logs/label_efficiency/2026-12-03-every-label-budgets.py car,right-near,right-mid,right-near-strict,left-mid,far-band,small-left 16,40
"""
import importlib.util
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, "bench")
spec = importlib.util.spec_from_file_location("le", "bench/label_efficiency.py")
le = importlib.util.module_from_spec(spec)
sys.modules["le"] = le
spec.loader.exec_module(le)

for q in sys.argv[1].split(","):
    for trials in (int(t) for t in sys.argv[2].split(",")):
        sim = le.Sim(Path(f"bench/queries/{q}.yaml") if q != "car" else Path("conf/car.yaml"), trials, Path(tempfile.mkdtemp()))
        sim.cfg.search.seed = 0
        _, r = sim.search(sim.data(sim.pickable))
        p = sim.pick
        print(f"{q:>18} {trials:3d} trials: test FN {r['test_fn']:.3f} FP {r['test_fp']:.3f} AUC {r['test_auc']:.4f}; pick trial {p.number}, "
              f"{p.input.layer} cells {p.input.cells} {'mask ' if p.input.mask is not None else ''}{p.head} {p.hparams}", flush=True)
