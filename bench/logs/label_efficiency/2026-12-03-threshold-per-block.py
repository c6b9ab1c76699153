"""Where label-next's few-label picks on the bundled query lose to random frames' (2026-12-03):
rebuild label-next's labelled sets for one seed as bench/label_efficiency.py does (cold start, one
batch per count), search, and for the counts asked show the pick's operating point per validation
time block: the labelled frames, the estimated negatives and false positives at the threshold
(unlabelled frames counted by their Platt probability), what the target and reserve allow, the
true FP; then the threshold every validation label would give, and the Platt fit against the truth.

    AUTOCROP_SHARED=../shared .venv/bin/python bench/logs/label_efficiency/2026-12-03-threshold-per-block.py 8 24,32,48,64,96 48,96
"""
import importlib.util, sys, tempfile
from pathlib import Path
import numpy as np
sys.path.insert(0, "bench")
spec = importlib.util.spec_from_file_location("le", "bench/label_efficiency.py")
le = importlib.util.module_from_spec(spec); sys.modules["le"] = le; spec.loader.exec_module(le)
import torch
from autocrop.evaluation import Evaluator
from autocrop.label_next import next_batch
from autocrop.metrics import class_probability, choose_threshold
seed = int(sys.argv[1]); counts = [int(c) for c in sys.argv[2].split(",")]; show = set(int(c) for c in sys.argv[3].split(","))
sim = le.Sim(Path("conf/car.yaml"), 16, Path(tempfile.mkdtemp()))
op = sim.cfg.search.operating_point
rng = np.random.default_rng(seed); sim.cfg.search.seed = seed
cold = next_batch(sim.data(np.array([], int)), counts[0], "", seed, cold=True, progress=False)
known = sim.until_trainable(np.array([p.row for p in cold.proposals]), rng)
full = sim.full
val = full.splits["val"]; vb = full.blocks["val"]
for i, c in enumerate(counts):
    data = sim.data(known)
    study, r = sim.search(data)
    if c in show:
        pick = sim.pick
        out = Evaluator(data, data.cfg).retrain_all([pick])[0]
        with torch.no_grad():
            s = out.head(torch.from_numpy(pick.input.gather_windows(full.store, val))[None])[0].numpy()
            st = out.head(torch.from_numpy(pick.input.gather_windows(full.store, full.splits["test"]))[None])[0].numpy()
        lab = np.isin(val, known)
        y = full.y[val]
        thr = pick.metrics["threshold"]
        p = class_probability(s[lab], y[lab], s[~lab])
        print(f"== {c} labels: pick {pick.number} {pick.input.layer if hasattr(pick.input,'layer') else ''} test FN {r['test_fn']:.3f} FP {r['test_fp']:.3f} thr {thr:.3f}")
        yt = full.y[full.splits["test"]]
        for b in np.unique(vb):
            m = vb == b
            L, U = m & lab, m & ~lab
            negs = np.sort(s[L & (y == 0)])[::-1][:4]
            poss = np.sort(s[L & (y == 1)])[:4]
            w = 1 - p[U[~lab]]
            su = s[U]
            n_est = (L & (y == 0)).sum() + w.sum()
            fp_est = (s[L & (y == 0)] >= thr).sum() + w[su >= thr].sum()
            true_fp = ((s[m & (y == 0)] >= thr).sum(), (m & (y == 0)).sum())
            print(f"  block {b}: labelled neg {(L&(y==0)).sum()} pos {(L&(y==1)).sum()} unl {U.sum()}; top labelled neg {np.round(negs,2)}, low labelled pos {np.round(poss,2)}; "
                  f"est neg {n_est:.1f} est FP at thr {fp_est:.2f} allowed {op.target*n_est-op.reserve:.2f}; true FP {true_fp}")
        # the threshold with every val label, and test quantities
        thr_all = choose_threshold(s, y, op.rule, op.target, vb, op.reserve)
        print(f"  every-val thr {thr_all:.3f}; val pos scores q10/q50 {np.quantile(s[y==1],[.1,.5]).round(2)}; test FN at thr_all {((st<thr_all)&(yt==1)).sum()/(yt==1).sum():.3f}")
        print(f"  Platt on {lab.sum()} labelled val: p at thr {class_probability(s[lab], y[lab], np.array([thr]))[0]:.3f}, p at every-val thr {class_probability(s[lab], y[lab], np.array([thr_all]))[0]:.3f}; true P(pos|s>=thr_all..thr) {y[(s>=thr_all)&(s<thr)].mean() if ((s>=thr_all)&(s<thr)).any() else float('nan'):.2f} n={((s>=thr_all)&(s<thr)).sum()}")
    if i + 1 == len(counts): break
    more = counts[i + 1] - len(known)
    step = next_batch(data, more, study, seed, progress=False)
    known = np.union1d(known, [p.row for p in step.proposals])
