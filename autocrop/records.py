"""The typed record of one evaluated trial (or pooled baseline), and its stored forms.

A record is what the study keeps (Optuna user attributes), what reports and plots read, and what
a bundle manifest is made from. Trained heads and validation scores travel beside it
(`evaluation.Outcome`), never inside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from autocrop.inputs import InputSpec

__all__ = ["TrialRecord", "METRIC_KEYS"]

# metrics every record carries (more, e.g. event metrics, ride in `metrics` too)
METRIC_KEYS = ("threshold", "val_fp", "val_fn", "test_fp", "test_fn")
_FIELDS = ("number", "baseline", "crop", "head", "hparams", "input_shape", "cost_madds", "gather_elements", "backbone_madds", "steps")


@dataclass(frozen=True)
class TrialRecord:
    """One trained candidate: its input, head, cost and metrics at the validation operating point."""

    number: int  # Optuna trial number; negative for the pooled baselines (-1, -2, ...)
    input: InputSpec
    crop: tuple[float, float, float, float]  # the box asked for, normalized x0, y0, x1, y1 (for display)
    head: str
    hparams: dict[str, Any]
    input_shape: tuple[int, ...]
    cost_madds: int  # the head's multiply-adds per frame (the searched cost)
    metrics: dict[str, float] = field(default_factory=dict)  # threshold, {train,val,test}_{fp,fn,acc,auc}, event metrics
    gather_elements: int = 0  # values gathered from the feature maps per frame
    backbone_madds: int = 0  # the shared backbone prefix up to the deepest layer read
    steps: int = 0  # optimizer steps run before early stopping
    baseline: bool = False

    # the numbers every rule reads, typed
    @property
    def layer(self) -> str:
        return self.input.layer

    @property
    def val_fp(self) -> float:
        return float(self.metrics["val_fp"])

    @property
    def val_fn(self) -> float:
        return float(self.metrics["val_fn"])

    @property
    def test_fp(self) -> float:
        return float(self.metrics["test_fp"])

    @property
    def test_fn(self) -> float:
        return float(self.metrics["test_fn"])

    @property
    def threshold(self) -> float:
        return float(self.metrics["threshold"])

    def with_number(self, number: int, baseline: bool | None = None) -> TrialRecord:
        return replace(self, number=number, baseline=self.baseline if baseline is None else baseline)

    def to_attrs(self) -> dict[str, Any]:
        """JSON-ready flat dict: Optuna user attributes, `report --json` rows, stored baselines."""
        return {
            "number": self.number,
            "baseline": self.baseline,
            "input": self.input.to_dict(),
            "layer": self.layer,
            "cells": list(self.input.cells),
            "pooled": self.input.pooled,
            "crop": list(self.crop),
            "head": self.head,
            "hparams": dict(self.hparams),
            "input_shape": list(self.input_shape),
            "cost_madds": int(self.cost_madds),
            "gather_elements": int(self.gather_elements),
            "backbone_madds": int(self.backbone_madds),
            "steps": int(self.steps),
            **{k: float(v) for k, v in self.metrics.items()},
        }

    @classmethod
    def from_attrs(cls, d: Mapping[str, Any]) -> TrialRecord:
        """From `to_attrs()`, or from the flat dicts of studies written before `input` existed."""
        known = {*_FIELDS, "input", "layer", "cells", "pooled", "cell_mask", "extra_inputs"}
        metrics = {k: float(v) for k, v in d.items() if k not in known and isinstance(v, int | float) and not isinstance(v, bool)}
        spec = InputSpec.from_dict(d["input"]) if "input" in d else _legacy_input(d)
        return cls(
            number=int(d["number"]),
            input=spec,
            crop=tuple(float(v) for v in d["crop"]),  # type: ignore[arg-type]
            head=str(d["head"]),
            hparams=dict(d.get("hparams") or {}),
            input_shape=tuple(int(v) for v in d["input_shape"]),
            cost_madds=int(d["cost_madds"]),
            metrics=metrics,
            gather_elements=int(d.get("gather_elements", 0)),
            backbone_madds=int(d.get("backbone_madds", 0)),
            steps=int(d.get("steps", 0)),
            baseline=bool(d.get("baseline", False)),
        )


def _legacy_input(d: Mapping[str, Any]) -> InputSpec:
    """Records from before the typed input: layer/cells/cell_mask/extra_inputs/pooled keys."""
    window = int((d.get("hparams") or {}).get("window", 1)) if len(d.get("input_shape", ())) == 4 else 1
    pooled = bool(d.get("pooled"))
    return InputSpec.from_dict({
        "layer": d["layer"],
        "cells": d["cells"],
        "mask": d.get("cell_mask"),
        "extra": d.get("extra_inputs") or [],
        "window": window,
        "pooled": pooled,
    })
