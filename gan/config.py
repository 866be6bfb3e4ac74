"""Training configuration: one validated dataclass, saved as `config.json` in every run.

The JSON file is the contract between the trainer, the CLI and the app: it holds
everything needed to rebuild the models of a run, and nothing else.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gan.errors import ConfigError  # noqa: F401  (re-exported: where callers look for it)

LOSSES = ("bce", "hinge")
LR_DECAYS = ("none", "linear")
LIVE_METRICS = ("fd_cifar2k", "ifd_cifar5k")  # what the trainer may score itself with (names of gan.metrics)
AUGMENT_OPS = ("flip", "color", "translation", "cutout")


INT32 = 2**31 - 1


@dataclass(frozen=True)
class Spec:
    """What one setting accepts: its JSON type, and its bounds or choices.

    Declared once per TrainConfig field (`setting(...)`, in the field's metadata); `TrainConfig.validate`
    checks every field against it, and the CLI parses its numeric flags with `Spec.parse`, so a
    `--config` file, a flag and the app's launch.json meet the same rules. A bool is not a number
    here (JSON `true` is no batch size), an int is not a bool, and a float is finite.
    """

    kind: type  # bool, int, float, str (float also accepts a JSON integer: `"ema": 0`)
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # low itself is excluded: (low, ...
    high_open: bool = False  # high itself is excluded: ..., high)
    choices: tuple = ()
    optional: bool = False  # None (JSON null) allowed: the preset's default fills it in
    help: str = ""  # what it does, in a line: the CLI's --help and the Train page's tooltip both show it

    def usage(self) -> str:
        """The help line with the accepted values: what `--help` and the Train page say about the setting."""
        return self.help if self.choices or self.kind in (bool, str) else f"{self.help}; {self.describe()}"

    def describe(self) -> str:
        """The accepted values in words, for an error line: 'a whole number in [1, 10]'."""
        if self.choices:
            return "one of " + ", ".join(str(c) for c in self.choices)
        noun = {bool: "true or false", int: "a whole number", float: "a finite number", str: "a string"}[self.kind]
        if self.low is None and self.high is None:
            return noun
        left = "(" if self.low_open else "["
        right = ")" if self.high_open else "]"
        low = "-inf" if self.low is None else self._number(self.low)
        high = "inf" if self.high is None else self._number(self.high)
        return f"{noun} in {left}{low}, {high}{right}"

    def _number(self, bound: float) -> str:
        return str(int(bound)) if self.kind is int else f"{bound:g}"

    def problem(self, value: Any) -> str | None:
        """Why `value` does not fit (as words after "must be"), or None when it does."""
        if value is None:
            return None if self.optional else self.describe()
        if self.kind is bool:
            ok_type = isinstance(value, bool)
        elif self.kind is int:
            ok_type = isinstance(value, int) and not isinstance(value, bool)
        elif self.kind is float:
            ok_type = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        else:
            ok_type = isinstance(value, self.kind)
        if not ok_type:
            return self.describe()
        if self.choices:
            return None if value in self.choices else self.describe()
        too_low = self.low is not None and (value <= self.low if self.low_open else value < self.low)
        too_high = self.high is not None and (value >= self.high if self.high_open else value > self.high)
        return self.describe() if too_low or too_high else None

    def check(self, name: str, value: Any) -> None:
        """Raise ConfigError naming `name`, what it must be and what it got."""
        problem = self.problem(value)
        if problem:
            raise ConfigError(f"{name} must be {problem}, got {shown(value)}")

    def parse(self, text: str) -> Any:
        """A command-line value of this kind, checked; argparse.ArgumentTypeError (one line) when it does not fit."""
        import argparse

        try:
            value = self.kind(text) if self.kind in (int, float) else text
        except ValueError:
            value = text
        problem = self.problem(value)
        if problem:
            raise argparse.ArgumentTypeError(f"expected {problem}, got {text!r}")
        return value


def shown(value: Any) -> str:
    """`value` as it would look in a JSON config (null, true, "no"), for an error line."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def setting(default: Any, kind: type, low: float | None = None, high: float | None = None, *,
            low_open: bool = False, high_open: bool = False, choices: tuple = (), help: str, **kwargs: Any) -> Any:  # noqa: A002
    """A TrainConfig field with its Spec; `optional` (None allowed) follows from a None default."""
    spec = Spec(kind, low, high, low_open, high_open, tuple(choices), optional=default is None, help=help)
    return field(default=default, metadata={"spec": spec}, **kwargs)


def spec_of(name: str) -> Spec:
    """The Spec of TrainConfig's field `name` (KeyError for a field without one)."""
    return TrainConfig.__dataclass_fields__[name].metadata["spec"]


@dataclass
class TrainConfig:
    """Everything a training run needs. Unset (None) fields take the preset's defaults.

    Bounds are what makes sense for a GAN of this project, not what a type allows: a setting past
    them would only run out of memory or ignore Stop for minutes (d_steps 100000, batch 100000).
    """

    data: str = setting("cifar10", str, help="cifar10 (default), a folder or .zip of <class>/<image>, or an .npz")
    preset: str = setting("sngan-cpu", str, help="model preset (gan.presets: its defaults fill the unset settings)")
    conditional: bool | None = setting(None, bool, help="class-conditional G and D")
    epochs: int = setting(50, int, 1, 10_000, help="passes over the data (default 50)")
    steps: int | None = setting(None, int, 1, 10_000_000, help="stop after this many steps in total")  # over epochs
    batch_size: int | None = setting(None, int, 1, 4096, help="images per step (preset default: 64 for sngan-cpu)")
    latent_dim: int | None = setting(None, int, 1, 1024, help="size of the noise vector z (preset default)")
    g_lr: float | None = setting(None, float, 0, 1, low_open=True, high_open=True,
                                 help="generator learning rate (preset default)")
    d_lr: float | None = setting(None, float, 0, 1, low_open=True, high_open=True,
                                 help="discriminator learning rate (preset default)")
    beta1: float | None = setting(None, float, 0, 1, high_open=True, help="Adam's beta1 (preset default)")
    beta2: float | None = setting(None, float, 0, 1, high_open=True, help="Adam's beta2 (preset default)")
    loss: str | None = setting(None, str, choices=LOSSES, help="bce (non-saturating) or hinge (preset default)")
    d_steps: int | None = setting(None, int, 1, 10, help="D updates per G update (preset default: 1)")
    label_smoothing: float = setting(0.0, float, 0, 0.5, high_open=True,
                                     help="one-sided: real targets become 1 - s (default 0)")
    instance_noise: float = setting(0.0, float, 0, 2, help="initial std of noise on D inputs, decays to 0 (default 0)")
    dropout: float | None = setting(None, float, 0, 1, high_open=True,
                                    help="discriminator dropout rate (preset default; DCGAN presets 0.3)")
    augment: str | None = setting(None, str, help="DiffAugment ops, e.g. flip,color,translation,cutout ('' = off; "
                                  "preset default)")
    ema: float | None = setting(None, float, 0, 1, high_open=True, help="EMA decay of G's weights (0 = off; preset "
                                "default)")
    bn_reestimate: int | None = setting(None, int, 0, 10_000, help="batches that re-estimate the EMA generator's "
                                        "BatchNorm statistics before it is sampled or saved (0 = off)")
    lr_decay: str | None = setting(None, str, choices=LR_DECAYS, help="linear: learning rates fall to 0 by the last "
                                   "step")
    mode_seeking: float | None = setting(None, float, 0, 100, help="weight of MSGAN's mode-seeking term, which makes "
                                         "a G that ignores z pay (0 = off; sngan-cpu: 1)")
    image_size: int = setting(32, int, choices=(32, 64), help="height and width of the images, in pixels (default 32)")
    limit: int | None = setting(None, int, 1, 100_000_000, help="use at most this many training images (default: all)")
    holdout: int = setting(0, int, 0, 1_000_000, help="keep this many images out of training, spread over the classes, "
                           "and record which in holdout.json: test images for CAS and augmentation gain (default 0)")
    seed: int = setting(0, int, 0, INT32, help="random seed of weights, data order and noise (default 0)")
    log_every: int = setting(50, int, 1, 100_000, help="steps between metric rows (default 50)")
    checkpoint_every: int = setting(0, int, 0, 10_000_000, help="steps between checkpoints (default 0 = each epoch)")
    eval_every: int = setting(0, int, 0, 10_000_000, help="steps between cheap FD scores (default 0 = off)")
    eval_metric: str = setting("fd_cifar2k", str, choices=LIVE_METRICS, help="what --eval-every scores: overall FD "
                               "on 2k samples (default) or intra-class FD on 5k")
    keep_best: bool = setting(False, bool, help="keep the generator with the lowest --eval-metric so far in "
                              "best/generator.keras")
    mixed_precision: bool = setting(False, bool, help="bfloat16 compute (GPUs)")
    jit: bool | None = setting(None, bool, help="XLA-compile the train step (default: only where it is faster: a GPU, "
                               "or JAX)")
    distribute: bool = setting(False, bool, help="data-parallel on all local devices, and on every process of a "
                               "multi-process run (KERAS_DISTRIBUTION_* on JAX, TF_CONFIG on TensorFlow)")
    extra: dict[str, Any] = field(default_factory=dict)  # preset-specific architecture knobs

    @classmethod
    def for_preset(cls, preset: str = "sngan-cpu", **overrides: Any) -> TrainConfig:
        """A config with the preset's defaults filled in, then `overrides` (None = keep default)."""
        return cls(preset=preset, **{k: v for k, v in overrides.items() if v is not None}).resolved()

    def resolved(self) -> TrainConfig:
        """Fill unset fields from the preset and validate; returns a new config."""
        from gan.presets import get_preset

        self.check_fields()  # before the preset's name is looked up, or its defaults merged into a wrong type
        preset = get_preset(self.preset)
        values = dataclasses.asdict(self)
        for name, default in preset.defaults.items():
            if values.get(name) is None:
                values[name] = default
        values["extra"] = {**preset.defaults.get("extra", {}), **self.extra}
        config = TrainConfig(**values)
        config.validate()
        return config

    def check_fields(self) -> None:
        """Each field against its own Spec (type first, then bounds or choices); ConfigError on the first misfit.

        Types are strict because a config is hand-written JSON: `"mixed_precision": "no"` is a truthy
        string that would train in bfloat16, and `"epochs": 1e308` a float no loop can count to.
        """
        for f in dataclasses.fields(self):
            if "spec" in f.metadata:
                f.metadata["spec"].check(f.name, getattr(self, f.name))
        if not isinstance(self.extra, dict):
            raise ConfigError(f"extra must be a JSON object of preset settings, got {shown(self.extra)}")

    def validate(self) -> None:
        """Raise ConfigError on the first bad value, with a message that names it."""
        def check(ok: bool, message: str) -> None:
            if not ok:
                raise ConfigError(message)

        self.check_fields()
        group = self.extra.get("mbstd_group", 0)
        check(Spec(int, 0, 64).problem(group) is None,
              f"mbstd_group must be a whole number in [0, 64], got {shown(group)}")
        check(not group or self.batch_size is None or self.batch_size % group == 0 or self.batch_size < group,
              f"batch_size ({self.batch_size}) must be a multiple of the minibatch-stddev group ({group})")
        ac = self.extra.get("ac_weight", 0.0)
        check(Spec(float, 0, 100).problem(ac) is None, f"ac_weight must be a number in [0, 100], got {shown(ac)}")
        if self.augment:
            unknown = [op for op in self.augment.split(",") if op not in AUGMENT_OPS]
            check(not unknown, f"unknown augment op(s) {', '.join(unknown)}; choose from {', '.join(AUGMENT_OPS)}")
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
