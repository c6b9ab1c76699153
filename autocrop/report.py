"""The Pareto front and the baselines of a study, as a table or JSON rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import optuna

from autocrop.records import TrialRecord
from autocrop.selection import best_of
from autocrop.study import baseline_records, pareto_numbers, trial_records

__all__ = ["Row", "report_rows", "format_table", "best_row", "json_rows", "format_serve", "verdict"]

TEST_SLACK = 0.03  # a pick "holds on test" when its test constraint rate is at most the baseline's + this

JSON_KEYS = ("number", "layer", "crop", "head", "cost_madds", "val_fp", "val_fn", "test_fp", "test_fn", "baseline",
             "pareto", "input", "cells", "pooled", "hparams", "threshold", "val_auc", "test_auc")


@dataclass(frozen=True)
class Row:
    record: TrialRecord
    pareto: bool


def report_rows(study: optuna.Study, everything: bool = False) -> list[Row]:
    """Pareto-optimal trials (or all complete ones) sorted by cost, then the baselines."""
    front = pareto_numbers(study)
    rows = [Row(r, r.number in front) for r in sorted(trial_records(study), key=lambda r: (r.cost_madds, r.val_fn))
            if everything or r.number in front]
    return rows + [Row(b, False) for b in baseline_records(study)]


def best_row(rows: list[Row], target: float, rule: str = "max_fp") -> TrialRecord | None:
    """The searched trial that is best at the operating point (None when none meets it)."""
    return best_of([r.record for r in rows if not r.record.baseline], target, rule, fallback=False)


def _rates(rec: TrialRecord, split: str, rule: str) -> tuple[float, float]:
    """(the rate the rule minimises, the rate it bounds) of `rec` on `split`."""
    fp, fn = getattr(rec, f"{split}_fp"), getattr(rec, f"{split}_fn")
    return {"max_fp": (fn, fp), "max_fn": (fp, fn)}.get(rule, (fp + fn, 0.0))


def _name(rec: TrialRecord) -> str:
    return f"{rec.layer} {_input_text(rec)} {rec.head}, {rec.cost_madds:,} MACs"


def verdict(rows: list[Row], target: float, rule: str = "max_fp") -> str:
    """One line: the searched pick against the best pooled baseline, both chosen on validation at
    the operating point, with their test rates; says plainly when the search did not win."""
    goal, bound = {"max_fp": ("FN", "FP"), "max_fn": ("FP", "FN")}.get(rule, ("FP+FN", ""))
    at = f" at val {bound} <= {target:g}" if bound else ""
    pick = best_row(rows, target, rule)
    base = best_of([r.record for r in rows if r.record.baseline], target, rule, fallback=False)
    if pick is None:
        return f"verdict: no searched trial meets val {bound} <= {target:g}; add trials or widen the space" + (
            f" (the pooled baseline does: trial {base.number}, val {goal} {_rates(base, 'val', rule)[0]:.3f})" if base else "")
    pv, pt = _rates(pick, "val", rule), _rates(pick, "test", rule)
    if base is None:
        return (f"verdict: trial {pick.number} ({_name(pick)}) wins{at}: val {goal} {pv[0]:.3f}, no pooled baseline meets "
                f"the operating point; test {goal} {pt[0]:.3f}" + (f" at test {bound} {pt[1]:.3f}" if bound else ""))
    bv, bt = _rates(base, "val", rule), _rates(base, "test", rule)
    won = pv[0] < bv[0] - 1e-9
    holds = pt[0] <= bt[0] + 1e-9 and pt[1] <= bt[1] + TEST_SLACK
    head = (f"trial {pick.number} ({_name(pick)}) beats the pooled baseline ({base.head}, {base.cost_madds:,} MACs)" if won
            else f"the search did NOT beat the pooled baseline ({base.head}, {base.cost_madds:,} MACs): best trial {pick.number} ({_name(pick)})")
    test = (f"test {goal} {pt[0]:.3f} vs {bt[0]:.3f}" + (f" at test {bound} {pt[1]:.3f} vs {bt[1]:.3f}" if bound else ""))
    tail = ("" if not won else "; it holds on test" if holds else "; it does NOT hold on test")
    return f"verdict: {head}{at}: val {goal} {pv[0]:.3f} vs {bv[0]:.3f}; {test}{tail}"


def json_rows(rows: list[Row]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        attrs = row.record.to_attrs() | {"pareto": row.pareto}
        out.append({k: attrs.get(k) for k in JSON_KEYS})
    return out


def _input_text(rec: TrialRecord) -> str:
    inp = rec.input
    if inp.pooled:
        text = "pooled (GAP)"
    elif inp.mask:
        text = f"mask of {len(inp.mask)} cells"
    else:
        text = ",".join(f"{v:.2f}" for v in rec.crop)
    if inp.extra:
        text += " + " + ",".join(lay for lay, _ in inp.extra)
    if inp.window > 1:
        text += f" x{inp.window} frames"
    return text


def format_table(rows: list[Row], best: int | None = None) -> str:
    head = f"{'trial':>8} {'layer':<11} {'crop x0,y0,x1,y1':<24} {'head':<9} {'MACs':>9} {'val FP':>7} {'val FN':>7} {'test FP':>7} {'test FN':>7}"
    lines = [head, "-" * len(head)]
    for row in rows:
        r = row.record
        tag = "baseline" if r.baseline else ("*" if r.number == best else "") + str(r.number)
        lines.append(
            f"{tag:>8} {r.layer:<11} {_input_text(r):<24} {r.head:<9} {r.cost_madds:>9,} "
            f"{r.val_fp:>7.3f} {r.val_fn:>7.3f} {r.test_fp:>7.3f} {r.test_fn:>7.3f}"
        )
    return "\n".join(lines)


def format_serve(summary: dict) -> str:
    """The edge service's final summary: frames/s, and per query its positives and bandwidth."""
    mb = 1e6
    lines = [f"served {summary['frames']:,} frames in {summary['seconds']:.1f} s "
             f"({summary['frames_per_s'] or 0:.1f} frames/s); stream in: {summary['bytes_in'] / mb:.2f} MB"]
    rows = [(q["query"], str(q["positives"]), f"{q['bytes_forwarded'] / mb:.2f} MB", _pct(q["share_of_stream"]),
             str(q["drift_alarms"])) for q in summary["queries"]]
    fw = summary["forwarded"]
    rows.append(("all queries (each frame once)", "", f"{fw['bytes'] / mb:.2f} MB", _pct(fw["share_of_stream"]), ""))
    head = ("query", "positives", "forwarded", "of stream", "drift alarms")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    for r in [head, *rows]:
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))))
    return "\n".join(lines)


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.1f} %"
