"""Which frames to seek when a split lacks a class (2026-12-03): on six queries, 20 seeds, 16 random
training labels (at least one positive) and 6 validation negatives. Of the validation split's
unlabelled frames, the 6 (at least 3 frames apart) ranked by nearness to a labelled positive alone
("near") or by the nearest-neighbour vote d_neg / (d_pos + d_neg) ("margin", what autocrop.seek
keeps); "base" is the split's positive rate, what random frames find. Mean share of positives
among the 6.

    AUTOCROP_SHARED=../shared .venv/bin/python bench/logs/label_bootstrap/2026-12-03-seek-rule-screen.py
"""
import sys, numpy as np
sys.path.insert(0,"bench")
from query_suite import queries
from autocrop.config import load_config
from autocrop.dataset import prepare
from autocrop.evaluation import baseline_layer
from autocrop.embedding import embedding, nearest_distance
for p in queries():
    if p.stem not in ("car","near-band-large","right-near-strict","small-left","left-far","far-band"): continue
    cfg=load_config(p,[]); full=prepare(cfg); lay=baseline_layer(full); full.store.extract([lay],progress=False)
    emb=embedding(full,lay); y=full.y
    tr,va=full.splits["train"],full.splits["val"]
    res={"near":[], "margin":[], "base":[]}
    for seed in range(20):
        rng=np.random.default_rng(seed)
        ktr=rng.choice(tr,16,replace=False)
        if y[ktr].sum()==0: continue
        kva=rng.choice(va[y[va]==0],6,replace=False)
        pool=np.setdiff1d(va,kva)
        pos=ktr[y[ktr]==1]; neg=np.r_[ktr[y[ktr]==0],kva]
        dp=nearest_distance(emb,pool,pos); dn=nearest_distance(emb,pool,neg)
        for name,sc in (("near",dp),("margin",dp/(dp+dn))):
            order=np.argsort(sc,kind="stable"); picked=[]
            for i in order:
                if all(abs(pool[i]-j)>=3 for j in picked): picked.append(pool[i])
                if len(picked)==6: break
            res[name].append(y[picked].mean())
        res["base"].append(y[pool].mean())
    print(p.stem, {k:f"{np.mean(v):.2f}" for k,v in res.items()}, len(res["base"]))
