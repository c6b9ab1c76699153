"""The Pareto front and the baselines of a study, as a table or JSON rows."""

from __future__ import annotations

from typing import Any

import optuna

from autocrop.search import pareto_numbers, trial_records

__all__ = ["report_rows", "format_table", "best_row"]

FIELDS = ("number", "layer", "crop", "head", "cost_madds", "val_fp", "val_fn", "test_fp", "test_fn", "baseline")


def report_rows(study: optuna.Study, everything: bool = False) -> list[dict[str, Any]]:
    """Pareto-optimal trials (or all complete ones) sorted by cost, then the baselines."""
    front = pareto_numbers(study)
    rows = []
    for rec in sorted(trial_records(study), key=lambda r: (r["cost_madds"], r["val_fn"])):
        if everything or rec["number"] in front:
            rows.append({**rec, "pareto": rec["number"] in front})
    rows += [{**b, "pareto": False} for b in study.user_attrs.get("baselines", [])]
    return rows


def best_row(rows: list[dict[str, Any]], target: float) -> dict[str, Any] | None:
    """The searched trial with the lowest val FN at val FP <= target (cheapest on ties)."""
    searched = [r for r in rows if not r["baseline"] and r["val_fp"] <= target + 1e-9]
    return min(searched, key=lambda r: (r["val_fn"], r["cost_madds"])) if searched else None


def format_table(rows: list[dict[str, Any]], best: int | None = None) -> str:
    head = f"{'trial':>8} {'layer':<11} {'crop x0,y0,x1,y1':<24} {'head':<9} {'MACs':>9} {'val FP':>7} {'val FN':>7} {'test FP':>7} {'test FN':>7}"
    lines = [head, "-" * len(head)]
    for r in rows:
        tag = "baseline" if r["baseline"] else ("*" if r["number"] == best else "") + str(r["number"])
        crop = "pooled (GAP)" if r.get("pooled") else ",".join(f"{v:.2f}" for v in r["crop"])
        if r.get("cell_mask"):
            crop = f"mask of {len(r['cell_mask'])} cells"
        if r.get("extra_inputs"):
            crop += " + " + ",".join(e["layer"] for e in r["extra_inputs"])
        lines.append(
            f"{tag:>8} {r['layer']:<11} {crop:<24} {r['head']:<9} {r['cost_madds']:>9,} "
            f"{r['val_fp']:>7.3f} {r['val_fn']:>7.3f} {r['test_fp']:>7.3f} {r['test_fn']:>7.3f}"
        )
    return "\n".join(lines)
