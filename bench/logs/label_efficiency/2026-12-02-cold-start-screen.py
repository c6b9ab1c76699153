"""Cold-start variants screened at the first label count (24): the search judge and the fixed input.

    AUTOCROP_SHARED=../shared .venv/bin/python bench/logs/label_efficiency/2026-12-02-cold-start-screen.py \
        car,right-near,right-near-strict,right-mid,small-left,left-mid,far-band 5 typical,strat,half,randfit

Run from the repository root at d285de8 (log: 2026-12-02-cold-start-screen.log). Each variant
replaces label-next's cold-start training picks; validation picks stay one per time stratum:
typical: TypiClust alone (the cold start until then); strat: one random member of each of k
k-means clusters; half: half typical, half random (kept: LABEL_COLD_RANDOM); randfit: random
frames that keep the batch's rules. `random` is the bench's `--start own` random start (24 random
train + validation frames). One every-label search (seed 0) per query gives the fixed input.
"""
import sys, tempfile
from pathlib import Path
import numpy as np
sys.path.insert(0, str(Path.cwd() / "bench"))
import label_efficiency as le
from query_suite import queries
import autocrop.proposals as P
from autocrop.label_next import next_batch

orig = P._train_picks

def strat(batch, cands, k, rng):
    """one random member of each of k k-means clusters (stratified by feature cluster)."""
    from sklearn.cluster import KMeans
    z = batch.emb[cands]
    cl = KMeans(k, n_init=1, random_state=int(rng.integers(2**31))).fit_predict(z)
    start = len(batch.picks)
    for c in rng.permutation(k):
        for j in rng.permutation(np.flatnonzero(cl == c)):
            if batch.fits(int(cands[j])):
                batch.add(int(cands[j]), "train", "strat", 0.0); break
    if (rest := k - (len(batch.picks) - start)) > 0:
        P._diverse(batch, np.setdiff1d(cands, batch.rows), rest, "train", rng)

def rand(batch, cands, k, rng):
    start = len(batch.picks)
    for j in rng.permutation(len(cands)):
        if len(batch.picks) - start == k: break
        if batch.fits(int(cands[j])): batch.add(int(cands[j]), "train", "random", 0.0)

def half(batch, cands, k, rng):
    P._typical(batch, cands, k // 2, "train", rng)
    rand(batch, np.setdiff1d(cands, batch.rows), k - k // 2, rng)

VARIANTS = {"typical": lambda b, c, k, r: P._typical(b, c, k, "train", r), "strat": strat, "half": half, "randfit": rand}

def main():
    only = sys.argv[1].split(","); seeds = int(sys.argv[2]); variants = sys.argv[3].split(",") + ["random"]
    with tempfile.TemporaryDirectory() as tmp:
        for path in [p for p in queries() if p.stem in only]:
            sim = le.Sim(path, 16, Path(tmp))
            sim.cfg.search.seed = 0
            sim.search(sim.data(sim.pickable)); ref = sim.pick
            for seed in range(seeds):
                sim.cfg.search.seed = seed
                for v in variants:
                    rng = np.random.default_rng(seed)
                    if v == "random":
                        rows = rng.choice(sim.pickable, 24, replace=False)
                    else:
                        f = VARIANTS[v]
                        P._train_picks = lambda b, c, vt, k, r, f=f: f(b, c, k, r)
                        rows = np.array([p.row for p in next_batch(sim.data(np.array([], int)), 24, "", seed, cold=True, progress=False).proposals])
                        P._train_picks = orig
                    rows = sim.until_trainable(rows, rng)
                    d = sim.data(rows)
                    tr = np.isin(rows, sim.full.splits["train"])
                    npos = int((sim.full.y[rows[tr]] == 1).sum())
                    _, r = sim.search(d); r |= sim.refit(d, ref)
                    print(f"{sim.cfg.name:>18} seed {seed} {v:>8} {r['labels']:>3} labels ({tr.sum()} train, {npos} pos): test FN {r['test_fn']:.3f} FP {r['test_fp']:.3f} fixed FN {r['fixed_fn']:.3f} FP {r['fixed_fp']:.3f}", flush=True)
main()
