"""Partial labels and `autocrop label-next` on real footage: which frames, how many, never test."""

from __future__ import annotations

import csv
from dataclasses import replace

import numpy as np
import pytest
import yaml

from autocrop.cli import main
from autocrop.config import load_config
from autocrop.dataset import prepare
from autocrop.evaluation import baseline_layer
from autocrop.labels import UNLABELLED
from autocrop.embedding import embedding
from conftest import HIGHWAY, write_config

pytestmark = pytest.mark.slow


def _truth(query):
    """The small query's labels from its masks: frame id -> 0/1 (the simulated annotator)."""
    data = prepare(load_config(query))
    return {int(i): int(v) for i, v in zip(data.ids, data.y, strict=True)}


def _csv_query(tmp_path, shared_cache, truth, frames):
    """The small query with a label CSV holding only `frames` (same frames, so the same cache)."""
    tmp_path = tmp_path / "csv"  # beside, not over, the mask-labelled query
    tmp_path.mkdir()
    labels = tmp_path / "labels.csv"
    labels.write_text("frame,label\n" + "".join(f"{f},{truth[f]}\n" for f in sorted(frames)))
    cfg = write_config(tmp_path, cache_dir=str(shared_cache))
    doc = yaml.safe_load(cfg.read_text())
    doc["labels"] = {"csv": str(labels), "temporal_roi": str(HIGHWAY / "temporalROI.txt")}
    cfg.write_text(yaml.safe_dump(doc))
    return cfg, labels


def _read(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def partial(tmp_path, query, shared_cache):
    truth = _truth(query)
    ids = sorted(truth)
    return (*_csv_query(tmp_path, shared_cache, truth, ids[::4]), truth)


def test_partial_labels_train_and_score_only_labelled_frames_and_splits_stay_put(partial, query):
    cfg, _labels, truth = partial
    full, part = prepare(load_config(query)), prepare(load_config(cfg))
    assert part.ids.tolist() == full.ids.tolist()  # every frame that can carry a label is a row: one cache
    assert part.store.dir == full.store.dir
    for s in ("train", "val", "test"):
        assert (part.y[part.splits[s]] >= 0).all() and (part.y[part.pool[s]] == UNLABELLED).all()
        # a frame's split does not depend on which frames are labelled
        assert set(part.splits[s]) | set(part.pool[s]) == set(full.splits[s])
    assert part.labelled == len(full.ids[::4]) and "not labelled yet" in part.describe()


def test_cold_start_proposes_unlabelled_train_and_val_frames(tmp_path, query, shared_cache, capsys):
    cfg, labels = _csv_query(tmp_path, shared_cache, {}, [])
    labels.unlink()  # no labels at all yet: the CSV does not even exist
    out = tmp_path / "next.csv"
    assert main(["label-next", str(cfg), "--n", "20", "--out", str(out), "--quiet", "--no-mlflow"]) == 0
    assert "cold start" in capsys.readouterr().out
    rows = _read(out)
    assert len(rows) == 20 and {r["label"] for r in rows} == {""} and {r["split"] for r in rows} == {"train", "val"}
    assert sum(r["split"] == "val" for r in rows) == round(20 * 0.25 / 0.75)  # the split's share
    assert (tmp_path / "next.png").stat().st_size > 10_000  # the contact sheet
    data = prepare(load_config(query))
    test_ids = set(data.ids[data.splits["test"]].tolist())
    assert not test_ids & {int(r["frame"]) for r in rows}


def test_even_batches_fill_the_gaps_of_those_before_and_need_no_features(tmp_path, query, shared_cache, capsys):
    """--even: no search, no features (a fresh cache stays empty); each batch the next frames of
    the seed's nested order, train and validation only, spread in time; the next batch, with this
    one labelled, lands in its gaps; the same seed gives the same batch."""
    from autocrop.timegrid import time_order

    truth = _truth(query)
    cfg, labels = _csv_query(tmp_path, shared_cache, {}, [])
    doc = yaml.safe_load(cfg.read_text())
    doc["cache_dir"] = str(tmp_path / "empty-cache")
    cfg.write_text(yaml.safe_dump(doc))
    data = prepare(load_config(cfg), need_trainable=False, allow_unlabelled=True)
    block = np.sort(np.r_[data.pool["train"], data.pool["val"]])
    row_of = {int(f): i for i, f in enumerate(data.ids)}
    test_ids = set(data.ids[data.pool["test"]].tolist())
    gap = lambda rows: np.diff(np.r_[0, np.sort(np.searchsorted(block, rows)), len(block)]).max()  # noqa: E731

    def batch(name, *extra):
        out = tmp_path / name
        assert main(["label-next", str(cfg), "--n", "16", "--even", "--out", str(out), "--quiet", "--no-mlflow", *extra]) == 0
        return _read(out)

    first = batch("a.csv")
    assert "evenly spaced (--even, seed 0)" in capsys.readouterr().out
    assert first == batch("again.csv") and first != batch("other.csv", "--seed", "1")
    rows = [row_of[int(r["frame"])] for r in first]
    assert len(rows) == 16 and {r["split"] for r in first} == {"train", "val"} and not test_ids & {int(r["frame"]) for r in first}
    assert gap(rows) <= 2 * len(block) / 16 + 1
    assert not any((tmp_path / "empty-cache").rglob("*.npy"))  # no features extracted
    labels.write_text("frame,label\n" + "".join(f"{r['frame']},{truth[int(r['frame'])]}\n" for r in first))
    second = [row_of[int(r["frame"])] for r in batch("b.csv")]
    assert len(second) == 16 and not set(second) & set(rows)
    assert gap(rows + second) <= 2 * len(block) / 32 + 1  # the gaps: 32 frames as even as a grid of 32
    both = np.searchsorted(block, rows + second)  # nested: the order's first 32, not a second grid of 16 beside the first
    assert sorted(both.tolist()) == sorted(time_order(len(block), 0)[:32].tolist())
    with pytest.raises(SystemExit) as exc:  # --even and --cold are two ways to start: one at a time
        main(["label-next", str(cfg), "--even", "--cold", "--no-mlflow"])
    assert exc.value.code == 2 and "not allowed with argument" in capsys.readouterr().err


def test_proposals_name_only_unlabelled_train_val_frames_are_reproducible_and_spread(partial, query, tmp_path, capsys):
    cfg, labels, truth = partial
    assert main(["search", str(cfg), "--quiet", "--no-mlflow", "--trials", "8"]) == 0
    a, b, c = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    capsys.readouterr()
    for out, seed in ((a, 0), (b, 0), (c, 1)):
        assert main(["label-next", str(cfg), "--n", "30", "--out", str(out), "--seed", str(seed), "--quiet", "--no-mlflow",
                     "--min-distance", "0.3"]) == 0
    out = capsys.readouterr().out
    assert "after study `car-test`" in out
    assert "before the threshold can be estimated" not in out  # every validation block holds labelled frames of both classes
    rows = _read(a)
    assert rows == _read(b)  # the same seed: the same batch
    assert rows != _read(c)
    assert len(rows) == 30 and any("heads say positive" in r["reason"] or "from its threshold" in r["reason"] for r in rows)
    data = prepare(load_config(cfg))
    row_of = {int(f): i for i, f in enumerate(data.ids)}
    picked = np.array([row_of[int(r["frame"])] for r in rows])
    allowed = set(data.pool["train"]) | set(data.pool["val"])
    assert set(picked) <= allowed  # unlabelled, never test
    assert not {int(r["frame"]) for r in rows} & {int(line.split(",")[0]) for line in labels.read_text().splitlines()[1:]}
    emb = embedding(data, baseline_layer(data))
    d = np.sqrt(((emb[picked][:, None] - emb[picked][None]) ** 2).sum(-1))
    assert d[np.triu_indices(len(picked), 1)].min() >= 0.3  # the stated threshold holds for every pair
    assert np.diff(np.sort(picked)).min() >= 3  # and the default gap in time


def test_a_filled_batch_appends_to_the_labels_and_the_next_search_uses_it(partial, tmp_path, capsys):
    cfg, labels, truth = partial
    out = tmp_path / "next.csv"
    assert main(["label-next", str(cfg), "--n", "12", "--out", str(out), "--quiet", "--cold"]) == 0  # MLflow on
    before = prepare(load_config(cfg)).labelled
    filled = _read(out)
    with open(labels, "a") as f:  # a person fills `label` and appends the rows as they are
        f.writelines(f"{r['frame']},{truth[int(r['frame'])]}\n" for r in filled)
    assert prepare(load_config(cfg)).labelled == before + 12
    from mlflow.tracking import MlflowClient

    from autocrop.tracking import tracking_uri

    client = MlflowClient(tracking_uri(cfg.parent / "mlruns"))
    run = client.search_runs([client.get_experiment_by_name("autocrop").experiment_id], "tags.`autocrop.role` = 'label-next'")[0]
    assert sorted(a.path for a in client.list_artifacts(run.info.run_id, "label-next")) == ["label-next/next.csv", "label-next/next.png"]


def test_a_new_batch_never_overwrites_labels_not_yet_appended(partial, tmp_path, capsys):
    """A person fills the batch CSV in place; label-next run again before its rows are appended
    must not write over that work, nor ever over the query's label CSV or a CSV it did not write."""
    cfg, labels, truth = partial
    out = tmp_path / "next.csv"
    args = ["label-next", str(cfg), "--n", "6", "--quiet", "--no-mlflow", "--cold", "--out"]
    assert main([*args, str(out)]) == 0
    rows = _read(out)
    rows[0]["label"] = str(truth[int(rows[0]["frame"])])
    with open(out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    kept = {p: p.read_bytes() for p in (out, labels, other)}
    capsys.readouterr()
    for target, says in ((out, f"1 filled label(s) there (frame {rows[0]['frame']}) are not in the query's labels yet"),
                         (labels, "that is the query's label CSV"), (other, "exists and is not a label-next batch")):
        assert main([*args, str(target)]) == 2
        err = capsys.readouterr().err
        assert says in err and err.count("\n") == 1, err
    assert {p: p.read_bytes() for p in kept} == kept
    with open(labels, "a") as f:  # appended: the batch's work is saved, and a new batch may replace it
        f.write(f"{rows[0]['frame']},{rows[0]['label']}\n")
    assert main([*args, str(out)]) == 0
    assert all(r["label"] == "" for r in _read(out))


@pytest.mark.parametrize("args,message", [
    (["--n", "0"], "--n 0: give the number of frames to propose"),
    (["--out", "missing/next.csv"], "folder missing does not exist"),
    (["--out", "next.txt"], "give a .csv path"),
    (["--min-gap", "0"], "give a distance >= 0 and a gap >= 1"),
    (["--study", "car-tset"], "no study `car-tset`"),  # a typo is not a cold start
])
def test_bad_arguments_are_one_line_exit_2_and_write_nothing(partial, tmp_path, capsys, monkeypatch, args, message):
    cfg, *_ = partial
    monkeypatch.chdir(tmp_path)
    before = {d: sorted(p.name for p in d.iterdir()) for d in (tmp_path, cfg.parent)}
    assert main(["label-next", str(cfg), "--quiet", "--no-mlflow", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert {d: sorted(p.name for p in d.iterdir()) for d in before} == before


def test_nothing_to_propose_when_every_frame_is_labelled(query, capsys, tmp_path):
    assert main(["label-next", str(query), "--quiet", "--no-mlflow", "--out", str(tmp_path / "x.csv")]) == 2
    assert "every train and validation frame is labelled already" in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()


def test_the_validation_plan_names_the_blocks_that_lack_a_labelled_frame_of_either_class(partial, query):
    """A validation block's threshold is estimated over all its frames once it holds a labelled
    frame of each class; the plan names the blocks that do not, estimates the frames to label,
    and says so. Batches keep the split's share of validation either way (a larger share did
    worse: BENCHMARKS)."""
    from autocrop.labels import block_of
    from autocrop.proposals import propose, val_plan
    from autocrop.votes import Votes

    cfg, _labels, _truth = partial
    data = prepare(load_config(cfg))
    lab = data.blocks["val"]
    pool_blocks = block_of(data.pool["val"], len(data.ids), 3)
    y = data.y.copy()
    for b in (1, 2):  # blocks 2 and 3 lose their labelled positives, block 3 its labelled frames altogether
        rows = data.splits["val"][lab == b]
        y[rows[(data.y[rows] == 1) | (b == 2)]] = UNLABELLED
    short = data.with_labels(y)
    plan = val_plan(short)
    assert plan is not None and plan.positives[1:] == [0, 0] and plan.negatives[2] == 0 and plan.negatives[1] > 0
    assert plan.positives[0] > 0 and plan.negatives[0] > 0 and plan.frames[0] == 0
    assert 0 < plan.frames[1] < plan.frames[2] <= (pool_blocks == 2).sum()
    text = plan.describe()
    assert "blocks 2 (no labelled positive), 3 (none labelled) of 3" in text and "above its highest negative" in text
    emb = embedding(short, baseline_layer(short))
    votes = Votes(np.full(len(short.pool["train"]), 0.5), ["even split"] * len(short.pool["train"]))
    for v in (votes, None):  # after a search and at a cold start
        picks = propose(short, emb, 30, 0, v, min_distance=0.0, min_gap=1)
        assert len(picks) == 30 and sum(p.split == "val" for p in picks) == round(30 * 0.25 / 0.75)
    # every block with a labelled frame of each class: nothing short, nothing said
    full_plan = val_plan(data)
    assert all(full_plan.positives) and all(full_plan.negatives) and full_plan.short == 0 and full_plan.describe() == ""
    # max_fn: the threshold's other side
    short.cfg.search.operating_point.rule = "max_fn"
    assert "below its lowest positive" in val_plan(short).describe()
    # the balanced rule counts no errors per class: no plan
    short.cfg.search.operating_point.rule = "balanced"
    assert val_plan(short) is None


def test_a_cold_start_is_half_typical_frames_half_random_ones_never_near_test(query):
    """A cold start's training picks: half typical (TypiClust: the densest frames of the largest
    groups of similar frames, never the odd frame out; labelled test frames are not coverage, they
    can never train a head), half drawn at random, so the footage's own mix of frames shows in the
    first labels (typical frames alone give a small group as many picks as the common scene)."""
    from autocrop.defaults import LABEL_COLD_RANDOM
    from autocrop.proposals import propose

    data = prepare(load_config(query))
    y = data.y.copy()
    y[np.r_[data.splits["train"], data.splits["val"]]] = UNLABELLED
    data = data.with_labels(y)  # test labelled, nothing else: a cold start
    rng = np.random.default_rng(0)
    train = data.pool["train"]
    centres = np.eye(8, dtype=np.float32)[:3] * 2  # groups A, B, C, 2 apart
    group = np.full(len(data.ids), 0)
    group[train] = rng.choice(3, len(train), p=[0.6, 0.3, 0.1])
    odd = rng.choice(train, 5, replace=False)
    emb = centres[group] + rng.normal(0, 0.05, (len(data.ids), 8)).astype(np.float32)
    emb[odd] = np.eye(8, dtype=np.float32)[3:] * 4  # five odd frames, each far from everything
    group[odd] = -1
    picks = propose(data, emb, 8, 0, None, min_distance=0.0, min_gap=1)
    train_picks = [p for p in picks if p.split == "train"]
    typical = [p.row for p in train_picks if p.reason.startswith("typical")]
    drawn = [p.row for p in train_picks if p.reason.startswith("random")]
    assert len(train_picks) == 5 and len(typical) == 5 - round(5 * LABEL_COLD_RANDOM) == 3 and len(drawn) == 2
    assert sorted(group[typical]) == [0, 1, 2]  # one per group, the test frames' group A included; no odd frame
    # the random half follows the footage's mix: group A (60 % of it) gets about 60 % of its picks, C about 10 %
    big = propose(data, emb, 96, 0, None, min_distance=0.0, min_gap=1)
    drawn = np.array([p.row for p in big if p.reason.startswith("random")])
    assert len(drawn) == round(64 * LABEL_COLD_RANDOM)  # 64 of 96 are training picks
    share = np.bincount(group[drawn] + 1, minlength=4)[1:] / len(drawn)
    assert 0.4 < share[0] < 0.8 and share[2] < 0.25, share
    assert [p.row for p in propose(data, emb, 96, 0, None, min_distance=0.0, min_gap=1)] == [p.row for p in big]


def test_after_a_search_votes_fill_half_the_training_picks_and_typical_frames_the_rest(query):
    """Votes concentrated on one stretch of the training block take half the training picks, all
    there (LABEL_EXPLORE); typical frames fill the other half, so a batch is not all the heads'
    doubts: here they cover every group of similar frames the voted picks do not."""
    from autocrop.defaults import LABEL_EXPLORE
    from autocrop.proposals import propose
    from autocrop.votes import Votes

    data = prepare(load_config(query))
    y = data.y.copy()
    y[np.r_[data.splits["train"], data.splits["val"]]] = UNLABELLED
    data = data.with_labels(y)
    train = data.pool["train"]
    block = np.sort(train)
    hot = set(block[: len(block) // 3].tolist())  # the heads disagree on the block's first third only
    votes = Votes(np.array([0.9 if r in hot else 0.1 for r in train]), ["heads split"] * len(train))
    rng = np.random.default_rng(0)
    group = rng.choice(8, len(data.ids))  # eight groups of similar frames, in time at random
    emb = (np.eye(8, dtype=np.float32)[group] * 2 + rng.normal(0, 0.05, (len(data.ids), 8))).astype(np.float32)
    for r in hot:
        group[r] = 0  # the voted stretch is all one group
        emb[r] = np.eye(8, dtype=np.float32)[0] * 2 + rng.normal(0, 0.05, 8).astype(np.float32)
    picks = [p for p in propose(data, emb, 24, 0, votes, min_distance=0.0, min_gap=1) if p.split == "train"]
    voted = [p.row for p in picks if p.reason == "heads split"]
    typical = [p.row for p in picks if p.reason.startswith("typical")]
    assert len(picks) == 16 and len(voted) == 16 - round(16 * LABEL_EXPLORE) == 8 and len(typical) == 8
    assert set(voted) <= hot
    assert set(group[typical].tolist()) == set(range(1, 8))  # every group the votes' picks leave uncovered, none of theirs
    only = [p for p in propose(data, emb, 24, 0, replace(votes, explore=0.0), min_distance=0.0, min_gap=1) if p.split == "train"]
    assert len(only) == 16 and all(p.reason == "heads split" for p in only) and {p.row for p in only} <= hot  # no typical share
    assert [p.row for p in propose(data, emb, 24, 0, votes, min_distance=0.0, min_gap=1)] == [p.row for p in propose(data, emb, 24, 0, votes, min_distance=0.0, min_gap=1)]


def test_after_a_cross_fitted_search_the_best_trial_s_nearness_alone_votes(searched):
    """Few labels: the search cross-fits, and label-next's votes are the best trial's nearness to
    its threshold alone, from its cross-fitted head trained again (no other head is trained), and
    every training pick goes by them. Held out, the Pareto heads' split counts too and typical
    frames take their share (LABEL_EXPLORE)."""
    import torch

    from autocrop.defaults import LABEL_EXPLORE
    from autocrop.evaluation import Evaluator
    from autocrop.selection import best_of
    from autocrop.study import peek, trial_records
    from autocrop.votes import head_votes

    cfg = load_config(searched)
    data = prepare(cfg)
    records = trial_records(peek(cfg, cfg.study_name))
    op = cfg.search.operating_point
    best = best_of(records, op.target, op.rule)
    rows = data.splits["train"]
    votes = head_votes(data, records, best, rows)
    assert votes.crossfit and votes.heads == 1 and votes.explore == 0.0
    out = Evaluator(data, cfg).retrain(best)  # the head the search kept: the mean of its fold heads
    assert out.record.metrics["crossfit_folds"] == 3
    with torch.no_grad():
        s = out.head(torch.from_numpy(best.input.gather_windows(data.store, rows))[None])[0].numpy()
    near = np.clip(1 - np.abs(s - out.record.metrics["threshold"]) / np.std(out.val_scores), 0, 1)
    np.testing.assert_allclose(votes.score, near, rtol=1e-5, atol=1e-6)
    assert 0 < (votes.score > 0).sum() < len(rows) and all(r.startswith(f"trial {best.number}'s score") for r in votes.reason)
    cfg.search.operating_point.crossfit = "off"
    held = head_votes(prepare(cfg), records, best, rows)
    assert not held.crossfit and held.heads == len({r.number for r in records}) > 1 and held.explore == LABEL_EXPLORE
    assert any("heads say positive" in r for r in held.reason)


def test_too_few_labels_to_search_seek_the_class_a_split_lacks(query, tmp_path, shared_cache, capsys):
    """A first batch whose validation frames hold no positive cannot search. label-next then seeks
    one: validation frames nearer a labelled positive than any labelled negative, from different
    passages, which on the real footage are positives far more often than the split's own rate;
    the rest of the batch is a cold start, and the batch keeps its rules."""
    from autocrop.defaults import LABEL_SEEK_GAP
    from autocrop.seek import seek_share

    truth = _truth(query)
    data = prepare(load_config(query))
    rng = np.random.default_rng(0)
    tr, va = data.splits["train"], data.splits["val"]
    rows = np.r_[rng.choice(tr, 12, replace=False), rng.choice(va[data.y[va] == 0], 3, replace=False)]
    assert 0 < data.y[rows].sum() < 12  # both classes in train, validation negatives only
    cfg, _labels = _csv_query(tmp_path, shared_cache, truth, data.ids[rows].tolist())
    out = tmp_path / "next.csv"
    assert main(["label-next", str(cfg), "--n", "12", "--out", str(out), "--quiet", "--no-mlflow"]) == 0
    assert "too few labels to search" in capsys.readouterr().out
    picks = _read(out)
    sought = [r for r in picks if r["reason"].startswith("seek a positive for the val split")]
    assert len(picks) == 12 and len(sought) == seek_share(12, [("val", 1)]) == 6
    assert np.diff(sorted(int(r["frame"]) for r in sought)).min() >= LABEL_SEEK_GAP  # one passage's frames hit or miss together
    for r in sought:  # "... 0.52 from the nearest labelled positive, 0.80 from the nearest negative": its vote 0.61
        near, far = (float(w) for w in r["reason"].split(": ")[1].replace(",", "").split() if w[0].isdigit())
        assert abs(float(r["score"]) - far / (near + far)) < 0.01
    pool = [int(f) for f in data.ids[np.setdiff1d(va, rows)]]
    base = np.mean([truth[f] for f in pool])
    hits = np.mean([truth[int(r["frame"])] for r in sought])
    assert hits >= base + 0.25, (hits, base)  # the split's positive rate is what random frames find
    assert {int(r["frame"]) for r in picks} <= set(int(f) for f in data.ids[np.r_[tr, va]]) - set(data.ids[rows].tolist())


def test_seek_with_no_frame_of_the_class_labelled_takes_frames_unlike_any_labelled_one(query):
    """Only negatives labelled, in both splits: each split's sought frames are the ones farthest
    from every labelled negative; a batch too small for every pair stays at its size; with nothing
    labelled in train or validation there is nothing to seek beside (a cold start)."""
    from autocrop.proposals import propose
    from autocrop.seek import lacking, seek_share

    data = prepare(load_config(query))
    rng = np.random.default_rng(0)
    tr, va = data.splits["train"], data.splits["val"]
    y = np.full_like(data.y, UNLABELLED)
    y[data.splits["test"]] = data.y[data.splits["test"]]
    assert lacking(data.with_labels(y)) == []
    neg = np.r_[rng.choice(tr, 10, replace=False), rng.choice(va, 3, replace=False)]
    y[neg] = 0
    data = data.with_labels(y)
    pairs = lacking(data)
    assert pairs == [("train", 1), ("val", 1)]
    emb = rng.normal(0, 0.05, (len(data.ids), 8)).astype(np.float32)
    odd = {s: rng.choice(np.setdiff1d(rows, neg), 4, replace=False) for s, rows in (("train", tr), ("val", va))}
    for s, rows in odd.items():
        emb[rows] += np.arange(1, 5, dtype=np.float32)[:, None]  # far from every labelled negative, farthest last
    picks = propose(data, emb, 8, 0, None, min_distance=0.0, min_gap=1, seek=pairs)
    k = seek_share(8, pairs)
    assert len(picks) == 8 and k == 2
    for s in ("train", "val"):
        sought = {p.row for p in picks if p.split == s and p.reason.startswith("seek a positive (none labelled yet)")}
        assert sought == set(odd[s][-k:].tolist())  # the two farthest
    assert len(propose(data, emb, 1, 0, None, min_distance=0.0, min_gap=1, seek=pairs)) == 1
