"""Diagnostics of the few-label searches of bench/label_efficiency.py (car-left-near, 2026-12-03).

    AUTOCROP_SHARED=../shared .venv/bin/python bench/logs/label_efficiency/2026-12-03-few-label-searches.py inputs car 0,1,2,3,4 32,48,64,96
    AUTOCROP_SHARED=../shared .venv/bin/python bench/logs/label_efficiency/2026-12-03-few-label-searches.py l2 car 0,1,2,3,4 32,48,64,96
    AUTOCROP_SHARED=../shared .venv/bin/python bench/logs/label_efficiency/2026-12-03-few-label-searches.py swap car 0,1,2,3,4 12,16,24,32,48,64

Label sets follow the bench (label-next's cold start and one batch per count, or random frames
from their own start), with the first count as the start. After each search:
- `inputs`: every trial's input and head retrained on every label: is the shortfall the inputs
  the search proposes, or what the few labels teach the heads on them?
- `l2`: the same 16 trials retrained on the few labels with other L2 weights, and the pick by
  the search's rule among them.
- `agree`: picks that weigh how far each trial agrees with the others on the unlabelled frames,
  and the cheapest (smallest input) trial within one validation FN of the best.
- `roi`: the query region's cells on each layer (label-free), trained on the few labels.
- `swap`: each trial also trained on the validation labels and scored on the training ones (the
  two blocks' roles swapped, 2026-12-03), and picks that weigh both folds.
- `refit`: the pick's head trained again on the training and validation labels together, its
  threshold the score that flags as many frames of the validation block as the pick does.
- `ensemble`: no single pick: the mean of the top k trials' scores by the search's rule (each
  trial's scores standardised on its validation block, labelled or not), thresholded by the
  search's own operating-point rule (2026-12-03, fifth run).

    AUTOCROP_SHARED=../shared .venv/bin/python bench/logs/label_efficiency/2026-12-03-few-label-searches.py ensemble car 0,1,2,3,4 12,16,24,32,48,64
"""
import importlib.util
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, "bench")
spec = importlib.util.spec_from_file_location("le", "bench/label_efficiency.py")
le = importlib.util.module_from_spec(spec)
sys.modules["le"] = le
spec.loader.exec_module(le)
from autocrop.evaluation import Evaluator  # noqa: E402
from autocrop.label_next import next_batch  # noqa: E402
from autocrop.selection import best_of  # noqa: E402

mode, query = sys.argv[1], sys.argv[2]
seeds, counts = [int(s) for s in sys.argv[3].split(",")], [int(c) for c in sys.argv[4].split(",")]
L2 = [1e-3, 1e-2, 3e-2, 1e-1]
sim = le.Sim(Path(f"bench/queries/{query}.yaml") if query != "car" else Path("conf/car.yaml"), 16, Path(tempfile.mkdtemp()))
op = sim.cfg.search.operating_point
sim.cfg.search.seed = 0
_, ref = sim.search(sim.data(sim.pickable))
print("every label test FN", round(ref["test_fn"], 3), "pick", sim.pick.number, sim.pick.hparams, flush=True)
ev_full = Evaluator(sim.data(sim.pickable), sim.cfg)


def best_fn(recs) -> float:
    ok = [r for r in recs if r.test_fp <= op.target + le.FP_SLACK] or recs
    return min(r.test_fn for r in ok)


def agree(data, recs, r: dict) -> str:
    """Picks that also weigh how far each trial's scores on the unlabelled frames agree with the
    other trials' (Spearman with the mean rank): a label-free vote on which inputs generalise."""
    import torch
    from scipy.stats import rankdata, spearmanr

    from autocrop.defaults import RATE_TOL

    pool = np.sort(np.r_[data.pool["train"], data.pool["val"]])
    outs = Evaluator(data, data.cfg).retrain_all(recs)
    with torch.no_grad():
        s = np.stack([o.head(torch.from_numpy(x.input.gather_windows(sim.full.store, pool))[None])[0].numpy()
                      for o, x in zip(outs, recs, strict=True)])
    ranks = np.stack([rankdata(v) for v in s])
    score = np.array([spearmanr(ranks[j], np.delete(ranks, j, 0).mean(0))[0] for j in range(len(recs))])
    ok = [j for j, x in enumerate(recs) if x.val_fp <= op.target + RATE_TOL] or list(range(len(recs)))
    best_fn_val = min(recs[j].val_fn for j in ok)
    a = max(ok, key=lambda j: score[j])
    b = max((j for j in ok if recs[j].val_fn <= best_fn_val + RATE_TOL), key=lambda j: score[j])
    pos = max(int((data.y[data.splits["val"]] == 1).sum()), 1)
    near = [j for j in ok if recs[j].val_fn <= best_fn_val + 1 / pos + RATE_TOL]
    c = max(near, key=lambda j: score[j])
    d = min(near, key=lambda j: (recs[j].cost_madds, recs[j].val_fn))  # Occam: the smallest input within one val FN
    return (f"search pick FN {r['test_fn']:.3f} FP {r['test_fp']:.3f} | agree FN {recs[a].test_fn:.3f} FP {recs[a].test_fp:.3f} | "
            f"ties by agreement FN {recs[b].test_fn:.3f} FP {recs[b].test_fp:.3f} | within one val FN FN {recs[c].test_fn:.3f} FP {recs[c].test_fp:.3f} | "
            f"within one val FN, cheapest FN {recs[d].test_fn:.3f} FP {recs[d].test_fp:.3f} | best trial FN {best_fn(recs):.3f}")


def roi(data, recs, r: dict) -> str:
    """The query region's cells on each layer (the `rf` sampler's targets: no label needed), one
    logistic head each, trained on the few labels: each layer's test FN, the search's rule among
    these 5 alone, and among them plus the search's 16 trials."""
    from autocrop.crops import Crop
    from autocrop.samplers import rf_context
    from autocrop.space import TrialSpec

    ev = Evaluator(data, data.cfg)
    targets = rf_context(data.cfg, data, sim.space)["targets"]
    jobs = [ev.job(TrialSpec(layer, Crop.from_center(t["crop_cx"], t["crop_cy"], t["crop_w"], t["crop_h"]), "logistic", {"l2": 1e-3}), 1000 + i)
            for i, (layer, t) in enumerate(targets.items())]
    rois = [o.record for o in ev.run(jobs)]
    a, b = best_of(rois, op.target, op.rule), best_of([*rois, *recs], op.target, op.rule)
    layers = " ".join(f"{x.layer} {x.test_fn:.3f}" for x in rois)
    return (f"search pick FN {r['test_fn']:.3f} FP {r['test_fp']:.3f} | ROI pick FN {a.test_fn:.3f} FP {a.test_fp:.3f} | "
            f"ROI + search pick FN {b.test_fn:.3f} FP {b.test_fp:.3f} | ROI crops: {layers}")


def swap(data, recs, r: dict) -> str:
    """Each trial trained again with the two labelled blocks' roles swapped (trained on the
    validation labels, thresholded and scored on the training ones), and picks by both folds:
    - swap: the search's rule on the swapped fold alone;
    - mean FN: the lowest mean val FN of both folds among trials meeting the FP target on both
      (else on the search's fold);
    - errors: the fewest validation FN frames of both folds together, same FP condition;
    - AUC: the highest mean val AUC of both folds among trials meeting the search's FP target."""
    from autocrop.defaults import RATE_TOL

    flip = {"train": "val", "val": "train", "test": "test"}
    sw = replace(data, splits={s: data.splits[flip[s]] for s in data.splits},
                 blocks={s: data.blocks[flip[s]] for s in data.blocks} if data.blocks else None,
                 pool={s: data.pool[flip[s]] for s in data.pool} if data.pool is not None else None)
    other = {x.number: x for x in (o.record for o in Evaluator(sw, data.cfg).retrain_all(recs))}
    t = op.target + RATE_TOL
    n_val, n_tr = (max(int((data.y[data.splits[s]] == 1).sum()), 1) for s in ("val", "train"))
    ok1 = [x for x in recs if x.val_fp <= t] or recs
    ok2 = [x for x in ok1 if other[x.number].val_fp <= t] or ok1
    pick_swap = next(x for x in recs if x.number == best_of(list(other.values()), op.target, op.rule).number)
    mean_fn = min(ok2, key=lambda x: ((x.val_fn + other[x.number].val_fn) / 2, x.val_fp + other[x.number].val_fp, x.cost_madds))
    errs = min(ok2, key=lambda x: (x.val_fn * n_val + other[x.number].val_fn * n_tr, x.val_fp + other[x.number].val_fp, x.cost_madds))

    def auc(x):
        a, b = x.metrics.get("val_auc", np.nan), other[x.number].metrics.get("val_auc", np.nan)
        return np.nanmean([a, b]) if not (np.isnan(a) and np.isnan(b)) else 0.0
    best_auc = max(ok1, key=lambda x: (auc(x), -x.cost_madds))

    def f(x):
        return f"FN {x.test_fn:.3f} FP {x.test_fp:.3f}"
    return (f"search pick {f(sim.pick)} | swap {f(pick_swap)} | mean FN {f(mean_fn)} | errors {f(errs)} | AUC {f(best_auc)} | "
            f"best trial FN {best_fn(recs):.3f}")


def refit(data, recs, r: dict) -> str:
    """The search's pick, its input and head trained again on the labels of both blocks (the
    validation labels then teach, not only threshold). Its threshold cannot come from validation
    labels it trained on, so it is mapped: the score that flags the same share of the validation
    block's frames (labelled or not) as the pick flags at its own threshold. Also the refit head at
    the threshold its own (now trained-on) validation labels give, and the pick mapped onto itself
    (a check that the mapping keeps the pick's rates)."""
    import torch

    pick = sim.pick
    both = np.sort(np.r_[data.splits["train"], data.splits["val"]])
    joint = replace(data, splits={**data.splits, "train": both})
    val_rows = np.sort(np.r_[data.splits["val"], data.pool["val"]])
    test_rows, y_test = data.splits["test"], data.y[data.splits["test"]]

    def scores(o, rows):
        with torch.no_grad():
            return o.head(torch.from_numpy(pick.input.gather_windows(sim.full.store, rows))[None])[0].numpy()

    def judge(o, thr):
        pred = scores(o, test_rows) >= thr
        return f"FN {np.mean(~pred[y_test == 1]):.3f} FP {np.mean(pred[y_test == 0]):.3f}"

    def kth(o, k):  # the k-th highest validation-block score: the threshold that flags k frames
        return np.inf if k == 0 else float(np.sort(scores(o, val_rows))[::-1][k - 1])

    own = Evaluator(data, data.cfg).retrain_all([pick])[0]
    new = Evaluator(joint, data.cfg).retrain_all([pick])[0]
    k = int((scores(own, val_rows) >= pick.metrics["threshold"]).sum())  # the frames the pick flags
    mapped, check = kth(new, k), kth(own, k)
    return (f"search pick FN {pick.test_fn:.3f} FP {pick.test_fp:.3f} | pick mapped {judge(own, check)} | "
            f"refit mapped {judge(new, mapped)} | refit own val {judge(new, new.record.metrics['threshold'])} | flagged {k / len(val_rows):.3f}")


ENSEMBLE_K = (1, 3, 5, 8)


def ensemble(data, recs, r: dict) -> str:
    """The mean of the top k trials' standardised scores (k = 1 is the search's pick), thresholded
    by the search's rule on the validation labels, and every trial meeting the val FP target."""
    import torch

    from autocrop.metrics import evaluate
    from autocrop.selection import ranked

    ev = Evaluator(data, data.cfg)
    outs = {o.record.number: o for o in ev.retrain_all(recs)}
    rows = {**data.splits, "val_unlabelled": ev.unlabelled_val}
    block = np.sort(np.r_[data.splits["val"], ev.unlabelled_val])

    def scores(x) -> dict[str, np.ndarray]:
        with torch.no_grad():
            def f(rr):
                return outs[x.number].head(torch.from_numpy(x.input.gather_windows(data.store, rr))[None])[0].numpy().astype(np.float64)
            mu_sd = f(block)
            mu, sd = mu_sd.mean(), mu_sd.std() or 1.0
            return {s: (f(rr) - mu) / sd for s, rr in rows.items() if len(rr)}

    order = ranked(recs, op.target, op.rule) or sorted(recs, key=lambda x: (x.val_fp + x.val_fn, x.cost_madds))
    ok = ranked(recs, op.target, op.rule)
    val_blocks = data.blocks["val"] if op.per_block and data.blocks else None
    smoothing = (data.cfg.search.smoothing.k, data.cfg.search.smoothing.n)
    cache = {}

    def judge(group) -> str:
        if not group:
            return "FN nan FP nan"
        for x in group:
            if x.number not in cache:
                cache[x.number] = scores(x)
        mean = {s: np.mean([cache[x.number][s] for x in group], axis=0) for s in cache[group[0].number]}
        m = evaluate(mean, data.ys(), op.rule, op.target, smoothing, val_blocks, op.reserve, ev.unlabelled_blocks)
        return f"FN {m['test_fn']:.3f} FP {m['test_fp']:.3f}"
    parts = [f"search pick FN {sim.pick.test_fn:.3f} FP {sim.pick.test_fp:.3f}"]
    parts += [f"top {k} {judge(order[:k])}" for k in ENSEMBLE_K]
    parts.append(f"all ok ({len(ok)}) {judge(ok)}")
    return " | ".join(parts) + f" | best trial FN {best_fn(recs):.3f}"


def report(m: str, seed: int, data, r: dict) -> str:
    recs = list(sim.records)
    head = f"RES {query} seed {seed} {m:>9} {r['labels']:4d}: "
    if mode == "inputs":
        every = [o.record for o in ev_full.retrain_all(recs)]
        at = next(j for j, x in enumerate(recs) if x.number == sim.pick.number)
        return head + (f"pick few {r['test_fn']:.3f} | pick's input on all labels {every[at].test_fn:.3f} | best trial few {best_fn(recs):.3f} | "
                       f"best input on all labels {best_fn(every):.3f} | median input on all {np.median([x.test_fn for x in every]):.3f}")
    if mode == "agree":
        return head + agree(data, recs, r)
    if mode == "roi":
        return head + roi(data, recs, r)
    if mode == "swap":
        return head + swap(data, recs, r)
    if mode == "refit":
        return head + refit(data, recs, r)
    if mode == "ensemble":
        return head + ensemble(data, recs, r)
    parts = [head + f"search pick FN {r['test_fn']:.3f} FP {r['test_fp']:.3f}"]
    ev = Evaluator(data, data.cfg)
    for l2 in L2:
        p = best_of([o.record for o in ev.retrain_all([replace(x, hparams={**x.hparams, "l2": l2}) for x in recs])], op.target, op.rule)
        parts.append(f"l2 {l2:g}: FN {p.test_fn:.3f} FP {p.test_fp:.3f}")
    return " | ".join(parts)


for seed in seeds:
    rng = np.random.default_rng(seed)
    sim.cfg.search.seed = seed
    cold = next_batch(sim.data(np.array([], int)), counts[0], "", seed, cold=True, progress=False)
    known = {"proposals": sim.until_trainable(np.array([p.row for p in cold.proposals]), rng),
             "random": sim.until_trainable(rng.choice(sim.pickable, counts[0], replace=False), rng)}
    for i, count in enumerate(counts):
        for m in ("proposals", "random"):
            data = sim.data(known[m])
            study, r = sim.search(data)
            print(report(m, seed, data, r), flush=True)
            more = counts[i + 1] - len(known[m]) if i + 1 < len(counts) else 0
            if m == "proposals" and more > 0:
                known[m] = np.union1d(known[m], [p.row for p in next_batch(data, more, study, seed, progress=False).proposals])
            elif m == "random" and more > 0:
                known[m] = np.union1d(known[m], rng.choice(np.setdiff1d(sim.pickable, known[m]), more, replace=False))
