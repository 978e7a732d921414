"""Configuration as data: --set overrides, unknown keys and wrong types rejected with the key path."""

from pathlib import Path

import pytest

from bbadj.core.config import Config, parse_set
from bbadj.core.params import load_config
from bbadj.core.registry import DECODERS, DECODINGS, FUSIONS, LOSSES, OBJECTIVES

ROOT = Path(__file__).resolve().parents[1]


def test_code_defaults_are_params_yaml():
    """One source per fact: bbadj/core/config.py's defaults are the base recipe of params.yaml."""
    assert load_config(ROOT / "params.yaml") == Config()


def test_set_overrides_nest_and_parse_values():
    over = parse_set(["train.lr=3e-4", "model.fusion=fpn", "data.jitter.shift=0.2", "train.amp=false"])
    assert over == {
        "train": {"lr": "3e-4", "amp": False},
        "model": {"fusion": "fpn"},
        "data": {"jitter": {"shift": 0.2}},
    }
    cfg = Config().with_overrides(over)
    # PyYAML reads 3e-4 (no dot) as a string; a float setting takes it as the number it spells
    assert cfg.train.lr == pytest.approx(3e-4) and isinstance(cfg.train.lr, float)
    assert (cfg.model.fusion, cfg.data.jitter.shift, cfg.train.amp) == ("fpn", 0.2, False)
    assert Config().with_overrides({"train": {"lr": 1}}).train.lr == 1.0


@pytest.mark.parametrize(
    "over,error,match",
    [
        ({"train": {"lrr": 0.1}}, KeyError, r"config\.train: unknown key\(s\) \['lrr'\]"),
        ({"train": {"lr": "fast"}}, TypeError, r"config\.train\.lr: expected float"),
        ({"train": {"max_steps": 1.5}}, TypeError, r"config\.train\.max_steps: expected int"),
        ({"train": {"amp": 1}}, TypeError, r"config\.train\.amp: expected true/false"),
        ({"data": {"jitter": 0.1}}, TypeError, r"config\.data\.jitter: expected a mapping"),
        ({"data": {"mix": {"fraction": 0.5}}}, ValueError, r"data\.mix\.fraction > 0 needs"),
        ({"data": {"mix": {"fraction": 1.0, "annotations": "a", "images": "b"}}}, ValueError, r"in \[0, 1\)"),
        ({"eval": {"sets": {"x": {"annotations": "a"}}}}, ValueError, r"eval\.sets\.x must have"),
    ],
)
def test_bad_settings_name_their_key(over, error, match):
    with pytest.raises(error, match=match):
        Config().with_overrides(over)


@pytest.mark.parametrize(
    "key, value, match",
    [
        # issue 17's probes: each crashed deep inside (ZeroDivisionError, a conv's kernel size) or ran on
        ("train.batch_size", 0, r"train\.batch_size must be in 1\.\.4096"),
        ("train.log_every", 0, r"train\.log_every must be >= 1"),
        ("train.checkpoint_every", 0, r"train\.checkpoint_every must be >= 1"),
        ("train.max_steps", -5, r"train\.max_steps must be >= 0 \(0: run train\.epochs\), got -5"),
        ("train.lr", -1e-3, r"train\.lr must be >= 0 and finite"),
        ("train.lr", float("nan"), r"train\.lr must be >= 0 and finite"),
        ("data.crop_size", 0, r"data\.crop_size must be an integer >= 2"),
        (
            "data.buffer_ratio",
            0.5,
            r"data\.buffer_ratio must be >= 1 \(the crop window is the box scaled by it\), got 0\.5",
        ),
        ("data.jitter.scale", 1.0, r"data\.jitter\.scale must be in \[0, 1\)"),
        ("data.hflip", 2.0, r"data\.hflip must be in \[0, 1\]"),
        ("eval.repeats", 0, r"eval\.repeats must be >= 1"),
        ("train.batch_size", True, r"config\.train\.batch_size: expected int, got True"),
    ],
)
def test_out_of_range_settings_name_their_key_and_range(key, value, match):
    from bbadj.util.errors import ConfigError

    *path, last = key.split(".")
    over = node = {}
    for p in path:
        node = node.setdefault(p, {})
    node[last] = value
    with pytest.raises(ConfigError, match=match):
        Config().with_overrides(over)


def test_the_command_line_prints_setting_errors(tmp_path, capsys, monkeypatch):
    from bbadj.cli.main import main

    monkeypatch.chdir(tmp_path)  # no params.yaml: the code's defaults
    assert main(["train", "--set", "train.batch_size=0", "--out", str(tmp_path / "run")]) == 2
    assert "bbadj train: error: train.batch_size must be in 1..4096 (boxes per step), got 0" in capsys.readouterr().err
    assert main(["evaluate", "--identity", "--eval-set", "nope", "--out", str(tmp_path / "m.json")]) == 2
    assert (
        "bbadj evaluate: error: no evaluation set 'nope'; eval.sets has ['coco128', 'coco_val2017']"
        in capsys.readouterr().err
    )
    assert main(["train", "--set", "train.lrr=1", "--out", str(tmp_path / "run")]) == 2
    assert "unknown key(s) ['lrr']" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def _one_of(registry) -> str:
    return ", ".join(registry.names())


@pytest.mark.parametrize(
    "setting, message",
    [
        ("train.batch_size=100000", "train.batch_size must be in 1..4096 (boxes per step), got 100000"),
        ("model.fusion=nope", f"model.fusion must be one of {_one_of(FUSIONS)}, got 'nope'"),
        ("model.backbone=resnet51", "model.backbone must be one of resnet18, resnet34, resnet50, efficientnet_lite0"),
        ("model.decoder=lstm", f"model.decoder must be one of {_one_of(DECODERS)}, got 'lstm'"),
        ("train.optimizer=sgd", "train.optimizer must be one of adam, adamw, got 'sgd'"),
        ("train.loss=l2", f"train.loss must be one of {_one_of(LOSSES)}, got 'l2'"),
        ("train.objective=x", f"train.objective must be one of {_one_of(OBJECTIVES)}, got 'x'"),
        ("eval.decoding=median", f"eval.decoding must be one of {_one_of(DECODINGS)}, got 'median'"),
        ("train.device=gpu", "train.device must be auto, cpu, cuda or cuda:N, got 'gpu'"),
        ("model.decoder=regression", "train.loss must be a loss for model.decoder=regression's laplace"),
    ],
)
def test_a_bad_setting_stops_the_command_before_anything_loads(tmp_path, capsys, monkeypatch, setting, message):
    """`bbadj train` (and every command that reads settings) exits 2 naming the setting and what it
    may be, before any data or weights load (the training folder is never made)."""
    from bbadj.cli.main import main

    monkeypatch.chdir(tmp_path)  # no params.yaml: the code's defaults (whose data is not here either)
    assert main(["train", "--set", setting, "--out", str(tmp_path / "run")]) == 2
    assert f"bbadj train: error: {message}" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_every_bad_setting_is_named_at_once(tmp_path, capsys, monkeypatch):
    from bbadj.cli.main import main

    monkeypatch.chdir(tmp_path)
    bad = ["model.fusion=nope", "train.batch_size=100000", "train.lrr=1", "data.jitter.scale=2", "eval.repeats=0"]
    assert main(["train", *[a for s in bad for a in ("--set", s)], "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "5 settings are wrong" in err
    for key in ("model.fusion", "train.batch_size", "['lrr']", "data.jitter.scale", "eval.repeats"):
        assert key in err, (key, err)


def test_the_stage_command_checks_the_params_before_a_kernel_starts(tmp_path, capsys, monkeypatch):
    from bbadj.cli.main import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("model: {fusion: nope}\nrows: {l4: {}}\n")
    assert main(["stage", "train", "l4"]) == 2
    assert "bbadj stage: error: params.yaml: model.fusion must be one of" in capsys.readouterr().err
    (tmp_path / "params.yaml").write_text("rows: {l4: {}}\n")
    assert main(["stage", "train", "l5"]) == 2
    assert "no row 'l5'" in capsys.readouterr().err
    assert not (tmp_path / "reports").exists()


def test_the_names_are_the_modules_own():
    # fusions, decoders, losses, decodings and objectives: tests/test_registry.py
    from bbadj.core import config
    from bbadj.model import backbone

    assert set(config.BACKBONES) == set(backbone.BACKBONES)
    assert config.NORMS == backbone.NORMS and config.TRAIN_FROM == backbone.TRAIN_FROM


def test_set_needs_key_and_value():
    with pytest.raises(ValueError, match="key.path=value"):
        parse_set(["train.lr"])


def test_eval_set_paths():
    from bbadj.core.config import EvalConfig

    cfg = Config(
        eval=EvalConfig(
            sets={
                "synth": {"annotations": "s.json", "images": "s"},
                "coco128": {**Config().eval.sets["coco128"], "role": "test"},
            }
        )
    )
    assert cfg.eval.set_paths() == ("data/coco128/annotations/val.json", "data/coco128/images")  # the test set
    assert cfg.eval.set_paths("synth") == ("s.json", "s")
    assert (cfg.eval.test_set, cfg.eval.role("synth"), cfg.eval.role("coco128")) == ("coco128", "validation", "test")
    with pytest.raises(KeyError, match="no evaluation set 'nope'"):
        cfg.eval.set_paths("nope")


@pytest.mark.parametrize(
    "sets,match",
    [
        ({"a": {"role": "test"}, "b": {"role": "test"}}, r"one set `role: test` at most.*got 2: a, b"),
        ({"a": {"role": "held-out"}}, r"eval\.sets\.a\.role must be one of validation, test"),
    ],
)
def test_one_test_set_at_most(sets, match):
    paths = {"annotations": "a.json", "images": "a"}
    with pytest.raises(ValueError, match=match):
        Config.from_dict({"eval": {"sets": {n: {**paths, **s} for n, s in sets.items()}}})
    # a set without a role is a validation set: nothing is a test set unless marked one
    one = Config.from_dict({"eval": {"sets": {"only": paths, "two": paths}}}).eval
    assert one.test_set is None and one.role("only") == "validation" and one.set_paths() == ("a.json", "a")


def test_an_explicit_params_file_must_exist(tmp_path, monkeypatch, capsys):
    """`--params` given (even abbreviated, which argparse accepts) never falls back to code defaults."""
    from bbadj.cli.main import main

    monkeypatch.chdir(tmp_path)
    for flag in ("--params", "--param", "--par"):
        assert main(["train", flag, "missing.yaml", "--out", str(tmp_path / "run")]) == 2
        assert "params file not found: missing.yaml" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
