"""Building a preset's networks: `build_models(config, num_classes)` imports the module the preset names.

Contract for every builder (`build_generator(config, num_classes)`, `build_discriminator(...)`):
- G takes `z` (B, latent_dim) float, plus `label` (B,) int32 when conditional; returns (B, S, S, 3) in [-1, 1].
- D takes `image` (B, S, S, 3) in [-1, 1], plus `label` (B,) int32 when conditional; returns logits (B, 1),
  or [logits, class logits (B, classes)] when it has an auxiliary classifier head (`extra.ac_weight`).
- Models are functional Keras models of registered layers only, so `.keras` files load with safe_mode.

To add a preset: a module here with the two builders, and an entry in gan/presets.py.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from gan.presets import get_preset

if TYPE_CHECKING:
    import keras

    from gan.config import TrainConfig


def build_models(config: TrainConfig, num_classes: int) -> tuple[keras.Model, keras.Model]:
    """(generator, discriminator) for a resolved config."""
    module = importlib.import_module(f"gan.models.{get_preset(config.preset).module}")
    classes = num_classes if config.conditional else 0
    return module.build_generator(config, classes), module.build_discriminator(config, classes)
