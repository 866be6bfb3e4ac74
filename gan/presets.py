"""The preset registry: each preset's name, one line on what it is for, and the training defaults that suit it.

Plain data, so the CLI's help, the Train page and `TrainConfig.resolved()` read it without importing any
model code; `gan.models.build_models` maps a preset to the module that builds its networks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gan.errors import ConfigError

DEFAULT_PRESET = "sngan-cpu"  # the best images per CPU hour (benchmarks/PILOT.md); also sound on a GPU


@dataclass(frozen=True)
class Preset:
    name: str
    description: str  # shown by `train --help` and the Train page
    module: str  # the gan.models module with build_generator(config, classes) and build_discriminator(...)
    defaults: dict[str, Any] = field(default_factory=dict)


_DCGAN_DEFAULTS = dict(
    conditional=False, batch_size=128, latent_dim=100, g_lr=2e-4, d_lr=2e-4, beta1=0.5, beta2=0.999,
    loss="bce", d_steps=1, dropout=0.3, augment="", ema=0.0, bn_reestimate=0, lr_decay="none", mode_seeking=0.0,
)

# Chosen by the pilot at equal wall-clock on a 2-core CPU (benchmarks/PILOT.md); each piece is a switch.
# Not in the default, by measurement: DiffAugment translation (drew a lattice artifact with this small D),
# TTUR (no better than equal rates here). The mode-seeking term is what kept every class varied; D's auxiliary
# classifier (weight 1, round 3) is what made the samples read as their class. Width 192 (round 5): half the
# images/s of 128, but in 2 hours it passed the 128 model's best (which had stopped improving) in both feature spaces.
SNGAN_CPU_DEFAULTS = dict(
    conditional=True, batch_size=64, latent_dim=128, g_lr=2e-4, d_lr=2e-4, beta1=0.5, beta2=0.999,
    loss="hinge", d_steps=1, dropout=0.0, augment="", ema=0.999, bn_reestimate=20, lr_decay="linear",
    mode_seeking=1.0,
    extra=dict(g_channels=192, d_channels=192, spectral_norm=True, conditional_bn=True, mbstd_group=4,
               embed_dim=128, d_pool="flatten", g_up="transpose", ac_weight=1.0),
)

_STRONG_DEFAULTS = dict(
    conditional=True, batch_size=64, latent_dim=128, g_lr=2e-4, d_lr=2e-4, beta1=0.0, beta2=0.999,
    loss="hinge", d_steps=2, dropout=0.0, augment="color,translation,cutout", ema=0.999,
    bn_reestimate=0, lr_decay="none", mode_seeking=0.0,
    extra=dict(g_channels=256, d_channels=128, spectral_norm=True, conditional_bn=True, embed_dim=128),
)

PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset("sngan-cpu", "The default: a conditional SN-DCGAN sized for CPUs (hinge, spectral norm, projection D "
           "with an auxiliary classifier, minibatch stddev, mode seeking, linear decay, EMA generator); "
           "the best images per CPU hour.",
           "sngan_cpu", SNGAN_CPU_DEFAULTS),
    Preset("seed", "The seed projects' Keras DCGAN, exactly (about 50 images/s on a 2-core CPU).",
           "dcgan", dict(_DCGAN_DEFAULTS, extra=dict(width=512))),
    Preset("tiny", "The seed DCGAN at 1/8 width: for demos, tests and CPUs.",
           "dcgan", dict(_DCGAN_DEFAULTS, extra=dict(width=64))),
    # No EMA for the DCGANs: measured on CIFAR-10 after 25 epochs, the EMA (0.999) of this BatchNorm DCGAN
    # scored FD 15.7 against 7.7 for the raw generator.
    Preset("small", "The seed DCGAN at 1/4 width: the old CPU recipe, for comparison with sngan-cpu.",
           "dcgan", dict(_DCGAN_DEFAULTS, extra=dict(width=128))),
    Preset("strong", "SNGAN/BigGAN-style ResNet GAN for GPUs: hinge loss, spectral norm, projection D, "
           "DiffAugment, EMA.", "strong", _STRONG_DEFAULTS),
)}


def preset_names() -> list[str]:
    return list(PRESETS)


def preset_description(name: str) -> str:
    """One line on what the preset is for: shown by `train --help` and the Train page."""
    return get_preset(name).description


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    return PRESETS[name]
