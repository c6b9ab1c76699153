"""Why the every-label pick, trained again on label-next's labels, can do much worse on test than on
random frames' (far-band, 2026-12-03): for one query and seed, rebuild both methods' labelled sets as
bench/label_efficiency.py does (`--start own`), and at the counts asked train the every-label pick on
them; print the class mix of the labels, its AUC on validation, test and the whole training block,
its threshold and test rates, and the threshold every validation label would give.

    AUTOCROP_SHARED=../shared .venv/bin/python bench/logs/label_efficiency/2026-12-03-fixed-input-labels.py far-band 0 24,32,48,64,96,128 48,96,128
"""
import importlib.util, sys, tempfile
from pathlib import Path
import numpy as np
sys.path.insert(0, "bench")
spec = importlib.util.spec_from_file_location("le", "bench/label_efficiency.py")
le = importlib.util.module_from_spec(spec); sys.modules["le"] = le; spec.loader.exec_module(le)
import torch
from sklearn.metrics import roc_auc_score
from autocrop.evaluation import Evaluator
from autocrop.label_next import next_batch
from autocrop.metrics import choose_threshold
q, seed = sys.argv[1], int(sys.argv[2]); counts = [int(c) for c in sys.argv[3].split(",")]; show = set(int(c) for c in sys.argv[4].split(","))
sim = le.Sim(Path(f"bench/queries/{q}.yaml") if q != "car" else Path("conf/car.yaml"), 16, Path(tempfile.mkdtemp()))
op = sim.cfg.search.operating_point
sim.cfg.search.seed = 0
_, refr = sim.search(sim.data(sim.pickable)); ref = sim.pick
print("ref", ref.number, ref.input, ref.hparams, refr["test_fn"])
full = sim.full; val, test, train = full.splits["val"], full.splits["test"], full.splits["train"]
def judge(known, tag, c):
    data = sim.data(known)
    out = Evaluator(data, data.cfg).retrain_all([ref])[0]
    with torch.no_grad():
        sc = {k: out.head(torch.from_numpy(ref.input.gather_windows(full.store, rows))[None])[0].numpy() for k, rows in (("val", val), ("test", test), ("train", train))}
    m = out.record.metrics; thr = m["threshold"]
    yv, yt = full.y[val], full.y[test]
    thr_all = choose_threshold(sc["val"], yv, op.rule, op.target, full.blocks["val"], op.reserve)
    fn_all = ((sc["test"] < thr_all) & (yt == 1)).sum() / (yt == 1).sum(); fp_all = ((sc["test"] >= thr_all) & (yt == 0)).sum() / (yt == 0).sum()
    kt = np.intersect1d(known, train); kv = np.intersect1d(known, val)
    print(f"{tag:9s} {c:4d}: train labelled {len(kt)} ({int(full.y[kt].sum())} pos), val labelled {len(kv)} ({int(full.y[kv].sum())} pos); "
          f"AUC val {roc_auc_score(yv, sc['val']):.4f} test {roc_auc_score(yt, sc['test']):.4f} train(all) {roc_auc_score(full.y[train], sc['train']):.4f}; "
          f"thr {thr:.2f} test FN {m['test_fn']:.3f} FP {m['test_fp']:.3f}; every-val thr {thr_all:.2f} FN {fn_all:.3f} FP {fp_all:.3f}", flush=True)
for meth in ("proposals", "random"):
    rng = np.random.default_rng(seed); sim.cfg.search.seed = seed
    cold = next_batch(sim.data(np.array([], int)), counts[0], "", seed, cold=True, progress=False)
    start = sim.until_trainable(np.array([p.row for p in cold.proposals]), rng)
    if meth == "random":
        start = sim.until_trainable(rng.choice(sim.pickable, counts[0], replace=False), rng)
    known = start.copy()
    for i, c in enumerate(counts):
        data = sim.data(known)
        study, r = sim.search(data)
        if c in show:
            judge(known, meth, c)
        if i + 1 == len(counts): break
        more = counts[i + 1] - len(known)
        if meth == "proposals":
            step = next_batch(data, more, study, seed, progress=False)
            known = np.union1d(known, [p.row for p in step.proposals])
        elif more > 0:
            known = np.union1d(known, rng.choice(np.setdiff1d(sim.pickable, known), more, replace=False))
