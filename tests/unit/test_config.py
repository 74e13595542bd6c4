"""Config validation: presets, YAML files, overrides, clear errors, serialisation, light import."""

import subprocess
import sys

import pytest
import yaml

from stbn.config import (
    PRESET_NAMES,
    PRESETS_DIR,
    ExperimentConfig,
    config_file,
    load_config,
    parse_overrides,
    preset,
    validate_config,
)
from stbn.data import corpus
from stbn.errors import StbnError


def test_presets_are_the_packaged_files():
    assert PRESET_NAMES == ("cpu-fit", "cpu-start", "default-raw", "default-srgb", "paper-raw", "paper-srgb", "tiny")
    for name in PRESET_NAMES:
        path = config_file(name)
        assert path == PRESETS_DIR / f"{name}.yaml" and path.is_file()
        assert preset(name).name == name
        # a preset name and its file's path load the same config
        assert load_config(name) == load_config(str(path)) == load_config(path) == preset(name)


def test_paper_presets_hold_the_paper_recipes():
    s, r = preset("paper-srgb"), preset("paper-raw")
    assert (s.model.num_channels, s.model.num_resblocks, s.data.clip_length, s.data.crop, s.data.batch_size) == (
        64, 5, 8, 96, 4)
    assert (s.train.lr, s.train.iterations, s.train.milestones, s.train.gamma, s.train.grad_clip) == (
        3e-4, 80000, [16000, 32000, 48000, 64000], 0.5, 1.0)
    assert (r.data.kind, r.model.in_channels, r.train.lr, r.data.batch_size, r.data.clip_length, r.data.crop) == (
        "raw", 4, 1e-4, 16, 7, 80)
    assert r.train.milestones == [] and r.model.resolved_head == "direct" and not r.model.resolved_noise_map


def test_the_start_model_is_the_fitting_network_trained_away_from_the_clips_it_is_judged_on():
    fit, start = preset("cpu-fit"), preset("cpu-start")
    assert start.model == fit.model and start.flow == fit.flow and start.infer == fit.infer
    assert start.speed == fit.speed and start.train.lr == fit.train.lr
    assert [(d.crop, d.clip_length, d.batch_size) for d in (start.data, fit.data)] == [(64, 6, 2)] * 2
    assert [m / start.train.iterations for m in start.train.milestones] == [
        m / fit.train.iterations for m in fit.train.milestones]
    assert start.data.sigma_range == (5.0, 55.0) and not start.data.fixed_noisy
    assert set(start.data.sequences) == {n for n, r in corpus.ROLES.items() if r == corpus.TRAIN} - {
        "ball-toss", "city-night"}


def test_overrides_are_parsed_and_validated_like_the_file(tmp_path):
    cfg = load_config("tiny", ["train.lr=1e-4", "data.sigma=[5, 55]", "model.warp=bilinear"])
    assert cfg.train.lr == 1e-4 and cfg.data.sigma_range == (5.0, 55.0) and cfg.model.warp == "bilinear"
    assert parse_overrides(["a.b=1", "a.c=x"]) == {"a": {"b": 1, "c": "x"}}
    with pytest.raises(StbnError, match=r"^preset tiny with --set train\.lrr=1: train\.lrr: unknown key"):
        load_config("tiny", ["train.lrr=1"])
    with pytest.raises(StbnError, match="expected key.sub=value"):
        load_config(None, ["train.lr"])


@pytest.mark.parametrize(
    "text, message",
    [
        ("model: {num_channelz: 8}", r"model\.num_channelz: unknown key"),
        ("bogus: 1", r"bogus: unknown key"),
        ("model: {num_channels: 0}", r"model\.num_channels: Input should be greater than or equal to 1"),
        ("data: {sigma: 300}", r"data\.sigma must lie in \[0, 255\]"),
        ("data: {sigma: [40, 10]}", r"lo <= hi"),
        ("train: {milestones: [5, 3]}", r"strictly increasing"),
        ("data: {kind: raw}", r"model\.in_channels must be 4"),
        ("data: {kind: raw}\nmodel: {in_channels: 4, head: gaussian}", r"head gaussian needs a known sigma"),
        ("flow: {distill: {enabled: true}}", r"flow\.distill\.enabled: estimator none has no flow to refine"),
        ("data: {isos: [800]}", r"no noise calibration for ISO \[800\]"),
        ("data: {fixed_noisy: true, sigma: [5, 55]}", r"one fixed data\.sigma"),
        ("data: {sequences: []}", r"data\.sequences names sRGB sequence folders"),
        ("data: {kind: raw, sequences: [a]}\nmodel: {in_channels: 4}", r"data\.sequences names sRGB sequence folders"),
        ("- 1", r"expected a mapping"),
        ("model: {in_channels: 3", r"not valid YAML"),
    ],
)
def test_bad_configs_name_the_file_and_key(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(StbnError, match=message) as err:
        load_config(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("estimator", "enabled", "refinement"),
    [("pwcnet", True, "distill"), ("dis", True, "reestimate"), ("dis", False, "off"), ("none", False, "off")],
)
def test_flow_refinement_follows_the_estimator(estimator, enabled, refinement):
    cfg = load_config(None, [f"flow.estimator={estimator}", f"flow.distill.enabled={str(enabled).lower()}"])
    assert cfg.flow.refinement == refinement


def test_missing_file_and_unknown_preset(tmp_path, monkeypatch):
    with pytest.raises(StbnError, match="config file not found"):
        load_config("/nonexistent/cfg.yaml")
    with pytest.raises(StbnError, match="config file not found"):
        load_config("tiny.yaml")  # a suffix makes it a path (relative to the working directory)
    with pytest.raises(StbnError, match=r"unknown preset 'nope' \(known: cpu-fit, .*; or give a YAML file's path\)"):
        load_config("nope")
    with pytest.raises(StbnError, match="not a preset name"):
        preset("configs/tiny.yaml")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny.yaml").write_text("train: {iterations: 3}")
    assert load_config("tiny.yaml").train.iterations == 3 and load_config("tiny").train.iterations == 20


def test_json_round_trip_and_preset_with_overrides():
    cfg = load_config("default-srgb", ["train.iterations=7"])
    dumped = cfg.model_dump(mode="json")
    assert yaml.safe_load(yaml.safe_dump(dumped)) == dumped
    assert validate_config(dumped) == cfg and cfg.train.iterations == 7 and cfg.model.num_channels == 16
    assert ExperimentConfig.model_fields["model"].description  # field docstrings are kept


def test_import_does_not_load_torch():
    code = "import sys, stbn.config; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
