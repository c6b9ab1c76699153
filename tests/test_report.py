"""The one-line verdict: the searched pick against the pooled pick, on validation and test."""

from __future__ import annotations

from autocrop.inputs import InputSpec
from autocrop.records import TrialRecord
from autocrop.report import Row, verdict


def rec(number, val, test, baseline=False, cost=256):
    (vfp, vfn), (tfp, tfn) = val, test
    spec = InputSpec("final", (0, 8, 0, 10), pooled=True) if baseline else InputSpec("blocks.3.3", (2, 4, 0, 3))
    return TrialRecord(number, spec, (0.0, 0.5, 0.3, 1.0), "logistic", {}, (96,), cost,
                       {"val_fp": vfp, "val_fn": vfn, "test_fp": tfp, "test_fn": tfn}, baseline=baseline)


BASE = rec(-1, (0.04, 0.15), (0.05, 0.20), baseline=True, cost=1280)


def test_a_win_that_holds_on_test():
    rows = [Row(rec(3, (0.03, 0.05), (0.06, 0.08)), True), Row(BASE, False)]
    assert verdict(rows, 0.05) == (
        "verdict: trial 3 (blocks.3.3 0.00,0.50,0.30,1.00 logistic, 256 MACs) beats the pooled baseline (logistic, 1,280 MACs) "
        "at val FP <= 0.05: val FN 0.050 vs 0.150; test FN 0.080 vs 0.200 at test FP 0.060 vs 0.050; it holds on test")


def test_a_win_on_validation_that_does_not_hold_on_test():
    rows = [Row(rec(3, (0.03, 0.05), (0.12, 0.08)), True), Row(BASE, False)]  # test FP 0.12 > 0.05 + 0.03
    assert verdict(rows, 0.05).endswith("; it does NOT hold on test")


def test_a_loss_is_said_plainly():
    rows = [Row(rec(3, (0.03, 0.20), (0.03, 0.1)), True), Row(BASE, False)]
    line = verdict(rows, 0.05)
    assert line.startswith("verdict: the search did NOT beat the pooled baseline (logistic, 1,280 MACs): best trial 3 (")
    assert "on test" not in line


def test_nothing_meets_the_operating_point():
    rows = [Row(rec(3, (0.2, 0.0), (0.2, 0.0)), True), Row(BASE, False)]
    assert verdict(rows, 0.05) == ("verdict: no searched trial meets val FP <= 0.05; add trials or widen the space "
                                   "(the pooled baseline does: trial -1, val FN 0.150)")
    rows = [Row(rec(3, (0.03, 0.05), (0.06, 0.08)), True), Row(rec(-1, (0.3, 0.0), (0.3, 0.0), baseline=True), False)]
    assert "no pooled baseline meets the operating point" in verdict(rows, 0.05)


def test_other_rules_name_their_rates():
    rows = [Row(rec(3, (0.03, 0.05), (0.06, 0.08)), True), Row(BASE, False)]
    assert "at val FN <= 0.2: val FP 0.030 vs 0.040; test FP 0.060 vs 0.050 at test FN 0.080 vs 0.200" in verdict(rows, 0.2, "max_fn")
    assert ": val FP+FN 0.080 vs 0.190; test FP+FN 0.140 vs 0.250; it holds on test" in verdict(rows, 0.05, "balanced")
