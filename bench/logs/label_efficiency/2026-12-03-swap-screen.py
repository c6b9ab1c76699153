"""Paired analysis of the `swap` screen (2026-12-03-few-label-searches.py swap ...): each rule's pick
against the search's own, cells past the start (more than 16 labels), a repeated cell counted once.

    .venv/bin/python bench/logs/label_efficiency/2026-12-03-swap-screen.py bench/logs/label_efficiency/2026-12-03-swap-screen-car.log
"""
import re,sys,numpy as np
from scipy.stats import wilcoxon
rows={}
for line in open(sys.argv[1]):
    if not line.startswith("RES"): continue
    m=re.match(r"RES (\S+) seed (\d+)\s+(\S+)\s+(\d+): (.*)",line)
    q,seed,meth,lab,rest=m.groups()
    parts=rest.split(" | ")
    d={}
    for p in parts:
        mm=re.match(r"(.*?)\s*FN (\S+)(?: FP (\S+))?$",p)
        name=mm.group(1).replace(" FN","").strip()
        d[name]=(float(mm.group(2)), float(mm.group(3)) if mm.group(3) else np.nan)
    rows[(meth,int(seed),int(lab))]=d  # dedupe repeated cells
for meth in ("proposals","random"):
    keys=[k for k in rows if k[0]==meth and k[2]>16]
    names=list(rows[keys[0]].keys())
    base=np.array([rows[k]["search pick"][0] for k in keys])
    basefp=np.array([rows[k]["search pick"][1] for k in keys])
    print(meth,len(keys),"cells; pick FN %.3f FP %.3f"%(base.mean(),basefp.mean()))
    for n in names[1:]:
        v=np.array([rows[k][n][0] for k in keys]); fp=np.array([rows[k][n][1] for k in keys])
        d=v-base
        p=wilcoxon(d).pvalue if np.any(d!=0) else 1
        print(f"  {n:12s} FN {v.mean():.3f} FP {(np.nanmean(fp) if np.isfinite(fp).any() else np.nan):.3f} diff {d.mean():+.3f} lower {np.sum(d<0)} higher {np.sum(d>0)} p {p:.3f}")
    labs=sorted({k[2] for k in keys})
    for n in names:
        print("   ",n, " ".join(f"{l}:{np.mean([rows[k][n][0] for k in keys if k[2]==l]):.3f}" for l in labs))
