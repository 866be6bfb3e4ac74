"""gan.config: presets, bounds, types and help of every setting, declared once.

Settings from a --config file or a run's config.json that are wrong (issue 25, class 5): one line, exit 2,
and one run with a bad config.json never hides the other runs in the app.
"""

import argparse
import dataclasses
import json
import math

import pytest

from gan.cli import main
from gan.config import ConfigError, TrainConfig


def test_preset_defaults_and_overrides():
    config = TrainConfig.for_preset("tiny", batch_size=16, conditional=True)
    assert config.batch_size == 16 and config.conditional is True
    assert config.latent_dim == 100 and config.loss == "bce"
    assert config.extra["width"] == 64


def test_json_round_trip():
    config = TrainConfig.for_preset("strong", epochs=3, extra={"g_channels": 32})
    again = TrainConfig.from_json(config.to_json())
    assert again == config


@pytest.mark.parametrize(
    "overrides, words",
    [
        ({"epochs": 0}, "epochs"),
        ({"batch_size": -1}, "batch_size"),
        ({"g_lr": 5.0}, "g_lr"),
        ({"loss": "wasserstein"}, "loss"),
        ({"label_smoothing": 0.7}, "label_smoothing"),
        ({"augment": "color,blur"}, "blur"),
        ({"image_size": 48}, "image_size"),
    ],
)
def test_bad_values_are_named(overrides, words):
    with pytest.raises(ConfigError, match=words):
        TrainConfig.for_preset("tiny", **overrides)


def test_unknown_keys_and_bad_json_are_refused():
    with pytest.raises(ConfigError, match="unknown config key"):
        TrainConfig.from_json('{"preset": "tiny", "wings": 2}')
    with pytest.raises(ConfigError, match="not valid JSON"):
        TrainConfig.from_json("{nope")


# --- strict types and bounds: a --config file is hand-written JSON ------------------------------------
@pytest.mark.parametrize("key, value", [
    ("mixed_precision", "no"), ("conditional", "yes"), ("keep_best", 1), ("distribute", "false"), ("jit", 0),
    ("epochs", 1e308), ("epochs", None), ("epochs", True), ("epochs", 2.0), ("epochs", "3"), ("steps", 1.5),
    ("batch_size", [64]), ("latent_dim", {"n": 3}), ("seed", -1), ("seed", 2**31), ("holdout", 10**7),
    ("g_lr", "0.001"), ("g_lr", float("nan")), ("ema", True), ("label_smoothing", None), ("data", 5),
    ("preset", ["tiny"]), ("loss", 1), ("augment", ["color"]), ("eval_metric", None), ("image_size", 32.0),
    ("extra", [1, 2]), ("extra", None), ("log_every", 0), ("checkpoint_every", -1), ("limit", 0),
])
def test_a_config_value_of_the_wrong_type_or_out_of_bounds_is_one_config_error(key, value):
    text = json.dumps({"preset": "tiny", key: value})
    with pytest.raises(ConfigError, match=key) as raised:
        TrainConfig.from_json(text)
    assert "\n" not in str(raised.value) and "got" in str(raised.value)


@pytest.mark.parametrize("key, value", [
    ("d_steps", 11), ("d_steps", 100_000), ("batch_size", 100_000), ("latent_dim", 100_000), ("epochs", 10**6),
    ("steps", 10**12), ("bn_reestimate", 10**6), ("mode_seeking", 1e9), ("instance_noise", float("inf")),
])
def test_settings_are_bounded_to_what_makes_sense_from_json_flags_and_code(key, value):
    """d_steps 100000 ran for minutes through SIGTERM; batch or latent 100000 ran out of memory: refused first."""
    with pytest.raises(ConfigError, match=key):
        TrainConfig.from_json(json.dumps({"preset": "tiny", key: value}) if math.isfinite(value) else
                              f'{{"preset": "tiny", "{key}": Infinity}}')
    with pytest.raises(ConfigError, match=key):
        TrainConfig.for_preset("tiny", **{key: value})


def test_the_error_says_what_was_expected_and_what_came():
    with pytest.raises(ConfigError) as raised:
        TrainConfig.from_json('{"mixed_precision": "no"}')
    assert str(raised.value) == 'mixed_precision must be true or false, got "no"'
    with pytest.raises(ConfigError) as raised:
        TrainConfig.from_json('{"d_steps": 300}')
    assert str(raised.value) == "d_steps must be a whole number in [1, 10], got 300"


def test_values_in_bounds_and_of_the_right_type_are_kept_as_given():
    config = TrainConfig.from_json(json.dumps({"preset": "tiny", "mixed_precision": False, "conditional": None,
                                               "ema": 0, "d_steps": 10, "seed": 2**31 - 1, "g_lr": 0.5}))
    assert config.ema == 0 and config.d_steps == 10 and config.seed == 2**31 - 1
    assert TrainConfig.from_json(config.to_json()) == config
    for preset in ("tiny", "sngan-cpu", "strong", "seed"):  # every preset's own defaults fit its bounds
        TrainConfig.for_preset(preset)


def test_every_setting_declares_its_type_and_bounds_once():
    """One Spec per field (issue 24, A1): validation and the CLI's flags read it; nothing else repeats it."""
    from gan.config import Spec, spec_of

    for f in dataclasses.fields(TrainConfig):
        if f.name != "extra":
            assert isinstance(spec_of(f.name), Spec), f.name
    assert spec_of("d_steps").parse("3") == 3
    with pytest.raises(argparse.ArgumentTypeError, match=r"\[1, 10\]"):
        spec_of("d_steps").parse("300")


def test_every_setting_says_what_it_does_and_the_cli_says_the_same():
    """One declaration per setting: its Spec's help is what `python -m gan train --help` shows (the Train page
    shows it too: tests/pages/test_train.py)."""
    from gan.cli import build_parser
    from gan.config import spec_of

    specs = {f.name: f.metadata["spec"] for f in dataclasses.fields(TrainConfig) if "spec" in f.metadata}
    assert all(spec.help for spec in specs.values()), [name for name, spec in specs.items() if not spec.help]
    train = build_parser()._subparsers._group_actions[0].choices["train"]
    flags = {a.option_strings[0]: a for a in train._actions if a.option_strings}
    shown = {name: flags[f"--{name.replace('_', '-')}"].help for name in specs
             if f"--{name.replace('_', '-')}" in flags and name != "preset"}  # preset: the registry's list
    assert len(shown) > 30
    assert {name: spec_of(name).usage() for name in shown} == shown
    assert spec_of("g_lr").usage() == "generator learning rate (preset default); a finite number in (0, 1)"


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("error:") and "unexpected" not in err[0]
    return err[0]


@pytest.mark.parametrize("key, value", [
    ("mixed_precision", "no"), ("conditional", "yes"), ("epochs", 1e308), ("epochs", None), ("batch_size", "64"),
    ("latent_dim", 12.5), ("d_steps", 100_000), ("seed", [1]), ("holdout", True), ("extra", "wide"), ("preset", 3),
])
def test_a_config_file_with_a_wrong_value_is_one_line_and_exit_2(tmp_path, capsys, key, value):
    """Six wrong types were an unexpected TypeError (exit 1); a truthy "no" trained in bfloat16."""
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"preset": "tiny", key: value}))
    assert main(["train", "--config", str(config), "--run-dir", str(tmp_path / "run")]) == 2
    assert key in one_line_error(capsys)
    assert not (tmp_path / "run" / "config.json").exists()


def test_a_config_json_with_null_epochs_is_a_config_error():
    """It was a TypeError from `None >= 1`, which the pages' `except ValueError` did not catch."""
    with pytest.raises(ConfigError, match="epochs"):
        TrainConfig.from_json('{"epochs": null}')
