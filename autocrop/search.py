"""The search: ask Optuna for a batch of trials, train their heads together, tell each its result."""

from __future__ import annotations

import time
import warnings
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from tqdm import tqdm

from autocrop.config import Config
from autocrop.crops import FULL_FRAME, Crop
from autocrop.plots import study_figures, trial_figures
from autocrop.dataset import QueryData
from autocrop.heads import get_head, head_madds
from autocrop.metrics import evaluate
from autocrop.samplers import NEEDS_ROI, PROPOSES, make_sampler, roi_targets
from autocrop.samplers.sparse import sparse_proposals
from autocrop.space import SearchSpace, TrialSpec, suggest
from autocrop.train import Candidate, fit_heads

__all__ = ["OBJECTIVES", "Evaluator", "open_study", "run_search", "storage_url", "baseline_layer"]

OBJECTIVES = ("cost_madds", "val_fp", "val_fn")
BASELINE_L2 = (1e-4, 1e-3, 1e-2)  # the pooled baseline gets a small L2 grid, so it is not a straw man

optuna.logging.set_verbosity(optuna.logging.WARNING)


def storage_url(cfg: Config) -> str:
    """The study storage: the config's URL (e.g. PostgreSQL), else SQLite beside the MLflow store."""
    if cfg.search.storage:
        return cfg.search.storage
    home = Path(cfg.tracking.dir)
    home.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{home.resolve()}/optuna.db"


def open_study(cfg: Config, name: str, sampler: optuna.samplers.BaseSampler | None = None, create: bool = True) -> optuna.Study:
    if not create:
        return optuna.load_study(study_name=name, storage=storage_url(cfg), sampler=sampler)
    from sqlalchemy.exc import DBAPIError

    for attempt in range(5):
        try:
            study = optuna.create_study(
                study_name=name, storage=storage_url(cfg), sampler=sampler, directions=["minimize"] * 3, load_if_exists=True
            )
            break
        except DBAPIError:  # workers racing to create a fresh database's schema: the loser retries
            if attempt == 4:
                raise
            time.sleep(0.5 + attempt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(list(OBJECTIVES))
    return study


def baseline_layer(data: QueryData) -> str:
    return data.backbone.layer_names[-1]


class Evaluator:
    """Turns trial specs into trained, thresholded, costed results on one query's cached features."""

    def __init__(self, data: QueryData, cfg: Config):
        self.data, self.cfg = data, cfg
        self.ys = data.ys()

    def inputs(self, spec: TrialSpec, pooled: bool = False) -> tuple[dict[str, np.ndarray], tuple[int, ...], list[int]]:
        """Flattened inputs per split, the input shape the head sees, and the crop's cells."""
        store = self.data.store
        if pooled:
            x = store.pooled(spec.layer)
            cells = [0, 1, 0, 1]
        elif spec.mask:  # exactly the masked cells, as a (C, cells, 1) map
            rows, cols = np.array(spec.mask).T
            x = store.load(spec.layer)[:, :, rows, cols].astype(np.float32)[..., None]
            cells = [int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1]
        else:
            x = store.crop(spec.layer, spec.crop)
            arr = store.load(spec.layer)
            cells = list(spec.crop.cells(arr.shape[2], arr.shape[3]))
        shape: tuple[int, ...] = tuple(x.shape[1:])
        flat = x.reshape(len(x), -1)
        if spec.extra:  # several layers: concatenated, read by flat heads only
            if get_head(spec.head).spatial:
                raise ValueError(f"`{spec.head}` heads read one map; inputs from several layers need a flat head")
            parts = [flat] + [store.load(lay)[:, :, r0:r1, c0:c1].astype(np.float32).reshape(len(x), -1)
                              for lay, (r0, r1, c0, c1) in spec.extra]
            flat = np.concatenate(parts, axis=1)
            shape = (flat.shape[1],)
        window = int(spec.hparams.get("window", 1)) if get_head(spec.head).spatial else 1
        if window > 1:
            shape = (window, *shape)
            return {s: flat[window_rows(r, window)].reshape(len(r), -1) for s, r in self.data.splits.items()}, shape, cells
        return {s: flat[r] for s, r in self.data.splits.items()}, shape, cells

    def run(self, specs: Sequence[TrialSpec], seeds: Sequence[int], pooled: bool = False, keep: bool = False) -> list[dict[str, Any]]:
        """Train every spec, stacking those that can share a run; one record each. With `keep`,
        records also hold `_head` (the trained head alone) and `_val_scores` (not stored)."""
        prepared = [self.inputs(s, pooled) for s in specs]
        groups: dict[tuple, list[int]] = defaultdict(list)
        for i, spec in enumerate(specs):
            cls = get_head(spec.head)
            shared = tuple(sorted((k, v) for k, v in spec.hparams.items() if k != "l2"))
            groups[(spec.head, shared, prepared[i][1] if cls.spatial else None)].append(i)
        out: list[dict[str, Any]] = [{} for _ in specs]
        op, search = self.cfg.search.operating_point, self.cfg.search
        n_train = len(self.data.splits["train"])
        for idx in (chunk for g in groups.values() for chunk in _chunks(g, prepared)):
            cands = [Candidate(specs[i].head, specs[i].hparams, seeds[i], prepared[i][0], prepared[i][1]) for i in idx]
            head, scores, steps = fit_heads(cands, self.ys, max_steps=search.max_epochs, patience=search.patience)
            for k, i in enumerate(idx):
                spec, (_x, shape, cells) = specs[i], prepared[i]
                sm = (search.smoothing.k, search.smoothing.n)
                metrics = evaluate({s: v[k] for s, v in scores.items()}, self.ys, op.rule, op.target, sm)
                out[i] = {
                    "layer": spec.layer,
                    "crop": FULL_FRAME.as_list() if pooled else spec.crop.as_list(),
                    "cells": cells,
                    "pooled": pooled,
                    **({"cell_mask": [list(c) for c in spec.mask]} if spec.mask and not pooled else {}),
                    **({"extra_inputs": [{"layer": lay, "cells": list(c)} for lay, c in spec.extra]} if spec.extra else {}),
                    "head": spec.head,
                    "hparams": {**head.hparams[k]},
                    "input_shape": list(shape),
                    "cost_madds": head_madds(spec.head, shape, head.hparams[k], n_train),
                    "gather_elements": int(np.prod(shape)),  # values the crop reads from the cached map
                    "backbone_madds": max(self.data.backbone.prefix_madds()[lay] for lay in (spec.layer, *(e[0] for e in spec.extra))),
                    "steps": steps,
                    **metrics,
                }
                if keep:
                    out[i] |= {"_head": head.single(k), "_val_scores": scores["val"][k]}
        return out

    def retrain(self, rec: dict[str, Any]) -> dict[str, Any]:
        """Train a stored trial's head again (same spec, same seed: same weights and metrics)."""
        arr = self.data.store.load(rec["layer"])
        crop = Crop.from_cells(rec["cells"], arr.shape[2], arr.shape[3]) if not rec.get("pooled") else FULL_FRAME
        mask = tuple(map(tuple, rec["cell_mask"])) if rec.get("cell_mask") else None
        extra = tuple((e["layer"], tuple(e["cells"])) for e in rec.get("extra_inputs", []))
        spec = TrialSpec(rec["layer"], crop, rec["head"], dict(rec["hparams"]), mask, extra)
        seed = self.cfg.search.seed if rec.get("baseline") else trial_seed(self.cfg, rec["number"])
        fresh = self.run([spec], [seed], pooled=bool(rec.get("pooled")), keep=True)[0]
        return fresh | {"crop": rec["crop"], "number": rec["number"], "baseline": rec.get("baseline", False)}


STACK_BYTES = 96 << 20  # stacked training inputs per Lightning run, to bound memory


def _chunks(idx: list[int], prepared: list[tuple]) -> list[list[int]]:
    """Split one stackable group, narrowest inputs first (padding to the widest is wasted work),
    so that each run's [K, N_train, width] float32 training inputs stay cache-sized."""
    width = {i: prepared[i][0]["train"].shape[1] for i in idx}
    rows = prepared[idx[0]][0]["train"].shape[0]
    out: list[list[int]] = [[]]
    for i in sorted(idx, key=width.__getitem__):
        if out[-1] and (len(out[-1]) + 1) * rows * width[i] * 4 > STACK_BYTES:
            out.append([])
        out[-1].append(i)
    return out


def window_rows(rows: np.ndarray, window: int) -> np.ndarray:
    """[len(rows), window] row indices of each frame's window, oldest first, repeating the first
    frame of a contiguous run where the window would reach before it."""
    rows = np.asarray(rows)
    out = np.empty((len(rows), window), dtype=rows.dtype)
    out[:, -1] = rows
    pos = np.arange(len(rows))
    for j in range(1, window):
        prev = pos - 1
        ok = (prev >= 0) & (rows[np.maximum(prev, 0)] == rows[pos] - 1)
        pos = np.where(ok, prev, pos)
        out[:, -1 - j] = rows[pos]
    return out


def best_of(records: list[dict[str, Any]], target: float) -> dict[str, Any]:
    """Lowest val FN among records meeting the val FP target (else lowest FP + FN), cheapest on ties."""
    ok = [r for r in records if r["val_fp"] <= target + 1e-9] or records
    return min(ok, key=lambda r: (r["val_fn"], r["val_fp"], r["cost_madds"]))


def run_baselines(ev: Evaluator, space: SearchSpace, seed: int) -> list[dict[str, Any]]:
    """The paper's transfer-learning baseline: each head on the pooled final feature map."""
    layer = baseline_layer(ev.data)
    out = []
    for n, head in enumerate(space.heads):
        fixed = {k: v for k, v in space.heads[head].items() if isinstance(v, int | float | str) and not isinstance(v, bool)}
        specs = [TrialSpec(layer, FULL_FRAME, head, {**fixed, "l2": l2}) for l2 in BASELINE_L2]
        recs = ev.run(specs, [seed] * len(specs), pooled=True)
        best = best_of(recs, ev.cfg.search.operating_point.target)
        out.append({**best, "number": -(n + 1), "baseline": True})
    return out


def _record_to_mlflow(rec: dict[str, Any]) -> tuple[dict[str, Any], dict[str, float]]:
    params = {
        "layer": rec["layer"],
        "crop": rec["crop"],
        "cells": rec["cells"],
        "head": rec["head"],
        "pooled": rec["pooled"],
        "input_shape": rec["input_shape"],
        **{f"hp.{k}": v for k, v in rec["hparams"].items()},
    }
    metrics = {k: v for k, v in rec.items() if isinstance(v, float | int) and not isinstance(v, bool) and k != "number"}
    return params, metrics


def run_search(
    cfg: Config,
    data: QueryData,
    space: SearchSpace,
    trials: int,
    sampler_name: str,
    study_name: str,
    tracker: Any | None = None,
    progress: bool = True,
) -> optuna.Study:
    """Add `trials` trials to the study (resuming it if it exists), tracked in MLflow if given."""
    sampler_seed = cfg.search.seed + 7919 * cfg.search.worker  # workers sharing a study must not draw the same crops
    study = open_study(cfg, study_name, make_sampler(sampler_name, sampler_seed, sampler_context(cfg, data, space, sampler_name)))
    if sampler_name in PROPOSES and not study.trials:
        for params, attrs in sparse_proposals(data, space):
            study.enqueue_trial(params, user_attrs=attrs or None, skip_if_exists=not attrs)
    study.set_user_attr("config", str(cfg.source_path))
    ev = Evaluator(data, cfg)
    parent = None
    if tracker is not None:
        parent = tracker.study_run(study_name, {"config": cfg.source_path, "space": space.source_path, "sampler": sampler_name,
                                                "backbone": cfg.backbone.model, "weights": data.backbone.weights_digest,
                                                "input_size": cfg.backbone.input_size, "frames": data.describe()})
    if "baselines" not in study.user_attrs:
        baselines = run_baselines(ev, space, cfg.search.seed)
        study.set_user_attr("baselines", baselines)
        for rec in baselines:
            if tracker is not None:
                params, metrics = _record_to_mlflow(rec)
                tracker.trial_run(parent, study_name, f"baseline-{rec['head']}", params, metrics, {"baseline": "true"})
    records = trial_records(study)  # read once; the loop appends what it tells
    bar = tqdm(total=trials, unit="trial", desc=f"search {study_name} ({sampler_name})", disable=not progress, dynamic_ncols=True)
    done = 0
    with bar:
        while done < trials:
            asked = [study.ask() for _ in range(min(cfg.search.batch, trials - done))]
            specs = [suggest(t, space) for t in asked]
            seeds = [trial_seed(cfg, t.number) for t in asked]
            for trial, rec in zip(asked, ev.run(specs, seeds, keep=tracker is not None), strict=True):
                rec |= {"number": trial.number, "baseline": False}
                extras = {k: rec.pop(k) for k in [k for k in rec if k.startswith("_")]}
                for key, value in rec.items():
                    trial.set_user_attr(key, value)
                limits = cfg.search.constraints
                if limits.max_fn is not None:
                    trial.set_constraint("val_fn", rec["val_fn"] - limits.max_fn)
                if limits.max_fp is not None:
                    trial.set_constraint("val_fp", rec["val_fp"] - limits.max_fp)
                study.tell(trial, [rec[o] for o in OBJECTIVES])
                if tracker is not None:
                    params, metrics = _record_to_mlflow(rec)
                    run_id = tracker.trial_run(parent, study_name, f"trial-{trial.number}", params, metrics, {"baseline": "false"})
                    if cfg.tracking.trial_plots:
                        tracker.log_figures(run_id, trial_figures(rec, extras["_val_scores"], ev.ys["val"], data))
                records.append(rec)
            done += len(asked)
            bar.update(len(asked))
            best = best_of(records, cfg.search.operating_point.target)
            bar.set_postfix(best_val_fn=f"{best['val_fn']:.3f}", val_fp=f"{best['val_fp']:.3f}")
    if tracker is not None and records:
        best = best_of(records, cfg.search.operating_point.target)
        tracker.log_figures(parent, study_figures(study, data, cfg.search.operating_point.target))
        tracker.log_metrics(parent, {f"best_{k}": best[k] for k in ("val_fp", "val_fn", "test_fp", "test_fn", "cost_madds")} | {"n_trials": len(study.trials)})
        tracker.finish(parent)
    return study


def sampler_context(cfg: Config, data: QueryData, space: SearchSpace, sampler: str) -> dict[str, Any]:
    """What a sampler needs beyond its seed: for `rf`, crop targets from the ROI's receptive fields."""
    roi = cfg.search.roi or cfg.labels.region
    if sampler not in NEEDS_ROI or not roi:
        return {}
    from autocrop.receptive import receptive_fields

    frame_hw = data.source.first_frame().shape[:2]
    targets = roi_targets(receptive_fields(data.backbone), data.backbone.layers(), space.layers, roi,
                          frame_hw, tuple(cfg.backbone.input_size))
    return {"targets": targets}


def trial_seed(cfg: Config, number: int) -> int:
    return cfg.search.seed * 100_003 + number


def trial_records(study: optuna.Study) -> list[dict[str, Any]]:
    """The user-attribute record of every complete trial."""
    return [dict(t.user_attrs) for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))]


def pareto_numbers(study: optuna.Study) -> set[int]:
    return {t.number for t in study.best_trials}

