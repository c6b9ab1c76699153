"""After a search, how much each unlabelled training frame is worth labelling: the search's heads,
trained again on the labels there are now, vote on it (`autocrop.proposals` picks by the votes)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from autocrop.dataset import QueryData
from autocrop.defaults import LABEL_CROSSFIT_EXPLORE, LABEL_CROSSFIT_VOTE_SPLIT, LABEL_EXPLORE, LABEL_VOTE_SPLIT
from autocrop.records import TrialRecord

__all__ = ["Votes", "head_votes"]


@dataclass(frozen=True)
class Votes:
    """Per candidate row: the acquisition score in [0, 1] and why; `explore`, the share of the
    training picks left to typical frames; `heads`, how many heads voted; `crossfit`, whether
    they were cross-fitted (nearness alone then)."""

    score: np.ndarray
    reason: list[str]
    explore: float = LABEL_EXPLORE
    heads: int = 1
    crossfit: bool = False


def head_votes(data: QueryData, records: Sequence[TrialRecord], best: TrialRecord, rows: np.ndarray) -> Votes:
    """Retrain the heads on the current labels and score `rows` by how evenly the records' heads
    split and how close the best record's score lies to its threshold. Where the search
    cross-fits (few labels, `autocrop.crossfit`) nearness alone counts and only the best record
    is retrained: every label then also sets the threshold, and the frames nearest it teach the
    most (`LABEL_CROSSFIT_*`)."""
    from autocrop.evaluation import Evaluator

    ev = Evaluator(data, data.cfg)
    crossfit = ev.folds is not None
    weight = LABEL_CROSSFIT_VOTE_SPLIT if crossfit else LABEL_VOTE_SPLIT
    recs = list({r.number: r for r in [best, *records]}.values()) if weight else [best]
    data.store.extract(sorted({lay for r in recs for lay in r.input.layers}), progress=False)  # only the layers that vote
    outcomes = ev.retrain_all(recs)
    votes, best_margin = [], None
    with torch.no_grad():
        for out in outcomes:
            x = torch.from_numpy(out.record.input.gather_windows(data.store, rows))[None]
            s = out.head(x)[0].numpy()
            thr = out.record.metrics["threshold"]
            votes.append(s >= thr)
            if out.record.number == best.number:
                spread = float(np.std(out.val_scores)) if out.val_scores is not None and len(out.val_scores) > 1 else 1.0
                best_margin = (s - thr) / (spread or 1.0)
    v = np.mean(votes, axis=0)
    split = 1 - np.abs(2 * v - 1)  # 1: the heads split evenly; 0: they all agree
    near = np.clip(1 - np.abs(best_margin), 0, 1)  # 1: on the best head's threshold; 0: a spread or more away
    score = weight * split + (1 - weight) * near
    n = len(recs)
    reason = [f"{int(round(p * n))} of {n} heads say positive" if weight and a >= b else
              f"trial {best.number}'s score {m:+.2f} sd from its threshold"
              for p, a, b, m in zip(v, split, near, best_margin, strict=True)]
    return Votes(score, reason, LABEL_CROSSFIT_EXPLORE if crossfit else LABEL_EXPLORE, n, crossfit)
