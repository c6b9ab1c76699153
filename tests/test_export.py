"""select -> MLflow registry -> export -> verified load, ONNX parity, tamper refusal."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from mlflow.tracking import MlflowClient

from autocrop.cli import main
from autocrop.config import load_config
from autocrop.dataset import prepare
from autocrop.errors import DataError
from autocrop.export import load_bundle
from autocrop.tracking import tracking_uri
from conftest import load_study

pytestmark = pytest.mark.slow


def _features(cfg_path, bundle) -> np.ndarray:
    data = prepare(load_config(cfg_path))
    return bundle.input.gather(data.store)


def test_select_registers_alias_and_export_roundtrip(searched, tmp_path, capsys):
    assert main(["select", str(searched), "--max-fn", "1", "--max-fp", "1"]) == 0
    out = capsys.readouterr().out
    assert "alias `champion`" in out
    client = MlflowClient(tracking_uri(searched.parent / "mlruns"))
    mv = client.get_model_version_by_alias("car-test", "champion")
    assert mv.tags["study"] == "car-test"

    bundle_dir = tmp_path / "bundle"
    assert main(["export", str(searched), "--alias", "champion", "--out", str(bundle_dir)]) == 0
    b = load_bundle(bundle_dir)
    m = b.manifest
    assert m["format_version"] == 3 and m["trial"] == int(mv.tags["trial"])
    assert m["backbone"]["model"] == "mobilenetv2_100" and len(m["backbone"]["weights_digest"]) == 16
    assert {"input", "head", "threshold", "smoothing", "cost_madds", "metrics", "files"} <= set(m)
    assert set(m["input"]) == {"layer", "cells", "mask", "extra", "window", "pooled"}

    # the selected trial is the cheapest Pareto trial (every trial meets a 1/1 rule)
    study = load_study(searched.parent / "mlruns")
    assert m["cost_madds"] == min(t.user_attrs["cost_madds"] for t in study.best_trials)


def test_select_nothing_qualifies_names_closest(searched, capsys):
    assert main(["select", str(searched), "--max-fn", "0", "--max-fp", "0"]) == 2
    err = capsys.readouterr().err
    assert "no Pareto trial" in err and "closest is trial" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("rates,says", [(["--max-fn", "-1", "--max-fp", "0.1"], "--max-fn -1.0"), (["--max-fn", "0.1", "--max-fp", "5"], "--max-fp 5.0")])
def test_select_refuses_a_rate_outside_0_1(tmp_path, capsys, rates, says):
    """Checked before the config is read, so no study is needed: nothing is opened or registered."""
    assert main(["select", str(tmp_path / "never-read.yaml"), *rates]) == 2
    err = capsys.readouterr().err
    assert f"{says}: give a rate between 0 and 1" in err and err.count("\n") == 1
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("head", ["logistic", "mlp", "conv"])
def test_onnx_parity_with_in_process_head(searched, tmp_path, head):
    study = load_study(searched.parent / "mlruns")
    trials = [t for t in study.trials if t.user_attrs.get("head") == head]
    if not trials:  # the sampler may not have drawn this head: the pooled baseline always exists
        number = next(b["number"] for b in study.user_attrs["baselines"] if b["head"] == head)
    else:
        number = trials[0].number
    out = tmp_path / f"b-{head}"
    assert main(["export", str(searched), "--trial", str(number), "--out", str(out)]) == 0
    b = load_bundle(out)
    x = _features(searched, b)
    onnx_scores = b.scores(x)
    with torch.no_grad():
        torch_scores = b.head()(torch.from_numpy(x.reshape(len(x), -1))[None])[0].numpy()
    np.testing.assert_allclose(onnx_scores, torch_scores, atol=1e-5)
    # the bundle reproduces the trial's decisions: same threshold, same val FP rate
    data = prepare(load_config(searched))
    rows = data.splits["val"]
    pred = onnx_scores[rows] >= b.threshold
    y = data.y[rows]
    assert pred[y == 0].mean() == pytest.approx(b.manifest["metrics"]["val_fp"], abs=1e-9)


def test_tampered_and_truncated_bundles_are_refused(searched, tmp_path, capsys):
    good = tmp_path / "good"
    assert main(["export", str(searched), "--trial", "0", "--out", str(good)]) == 0
    tampered = tmp_path / "tampered"
    shutil.copytree(good, tampered)
    onnx_path = tampered / "head.onnx"
    data = bytearray(onnx_path.read_bytes())
    data[-5] ^= 0xFF
    onnx_path.write_bytes(bytes(data))
    with pytest.raises(DataError, match="checksum mismatch"):
        load_bundle(tampered)
    truncated = tmp_path / "truncated"
    shutil.copytree(good, truncated)
    w = truncated / "head.safetensors"
    w.write_bytes(w.read_bytes()[:100])
    with pytest.raises(DataError, match="checksum mismatch"):
        load_bundle(truncated)
    (truncated / "head.safetensors").unlink()
    with pytest.raises(DataError, match="missing"):
        load_bundle(truncated)
    bad = tmp_path / "badmanifest"
    shutil.copytree(good, bad)
    m = json.loads((bad / "manifest.json").read_text())
    m["format_version"] = 99
    (bad / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(DataError, match="format_version 99"):
        load_bundle(bad)


def test_export_refuses_non_empty_out(searched, tmp_path, capsys):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "file").write_text("keep me")
    assert main(["export", str(searched), "--trial", "0", "--out", str(tmp_path / "x")]) == 2
    assert "not an empty folder" in capsys.readouterr().err
    assert (tmp_path / "x" / "file").read_text() == "keep me"


@pytest.mark.parametrize("out,says", [
    ("afile/bundle", "cannot be written (afile is not a writable folder)"),  # refused before retraining: a file where a folder must be
    ("/proc/autocrop/bundle", "cannot be written (No such file or directory)"),  # a folder nothing can be created in
])
def test_export_to_a_place_that_cannot_be_written_is_one_line(searched, tmp_path, capsys, monkeypatch, out, says):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("")
    assert main(["export", str(searched), "--trial", "0", "--out", out]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{out}: {says}; choose another --out" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_study_artifacts_logged(searched):
    client = MlflowClient(tracking_uri(searched.parent / "mlruns"))
    exp = client.get_experiment_by_name("autocrop")
    parent = next(r for r in client.search_runs([exp.experiment_id]) if r.data.tags.get("autocrop.role") == "study")
    names = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"pareto.png", "hypervolume.png", "best_crops.png"} <= names
    trial = next(r for r in client.search_runs([exp.experiment_id]) if r.data.tags.get("baseline") == "false")
    assert "crop_roc.png" in {a.path for a in client.list_artifacts(trial.info.run_id)}


def test_retrained_trial_reproduces_the_stored_one(searched):
    from autocrop.evaluation import Evaluator
    from autocrop.records import TrialRecord

    cfg = load_config(searched)
    study = load_study(searched.parent / "mlruns")
    ev = Evaluator(prepare(cfg), cfg)
    for t in study.trials[:4]:
        rec = TrialRecord.from_attrs(t.user_attrs)
        fresh = ev.retrain(rec).record
        assert fresh.input == rec.input and fresh.cost_madds == rec.cost_madds
        assert fresh == rec  # every field, every metric


def test_edited_manifest_is_refused(searched, tmp_path):
    good = tmp_path / "good"
    assert main(["export", str(searched), "--trial", "0", "--out", str(good)]) == 0
    m = json.loads((good / "manifest.json").read_text())
    m["threshold"] = m["threshold"] - 1.0  # more positives: a silent change of decisions
    (good / "manifest.json").write_text(json.dumps(m, indent=2))
    with pytest.raises(DataError, match="does not match its hash"):
        load_bundle(good)
    m["threshold"] += 1.0  # the same content, formatted differently: still the same canonical hash
    (good / "manifest.json").write_text(json.dumps(m, indent=4, sort_keys=True))
    assert load_bundle(good).threshold == m["threshold"]


def _keypair(tmp_path, name):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    (tmp_path / f"{name}.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                             serialization.NoEncryption()))
    (tmp_path / f"{name}.pub").write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                                         serialization.PublicFormat.SubjectPublicKeyInfo))
    return tmp_path / f"{name}.pem", tmp_path / f"{name}.pub"


def test_signed_bundles_and_trusted_keys(searched, tmp_path, capsys):
    key, pub = _keypair(tmp_path, "ours")
    _, other = _keypair(tmp_path, "theirs")
    signed, unsigned = tmp_path / "signed", tmp_path / "unsigned"
    assert main(["export", str(searched), "--trial", "0", "--out", str(signed), "--sign", str(key)]) == 0
    assert main(["export", str(searched), "--trial", "0", "--out", str(unsigned)]) == 0
    assert load_bundle(signed, [pub]).name == load_bundle(unsigned).name
    with pytest.raises(DataError, match="not signed"):
        load_bundle(unsigned, [pub])
    with pytest.raises(DataError, match="which no --trust key is"):
        load_bundle(signed, [other])
    forged = json.loads((signed / "signature.json").read_text())
    forged["signature"] = json.loads((signed / "signature.json").read_text())["signature"][::-1]
    (signed / "signature.json").write_text(json.dumps(forged))
    with pytest.raises(DataError, match="signature"):
        load_bundle(signed, [pub])
    frames = tmp_path / "frames"
    frames.mkdir()
    capsys.readouterr()
    args = ["run", str(unsigned), "--frames", str(frames), "--weights", "w", "--trust", str(pub)]
    assert main(args) == 2 and "not signed" in capsys.readouterr().err
    assert main(["export", str(searched), "--trial", "0", "--out", str(tmp_path / "x"), "--sign", str(pub)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "private key" in err[0] and not (tmp_path / "x").exists()
