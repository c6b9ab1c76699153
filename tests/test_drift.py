"""Drift alarms on real footage: held-out frames stay quiet; darkened, blurred or panned frames alarm
within window + every frames."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image, ImageEnhance, ImageFilter

from autocrop.drift import DRIFT_EVERY, DRIFT_WINDOW, DriftMonitor, DriftReference
from autocrop.inputs import InputSpec

ALARM_WITHIN = DRIFT_WINDOW + DRIFT_EVERY  # frames from the change to the alarm, at most


def test_monitor_windows_and_thresholds():
    rng = np.random.default_rng(0)
    train, val = rng.normal(size=(300, 8)), rng.normal(size=(100, 8))
    ref = DriftReference.fit(train, val, rng.normal(size=100), window=10, every=5)
    assert ref.threshold == pytest.approx(2 * ref.val_max) and ref.val_max > 0
    mon = DriftMonitor(ref)
    quiet = mon.push(rng.normal(size=(50, 8)), np.zeros(50))
    assert [c.row for c in quiet] == [9, 14, 19, 24, 29, 34, 39, 44, 49] and not any(c.alarm for c in quiet)
    loud = mon.push(rng.normal(size=(20, 8)) + 3, np.zeros(20))
    first = next(c for c in loud if c.alarm)
    assert first.changed and first.row < 15 and first.value > ref.threshold
    assert not any(c.changed for c in loud if c is not first)  # one event per episode
    back = mon.push(rng.normal(size=(30, 8)), np.zeros(30))
    assert any(c.changed and not c.alarm for c in back)  # and one when it clears


def _dark(f):
    return np.asarray(ImageEnhance.Brightness(Image.fromarray(f)).enhance(0.4))


def _blur(f):
    return np.asarray(Image.fromarray(f).filter(ImageFilter.GaussianBlur(3)))


def _pan(f, px):
    out = np.roll(f, px, axis=1)
    out[:, :px] = out[:, px:px + 1]
    return out


@pytest.fixture(scope="module")
def drift_setup(tmp_path_factory):
    """A box crop on blocks.3.3 trained on every 2nd highway frame, exported with its drift statistics."""
    from autocrop.config import load_config
    from autocrop.dataset import prepare
    from autocrop.edge import EdgeRuntime
    from autocrop.evaluation import Evaluator, Job
    from autocrop.export import load_bundle
    from autocrop.release import write_outcome
    from conftest import WEIGHTS, write_config

    tmp = tmp_path_factory.mktemp("drift")
    cfg = load_config(write_config(tmp, footage__step=2), ["search.max_steps=40"])
    data = prepare(cfg)
    data.store.extract(["blocks.3.3"], progress=False)
    job = Job(0, InputSpec("blocks.3.3", (5, 8, 0, 3)), (0.0, 0.6, 0.3, 1.0), "logistic", {"l2": 1e-3}, 0)
    out = Evaluator(data, cfg).run([job], keep=True)[0]
    bundle = load_bundle(write_outcome(tmp / "bundle", cfg, data, out, "drift"))
    held_out = [f for _, f in data.source.frames([int(data.ids[r]) for r in data.splits["test"]])]
    return EdgeRuntime([bundle], str(WEIGHTS / "model.safetensors")), held_out, tmp


def _checks(rt, frames):
    stream = rt.stream()
    checks = []
    for a in range(0, len(frames), 8):
        step = stream.step(rt.maps(frames[a:a + 8]))
        checks += [(a + c.row, c) for _, c in step.drift]
    return checks


@pytest.mark.slow
def test_held_out_footage_raises_no_alarm(drift_setup):
    rt, held_out, _ = drift_setup
    checks = _checks(rt, held_out)
    assert len(checks) >= 10 and not any(c.alarm for _, c in checks), max(c.value for _, c in checks)


@pytest.mark.slow
@pytest.mark.parametrize("change", ["dark", "blur", "pan"])
def test_a_changed_scene_alarms(drift_setup, change):
    rt, held_out, _ = drift_setup
    cell = held_out[0].shape[1] // rt.backbone.layers()["blocks.3.3"].width  # frame pixels per map column
    alter = {"dark": _dark, "blur": _blur, "pan": lambda f: _pan(f, 2 * cell)}[change]
    frames = held_out[:40] + [alter(f) for f in held_out[40:40 + ALARM_WITHIN]]
    checks = _checks(rt, frames)
    assert not any(c.alarm for i, c in checks if i < 40)
    alarms = [(i, c) for i, c in checks if c.alarm and c.changed]
    assert alarms and alarms[0][0] < 40 + ALARM_WITHIN, [round(c.value, 2) for _, c in checks]


@pytest.mark.slow
def test_the_service_logs_the_alarm(drift_setup):
    from autocrop.serve import Service
    from autocrop.streams import open_stream

    rt, held_out, tmp = drift_setup
    folder = tmp / "dark"
    folder.mkdir(exist_ok=True)
    for i, f in enumerate(held_out[:ALARM_WITHIN]):
        Image.fromarray(_dark(f)).save(folder / f"f{i:04d}.png")
    out = tmp / "served"
    Service(rt, [open_stream(0, str(folder))], out, progress=False).run(handle_signals=False)
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    alarm = next(e for e in events if e["type"] == "drift")
    assert alarm["state"] == "alarm" and alarm["statistic"] == "mean_shift" and alarm["value"] > alarm["threshold"]
    assert json.loads((out / "summary.json").read_text())["queries"][0]["drift_alarms"] == 1


def test_wide_inputs_are_watched_on_a_subset_that_survives_the_bundle(tmp_path):
    rng = np.random.default_rng(1)
    ref = DriftReference.fit(rng.normal(size=(200, 5000)), rng.normal(size=(60, 5000)), window=10, every=5)
    assert ref.stride == 3 and ref.mean.shape == (1667,)
    ref.save(tmp_path / "d.safetensors")
    back = DriftReference.load(tmp_path / "d.safetensors", ref.manifest())
    assert back.stride == 3 and back.manifest()["stride"] == 3
    checks = DriftMonitor(back).push(rng.normal(size=(20, 5000)) * 0.5 - 1, np.zeros(20))
    assert checks[0].alarm and checks[0].changed
