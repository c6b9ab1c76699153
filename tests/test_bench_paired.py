"""bench/label_efficiency.paired: proposals against another method cell by cell, by test FN at the
operating point or, threshold-free, by test AUC (higher is better there)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from label_efficiency import paired  # noqa: E402


def _cell(fn: float, auc: float) -> dict:
    return {"test_fn": fn, "test_fp": 0.02, "test_auc": auc, "fixed_fn": fn, "fixed_fp": 0.02, "labels": 0}


def test_paired_counts_fn_lower_as_better_and_auc_higher_as_better() -> None:
    # one query, two seeds, three counts; the first count is the shared start and left out
    proposals = [[_cell(0.5, 0.5), _cell(0.10, 0.99), _cell(0.05, 0.98)], [_cell(0.5, 0.5), _cell(0.20, 0.97), _cell(0.08, 0.994)]]
    random = [[_cell(0.1, 0.9), _cell(0.15, 0.98), _cell(0.05, 0.97)], [_cell(0.1, 0.9), _cell(0.10, 0.96), _cell(0.09, 0.99)]]
    runs = {"q": {"proposals": proposals, "random": random}}

    fn = paired(runs, "test", "random", first=1)
    assert "test FN lower in 2, equal in 1, higher in 1 of 4" in fn
    assert "mean difference +0.010" in fn  # (-0.05 + 0 + 0.10 - 0.01) / 4

    auc = paired(runs, "auc", "random", first=1)
    assert "test AUC higher in 4, equal in 0, lower in 0 of 4" in auc
    assert "mean difference +0.0085" in auc  # (0.01 + 0.01 + 0.01 + 0.004) / 4
