"""Evaluate candidates on one query's cached features: gather inputs, train heads, threshold, cost.

A `Job` is one candidate (its `InputSpec`, head and seed); `Evaluator.run` trains every job,
stacking those that can share a Lightning run, and returns one `Outcome` each: the typed record,
and beside it the trained head and validation scores when asked for.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from autocrop.config import Config
from autocrop.crops import FULL_FRAME
from autocrop.crossfit import cross_ys, fit_folds, folds
from autocrop.dataset import QueryData
from autocrop.defaults import BASELINE_L2, LEARNING_RATE, STACK_BYTES
from autocrop.heads import BatchedHead, get_head, head_madds
from autocrop.inputs import InputSpec
from autocrop.labels import block_of
from autocrop.metrics import evaluate
from autocrop.records import TrialRecord
from autocrop.selection import best_of
from autocrop.space import SearchSpace, TrialSpec
from autocrop.study import trial_seed
from autocrop.train import Candidate, fit_heads

__all__ = ["Job", "Outcome", "Evaluator", "run_baselines", "baseline_layer"]


@dataclass(frozen=True)
class Job:
    """One candidate to train: trial number (negative for baselines), input, head, seed."""

    number: int
    input: InputSpec
    crop: tuple[float, float, float, float]  # the box asked for (for display; the input has the cells)
    head: str
    hparams: dict[str, Any]
    seed: int


@dataclass
class Outcome:
    """A job's record; with `keep`, also its trained head (alone, K=1) and validation scores (cross-fitted:
    the out-of-fold scores of every training and validation label, in `Evaluator.val_y`'s order)."""

    record: TrialRecord
    head: BatchedHead | None = None
    val_scores: np.ndarray | None = None


def baseline_layer(data: QueryData) -> str:
    """The layer the transfer-learning baseline pools: the backbone's last."""
    return data.backbone.layer_names[-1]


class Evaluator:
    """Turns jobs into trained, thresholded, costed records on one query's cached features."""

    def __init__(self, data: QueryData, cfg: Config):
        self.data, self.cfg = data, cfg
        self.ys = data.ys()
        self.infos = data.backbone.layers()
        self.channels = {n: i.channels for n, i in self.infos.items()}
        op = cfg.search.operating_point
        pool = data.pool["val"] if data.pool is not None and op.rule != "balanced" else np.array([], int)
        self.unlabelled_val = pool
        self.unlabelled_blocks = block_of(pool, len(data.ids), cfg.split.blocks) if op.per_block and data.blocks else None
        self.folds = folds(data, cfg)  # few labels: cross-fit over the time cycles instead of holding validation out
        self.val_y = self.ys["val"]  # the labels of an outcome's `val_scores`
        if self.folds is not None:
            self.cross_ys, cycles, unl_cycles = cross_ys(self.folds, data)
            self.cross_blocks = (cycles, unl_cycles) if op.per_block else (None, None)
            self.val_y = self.cross_ys["val"]

    def input_spec(self, spec: TrialSpec) -> InputSpec:
        """The cells a sampled spec reads on its layer(s), and its temporal window."""
        info = self.infos[spec.layer]
        cls = get_head(spec.head)
        window = int({**cls.defaults, **spec.hparams}.get("window", 1)) if cls.spatial else 1
        if spec.extra and cls.spatial:
            raise ValueError(f"`{spec.head}` heads read one map; inputs from several layers need a flat head")
        if spec.pooled:
            return InputSpec(spec.layer, (0, info.height, 0, info.width), window=window, pooled=True)
        if spec.mask:
            return InputSpec(spec.layer, InputSpec.mask_box(spec.mask), mask=tuple(spec.mask), extra=spec.extra, window=window)
        return InputSpec(spec.layer, spec.crop.cells(info.height, info.width), extra=spec.extra, window=window)

    def job(self, spec: TrialSpec, number: int) -> Job:
        crop = FULL_FRAME if spec.pooled else spec.crop
        return Job(number, self.input_spec(spec), tuple(crop.as_list()), spec.head, dict(spec.hparams), trial_seed(self.cfg, number))

    def inputs(self, inp: InputSpec) -> dict[str, np.ndarray]:
        """Per split, float32 [N, D] inputs gathered from the cache (windows within each split);
        and `val_unlabelled`, the validation frames not labelled yet, where the operating point's
        bound needs their scores (see `metrics.choose_threshold`)."""
        out = {s: inp.gather_windows(self.data.store, rows) for s, rows in self.data.splits.items()}
        if len(self.unlabelled_val):
            out["val_unlabelled"] = inp.gather_windows(self.data.store, self.unlabelled_val)
        return out

    def run(self, jobs: Sequence[Job], keep: bool = False) -> list[Outcome]:
        """Train every job, stacking those that can share a run; one outcome each, in order."""
        shapes = [j.input.shape(self.channels) for j in jobs]
        groups: dict[tuple, list[int]] = defaultdict(list)
        for i, job in enumerate(jobs):
            shared = tuple(sorted((k, v) for k, v in job.hparams.items() if k != "l2"))
            groups[(job.head, shared, shapes[i] if get_head(job.head).spatial else None)].append(i)
        out: list[Outcome | None] = [None] * len(jobs)
        search = self.cfg.search
        op, smoothing = search.operating_point, (search.smoothing.k, search.smoothing.n)
        n_train = len(self.data.splits["train"]) if self.folds is None else sum(len(f.held) for f in self.folds)  # what a KNN stores
        widths = {i: int(np.prod(shapes[i])) for i in range(len(jobs))}
        rows = sum(len(r) for r in self.data.splits.values()) + len(self.unlabelled_val)  # a run holds every split's inputs
        for idx in (chunk for g in groups.values() for chunk in _chunks(g, widths, rows)):
            if self.folds is not None:
                hparams, scores, heads, steps = fit_folds(self.folds, self.data, [jobs[i] for i in idx], [shapes[i] for i in idx],
                                                          self._fit, keep)
                ys, (val_blocks, unl_blocks) = self.cross_ys, self.cross_blocks
            else:
                # inputs are gathered per run, so memory holds one run's inputs, not the whole batch's
                inputs = {inp: self.inputs(inp) for inp in dict.fromkeys(jobs[i].input for i in idx)}  # e.g. baselines share one
                cands = [Candidate(jobs[i].head, jobs[i].hparams, jobs[i].seed, inputs[jobs[i].input], shapes[i]) for i in idx]
                del inputs  # the candidates hold the only references: fit_heads drops them once stacked
                head, stacked, steps = self._fit(cands, self.ys)
                del cands
                hparams = head.hparams
                scores = [{s: v[k] for s, v in stacked.items()} for k in range(len(idx))]
                heads = [head.single(k) if keep else None for k in range(len(idx))]
                ys, unl_blocks = self.ys, self.unlabelled_blocks
                val_blocks = self.data.blocks["val"] if op.per_block and self.data.blocks else None
            for k, i in enumerate(idx):
                job, shape = jobs[i], shapes[i]
                metrics = evaluate(scores[k], ys, op.rule, op.target, smoothing, val_blocks, op.reserve, unl_blocks)
                rec = TrialRecord(
                    number=job.number,
                    input=job.input,
                    crop=job.crop,
                    head=job.head,
                    hparams={**hparams[k]},
                    input_shape=tuple(shape),
                    cost_madds=head_madds(job.head, shape, hparams[k], n_train),
                    metrics=metrics | {"crossfit_folds": float(len(self.folds or ()))},
                    gather_elements=int(np.prod(shape)),
                    backbone_madds=max(self.data.backbone.prefix_madds()[lay] for lay in job.input.layers),
                    steps=steps,
                    baseline=job.number < 0,
                )
                out[i] = Outcome(rec, heads[k], scores[k]["val"]) if keep else Outcome(rec)
        return out  # type: ignore[return-value]

    def _fit(self, cands: list[Candidate], ys: dict[str, np.ndarray]):
        search = self.cfg.search
        return fit_heads(cands, ys, max_steps=search.max_steps, patience=search.patience, lr=LEARNING_RATE, release_inputs=True)

    def retrain(self, rec: TrialRecord) -> Outcome:
        """Train a stored record's head again: same input, same seed, so the same weights and metrics."""
        return self.retrain_all([rec])[0]

    def retrain_all(self, recs: Sequence[TrialRecord]) -> list[Outcome]:
        """`retrain` for several records, stacked where they can share a run."""
        return self.run([Job(r.number, r.input, r.crop, r.head, dict(r.hparams), trial_seed(self.cfg, r.number)) for r in recs], keep=True)


def run_baselines(ev: Evaluator, space: SearchSpace) -> list[TrialRecord]:
    """The paper's transfer-learning baseline: each head on the pooled final map, best of an L2 grid."""
    layer = baseline_layer(ev.data)
    op = ev.cfg.search.operating_point
    out = []
    for n, head in enumerate(space.heads):
        fixed = {k: v for k, v in space.heads[head].items() if isinstance(v, int | float | str) and not isinstance(v, bool)}
        jobs = [ev.job(TrialSpec(layer, FULL_FRAME, head, {**fixed, "l2": l2}, pooled=True), -(n + 1)) for l2 in BASELINE_L2]
        best = best_of([o.record for o in ev.run(jobs)], op.target, op.rule)
        assert best is not None  # three records in, one out
        out.append(best)
    return out


def _chunks(idx: list[int], width: dict[int, int], rows: int) -> list[list[int]]:
    """Split one stackable group, narrowest inputs first (padding to the widest is wasted work),
    so that each run's float32 inputs, [K, rows, width] over all splits, stay within STACK_BYTES."""
    out: list[list[int]] = [[]]
    for i in sorted(idx, key=width.__getitem__):
        if out[-1] and (len(out[-1]) + 1) * rows * width[i] * 4 > STACK_BYTES:
            out.append([])
        out[-1].append(i)
    return out
