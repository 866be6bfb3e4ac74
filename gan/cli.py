"""`python -m gan <command>`: train, sample, info, bench (and evaluate) from the shell.

Exit codes: 0 success, 2 bad arguments or input (one line on stderr, nothing written),
1 a run that failed while training.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from pathlib import Path

from gan.cli_metrics import add_evaluate, add_train_classifier
from gan.config import Spec, TrainConfig, spec_of
from gan.errors import CliError, first_line
from gan.files import same_path
from gan.presets import DEFAULT_PRESET
from gan.sampling import MAX_TRUNCATION

EXIT_BAD_INPUT, EXIT_FAILED = 2, 1
MAX_SAMPLES = 100_000  # images one `sample` call makes (about 300 MB at 32x32)
MAX_BENCH_STEPS = 10_000  # timed steps of `bench`: minutes on a GPU, already hours on a CPU
CONFINE_ENV = "GAN_CONFINE_DATA"  # "1": train reads data only inside GAN_DATA_ROOTS (the app sets both)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one clear line instead of the usage block
        raise CliError(f"{self.prog}: {message}")


def _add_setting(parser, name: str) -> None:
    """`--name-with-dashes` for TrainConfig's `name`: its help, choices, or type and bounds, from the field's Spec.

    So a bad number is one `error:` line and exit 2 before anything loads, not a failure minutes later.
    """
    spec = spec_of(name)
    flag = "--" + name.replace("_", "-")
    if spec.choices:
        parser.add_argument(flag, choices=spec.choices, help=spec.usage())
    else:
        parser.add_argument(flag, type=spec.parse, help=spec.usage())


def _number(kind: type, low: float, high: float, low_open: bool = False):
    """The argparse type of a command's own number (not a training setting), bounded like the settings are."""
    return Spec(kind, low, high, low_open=low_open).parse


def _preset_help() -> str:
    from gan.presets import preset_description, preset_names

    lines = [f"{name}: {preset_description(name)}" for name in preset_names()]
    return f"model preset (default {DEFAULT_PRESET}). " + " | ".join(lines)


def _add_train(sub) -> None:
    p = sub.add_parser("train", help="train a GAN into a run directory",
                       description="Train a GAN. Every epoch: a sample grid and a checkpoint. SIGTERM/Ctrl-C "
                                   "checkpoints and exits; --resume continues exactly where it stopped.")
    p.add_argument("--run-dir", required=True, help="where the run's files go (created if missing)")
    p.add_argument("--data", help=spec_of("data").help)
    p.add_argument("--preset", help=_preset_help())
    p.add_argument("--config", help="a JSON file of training settings (the keys of a run's config.json); "
                   "flags given beside it override it")
    p.add_argument("--resume", action="store_true", help="continue the run in --run-dir from its checkpoint")
    length = p.add_mutually_exclusive_group()
    _add_setting(length, "epochs")
    _add_setting(length, "steps")
    cond = p.add_mutually_exclusive_group()
    cond.add_argument("--conditional", dest="conditional", action="store_true", default=None,
                      help=spec_of("conditional").help)
    cond.add_argument("--unconditional", dest="conditional", action="store_false",
                      help="one model for all images, labels ignored (default: the preset's choice)")
    for name in ("batch_size", "latent_dim", "g_lr", "d_lr", "beta1", "beta2", "loss", "d_steps",
                 "label_smoothing", "instance_noise", "dropout"):
        _add_setting(p, name)
    p.add_argument("--augment", help=spec_of("augment").help)
    for name in ("ema", "bn_reestimate", "lr_decay", "mode_seeking", "limit", "holdout", "seed",
                 "log_every", "checkpoint_every", "eval_every", "eval_metric"):
        _add_setting(p, name)
    p.add_argument("--keep-best", action="store_true", default=None, help=spec_of("keep_best").help)
    p.add_argument("--mixed-precision", action="store_true", default=None, help=spec_of("mixed_precision").help)
    jit = p.add_mutually_exclusive_group()
    jit.add_argument("--jit", dest="jit", action="store_true", default=None, help=spec_of("jit").help)
    jit.add_argument("--no-jit", dest="jit", action="store_false", help="do not XLA-compile the train step")
    p.add_argument("--distribute", action="store_true", default=None, help=spec_of("distribute").help)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=_train)


# What --resume may change: how long the run goes on, how often it logs, saves and scores, and whether
# its step is XLA-compiled (how it computes, not what).
RESUMABLE = frozenset({"epochs", "steps", "log_every", "checkpoint_every", "eval_every", "jit"})


def _same_setting(name: str, given, saved) -> bool:
    """Whether a flag repeats the run's own setting, so the command that started a run also resumes it."""
    if name == "data" and given and saved:
        return same_path(given, saved)
    return given == saved


def _train(args) -> int:
    from gan.runs import Run
    from gan.trainer import Trainer

    run = Run(args.run_dir)
    run.check_usable()
    problem = None if args.resume else run.new_run_problem()
    if problem:  # before the data loads; the trainer checks again, on every process
        raise CliError(problem)
    fields = {k: v for k, v in vars(args).items() if k in TrainConfig.__dataclass_fields__ and v is not None}
    if args.resume:
        if args.config:
            raise CliError("--config starts a new run; --resume continues one with its own config.json")
        if not run.exists():
            raise CliError(f"nothing to resume in {run.path}: no config.json")
        config = run.config()
        refused = sorted(k for k in set(fields) - RESUMABLE if not _same_setting(k, fields[k], getattr(config, k)))
        if refused:
            flags = ", ".join("--" + name.replace("_", "-") for name in refused)
            raise CliError(f"--resume continues the run with its own settings; it cannot change {flags} "
                           f"(it can change {', '.join('--' + n.replace('_', '-') for n in sorted(RESUMABLE))})")
        if "epochs" in fields:  # --epochs N means N epochs in all, whatever length the run had before
            config.epochs, config.steps = fields.pop("epochs"), None
        for key, value in fields.items():
            setattr(config, key, value)
        config.validate()
    elif args.config:
        values = dataclasses.asdict(TrainConfig.load(args.config))
        config = TrainConfig(**{**values, **fields}).resolved()
    else:
        config = TrainConfig.for_preset(fields.pop("preset", DEFAULT_PRESET), **fields)
    roots = None
    if os.environ.get(CONFINE_ENV) == "1":  # started by the app: read only inside its allowed data folders
        from gan.security import allowed_data_roots

        roots = allowed_data_roots()
    state, step = Trainer(config, run.path, progress=not args.quiet, data_roots=roots).train(resume=args.resume)
    print(f"{state}: {run.path} (step {step})")  # not from status.json: only process 0 writes it
    return 0


def _add_sample(sub) -> None:
    p = sub.add_parser("sample", help="generate images as a PNG grid or an .npz",
                       description="Generate images from a run's generator or a .keras file.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--run-dir")
    src.add_argument("--model", help="a generator .keras file")
    p.add_argument("-n", type=_number(int, 1, MAX_SAMPLES), default=64,
                   help=f"how many images (default 64, at most {MAX_SAMPLES:,})")
    p.add_argument("--seed", type=spec_of("seed").parse, default=0)
    p.add_argument("--class", dest="class_id", help="class index or name (conditional models)")
    p.add_argument("--truncation", type=_number(float, 0, MAX_TRUNCATION, low_open=True),
                   help=f"redraw latent values beyond +-T, 0 < T <= {MAX_TRUNCATION:g} (1: typical, smaller: "
                        "safer, less varied images)")
    p.add_argument("--out", required=True, help="FILE.png (a grid) or FILE.npz (images, labels)")
    p.set_defaults(run=_sample)


def _resolve_model(args) -> tuple[Path, list[str]]:
    from gan.runs import Run

    if args.run_dir:
        run = Run(args.run_dir)
        if not run.generator_path.is_file():
            raise CliError(f"no generator in {run.path}: train it first")
        return run.generator_path, run.class_names()
    model = Path(args.model)
    return model, Run(model.parent).class_names()  # a generator beside its classes.json knows its class names


def _sample(args) -> int:
    import numpy as np

    from gan import sampling
    from gan.files import atomic_write

    out = Path(args.out)
    if out.suffix not in (".png", ".npz"):
        raise CliError(f"--out must end in .png or .npz, got {out.name}")
    if out.is_dir():
        raise CliError(f"--out {out} is a folder; name a .png or .npz file")
    path, class_names = _resolve_model(args)
    model = sampling.load_generator(path)
    classes = sampling.num_classes(model)
    class_id = None
    if args.class_id is not None:
        names = class_names if len(class_names) == classes else []  # the generator is the truth
        if args.class_id in names:
            class_id = names.index(args.class_id)
        elif args.class_id.isdigit():
            class_id = int(args.class_id)
        elif class_names and not names:
            raise CliError(f"the run's classes.json names {len(class_names)} classes but its generator has "
                           f"{classes}: give --class as a number")
        else:
            choices = f"; choose from {', '.join(names)}" if names else ""
            raise CliError(f"unknown class {args.class_id!r}{choices}")
    try:
        images, labels = sampling.sample(model, args.n, args.seed, class_id, args.truncation)
    except ValueError as e:
        raise CliError(str(e)) from None
    if out.suffix == ".png":
        sampling.save_png(out, sampling.make_grid(images))
    else:
        arrays = {"images": images}
        if classes:
            arrays["labels"] = labels

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)

        atomic_write(out, write)
    print(f"wrote {len(images)} images to {out}")
    return 0


def _add_info(sub) -> None:
    p = sub.add_parser("info", help="what a run directory or a .keras generator holds")
    p.add_argument("path", help="a run directory or a .keras file")
    p.set_defaults(run=_info)


def _info(args) -> int:
    from gan import sampling
    from gan.runs import Run

    path = Path(args.path)
    run = Run(path)
    if path.is_dir():
        if not run.exists():
            raise CliError(f"{path} is not a run directory (no config.json)")
        config, status = run.config(), run.status()
        rows = run.metric_rows()
        print(f"run         {run.name}")
        print(f"state       {status.state}  step {status.step}/{status.total_steps}")
        print(f"preset      {config.preset}  conditional={config.conditional}  data={config.data}")
        print(f"classes     {', '.join(run.class_names()) or '-'}")
        print(f"metrics     {len(rows)} rows" + (f", last g_loss {rows[-1]['g_loss']}" if rows else ""))
        print(f"samples     {len(run.sample_grids())} grids")
        if status.error:
            print(f"error       {status.error}")
        path = run.generator_path
        if not path.is_file():
            return 0
    model = sampling.load_generator(path)
    print(f"generator   {path.name}: latent {sampling.latent_dim(model)}, classes {sampling.num_classes(model)}, "
          f"{model.count_params():,} parameters, output {tuple(model.outputs[0].shape[1:])}")
    return 0


def _add_bench(sub) -> None:
    p = sub.add_parser("bench", help="training images/s and sampling latency on this machine")
    p.add_argument("--preset", action="append",
                   help=f"preset(s) to time, each with and without XLA (default: {DEFAULT_PRESET} and seed)")
    p.add_argument("--steps", type=_number(int, 1, MAX_BENCH_STEPS), default=20,
                   help=f"timed training steps (after warm-up; at most {MAX_BENCH_STEPS:,})")
    _add_setting(p, "batch_size")
    p.add_argument("--mixed-precision", action="store_true")
    p.set_defaults(run=_bench)


def _bench(args) -> int:
    from gan.bench import bench_lines

    presets = args.preset or [DEFAULT_PRESET, "seed"]
    for preset in presets:  # each config is checked before the first measurement, not after minutes of them
        TrainConfig.for_preset(preset, batch_size=args.batch_size, mixed_precision=args.mixed_precision)
    for line in bench_lines(presets, args.steps, args.batch_size, args.mixed_precision):
        print(line, flush=True)  # each measurement takes 10-60 s: show rows as they come
    return 0


COMMANDS = [_add_train, _add_sample, _add_info, _add_bench, add_evaluate, add_train_classifier]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gan", description="GAN Studio: train, sample and evaluate GANs.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from gan.checkpoint import CheckpointError
    from gan.config import ConfigError
    from gan.data import DataError
    from gan.runs import RunError
    from gan.sampling import ModelError
    from gan.trainer import TrainingError

    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    # Our notes are INFO; JAX's are not for users ("Unable to initialize backend 'tpu'" on every CPU machine).
    logging.getLogger("jax").setLevel(logging.WARNING)
    try:
        args = build_parser().parse_args(argv)
        return args.run(args)
    except (CliError, ConfigError, DataError, ModelError, CheckpointError, RunError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except TrainingError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    except OSError as e:  # a write that failed: full disk, read-only folder, --out naming a folder
        where = f" ({e.filename})" if e.filename else ""
        print(f"error: {e.strerror or first_line(e)}{where}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as e:  # a bug: still one line, and the traceback where a developer can ask for it
        if os.environ.get("GAN_DEBUG"):
            raise
        print(f"error: unexpected {type(e).__name__}: {first_line(e)} (set GAN_DEBUG=1 for the traceback)",
              file=sys.stderr)
        return EXIT_FAILED
