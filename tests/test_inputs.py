"""One input definition from search to edge: InputSpec's gather, windows, and the export contract."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from autocrop.inputs import FrameWindow, InputSpec, window_rows

MAPS = {"a": np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5), "b": np.ones((2, 2, 3, 3), np.float32)}
CHANNELS = {"a": 3, "b": 2}


def test_box_mask_layers_and_pooled_read_exactly_their_cells():
    box = InputSpec("a", (1, 3, 2, 4))
    np.testing.assert_array_equal(box.gather(MAPS), MAPS["a"][:, :, 1:3, 2:4].reshape(2, -1))
    assert box.shape(CHANNELS) == (3, 2, 2)
    mask = InputSpec("a", (1, 4, 0, 3), mask=((1, 0), (3, 2)))
    np.testing.assert_array_equal(mask.gather(MAPS), MAPS["a"][:, :, [1, 3], [0, 2]].reshape(2, -1))
    assert mask.shape(CHANNELS) == (3, 2, 1)
    two = InputSpec("a", (0, 1, 0, 1), extra=(("b", (0, 2, 1, 3)),))
    want = np.concatenate([MAPS["a"][:, :, :1, :1].reshape(2, -1), MAPS["b"][:, :, 0:2, 1:3].reshape(2, -1)], axis=1)
    np.testing.assert_array_equal(two.gather(MAPS), want)
    assert two.shape(CHANNELS) == (3 + 2 * 4,) and two.layers == ("a", "b")
    pooled = InputSpec("a", (0, 4, 0, 5), pooled=True)
    np.testing.assert_allclose(pooled.gather(MAPS), MAPS["a"].mean(axis=(2, 3)))
    assert pooled.shape(CHANNELS) == (3, 1, 1)
    assert InputSpec("a", (0, 1, 0, 1), window=4).shape(CHANNELS) == (4, 3, 1, 1)


def test_rows_pick_frames_first():
    spec = InputSpec("a", (1, 3, 2, 4))
    np.testing.assert_array_equal(spec.gather(MAPS, np.array([1])), spec.gather(MAPS)[1:])


@pytest.mark.parametrize("spec", [
    InputSpec("a", (1, 3, 2, 4)),
    InputSpec("a", (1, 4, 0, 3), mask=((1, 0), (3, 2)), window=3),
    InputSpec("a", (0, 1, 0, 1), extra=(("b", (0, 2, 1, 3)),)),
    InputSpec("a", (0, 4, 0, 5), pooled=True),
])
def test_dict_roundtrip(spec):
    import json

    assert InputSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


@pytest.mark.parametrize("bad", [dict(cells=(2, 2, 0, 1)), dict(cells=(0, 1, 0, 1), window=0),
                                 dict(cells=(0, 1, 0, 1), pooled=True, extra=(("b", (0, 1, 0, 1)),))])
def test_invalid_specs_are_refused(bad):
    with pytest.raises(ValueError, match="must hold|whole map"):
        InputSpec("a", **bad)


def test_ring_buffer_equals_cached_windows():
    """A live stream fed in uneven batches reads the same windows as training over the cache."""
    rng = np.random.default_rng(0)
    maps = {"a": rng.normal(size=(11, 2, 3, 3)).astype(np.float32)}
    spec = InputSpec("a", (0, 2, 1, 3), window=4)
    cached = spec.gather_windows(maps, np.arange(11))
    live = FrameWindow(4)
    streamed = np.concatenate([live.push(spec.gather({"a": maps["a"][a:b]})) for a, b in ((0, 1), (1, 6), (6, 11))])
    np.testing.assert_array_equal(streamed, cached)
    assert window_rows(np.array([3, 4, 5, 9, 10]), 3).tolist() == [[3, 3, 3], [3, 3, 4], [3, 4, 5], [9, 9, 9], [9, 9, 10]]


# ---- the contract: every exportable head x every input form, exported and run by the edge runtime

FORMS = {
    "box": dict(layer="blocks.3.3", cells=(5, 8, 0, 3)),
    "mask": dict(layer="blocks.3.3", cells=(5, 8, 0, 3), mask=((5, 0), (6, 2), (7, 1))),
    "layers": dict(layer="blocks.3.3", cells=(5, 8, 0, 3), extra=(("blocks.5.2", (2, 4, 0, 2)),)),
    "pooled": dict(layer="final", cells=(0, 4, 0, 5), pooled=True),
}
HPARAMS = {"mlp": {"hidden": 16}, "conv": {"filters": 4}, "temporal": {"window": 3, "hidden": 8}}


def _exportable() -> list[str]:
    from autocrop.heads import HEADS

    return sorted(k for k, cls in HEADS.items() if cls.trainable)


def _cases() -> list[tuple[str, str]]:
    from autocrop.heads import HEADS

    return [(h, f) for h in _exportable() for f in FORMS if not (f == "layers" and HEADS[h].spatial)]


@pytest.fixture(scope="module")
def served(tmp_path_factory, shared_cache):
    """Every case trained on the cache and exported; one edge runtime scores consecutive real frames."""
    from autocrop.config import load_config
    from autocrop.dataset import prepare
    from autocrop.edge import EdgeRuntime
    from autocrop.evaluation import Evaluator, Job
    from autocrop.export import load_bundle, write_bundle
    from autocrop.heads import HEADS
    from autocrop.release import manifest_for
    from conftest import WEIGHTS, write_config

    tmp = tmp_path_factory.mktemp("contract")
    cfg = load_config(write_config(tmp, cache_dir=str(shared_cache)), ["search.max_steps=20"])
    data = prepare(cfg)
    ev = Evaluator(data, cfg)
    jobs = []
    for n, (head, form) in enumerate(_cases()):
        hp = {"l2": 1e-3, **HPARAMS.get(head, {})}
        window = int({**HEADS[head].defaults, **hp}.get("window", 1)) if HEADS[head].spatial else 1
        jobs.append(Job(n, InputSpec(**FORMS[form], window=window), (0.0, 0.0, 1.0, 1.0), head, hp, n))
    outcomes = ev.run(jobs, keep=True)
    bundles = [load_bundle(write_bundle(tmp / f"{h}-{f}", o.head, manifest_for(o.record, cfg, data, "contract")))
               for (h, f), o in zip(_cases(), outcomes, strict=True)]
    rows = np.arange(40, 52)  # consecutive scored frames, in stream order
    frames = [f for _, f in data.source.frames([int(data.ids[r]) for r in rows])]
    rt = EdgeRuntime(bundles, str(WEIGHTS / "model.safetensors"))
    batches = [(0, 5), (5, 12)]  # two calls: windows carry across them
    live = np.concatenate([rt.scores(frames[a:b]) for a, b in batches])
    # in process: the same backbone batches, the training-side gather (windows over cache rows), the torch head
    maps = [rt.maps(frames[a:b]) for a, b in batches]
    maps = {lay: np.concatenate([m[lay] for m in maps]) for lay in maps[0]}
    return {"outcomes": outcomes, "bundles": bundles, "live": live, "maps": maps, "data": data, "rows": rows,
            "rt": rt, "ids": [int(data.ids[r]) for r in rows], "tmp": tmp}


@pytest.mark.slow
@pytest.mark.parametrize("head,form", _cases())
def test_exported_head_runs_on_the_edge_as_in_process(served, head, form):
    j = _cases().index((head, form))
    out, bundle = served["outcomes"][j], served["bundles"][j]
    assert bundle.input == out.record.input and bundle.manifest["head"]["kind"] == head
    x = out.record.input.gather_windows(served["maps"], np.arange(len(served["rows"])))
    with torch.no_grad():
        in_process = out.head(torch.from_numpy(x)[None])[0].numpy()
    np.testing.assert_allclose(served["live"][:, j], in_process, atol=1e-5, rtol=0)
    # and the cached float16 features give nearly the same scores (same cells, same windows)
    cached = out.record.input.gather_windows(served["data"].store, served["rows"])
    np.testing.assert_allclose(bundle.scores(cached), in_process, atol=0.05 * (1 + np.abs(in_process).max()))


@pytest.mark.parametrize("head", sorted({"conv", "attention", "temporal"}))
def test_spatial_heads_refuse_several_layers(query, head):
    from autocrop.config import load_config
    from autocrop.crops import Crop
    from autocrop.dataset import prepare
    from autocrop.evaluation import Evaluator
    from autocrop.space import TrialSpec

    cfg = load_config(query)
    ev = Evaluator(prepare(cfg), cfg)
    spec = TrialSpec("blocks.3.3", Crop(0, 0.6, 0.3, 0.9), head, {}, None, (("blocks.5.2", (2, 4, 0, 2)),))
    with pytest.raises(ValueError, match="several layers need a flat head"):
        ev.input_spec(spec)


@pytest.mark.slow
def test_heads_without_onnx_form_are_refused_at_export(searched, tmp_path, capsys):
    """KNN searches stored frames: `export` says so in one line and writes nothing."""
    from autocrop.cli import main
    from autocrop.config import load_config
    from autocrop.dataset import prepare
    from autocrop.evaluation import Evaluator, Job
    from autocrop.study import open_study, tell_record

    cfg = load_config(searched)
    ev = Evaluator(prepare(cfg), cfg)
    study = open_study(cfg, "knn-only")
    trial = study.ask()
    rec = ev.run([Job(trial.number, InputSpec(**FORMS["box"]), (0.0, 0.6, 0.3, 0.9), "knn", {"k": 3}, 0)])[0].record
    tell_record(study, trial, rec, cfg)
    out = tmp_path / "knn"
    assert main(["export", str(searched), "--study", "knn-only", "--trial", str(trial.number), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "have no ONNX form" in err and len(err.strip().splitlines()) == 1
    assert not out.exists() and not list(tmp_path.glob(".bundle-*"))


@pytest.mark.slow
def test_every_case_runs_through_the_service(served):
    """The same frames as a frame folder through `autocrop serve`'s loop (other batches): same scores."""
    import json
    import os

    from autocrop.serve import Service
    from autocrop.streams import open_stream
    from conftest import HIGHWAY

    folder = served["tmp"] / "frames"
    folder.mkdir()
    for i in served["ids"]:
        os.symlink(HIGHWAY / "input" / f"in{i:06d}.jpg", folder / f"in{i:06d}.jpg")
    rt = served["rt"]
    Service(rt, [open_stream(0, str(folder))], served["tmp"] / "served", batch=3, progress=False).run(handle_signals=False)
    events = [json.loads(x) for x in (served["tmp"] / "served" / "events.jsonl").read_text().splitlines()]
    for j, name in enumerate(rt.names):
        mine = [e for e in events if e["type"] == "decision" and e["query"] == name]
        assert [e["frame"] for e in mine] == served["ids"]
        np.testing.assert_allclose([e["score"] for e in mine], served["live"][:, j], atol=1e-4, rtol=1e-4)
