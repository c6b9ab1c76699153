"""bench/label_efficiency.paired: proposals against another method cell by cell, by test FN at the
operating point or, threshold-free, by test AUC (higher is better there)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from label_efficiency import paired  # noqa: E402


def _cell(fn: float, auc: float, labels: int = 0) -> dict:
    return {"test_fn": fn, "test_fp": 0.02, "test_auc": auc, "fixed_fn": fn, "fixed_fp": 0.02, "labels": labels}


def _curve(*cells: tuple[float, float], counts: tuple[int, ...] = (24, 32, 48)) -> list[dict]:
    return [_cell(fn, auc, n) for (fn, auc), n in zip(cells, counts, strict=True)]


def test_paired_counts_fn_lower_as_better_and_auc_higher_as_better() -> None:
    # one query, two seeds, three counts; the first count is the shared start and left out
    proposals = [_curve((0.5, 0.5), (0.10, 0.99), (0.05, 0.98)), _curve((0.5, 0.5), (0.20, 0.97), (0.08, 0.994))]
    random = [_curve((0.1, 0.9), (0.15, 0.98), (0.05, 0.97)), _curve((0.1, 0.9), (0.10, 0.96), (0.09, 0.99))]
    runs = {"q": {"proposals": proposals, "random": random}}

    fn = paired(runs, "test", "random", first=1)
    assert "test FN lower in 2, equal in 1, higher in 1 of 4" in fn
    assert "mean difference +0.010" in fn  # (-0.05 + 0 + 0.10 - 0.01) / 4

    auc = paired(runs, "auc", "random", first=1)
    assert "test AUC higher in 4, equal in 0, lower in 0 of 4" in auc
    assert "mean difference +0.0085" in auc  # (0.01 + 0.01 + 0.01 + 0.004) / 4


def test_paired_counts_a_labelled_set_searched_again_once() -> None:
    # from a 12-frame start both methods were topped up past 16 labels, so the 16 step searched the
    # 12 step's labelled sets again: that cell repeats the one before and is left out; a step where
    # only one method's set is unchanged is a new comparison and stays
    counts = (16, 16, 24)
    proposals = [_curve((0.10, 0.9), (0.10, 0.9), (0.05, 0.95), counts=counts)]
    random = [_curve((0.20, 0.8), (0.20, 0.8), (0.10, 0.90), counts=(18, 18, 24))]
    fn = paired({"q": {"proposals": proposals, "random": random}}, "test", "random", first=0)
    assert "test FN lower in 2, equal in 0, higher in 0 of 2" in fn

    random = [_curve((0.20, 0.8), (0.15, 0.85), (0.10, 0.90), counts=(14, 16, 24))]
    fn = paired({"q": {"proposals": proposals, "random": random}}, "test", "random", first=0)
    assert "test FN lower in 3, equal in 0, higher in 0 of 3" in fn


def test_from_log_reads_the_counts_the_runs_stopped_at(tmp_path: Path, capsys) -> None:
    # the tables' columns are the counts of the merged logs, not --counts' default: one run to 96
    # labels and one to 256 give every count of both; a log printed before the header line existed
    # ran at the default counts, which are then assumed, and said so
    from label_efficiency import DEFAULT_COUNTS, log_counts

    short, long = tmp_path / "a.log", tmp_path / "b.log"
    short.write_text("# label_efficiency: counts [12, 16, 24, 32, 48, 64, 96], 16 trials, --val share\n   q seed 0 ...\n")
    long.write_text("# label_efficiency: counts [12, 16, 24, 32, 48, 64, 96, 128, 192, 256], 16 trials\n")
    assert log_counts([short]) == "12,16,24,32,48,64,96"
    assert log_counts([short, long]) == "12,16,24,32,48,64,96,128,192,256"

    old = tmp_path / "c.log"
    old.write_text("   q seed 0 every label (924): test FN 0.060 FP 0.016; its pick: trial 15, blocks.3.3 logistic\n")
    assert capsys.readouterr().err == ""
    assert log_counts([short, old]) == "12,16,24,32,48,64,96,192,384"
    assert str(old) in capsys.readouterr().err
    assert log_counts([old]) == DEFAULT_COUNTS


def test_evenly_spaced_frames_with_a_phase_are_one_every_n_over_count_and_without_one_the_old_grid() -> None:
    from types import SimpleNamespace

    import numpy as np
    from label_efficiency import Sim

    sim = SimpleNamespace(pickable=np.arange(1000, 1600, 2))  # 300 pickable rows, every other frame
    old = sim.pickable[np.unique(np.linspace(0, 299, 16).round().astype(int))]
    assert np.array_equal(Sim.evenly(sim, 16), old)  # the runs logged before --even-phase
    grids = []
    for phase in (0.0, 0.25, 0.5, 0.99):
        rows = Sim.evenly(sim, 16, phase)
        assert len(rows) == 16 and set(rows) <= set(sim.pickable)
        gaps = np.diff(np.r_[rows, rows[0] + 600]) / 2  # in pickable rows, round the end
        assert gaps.min() >= 18 and gaps.max() <= 19  # 300 / 16 = 18.75 rows a step, wrapped round the end too
        assert rows[0] - 1000 <= 2 * 18.75 * phase < rows[0] - 1000 + 2  # the phase moves the grid
        grids.append(frozenset(rows))
    assert len(set(grids)) == 4


def test_nested_evenly_spaced_frames_only_grow_and_stay_spread() -> None:
    """--even-nested: the labelled set at a count holds the set of every count before (a user
    labelling batch by batch), spread evenly at every count."""
    from types import SimpleNamespace

    import numpy as np
    from label_efficiency import Sim

    sim = SimpleNamespace(pickable=np.arange(1000, 1600, 2))  # 300 pickable rows, every other frame
    for seed in (0, 1, 7):
        prev = np.zeros(0, int)
        for count in (12, 16, 24, 32, 48, 64, 96, 128, 192, 256):
            rows = Sim.nested(sim, count, seed)
            assert len(rows) == count and set(prev) <= set(rows) and set(rows) <= set(sim.pickable)
            pos = (rows - 1000) // 2
            assert np.diff(np.r_[0, pos, 300]).max() <= 2 * 300 / count + 1  # no gap over twice a grid's step
            prev = rows
    # the order itself (grids at powers of two, the seed's phase, random frames failing the gap rule): tests/test_timegrid.py


def test_from_log_refuses_one_seed_of_a_method_in_two_logs(tmp_path: Path, capsys) -> None:
    # two runs of the same (query, method, seed), e.g. the fixed grid and --even-phase, would
    # otherwise merge into one curve of twice the counts
    import pytest
    from label_efficiency import from_logs

    line = "   car-left-near seed 0      even   12 labels: test FN 0.202 FP 0.000 AUC 0.9783 fixed input FN 1.000 FP 0.000 (3 s)\n"
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    a.write_text(line)
    b.write_text(line)
    with pytest.raises(SystemExit) as exc:
        from_logs([a, b])
    assert exc.value.code == 2  # bad input: exit 2, as everywhere in the project
    assert re.search(r"car-left-near even seed 0 is in both .*a\.log and .*b\.log", capsys.readouterr().err)


def test_from_log_reads_a_log_named_twice_once(tmp_path: Path, monkeypatch) -> None:
    # overlapping globs name a file twice: its lines must not count twice (nor be refused as two runs)
    from label_efficiency import from_logs

    a = tmp_path / "a.log"
    a.write_text("   car-left-near seed 0 every label (924): test FN 0.060 FP 0.016; its pick: trial 15, blocks.3.3 logistic\n"
                 "   car-left-near seed 0      even   12 labels: test FN 0.202 FP 0.000 AUC 0.9783 fixed input FN 1.000 FP 0.000 (3 s)\n")
    monkeypatch.chdir(tmp_path)
    assert from_logs([a, Path("a.log")]) == from_logs([a])


def test_from_log_reads_a_process_substitution(monkeypatch, capsys) -> None:
    # `--from-log <(grep ...)` names /dev/fd/N: a pipe, which resolves to no file and can be read
    # only once, yet the counts and the curves both come from it
    import os

    import label_efficiency

    text = ("# label_efficiency: counts [12], 16 trials, --val share, --start own, methods even\n"
            "   car-left-near seed 0 every label (924): test FN 0.060 FP 0.016; its pick: trial 15, blocks.3.3 logistic\n"
            "   car-left-near seed 0      even   12 labels: test FN 0.202 FP 0.000 AUC 0.9783 fixed input FN 1.000 FP 0.000 (3 s)\n")
    r, w = os.pipe()
    os.write(w, text.encode())
    os.close(w)
    monkeypatch.setattr(sys, "argv", ["label_efficiency.py", "--from-log", f"/dev/fd/{r}"])
    try:
        label_efficiency.main()
    finally:
        os.close(r)
    out = capsys.readouterr().out
    assert "| car-left-near | even | 0.202 / 0.000 |" in out and "| car-left-near | even | 0.9783 |" in out
