"""Before a search can run: look for the class a split lacks, beside the labelled frames of it.

A search needs a labelled frame of each class in both the training and the validation split. A
query whose positives are rare (a train in region A, a few passages an hour) often gets a first
batch whose validation frames hold no positive: no head can train, so no search can vote, and
another cold start finds a positive no more often than the first did. But the labels already
say what a positive looks like: the lacking split's unlabelled frames nearer a labelled frame of
the class than any labelled frame of the other class (a nearest-neighbour vote, in the embedding
label-next measures similarity in), surest first, are of that class far more often than frames
drawn at random (bench/label_bootstrap.py; nearness to the class alone found fewer); no two
of them from one passage (`LABEL_SEEK_GAP` frames apart), whose frames hit or miss together. With no
frame of the class labelled anywhere: the frames farthest from every labelled frame of the other
class, what the labels have not seen yet.

Labelled test frames are never anchors: they never train a head, and picking by them would let
test decide what is labelled.
"""

from __future__ import annotations

import numpy as np

from autocrop.dataset import QueryData
from autocrop.defaults import LABEL_SEEK, LABEL_SEEK_GAP
from autocrop.embedding import nearest_distance

__all__ = ["lacking", "seek", "seek_share", "describe"]

NAME = {0: "negative", 1: "positive"}


def lacking(data: QueryData) -> list[tuple[str, int]]:
    """(split, class) for each of train and val that holds no labelled frame of that class; none
    while neither holds a labelled frame (a cold start: nothing to look beside)."""
    known = np.r_[data.splits["train"], data.splits["val"]].astype(int)
    if not len(known):
        return []
    return [(s, c) for s in ("train", "val") for c in (1, 0) if not (data.y[data.splits[s]] == c).any()]


def seek_share(n: int, pairs: list[tuple[str, int]]) -> int:
    """Frames sought per (split, class): half the batch over the pairs, at most `LABEL_SEEK` each
    (enough to find one where a few of the nearest are of the other class), at least one."""
    return max(1, min(LABEL_SEEK, n // (2 * max(len(pairs), 1))))


def describe(pairs: list[tuple[str, int]], k: int) -> str:
    what = ", ".join(f"a {NAME[c]} for the {s} split" for s, c in pairs)
    return f"up to {k} frame(s) each seeking {what}, beside the labelled frames of that class (or, with none labelled, unlike any labelled frame)"


def seek(batch, cands: dict[str, np.ndarray], pairs: list[tuple[str, int]], k: int, limit: int) -> None:
    """Up to `k` picks per (split, class) of `pairs` from that split's candidate rows, in `batch`
    (a `proposals._Batch`: its rules hold), `limit` picks in the batch at most."""
    data, emb = batch.data, batch.emb
    known = np.r_[data.splits["train"], data.splits["val"]].astype(int)
    sought: list[int] = []
    for split, cls in pairs:
        pool = cands[split][~np.isin(cands[split], batch.rows)]
        like, other = known[data.y[known] == cls], known[data.y[known] == 1 - cls]
        if not len(pool) or not len(like) + len(other):
            continue
        lacks = f"seek a {NAME[cls]} for the {split} split (it holds none)"
        if len(like) and len(other):  # nearer a labelled frame of the class than any of the other, surest first (a 1-NN vote)
            near, far = nearest_distance(emb, pool, like), nearest_distance(emb, pool, other)
            score = far / np.maximum(near + far, 1e-12)
            why = [f"{lacks}: {a:.2f} from the nearest labelled {NAME[cls]}, {b:.2f} from the nearest {NAME[1 - cls]}" for a, b in zip(near, far, strict=True)]
        elif len(like):
            near = nearest_distance(emb, pool, like)
            score, why = 1 / (1 + near), [f"{lacks}: {a:.2f} from the nearest labelled {NAME[cls]}" for a in near]
        else:  # none of the class labelled anywhere: farthest from every labelled frame of the other class first
            score = nearest_distance(emb, pool, other)
            why = [f"seek a {NAME[cls]} (none labelled yet): {a:.2f} from the nearest labelled {NAME[1 - cls]}, unlike any" for a in score]
        order = np.argsort(-score, kind="stable")
        taken = 0
        for i in order:
            if taken == k or len(batch.picks) >= limit:
                break
            frame = int(data.ids[pool[i]])
            if batch.fits(int(pool[i])) and (not sought or np.abs(np.array(sought) - frame).min() >= LABEL_SEEK_GAP):
                batch.add(int(pool[i]), split, why[i], float(score[i]))
                sought.append(frame)
                taken += 1
