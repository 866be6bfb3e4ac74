"""Training configuration: one validated dataclass, saved as `config.json` in every run.

The JSON file is the contract between the trainer, the CLI and the app: it holds
everything needed to rebuild the models of a run, and nothing else.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gan.errors import ConfigError  # noqa: F401  (re-exported: where callers look for it)

LOSSES = ("bce", "hinge")
LR_DECAYS = ("none", "linear")
LIVE_METRICS = ("fd_cifar2k", "ifd_cifar5k")  # what the trainer may score itself with (names of gan.metrics)
AUGMENT_OPS = ("color", "translation", "cutout")


@dataclass
class TrainConfig:
    """Everything a training run needs. Unset (None) fields take the preset's defaults."""

    data: str = "cifar10"
    preset: str = "sngan-cpu"  # gan.presets.DEFAULT_PRESET
    conditional: bool | None = None
    epochs: int = 50
    steps: int | None = None  # stop after this many steps in total (overrides epochs)
    batch_size: int | None = None
    latent_dim: int | None = None
    g_lr: float | None = None
    d_lr: float | None = None
    beta1: float | None = None
    beta2: float | None = None
    loss: str | None = None  # "bce" (non-saturating, logits) or "hinge"
    d_steps: int | None = None  # discriminator updates per generator update
    label_smoothing: float = 0.0  # one-sided: real targets become 1 - s
    instance_noise: float = 0.0  # std of Gaussian noise on D inputs, decays linearly to 0
    dropout: float | None = None  # discriminator dropout rate (DCGAN presets)
    augment: str | None = None  # DiffAugment policy, e.g. "color,translation,cutout"; "" = off
    ema: float | None = None  # EMA decay of the generator weights; 0 = off
    bn_reestimate: int | None = None  # batches that re-estimate the EMA generator's BatchNorm statistics; 0 = off
    lr_decay: str | None = None  # "linear": both learning rates fall linearly to 0 over the planned steps
    mode_seeking: float | None = None  # weight of MSGAN's mode-seeking term in G's loss; 0 = off
    image_size: int = 32
    limit: int | None = None  # use at most this many training images
    holdout: int = 0  # images kept out of training (stratified), recorded in holdout.json: honest test images
    seed: int = 0
    log_every: int = 50  # steps between metric rows
    checkpoint_every: int = 0  # steps between checkpoints; 0 = once per epoch
    eval_every: int = 0  # steps between cheap in-training evaluations; 0 = off
    eval_metric: str = "fd_cifar2k"  # what those evaluations score (gan.metrics.LIVE_METRICS)
    keep_best: bool = False  # keep the generator that scored best so far in best/ (needs eval_every)
    mixed_precision: bool = False  # bfloat16 compute; worth it on recent GPUs only
    jit: bool | None = None  # XLA-compile the train step; None = the faster choice for this backend and device
    distribute: bool = False  # data-parallel over all local devices
    extra: dict[str, Any] = field(default_factory=dict)  # preset-specific architecture knobs

    @classmethod
    def for_preset(cls, preset: str = "sngan-cpu", **overrides: Any) -> TrainConfig:
        """A config with the preset's defaults filled in, then `overrides` (None = keep default)."""
        return cls(preset=preset, **{k: v for k, v in overrides.items() if v is not None}).resolved()

    def resolved(self) -> TrainConfig:
        """Fill unset fields from the preset and validate; returns a new config."""
        from gan.presets import get_preset

        preset = get_preset(self.preset)
        values = dataclasses.asdict(self)
        for name, default in preset.defaults.items():
            if values.get(name) is None:
                values[name] = default
        values["extra"] = {**preset.defaults.get("extra", {}), **self.extra}
        config = TrainConfig(**values)
        config.validate()
        return config

    def validate(self) -> None:
        """Raise ConfigError on the first bad value, with a message that names it."""
        def check(ok: bool, message: str) -> None:
            if not ok:
                raise ConfigError(message)

        check(self.epochs >= 1, f"epochs must be at least 1, got {self.epochs}")
        check(self.steps is None or self.steps >= 1, f"steps must be at least 1, got {self.steps}")
        for name in ("batch_size", "latent_dim", "d_steps"):
            value = getattr(self, name)
            check(value is None or (isinstance(value, int) and value >= 1),
                  f"{name} must be a positive integer, got {value}")
        for name in ("g_lr", "d_lr"):
            value = getattr(self, name)
            check(value is None or 0 < value < 1, f"{name} must be in (0, 1), got {value}")
        for name in ("beta1", "beta2"):
            value = getattr(self, name)
            check(value is None or 0 <= value < 1, f"{name} must be in [0, 1), got {value}")
        check(self.loss is None or self.loss in LOSSES, f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        check(0 <= self.label_smoothing < 0.5, f"label_smoothing must be in [0, 0.5), got {self.label_smoothing}")
        check(0 <= self.instance_noise <= 2, f"instance_noise must be in [0, 2], got {self.instance_noise}")
        check(self.dropout is None or 0 <= self.dropout < 1, f"dropout must be in [0, 1), got {self.dropout}")
        check(self.ema is None or 0 <= self.ema < 1, f"ema must be in [0, 1), got {self.ema}")
        check(self.mode_seeking is None or 0 <= self.mode_seeking <= 100,
              f"mode_seeking must be in [0, 100], got {self.mode_seeking}")
        check(self.bn_reestimate is None or (isinstance(self.bn_reestimate, int) and 0 <= self.bn_reestimate <= 10_000),
              f"bn_reestimate must be a whole number in [0, 10000], got {self.bn_reestimate}")
        check(self.lr_decay is None or self.lr_decay in LR_DECAYS,
              f"lr_decay must be one of {', '.join(LR_DECAYS)}, got {self.lr_decay!r}")
        group = self.extra.get("mbstd_group", 0)
        check(isinstance(group, int) and group >= 0, f"mbstd_group must be a whole number >= 0, got {group!r}")
        check(not group or self.batch_size is None or self.batch_size % group == 0 or self.batch_size < group,
              f"batch_size ({self.batch_size}) must be a multiple of the minibatch-stddev group ({group})")
        ac = self.extra.get("ac_weight", 0.0)
        check(isinstance(ac, int | float) and not isinstance(ac, bool) and 0 <= ac <= 100,
              f"ac_weight must be a number in [0, 100], got {ac!r}")
        if self.augment:
            unknown = [op for op in self.augment.split(",") if op not in AUGMENT_OPS]
            check(not unknown, f"unknown augment op(s) {', '.join(unknown)}; choose from {', '.join(AUGMENT_OPS)}")
        check(self.image_size in (32, 64), f"image_size must be 32 or 64, got {self.image_size}")
        check(self.limit is None or self.limit >= 1, f"limit must be at least 1, got {self.limit}")
        check(isinstance(self.seed, int) and 0 <= self.seed < 2**31, f"seed must be in [0, 2^31), got {self.seed}")
        check(isinstance(self.holdout, int) and 0 <= self.holdout <= 1_000_000,
              f"holdout must be a whole number in [0, 1000000], got {self.holdout}")
        for name in ("log_every",):
            check(getattr(self, name) >= 1, f"{name} must be at least 1")
        for name in ("checkpoint_every", "eval_every"):
            check(getattr(self, name) >= 0, f"{name} must be 0 or more")
        check(self.eval_metric in LIVE_METRICS,
              f"eval_metric must be one of {', '.join(LIVE_METRICS)}, got {self.eval_metric!r}")
        check(not self.keep_best or self.eval_every > 0, "keep_best needs eval_every: the scores it keeps the best of")

    @property
    def augment_ops(self) -> tuple[str, ...]:
        return tuple(op for op in (self.augment or "").split(",") if op)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TrainConfig:
        """Parse a config written by `to_json`; unknown keys are an error, not silently dropped."""
        try:
            values = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"config is not valid JSON: {e.msg} (line {e.lineno})") from None
        if not isinstance(values, dict):
            raise ConfigError("config must be a JSON object")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown config key(s): {', '.join(unknown)}")
        try:
            config = cls(**values)
        except TypeError as e:
            raise ConfigError(f"bad config: {e}") from None
        config.validate()
        return config

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as e:
            raise ConfigError(f"cannot read {path}: {e.strerror}") from None
        return cls.from_json(text)
