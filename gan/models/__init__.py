"""The preset registry: a name -> how to build G and D, and the training defaults that suit them.

Contract for every builder (`build_generator(config, num_classes)`, `build_discriminator(...)`):
- G takes `z` (B, latent_dim) float, plus `label` (B,) int32 when conditional; returns (B, S, S, 3) in [-1, 1].
- D takes `image` (B, S, S, 3) in [-1, 1], plus `label` (B,) int32 when conditional; returns logits (B, 1).
- Models are functional Keras models of registered layers only, so `.keras` files load with safe_mode.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import keras

    from gan.config import TrainConfig

Builder = Callable[["TrainConfig", int], "keras.Model"]


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    build_generator: Builder
    build_discriminator: Builder
    defaults: dict[str, Any] = field(default_factory=dict)


_PRESETS: dict[str, Callable[[], Preset]] = {}
_DESCRIPTIONS: dict[str, str] = {}
DEFAULT_PRESET = "sngan-cpu"  # the best images per CPU hour (benchmarks/PILOT.md); also sound on a GPU


def register(name: str, description: str) -> Callable[[Callable[[], Preset]], Callable[[], Preset]]:
    """Register a zero-argument factory, so that listing and describing presets imports no model code."""
    def decorator(factory: Callable[[], Preset]) -> Callable[[], Preset]:
        _PRESETS[name] = factory
        _DESCRIPTIONS[name] = description
        return factory

    return decorator


def preset_names() -> list[str]:
    return list(_PRESETS)


def preset_description(name: str) -> str:
    """One line on what the preset is for: shown by `train --help` and the Train page."""
    return _DESCRIPTIONS[name]


def get_preset(name: str) -> Preset:
    from gan.config import ConfigError

    if name not in _PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose from {', '.join(_PRESETS)}")
    return _PRESETS[name]()


def build_models(config: TrainConfig, num_classes: int) -> tuple[keras.Model, keras.Model]:
    """(generator, discriminator) for a resolved config."""
    preset = get_preset(config.preset)
    classes = num_classes if config.conditional else 0
    return preset.build_generator(config, classes), preset.build_discriminator(config, classes)


_DCGAN_DEFAULTS = dict(
    conditional=False, batch_size=128, latent_dim=100, g_lr=2e-4, d_lr=2e-4, beta1=0.5, beta2=0.999,
    loss="bce", d_steps=1, dropout=0.3, augment="", ema=0.0, bn_reestimate=0, lr_decay="none", mode_seeking=0.0,
)


def _register_dcgan(name: str, description: str, width: int) -> None:
    """The seed DCGAN at some width: the presets below differ in nothing else."""
    def factory() -> Preset:
        from gan.models import dcgan

        return Preset(name, description, dcgan.build_generator, dcgan.build_discriminator,
                      dict(_DCGAN_DEFAULTS, extra=dict(width=width)))

    register(name, description)(factory)


_register_dcgan("seed", "The seed projects' Keras DCGAN, exactly (about 50 images/s on a 2-core CPU).", 512)
_register_dcgan("tiny", "The seed DCGAN at 1/8 width: for demos, tests and CPUs.", 64)
# `small` has no EMA either (none of these do): measured on CIFAR-10 after 25 epochs, the EMA (0.999) of this
# BatchNorm DCGAN scored FD 15.7 against 7.7 for the raw generator (checkpoints/cifar10-small-cpu/README.md).
_register_dcgan("small", "The seed DCGAN at 1/4 width: what a 2-core CPU trains well in an hour "
                "(the shipped CPU model).", 128)


_STRONG = "SNGAN/BigGAN-style ResNet GAN for GPUs: hinge loss, spectral norm, projection D, DiffAugment, EMA."


@register("strong", _STRONG)
def _strong() -> Preset:
    from gan.models import strong

    return Preset(
        "strong", _STRONG,
        strong.build_generator, strong.build_discriminator,
        dict(
            conditional=True, batch_size=64, latent_dim=128, g_lr=2e-4, d_lr=2e-4, beta1=0.0, beta2=0.999,
            loss="hinge", d_steps=2, dropout=0.0, augment="color,translation,cutout", ema=0.999,
            bn_reestimate=0, lr_decay="none", mode_seeking=0.0,
            extra=dict(g_channels=256, d_channels=128, spectral_norm=True, conditional_bn=True, embed_dim=128),
        ),
    )


# Chosen by the pilot at equal wall-clock on a 2-core CPU (benchmarks/PILOT.md); each piece is a switch.
# Not in the default, by measurement: DiffAugment translation (drew a lattice artifact with this small D),
# TTUR (no better than equal rates here). The mode-seeking term is what kept every class varied.
SNGAN_CPU_DEFAULTS = dict(
    conditional=True, batch_size=64, latent_dim=128, g_lr=2e-4, d_lr=2e-4, beta1=0.5, beta2=0.999,
    loss="hinge", d_steps=1, dropout=0.0, augment="", ema=0.999, bn_reestimate=20, lr_decay="linear",
    mode_seeking=1.0,
    extra=dict(g_channels=128, d_channels=128, spectral_norm=True, conditional_bn=True, mbstd_group=4,
               embed_dim=128, d_pool="flatten", g_up="transpose"),
)


_SNGAN_CPU = ("The default: a conditional SN-DCGAN sized for CPUs (hinge, spectral norm, projection D, minibatch "
              "stddev, mode seeking, linear decay, EMA generator); the best images per CPU hour.")


@register("sngan-cpu", _SNGAN_CPU)
def _sngan_cpu() -> Preset:
    from gan.models import sngan_cpu

    return Preset(
        "sngan-cpu", _SNGAN_CPU,
        sngan_cpu.build_generator, sngan_cpu.build_discriminator, SNGAN_CPU_DEFAULTS,
    )
