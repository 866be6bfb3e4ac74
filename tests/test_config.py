import pytest

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
