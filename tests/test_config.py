from __future__ import annotations

import pytest
import yaml

from autocrop.cli import main
from autocrop.config import load_config
from autocrop.errors import ConfigError
from conftest import ROOT, write_config


def test_bundled_config_loads_and_resolves_shared_paths():
    cfg = load_config(ROOT / "conf" / "car.yaml")
    assert cfg.footage.frames.is_dir()
    assert cfg.labels.masks.is_dir()
    assert cfg.search.space.is_file()
    assert cfg.study_name == "car-left-near"


def test_set_overrides_apply_yaml_values(tmp_path):
    cfg = load_config(write_config(tmp_path), ["search.trials=3", "backbone.input_size=[96, 128]"])
    assert cfg.search.trials == 3
    assert cfg.backbone.input_size == (96, 128)


def test_env_default_expansion(tmp_path, monkeypatch):
    path = write_config(tmp_path)
    data = yaml.safe_load(path.read_text())
    data["name"] = "${AUTOCROP_TEST_NAME:-fallback}"
    path.write_text(yaml.safe_dump(data))
    assert load_config(path).name == "fallback"
    monkeypatch.setenv("AUTOCROP_TEST_NAME", "from-env")
    assert load_config(path).name == "from-env"


def test_unknown_key_suggests_the_right_one(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown key `backbone.modle`; did you mean `backbone.model`\?"):
        load_config(write_config(tmp_path), ["backbone.modle=resnet18"])


def test_unknown_key_on_cli_is_one_line_exit_2(tmp_path, capsys):
    path = write_config(tmp_path)
    data = yaml.safe_load(path.read_text())
    data["serch"] = {"trials": 3}
    path.write_text(yaml.safe_dump(data))
    assert main(["search", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert str(path) in err and "did you mean `search`?" in err
    assert not (tmp_path / "mlruns").exists()


def test_missing_config_file(tmp_path, capsys):
    assert main(["layers", str(tmp_path / "nope.yaml")]) == 2
    assert "config file not found" in capsys.readouterr().err


def test_bad_set_syntax(tmp_path):
    with pytest.raises(ConfigError, match="must look like key=value"):
        load_config(write_config(tmp_path), ["search.trials"])


def test_split_fractions_must_sum_to_one(tmp_path):
    with pytest.raises(ConfigError, match="split.fractions"):
        load_config(write_config(tmp_path), ["split.fractions=[0.5, 0.5, 0.5]"])


@pytest.mark.parametrize("name", ["right_lane.yaml", "video_csv.yaml"])
def test_example_configs_validate(name):
    from autocrop.backbone import Backbone
    from autocrop.space import load_space

    cfg = load_config(ROOT / "examples" / name)
    space = load_space(cfg.search.space)
    bb = Backbone(cfg.backbone.model_copy(update={"weights": "none"}))
    bb.check_layers(space.layers, str(cfg.search.space))  # every layer exists in that model


def test_max_epochs_is_the_old_name_of_max_steps(tmp_path):
    import yaml

    from conftest import write_config

    path = write_config(tmp_path)
    raw = yaml.safe_load(path.read_text())
    raw["search"]["max_epochs"] = raw["search"].pop("max_steps")
    path.write_text(yaml.safe_dump(raw))
    with pytest.warns(FutureWarning, match="rename it `search.max_steps`"):
        assert load_config(path).search.max_steps == 60
    with pytest.raises(ConfigError, match="give `search.max_steps` only"):
        load_config(path, ["search.max_steps=5"])


@pytest.mark.parametrize("trials", ["0", "-3"])
def test_trials_must_be_positive(query, trials, capsys):
    assert main(["search", str(query), "--quiet", "--no-mlflow", "--trials", trials]) == 2
    err = capsys.readouterr().err
    assert f"--trials {trials}" in err and len(err.strip().splitlines()) == 1
