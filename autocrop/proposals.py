"""Which frames to label next: where a search's cheap heads disagree, spread in time and in feature space.

- **Embedding** (`autocrop.embedding`): every candidate frame's last-layer feature map pooled to
  a small grid (where things are matters for a region query), centred, reduced to its principal
  components and scaled so that the footage's median distance between two of its frames is 1.
  Distances and the de-duplication threshold are in those units.
- **After a search** (`votes.head_votes`), two regimes, as the search sets its threshold:
  - **Cross-fitted** (few labels, `autocrop.crossfit`: every label trains a fold head and sets the
    threshold out of fold): the best trial's head is trained again on the labels as they are now,
    and every training pick is a frame nearest its threshold (classic uncertainty sampling, no two
    within the batch's rules). Measured against the mix below on three queries with the search,
    it cut the labels to reach the every-label test FN (BENCHMARKS.md, eleventh run).
  - **Held out** (many labels): the heads of the study's Pareto trials (then its next best by
    val FN, up to `LABEL_MAX_HEADS`) are trained again and vote on every unlabelled frame. A frame
    scores by how evenly they split, and by how close the best trial's score lies to its
    threshold. The top scorers fill half of the training picks (uncertainty alone, from few
    labels held out, sampled a biased set); typical frames the other half: the densest frame of
    each of the largest groups of similar frames that hold no labelled training frame (TypiClust,
    Hacohen et al., "Active learning on a budget", 2022). Coverage counts labelled *training*
    frames only: test labels never train a head. Typicality beat k-centre there, which picks
    outliers, and frames spread in time (BENCHMARKS.md).
- **Cold start** (no search; too few labels to train: `autocrop.seek` first): half the training picks are typical
  frames (as above), the other half drawn at random, each kept only where it keeps the batch's
  rules (below). Typical frames alone were the cold start before; over seven of
  bench/label_efficiency.py's queries their 24 frames trained heads no better than 24 random ones
  (BENCHMARKS.md): one pick per group gives a small group of odd frames as large a share of the
  first labels as the common scene, where random frames sample the footage as it comes.
- **Validation frames** are never picked for difficulty: a validation set of hard frames would
  set the threshold wrong. They are drawn one per time stratum of the validation block's
  unlabelled frames, in proportion to the split's fractions: the threshold is estimated from
  them, with the unlabelled frames counted by their class probability (`metrics.choose_threshold`),
  and a fit of labels on scores wants labelled frames spread over the scores. `val_plan` says
  when a validation block lacks a labelled frame of either class (label-next's first line):
  until it holds one of each, its threshold counts its labelled frames alone. A larger share
  for validation did worse (BENCHMARKS.md): it starves the heads of training frames early.
- Every batch: only unlabelled train and validation frames (never test), no two frames closer
  than `min_distance` in the embedding nor `min_gap` frames apart in time, reproducible for a seed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from autocrop.dataset import QueryData
from autocrop.defaults import LABEL_COLD_RANDOM, LABEL_MIN_DISTANCE, LABEL_MIN_GAP, LABEL_TYPICAL_NEIGHBOURS
from autocrop.embedding import embedding, nearest_distance  # embedding re-exported: the space the batch rules hold in
from autocrop.labels import block_of
from autocrop.seek import seek as seek_picks, seek_share
from autocrop.votes import Votes

__all__ = ["Proposal", "ValPlan", "embedding", "propose", "val_plan"]


@dataclass(frozen=True)
class Proposal:
    frame: int  # frame id
    row: int  # the feature store's row
    split: str  # train or val
    reason: str
    score: float  # higher: more worth labelling (disagreement; distance for diversity picks; density for typical ones; 0 for random ones)


class _Batch:
    """The picks so far, and the two rules every new pick must keep."""

    def __init__(self, data: QueryData, emb: np.ndarray, min_distance: float, min_gap: int):
        self.data, self.emb = data, emb
        self.min_distance, self.min_gap = min_distance, min_gap
        self.rows: list[int] = []
        self.picks: list[Proposal] = []

    def fits(self, row: int) -> bool:
        if not self.rows:
            return True
        picked = np.array(self.rows)
        if np.abs(picked - row).min() < self.min_gap:
            return False
        return float(np.sqrt(((self.emb[picked] - self.emb[row]) ** 2).sum(1)).min()) >= self.min_distance

    def add(self, row: int, split: str, reason: str, score: float) -> None:
        self.rows.append(int(row))
        self.picks.append(Proposal(int(self.data.ids[row]), int(row), split, reason, float(score)))


def _diverse(batch: _Batch, cands: np.ndarray, k: int, split: str, rng: np.random.Generator) -> None:
    """k-centre: pick, k times, the candidate farthest from every labelled frame of `split` and every pick."""
    near = nearest_distance(batch.emb, cands, np.r_[batch.data.splits[split], batch.rows].astype(int))
    left = np.ones(len(cands), bool)
    start = len(batch.picks)
    while len(batch.picks) - start < k:
        order = np.flatnonzero(left)
        if not len(order):
            return
        if np.isinf(near[order]).all():  # nothing labelled yet: a seeded first frame
            i = int(rng.choice(order))
        else:
            i = int(order[np.argmax(near[order])])
        left[i] = False
        if not batch.fits(int(cands[i])):
            continue
        batch.add(int(cands[i]), split, f"diverse: {near[i]:.2f} from the nearest labelled {split} or proposed frame", near[i] if np.isfinite(near[i]) else 0.0)
        d = np.sqrt(((batch.emb[cands] - batch.emb[cands[i]]) ** 2).sum(1))
        near = np.minimum(near, d)
        left &= np.abs(cands - cands[i]) >= batch.min_gap


def _typical(batch: _Batch, cands: np.ndarray, k: int, split: str, rng: np.random.Generator) -> None:
    """TypiClust: k-means the candidates and the split's labelled frames into k clusters more than
    there are labelled frames; from each cluster without a labelled or picked frame, largest first,
    the densest candidate (least mean distance to its nearest cluster mates). k-centre fills what
    the rules leave."""
    from sklearn.cluster import KMeans
    from sklearn.neighbors import NearestNeighbors

    rows = np.r_[cands, batch.data.splits[split], batch.rows].astype(int)
    covered = np.r_[np.zeros(len(cands), bool), np.ones(len(rows) - len(cands), bool)]
    n_clusters = min(len(rows), len(rows) - len(cands) + k)
    if n_clusters < 2:
        return _diverse(batch, cands, k, split, rng)
    z = batch.emb[rows]
    cluster = KMeans(n_clusters, n_init=1, random_state=int(rng.integers(2**31))).fit_predict(z)
    sizes = np.bincount(cluster, minlength=n_clusters)
    taken = np.bincount(cluster[covered], minlength=n_clusters) > 0
    start = len(batch.picks)
    for c in sorted(np.flatnonzero(~taken & (sizes >= 2)), key=lambda c: (-sizes[c], c)):
        if len(batch.picks) - start == k:
            return
        members = np.flatnonzero(cluster == c)
        nn = min(LABEL_TYPICAL_NEIGHBOURS, len(members) - 1)
        dist, _ = NearestNeighbors(n_neighbors=nn + 1).fit(z[members]).kneighbors(z[members])
        density = 1 / (dist[:, 1:].mean(1) + 1e-8)
        for j in np.argsort(-density, kind="stable"):
            if members[j] < len(cands) and batch.fits(int(cands[members[j]])):
                batch.add(int(cands[members[j]]), split, f"typical: the densest frame of an unlabelled cluster of {sizes[c]} similar frames",
                          float(density[j]))
                break
    if (rest := k - (len(batch.picks) - start)) > 0:
        _diverse(batch, np.setdiff1d(cands, batch.rows), rest, split, rng)


def _random(batch: _Batch, cands: np.ndarray, k: int, split: str, rng: np.random.Generator) -> None:
    """Up to k candidates in a seeded random order, those that keep the batch's rules."""
    start = len(batch.picks)
    for row in rng.permutation(cands):
        if len(batch.picks) - start == k:
            return
        if batch.fits(int(row)):
            batch.add(int(row), split, "random: half a cold start samples the footage as it comes (typical frames alone over-sample odd ones)", 0.0)


def _by_votes(batch: _Batch, cands: np.ndarray, votes: Votes, k: int, split: str, rng: np.random.Generator) -> None:
    """The highest-scoring candidates that keep the batch's rules, for all but the votes' `explore`
    share of the batch; typical frames fill what is left."""
    score = votes.score
    order = np.lexsort((rng.permutation(len(cands)), -score))  # ties broken by the seed
    start, exploit = len(batch.picks), k - int(round(k * votes.explore))
    for i in order:
        if len(batch.picks) - start == exploit or score[i] <= 0:
            break
        if batch.fits(int(cands[i])):
            batch.add(int(cands[i]), split, votes.reason[i], score[i])
    rest = k - (len(batch.picks) - start)
    if rest > 0:
        _typical(batch, np.setdiff1d(cands, batch.rows), rest, split, rng)


def _stratified(batch: _Batch, cands: np.ndarray, k: int, rng: np.random.Generator) -> None:
    """One frame per time stratum of the validation pool, drawn at random within it."""
    if k <= 0 or not len(cands):
        return
    for stratum in np.array_split(np.sort(cands), min(k, len(cands))):
        for row in rng.permutation(stratum):
            if batch.fits(int(row)):
                batch.add(int(row), "val", "validation: one frame per time stratum (spread over time and scores, as the threshold's estimate needs)", 0.0)
                break


@dataclass(frozen=True)
class ValPlan:
    """What the operating point still needs from validation: per validation time block, its
    labelled negatives and positives, and the estimated number of frames to label until it holds
    one of each. From then on the block's threshold is estimated over all its frames, the
    unlabelled ones counted by their class probability (`metrics.choose_threshold`); until then
    it counts the block's labelled frames alone."""

    edge: str  # where such a block's threshold sits: "above its highest negative" (max_fp) or "below its lowest positive"
    negatives: list[int]
    positives: list[int]
    frames: list[int]

    @property
    def short(self) -> int:
        return int(sum(self.frames))

    def describe(self) -> str:
        if not self.short:
            return ""
        lacking = [f"{b + 1} (no labelled {'negative' if not n else 'positive'})" if bool(n) != bool(p) else f"{b + 1} (none labelled)"
                   for b, (n, p) in enumerate(zip(self.negatives, self.positives, strict=True)) if not (n and p)]
        return (f"validation time block{'s' if len(lacking) > 1 else ''} {', '.join(lacking)} of {len(self.frames)} need a labelled "
                f"frame of each class before the threshold can be estimated over the whole block: about {self.short} more "
                f"validation frames (until then it counts the labelled frames alone and sits {self.edge})")


def val_plan(data: QueryData) -> ValPlan | None:
    """The validation frames the operating point is short of, or None when its rule counts no
    errors per class (`balanced`)."""
    op = data.cfg.search.operating_point
    if op.rule == "balanced":
        return None
    assert data.pool is not None and data.blocks is not None
    n_blocks = data.cfg.split.blocks if op.per_block else 1
    val = data.splits["val"]
    lab = data.blocks["val"] if op.per_block else np.zeros(len(val), int)
    pool = block_of(data.pool["val"], len(data.ids), n_blocks) if op.per_block else np.zeros(len(data.pool["val"]), int)
    y = data.y[val]
    rate = (int(y.sum()) + 1) / (len(y) + 2)  # validation's positive rate so far (Laplace), for the frames it takes to find one
    negatives, positives, frames = [], [], []
    for b in range(n_blocks):
        k_pos, k_neg = int((y[lab == b] == 1).sum()), int((y[lab == b] == 0).sum())
        need = (0 if k_pos else np.ceil(1 / rate)) + (0 if k_neg else np.ceil(1 / (1 - rate)))
        negatives.append(k_neg)
        positives.append(k_pos)
        frames.append(min(int(need), int((pool == b).sum())))
    edge = "above its highest negative" if op.rule == "max_fp" else "below its lowest positive"
    return ValPlan(edge, negatives, positives, frames)


def propose(data: QueryData, emb: np.ndarray, n: int, seed: int = 0, votes: Votes | None = None,
            min_distance: float = LABEL_MIN_DISTANCE, min_gap: int = LABEL_MIN_GAP,
            seek: list[tuple[str, int]] | None = None) -> list[Proposal]:
    """Up to n unlabelled train and validation frames to label next (fewer when the rules leave
    fewer); `votes` are per row of the train pool (`data.pool["train"]`), None for a cold start;
    `seek`: the (split, class) pairs a search still lacks, sought first (`autocrop.seek`)."""
    assert data.pool is not None
    rng = np.random.default_rng(seed)
    train, val = data.pool["train"], data.pool["val"]
    f_train, f_val = data.cfg.split.fractions[:2]
    n_val = min(len(val), int(round(n * f_val / (f_train + f_val))))
    n_train = min(len(train), n - n_val)
    n_val = min(len(val), n - n_train)
    batch = _Batch(data, emb, min_distance, min_gap)
    if seek:
        seek_picks(batch, {"train": train, "val": val}, seek, seek_share(n, seek), n)
        n_val = min(max(0, n_val - sum(p.split == "val" for p in batch.picks)), n - len(batch.picks))
        n_train = min(max(0, n_train - sum(p.split == "train" for p in batch.picks)), n - len(batch.picks) - n_val)
    _train_picks(batch, train[~np.isin(train, batch.rows)], votes, n_train, rng)
    _stratified(batch, val[~np.isin(val, batch.rows)], n_val, rng)
    if len(batch.picks) < n:  # validation frames the rules left out: training frames instead, where they fit
        _train_picks(batch, train[~np.isin(train, batch.rows)], votes, n - len(batch.picks), rng)
    return sorted(batch.picks, key=lambda p: p.row)


def _train_picks(batch: _Batch, cands: np.ndarray, votes: Votes | None, k: int, rng: np.random.Generator) -> None:
    if k <= 0:
        return
    start = len(batch.picks)
    if votes is None:
        typical = k - int(round(k * LABEL_COLD_RANDOM))
        _typical(batch, cands, typical, "train", rng)
        _random(batch, np.setdiff1d(cands, batch.rows), k - (len(batch.picks) - start), "train", rng)
    else:  # votes are per row of the whole train pool; cands keep its order
        keep = np.isin(batch.data.pool["train"], cands)
        _by_votes(batch, cands, replace(votes, score=votes.score[keep], reason=[r for r, ok in zip(votes.reason, keep, strict=True) if ok]),
                  k, "train", rng)
