"""Threshold-free judge of bench/label_efficiency.py logs: per query, label-next's pick against
random frames' pick by test AUC (how well its scores rank the test frames, whatever the threshold),
cell by cell (seed, count; the first count left out), with a Wilcoxon p; then over all cells.

    python3 bench/logs/label_efficiency/2026-12-03-auc-pairs.py LOG [LOG ...]
"""
import re,sys,collections
import numpy as np
from scipy.stats import wilcoxon
rx=re.compile(r"^\s*(\S+) seed (\d+)\s+(proposals|random)\s+(\d+) labels: test FN ([\d.]+) FP ([\d.]+) AUC ([\d.]+)")
d={}
order=collections.defaultdict(list)
for f in sys.argv[1:]:
    for l in open(f):
        m=rx.match(l)
        if m:
            q,s,meth,n,fn,fp,auc=m.groups()
            order[(q,int(s),meth)].append((float(fn),float(fp),float(auc)))
per=collections.defaultdict(list)
for (q,s,meth),v in order.items():
    if meth!="proposals": continue
    r=order.get((q,s,"random"))
    for i,(a,b) in enumerate(zip(v,r)):
        if i==0: continue
        per[q].append((a[2],b[2]))
allp=[]
for q,v in per.items():
    v=np.array(v); allp+=list(v)
    dd=v[:,0]-v[:,1]
    print(f"{q:18s} n={len(v)} AUC label-next {v[:,0].mean():.4f} random {v[:,1].mean():.4f} diff {dd.mean():+.4f} higher/eq/lower {(dd>0).sum()}/{(dd==0).sum()}/{(dd<0).sum()} p={wilcoxon(v[:,0],v[:,1]).pvalue:.3g}")
v=np.array(allp); dd=v[:,0]-v[:,1]
print(f"all n={len(v)} diff {dd.mean():+.4f} median {np.median(dd):+.4f} higher/eq/lower {(dd>0).sum()}/{(dd==0).sum()}/{(dd<0).sum()} p={wilcoxon(v[:,0],v[:,1]).pvalue:.3g}")
