"""What a study was made from, so that resuming it never mixes experiments on one Pareto front.

A study stores, per part (footage, labels, split, backbone, space, operating point), a digest and
a line a person can read. `autocrop search` compares them before any work: a study resumed with
other footage, labels, split, backbone, search space or operating point is refused in one line
naming what changed, because its trials and baselines would not be comparable with the new ones.
The sampler, batch size, trial count and tracking are free to change between runs.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np
import optuna

from autocrop.dataset import QueryData
from autocrop.errors import ConfigError
from autocrop.space import SearchSpace

__all__ = ["FINGERPRINT_ATTR", "fingerprint", "check_fingerprint", "guard"]

FINGERPRINT_ATTR = "autocrop:made_from"
PARTS = ("footage", "labels", "split", "backbone", "space", "operating point")


def _sha(value: Any) -> str:
    if isinstance(value, np.ndarray):
        raw = np.ascontiguousarray(value).tobytes() + str((value.dtype.str, value.shape)).encode()
    else:
        raw = json.dumps(value, sort_keys=True, default=str).encode()
    return hashlib.sha256(raw).hexdigest()[:16]


def fingerprint(data: QueryData, space: SearchSpace) -> dict[str, dict[str, str]]:
    """part -> {"digest", "about"}: the digest decides, `about` tells a person what it was."""
    cfg, bb = data.cfg, data.backbone
    foot = cfg.footage.frames or cfg.footage.video
    h, w = cfg.backbone.input_size
    op, limits = cfg.search.operating_point, cfg.search.constraints
    space_doc = space.model_dump(mode="json", exclude={"sampler"})  # the sampler may change between runs
    labels = np.stack([np.asarray(data.ids, np.int64), data.y.astype(np.int64)])
    split = {s: _sha(np.asarray(rows, np.int64)) for s, rows in data.splits.items()}
    parts = {
        "footage": (data.store.key["frames"], f"{len(data.ids)} frames of {foot}"),
        "labels": (_sha(labels), f"{int((data.y == 1).sum())} positives in {data.labelled} labelled frames"),
        "split": (_sha(split), data.describe()),
        "backbone": (_sha({k: v for k, v in data.store.key.items() if k not in ("frames", "engine", "device")}),
                     f"{cfg.backbone.model} at {h}x{w}, weights {bb.weights_digest}"),
        "space": (_sha(space_doc), f"layers {', '.join(space.layers)}; heads {', '.join(space.heads)}"),
        "operating point": (_sha([op.model_dump(mode="json"), limits.model_dump(mode="json")]),
                            f"{op.rule} {op.target}" + " in each val block" * (op.rule != "balanced" and op.per_block)
                            + f", {op.reserve} frame(s) in reserve" * (op.rule != "balanced" and op.reserve > 0)
                            + "".join(f", {k} <= {v}" for k, v in limits.model_dump().items() if v is not None)),
    }
    return {name: {"digest": digest, "about": about} for name, (digest, about) in parts.items()}


def check_fingerprint(stored: dict[str, dict[str, str]] | None, now: dict[str, dict[str, str]], study: str, where: str) -> None:
    """Refuse to resume `study` when any part it was made from differs (a study made before
    fingerprints, `stored` None, is accepted and adopts `now`)."""
    if not stored:
        return
    changed = [p for p in PARTS if stored.get(p, {}).get("digest") != now[p]["digest"]]
    if not changed:
        return

    def what(part: str) -> str:
        was, is_ = stored.get(part, {}).get("about", "?"), now[part]["about"]
        return f"{part}: was {was}, now {is_}" if was != is_ else f"{part}: same description, other content"

    raise ConfigError(
        f"{where}: study `{study}` was made from other {', '.join(changed)} ({'; '.join(map(what, changed))}); "
        f"its trials would not be comparable. Start a new study with --study {study}-2 (or restore what it was made from)")


def guard(study: optuna.Study, data: QueryData, space: SearchSpace) -> None:
    """Refuse `study` if it was made from anything else; a new (or pre-fingerprint) study records
    what it is made from now."""
    now = fingerprint(data, space)
    stored = study.user_attrs.get(FINGERPRINT_ATTR)
    check_fingerprint(stored, now, study.study_name, str(data.cfg.source_path))
    if stored is None:
        study.set_user_attr(FINGERPRINT_ATTR, now)
