"""Two runs of bench/label_efficiency.py on the same seeds and counts, cell by cell: mean test FN per
method and count in each, and the paired difference (new - old) per method with a Wilcoxon p:
test FN of the search's pick and of the fixed input, the pick's test AUC, and its test AUC at each
query's first count alone (the cold start).

    .venv/bin/python bench/logs/label_efficiency/2026-12-03-compare-runs.py OLD.log[,OLD2.log...] NEW.log[,NEW2.log...]

A comma-separated list is one run split over several logs (e.g. seeds 0-9 and 10-19, or queries).
"""
import re, sys, collections
import numpy as np
pat = re.compile(r"^\s*(\S+) seed (\d+)\s+(proposals|random|even)\s+(\d+) labels: test FN ([\d.]+) FP ([\d.]+) AUC ([\d.]+) fixed input FN ([\d.]+)")
def load(paths):
    d = {}
    for p in paths.split(","):
        for line in open(p):
            m = pat.match(line)
            if m:
                q, s, meth, n, fn, fp, auc, ffn = m.groups()
                d[(q, int(s), meth, int(n))] = (float(fn), float(fp), float(ffn), float(auc))
    return d
a, b = load(sys.argv[1]), load(sys.argv[2])
keys = sorted(set(a) & set(b))
seeds = sorted({k[1] for k in keys})
print("cells", len(keys), "seeds", seeds)
by = collections.defaultdict(list)
for k in keys:
    by[(k[2], k[3])].append((a[k], b[k]))
print("meth  n   | old FN  new FN | old fixFN new fixFN | old FP new FP")
for (meth, n), v in sorted(by.items()):
    o = np.array([x[0] for x in v]); w = np.array([x[1] for x in v])
    print(f"{meth:9s} {n:4d} | {o[:,0].mean():.3f} {w[:,0].mean():.3f} | {o[:,2].mean():.3f} {w[:,2].mean():.3f} | {o[:,1].mean():.3f} {w[:,1].mean():.3f}")
from scipy.stats import wilcoxon
for meth in ("proposals", "random", "even"):
    o = np.array([a[k][0] for k in keys if k[2] == meth]); w = np.array([b[k][0] for k in keys if k[2] == meth])
    of = np.array([a[k][2] for k in keys if k[2] == meth]); wf = np.array([b[k][2] for k in keys if k[2] == meth])
    if len(o):
        print(meth, "search FN new-old mean %.4f lower/eq/higher %d/%d/%d p=%.3g" % ((w-o).mean(), (w<o).sum(), (w==o).sum(), (w>o).sum(), wilcoxon(w, o).pvalue if (w!=o).any() else 1))
        print(meth, "fixed  FN new-old mean %.4f lower/eq/higher %d/%d/%d p=%.3g" % ((wf-of).mean(), (wf<of).sum(), (wf==of).sum(), (wf>of).sum(), wilcoxon(wf, of).pvalue if (wf!=of).any() else 1))
        ua = np.array([a[k][3] for k in keys if k[2] == meth]); ub = np.array([b[k][3] for k in keys if k[2] == meth])
        print(meth, "search AUC new-old mean %.4f higher/eq/lower %d/%d/%d p=%.2g" % ((ub-ua).mean(), (ub>ua).sum(), (ub==ua).sum(), (ub<ua).sum(), wilcoxon(ub, ua).pvalue if (ub!=ua).any() else 1))
        first = [k for k in keys if k[2] == meth and k[3] == min(n for q, _, m, n in keys if q == k[0] and m == meth)]
        fa = np.array([a[k][3] for k in first]); fb = np.array([b[k][3] for k in first])
        print(meth, "first count AUC new-old mean %.4f higher/eq/lower %d/%d/%d of %d p=%.2g" % ((fb-fa).mean(), (fb>fa).sum(), (fb==fa).sum(), (fb<fa).sum(), len(first), wilcoxon(fb, fa).pvalue if (fb!=fa).any() else 1))
