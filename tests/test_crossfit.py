"""Cross-fitting on few labels: folds by time cycle, never test, and the kept head is what was scored."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from autocrop import crossfit
from autocrop.config import load_config
from autocrop.crops import Crop
from autocrop.crossfit import folds, mean_linear
from autocrop.dataset import prepare
from autocrop.errors import DataError
from autocrop.evaluation import Evaluator
from autocrop.heads import get_head
from autocrop.labels import UNLABELLED, block_of
from autocrop.metrics import choose_threshold, rates
from autocrop.space import TrialSpec


def _setup(query, **over):
    cfg = load_config(query, [f"{k}={v}" for k, v in over.items()])
    return cfg, prepare(cfg)


def test_each_fold_holds_out_one_time_cycle_of_the_train_and_val_labels_never_test(query):
    cfg, data = _setup(query)
    fs = folds(data, cfg)
    assert fs is not None and len(fs) == cfg.split.blocks == 3
    pooled = np.sort(np.r_[data.splits["train"], data.splits["val"]])
    held = np.concatenate([f.held for f in fs])
    assert np.array_equal(np.sort(held), pooled)  # every label held out once
    test = set(data.splits["test"].tolist()) | set(data.pool["test"].tolist())
    for f in fs:
        assert np.array_equal(np.sort(np.r_[f.train, f.held]), pooled)
        assert (block_of(f.held, len(data.ids), cfg.split.blocks) == f.cycle).all()
        assert (block_of(f.train, len(data.ids), cfg.split.blocks) != f.cycle).all()
        assert not test & (set(f.train.tolist()) | set(f.held.tolist()) | set(f.unlabelled.tolist()))


def test_held_out_validation_when_off_when_labels_are_many_or_one_cycle(query, monkeypatch):
    cfg, data = _setup(query, **{"search.operating_point.crossfit": "off"})
    assert folds(data, cfg) is None
    cfg, data = _setup(query, **{"split.blocks": 1})
    assert folds(data, cfg) is None
    cfg, data = _setup(query, **{"split.blocks": 1, "search.operating_point.crossfit": "on"})
    with pytest.raises(DataError, match=r"query.yaml: search.operating_point.crossfit is on, but split.blocks is 1: .*or crossfit to auto"):
        folds(data, cfg)
    cfg, data = _setup(query)
    labelled = len(data.splits["train"]) + len(data.splits["val"])
    monkeypatch.setattr(crossfit, "CROSSFIT_BELOW", labelled)  # auto: only below it
    assert folds(data, cfg) is None
    cfg, data = _setup(query, **{"search.operating_point.crossfit": "on"})
    assert folds(data, cfg) is not None  # on: however many


def test_on_refuses_a_cycle_without_labels_and_auto_falls_back(query):
    cfg, data = _setup(query, **{"search.operating_point.crossfit": "on"})
    y = data.y.copy()
    rows = np.r_[data.splits["train"], data.splits["val"]]
    y[rows[block_of(rows, len(data.ids), cfg.split.blocks) == 2]] = UNLABELLED
    part = data.with_labels(y)
    with pytest.raises(DataError, match=r"query.yaml: search.operating_point.crossfit is on, but time cycle 3 of 3 holds no "
                                        r"labelled .*set it to auto"):
        folds(part, cfg)
    cfg, _ = _setup(query)
    assert folds(part, cfg) is None


def test_the_mean_of_linear_heads_is_one_linear_head():
    cls = get_head("logistic")
    gen = torch.Generator().manual_seed(0)
    heads = []
    for seed in range(3):
        h = cls([(12,)], [{}], [seed])
        with torch.no_grad():
            h.weight.copy_(torch.randn(1, 12, generator=gen))
            h.bias.copy_(torch.randn(1, generator=gen))
            h.mean.copy_(torch.randn(1, 12, generator=gen))
            h.scale.copy_(torch.rand(1, 12, generator=gen) + 0.5)
        heads.append(h.eval())
    x = torch.randn(1, 40, 12, generator=gen)
    with torch.no_grad():
        want = torch.stack([h(x)[0] for h in heads]).mean(0)
        got = mean_linear(heads)(x)[0]
    assert type(mean_linear(heads)) is cls
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("head,partial", [("logistic", False), ("mlp", False), ("knn", False), ("logistic", True)])
def test_out_of_fold_threshold_ignores_test_labels_and_the_kept_head_scores_test_as_recorded(query, head, partial):
    cfg, data = _setup(query)
    if partial:  # half the training and validation frames not labelled yet: they count by class probability
        y = data.y.copy()
        y[np.r_[data.splits["train"], data.splits["val"]][::2]] = UNLABELLED
        data = data.with_labels(y)
    ev = Evaluator(data, cfg)
    hp = {"knn": {"k": 5}, "mlp": {"l2": 1e-3, "hidden": 16}}.get(head, {"l2": 1e-3})
    job = ev.job(TrialSpec("blocks.3.3", Crop.from_center(0.3, 0.75, 0.4, 0.5), head, hp), 0)
    out = ev.run([job], keep=True)[0]
    m = out.record.metrics
    assert m["crossfit_folds"] == 3
    if head == "knn":  # the kept KNN stores every pooled label, and its cost counts them
        assert out.head.train_x.shape[1] == len(ev.cross_ys["val"])
        assert out.record.cost_madds == int(np.prod(out.record.input_shape)) * len(ev.cross_ys["val"])
    # the threshold is the usual rule on the out-of-fold scores, the target held in each cycle
    op = cfg.search.operating_point
    assert len(out.val_scores) == len(ev.cross_ys["val"]) == len(data.splits["train"]) + len(data.splits["val"])
    unl = [f.unlabelled for f in ev.folds]
    assert sum(map(len, unl)) == (len(data.pool["train"]) + len(data.pool["val"]) if partial else 0)
    if not partial:
        assert m["threshold"] == choose_threshold(out.val_scores, ev.cross_ys["val"], op.rule, op.target, ev.cross_blocks[0], op.reserve)
    else:  # each unlabelled frame scored by the head of the fold that held its cycle out
        heads = [Evaluator(replace(data, splits={"train": f.train, "val": f.held, "test": data.splits["test"]},
                                   blocks=None, pool=None), replace_crossfit(cfg)).run([job], keep=True)[0].head for f in ev.folds]
        with torch.no_grad():
            su = np.concatenate([h(torch.from_numpy(job.input.gather_windows(data.store, r))[None])[0].numpy() for h, r in zip(heads, unl)])
        want = choose_threshold(out.val_scores, ev.cross_ys["val"], op.rule, op.target, ev.cross_blocks[0], op.reserve, su, ev.cross_blocks[1])
        assert m["threshold"] == pytest.approx(want, rel=1e-5)
    # the head kept (what export writes) gives the recorded test rates at that threshold
    test = data.splits["test"]
    with torch.no_grad():
        s = out.head(torch.from_numpy(job.input.gather_windows(data.store, test))[None])[0].numpy()
    fp, fn = rates(data.y[test], (s >= m["threshold"]).astype(int))
    assert (fp, fn) == pytest.approx((m["test_fp"], m["test_fn"]), abs=1e-9)
    # test labels play no part: flip them all and the threshold and validation rates stay
    y = data.y.copy()
    y[test] = 1 - y[test]
    again = Evaluator(data.with_labels(y), cfg).run([job])[0].record.metrics
    assert (again["threshold"], again["val_fp"], again["val_fn"]) == (m["threshold"], m["val_fp"], m["val_fn"])


def replace_crossfit(cfg):
    """`cfg` with the held-out split: a fold's own head, trained alone."""
    out = cfg.model_copy(deep=True)
    out.search.operating_point.crossfit = "off"
    return out


def test_the_switch_reads_yaml_on_off_and_names_the_key_when_wrong(query):
    from autocrop.errors import ConfigError

    text = query.read_text().replace("search:\n", "search:\n  operating_point: {crossfit: off}\n")
    query.write_text(text)
    assert load_config(query).search.operating_point.crossfit == "off"  # YAML's bare off is a boolean
    with pytest.raises(ConfigError, match=r"query.yaml: `search.operating_point.crossfit`: Input should be 'auto', 'on' or 'off'"):
        load_config(query, ["search.operating_point.crossfit=maybe"])


@pytest.mark.slow
def test_search_with_crossfit_on_and_an_unlabelled_cycle_is_one_line_exit_2_writing_nothing(query, tmp_path, shared_cache, capsys):
    import yaml

    from autocrop.cli import main
    from conftest import HIGHWAY

    cfg, data = _setup(query)
    rows = np.r_[data.splits["train"], data.splits["val"], data.splits["test"]]
    early = rows[block_of(rows, len(data.ids), cfg.split.blocks) < 2]  # labels in the first two time cycles only
    labels = tmp_path / "labels.csv"
    labels.write_text("frame,label\n" + "".join(f"{data.ids[r]},{data.y[r]}\n" for r in sorted(early)))
    doc = yaml.safe_load(query.read_text())
    doc["labels"] = {"csv": str(labels), "temporal_roi": str(HIGHWAY / "temporalROI.txt")}
    doc["search"]["operating_point"] = {"crossfit": "on"}
    doc["tracking"]["dir"] = str(tmp_path / "runs")
    query.write_text(yaml.safe_dump(doc))
    assert main(["search", str(query), "--quiet", "--trials", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "crossfit is on, but time cycle 3 of 3 holds no labelled" in err and "set it to auto" in err
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("mode,says", [("off", False), ("auto", True)])
def test_search_says_on_its_first_line_whether_it_cross_fits(query, capsys, mode, says):
    from autocrop.cli import main

    assert main(["search", str(query), "--quiet", "--no-mlflow", "--trials", "1", "--study", f"cf-{mode}",
                 "--set", f"search.operating_point.crossfit={mode}"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("car-test: ") and ("cross-fitted over 3 time cycles (few labels)" in first) == says
