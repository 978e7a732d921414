"""Configuration as data: --set overrides, unknown keys and wrong types rejected with the key path."""
import pytest

from bbadj.config import Config, parse_set


def test_set_overrides_nest_and_parse_values():
    over = parse_set(["train.lr=3e-4", "model.fusion=fpn", "data.jitter.shift=0.2", "train.amp=false"])
    assert over == {"train": {"lr": "3e-4", "amp": False}, "model": {"fusion": "fpn"}, "data": {"jitter": {"shift": 0.2}}}
    cfg = Config().with_overrides(over)
    # PyYAML reads 3e-4 (no dot) as a string; a float setting takes it as the number it spells
    assert cfg.train.lr == pytest.approx(3e-4) and isinstance(cfg.train.lr, float)
    assert (cfg.model.fusion, cfg.data.jitter.shift, cfg.train.amp) == ("fpn", 0.2, False)
    assert Config().with_overrides({"train": {"lr": 1}}).train.lr == 1.0


@pytest.mark.parametrize("over,error,match", [
    ({"train": {"lrr": 0.1}}, KeyError, r"config\.train: unknown key\(s\) \['lrr'\]"),
    ({"train": {"lr": "fast"}}, TypeError, r"config\.train\.lr: expected float"),
    ({"train": {"max_steps": 1.5}}, TypeError, r"config\.train\.max_steps: expected int"),
    ({"train": {"amp": 1}}, TypeError, r"config\.train\.amp: expected true/false"),
    ({"data": {"jitter": 0.1}}, TypeError, r"config\.data\.jitter: expected a mapping"),
])
def test_bad_settings_name_their_key(over, error, match):
    with pytest.raises(error, match=match):
        Config().with_overrides(over)


def test_set_needs_key_and_value():
    with pytest.raises(ValueError, match="key.path=value"):
        parse_set(["train.lr"])
