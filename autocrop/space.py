"""The layer x crop x head search space (search_spaces/*.yaml) and how a trial samples it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from autocrop.config import explain
from autocrop.crops import CENTER_PARAMS, SIZE_PARAMS, Crop
from autocrop.errors import ConfigError
from autocrop.heads import HEADS

__all__ = ["SearchSpace", "TrialSpec", "load_space", "suggest", "MASK_ATTR", "EXTRA_ATTR"]

# user attributes of an enqueued trial that override its input (set by block-sparse proposals)
MASK_ATTR = "cell_mask"
EXTRA_ATTR = "extra_inputs"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Range(_Strict):
    low: float
    high: float
    log: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if not self.low < self.high:
            raise ValueError(f"`low < high` must hold, but got (low={self.low}, high={self.high})")
        return self


class CropSpace(_Strict):
    center: tuple[float, float] = (0.1, 0.9)  # range of the crop centre on each axis, normalized
    size: tuple[float, float] = (0.1, 0.5)  # range of the crop width and height, normalized

    @model_validator(mode="after")
    def _ranges(self) -> CropSpace:
        for name, (low, high) in (("center", self.center), ("size", self.size)):
            if not 0 <= low < high <= 1:
                raise ValueError(f"`0 <= low < high <= 1` must hold for crop.{name}, but got (low={low}, high={high})")
        return self


class SearchSpace(_Strict):
    sampler: str = "auto"  # a registered sampler (`autocrop search --help` lists them)
    layers: list[str] = Field(min_length=1)  # tappable layer names (see `autocrop layers`)
    crop: CropSpace = CropSpace()
    # head kind -> hyper-parameter -> a fixed value, a list of choices, or {low, high, log}
    heads: dict[str, dict[str, Range | list[Any] | float | int | str]] = Field(min_length=1)
    source_path: Path | None = Field(None, exclude=True)


@dataclass(frozen=True)
class TrialSpec:
    """What one trial asks for: which layer, which crop, which head with which hyper-parameters."""

    layer: str
    crop: Crop
    head: str
    hparams: dict[str, Any] = field(default_factory=dict)
    mask: tuple[tuple[int, int], ...] | None = None  # non-rectangular input: exactly these (row, col) cells
    extra: tuple[tuple[str, tuple[int, int, int, int]], ...] = ()  # more (layer, cells) read and concatenated
    pooled: bool = False  # the global-average-pooled layer (the baseline); the crop is ignored


def load_space(path: Path) -> SearchSpace:
    if not path.is_file():
        raise ConfigError(f"{path}: search space file not found; set `search.space` to a file in search_spaces/")
    try:
        space = SearchSpace.model_validate(yaml.safe_load(path.read_text()) or {})
    except ValidationError as exc:
        raise ConfigError(explain(exc, str(path), SearchSpace)) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    for kind in space.heads:
        if kind not in HEADS:
            raise ConfigError(f"{path}: unknown head `{kind}` under `heads`; registered heads: {', '.join(sorted(HEADS))}")
    from autocrop.samplers.registry import check_sampler

    check_sampler(space.sampler, f"{path}: `sampler`")
    space.source_path = path
    return space


def suggest(trial: optuna.Trial, space: SearchSpace) -> TrialSpec:
    """Sample a TrialSpec; crop params are named so samplers can treat them specially."""
    layer = trial.suggest_categorical("layer", space.layers)
    cx, cy = (trial.suggest_float(n, *space.crop.center) for n in CENTER_PARAMS)
    w, h = (trial.suggest_float(n, *space.crop.size) for n in SIZE_PARAMS)
    head = trial.suggest_categorical("head", list(space.heads))
    hparams: dict[str, Any] = {}
    for name, spec in space.heads[head].items():
        pname = f"{head}.{name}"
        if isinstance(spec, Range):
            hparams[name] = trial.suggest_float(pname, spec.low, spec.high, log=spec.log)
        elif isinstance(spec, list):
            hparams[name] = trial.suggest_categorical(pname, spec)
        else:
            hparams[name] = spec
    mask = trial.user_attrs.get(MASK_ATTR)  # set by proposals enqueued with a cell mask (block-sparse)
    extra = tuple((e["layer"], tuple(e["cells"])) for e in trial.user_attrs.get(EXTRA_ATTR, []))
    return TrialSpec(layer, Crop.from_center(cx, cy, w, h), head, hparams, tuple(map(tuple, mask)) if mask else None, extra)
