"""`python -m gan evaluate` and `python -m gan train-classifier` (added to gan.cli.COMMANDS).

The command-line layer over gan.metrics: it imports the library, never the reverse. `evaluate`
computes scores with gan.metrics and saves them through the run (`Run.append_evals`); the library
itself writes nothing. Bad input raises `gan.errors.CliError` (one line, exit code 2), and so does a
metric that cannot be computed here (`MetricError`).
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

from gan.config import Spec, spec_of

log = logging.getLogger("gan.metrics")
CLASSIFIER_FILES = ("classifier.keras", "classifier.json")  # what train-classifier writes into --out
MAX_EVAL_SAMPLES = 100_000  # generated images one metric may take (FID's custom is 50,000)


def add_evaluate(sub) -> None:
    from gan import metrics

    p = sub.add_parser("evaluate", help="score a run's generator (FD, KID, IS, precision/recall, ...)",
                       description="Score a run's generator against the training data; prints a table and appends "
                                   "the results to the run's evals.csv. Every score comes with its real-vs-real floor.")
    p.add_argument("--run-dir", required=True)
    p.add_argument("--metrics", default=",".join(metrics.DEFAULT_METRICS),
                   help=f"comma-separated names (default {','.join(metrics.DEFAULT_METRICS)}); "
                        f"available: {', '.join(metrics.METRICS)} (short: {', '.join(metrics.ALIASES)})")
    p.add_argument("--n", type=Spec(int, 2, MAX_EVAL_SAMPLES).parse,
                   help=f"generated samples per metric (overrides the count in the name; 2 to {MAX_EVAL_SAMPLES:,})")
    p.add_argument("--data", help="reference data source (default: the run's training data)")
    p.add_argument("--seed", type=spec_of("seed").parse, default=0)
    p.add_argument("--json", action="store_true",
                   help="one JSON object per score on stdout (the fields of gan.metrics.Result), for programs such "
                        "as the app; notes and progress go to stderr (progress lines where GAN_PROGRESS=lines)")
    p.add_argument("--no-save", dest="save", action="store_false",
                   help="print the scores without appending them to evals.csv")
    p.add_argument("--update-shipped", action="store_true",
                   help="append to a shipped model's own evals.csv (maintainers refreshing its scores); by default "
                        f"a model under checkpoints/ is never written to, its scores go to <runs>/{SHIPPED_SCORES}/")
    p.set_defaults(run=_evaluate)


SHIPPED_SCORES = ".shipped-scores"  # under the runs folder; a dot folder, so gan.runs.list_runs does not list it


def shipped_roots() -> list[Path]:
    """Folders of shipped models: the project's checkpoints/, and $GAN_CHECKPOINTS_DIR (the app's, when set)."""
    import os

    from gan.files import REPO_ROOT

    roots = [REPO_ROOT / "checkpoints"]
    if os.environ.get("GAN_CHECKPOINTS_DIR"):
        roots.append(Path(os.environ["GAN_CHECKPOINTS_DIR"]))
    return [root.resolve() for root in roots]


def is_shipped(path: str | Path) -> bool:
    """Whether `path` lies in a shipped model folder: tracked files that the CLI and the app must not change."""
    path = Path(path).resolve()
    return any(path.is_relative_to(root) for root in shipped_roots())


def scores_run(run):
    """The run folder whose evals.csv receives `run`'s new scores: the run itself, or for a shipped model
    `<runs>/.shipped-scores/<name>` (a git checkout must not show the shipped folder modified, and it may be
    read-only). gan.runs.Run gives the same evals() for both, so the app can read the two and show them together.
    """
    from gan.runs import Run, runs_root

    return Run(runs_root() / SHIPPED_SCORES / run.name) if is_shipped(run.path) else run


def without_negative_zero(results: list) -> list:
    """`-0.0` is 0 to a reader: `x + 0.0` turns -0.0 into 0.0 and leaves every other number (and nan) alone."""
    import dataclasses

    return [dataclasses.replace(r, value=r.value + 0.0, floor=r.floor + 0.0) for r in results]


def skipped_lines(names: list[str], results: list, conditional: bool) -> list[str]:
    """`<metric>  skipped: <why>` for each asked-for metric that gave no row of its own (`<metric>`, `<metric>_*`).

    gan.metrics skips label metrics for an unconditional generator (and class_acc gives only its coverage
    row there); without a line the user cannot tell a skipped metric from a forgotten one.
    """
    def scored(name: str) -> bool:  # pr_cifar10k gives pr_cifar10k_precision and _recall: its own rows too
        return any(r.metric == name or r.metric.startswith(f"{name}_") for r in results)

    why = "unconditional" if not conditional else "no result"
    return [f"{name}  skipped: {why}" for name in names if not scored(name)]


def _evaluate(args) -> int:
    from gan import metrics
    from gan.errors import CliError
    from gan.runs import Run

    names = [metrics.ALIASES.get(m.strip(), m.strip()) for m in args.metrics.split(",") if m.strip()]
    unknown = [m for m in names if m not in metrics.METRICS]
    if not names or unknown:
        raise CliError(f"unknown metric {', '.join(unknown) or '(none)'}; choose from {', '.join(metrics.METRICS)}")
    run = Run(args.run_dir)
    if not run.exists():
        raise CliError(f"{run.path} is not a run directory (no config.json)")
    if not run.generator_path.is_file():
        raise CliError(f"no generator in {run.path}: train it first")
    target = run if args.update_shipped else scores_run(run)
    conditional = bool(run.config().conditional)  # before minutes of scoring: a bad config.json fails first
    try:
        results = without_negative_zero(metrics.evaluate_run(run, names, n=args.n, data=args.data, seed=args.seed))
    except metrics.MetricError as e:
        raise CliError(str(e)) from None
    notes = sys.stderr if args.json else sys.stdout  # with --json, stdout holds the results alone, a line each
    scores = [result_json(r) for r in results] if args.json else [metrics.format_table(results)]
    print("\n".join(scores), flush=True)  # first: a failed save must not lose minutes of work
    for line in skipped_lines(names, results, conditional):
        print(line, file=notes, flush=True)
    if args.save:
        target.append_evals(run.status().step or 0, results)
        if target is not run:
            print(f"{run.name} is a shipped model: scores appended to {target.evals_path}", file=notes)
    return 0


def result_json(result) -> str:
    """One score as a line of JSON: `gan.metrics.Result(**json.loads(line))` gives it back (nan included)."""
    import dataclasses
    import json

    return json.dumps(dataclasses.asdict(result))


def add_train_classifier(sub) -> None:
    p = sub.add_parser("train-classifier", help="train the CIFAR-10 classifier behind the fd_cifar/is/class metrics",
                       description="Train the small ResNet whose features define fd_cifar and whose softmax gives IS "
                                   "and class accuracy. Holds out 5,000 images (stratified) and reports accuracy.")
    p.add_argument("--data", required=True, help="cifar10, a folder or .zip of <class>/<image>, or an .npz")
    p.add_argument("--out", required=True, help="output folder (classifier.keras, classifier.json)")
    p.add_argument("--epochs", type=Spec(int, 1, 1000).parse, default=10)
    p.add_argument("--batch-size", type=spec_of("batch_size").parse, default=128)
    p.add_argument("--val-size", type=Spec(int, 1, spec_of("holdout").high).parse, default=5000,
                   help="held-out images (default 5000)")
    p.add_argument("--limit", type=spec_of("limit").parse, help="use at most this many images")
    p.add_argument("--max-steps", type=spec_of("steps").parse, help="cap on steps per epoch (smoke tests)")
    p.add_argument("--seed", type=spec_of("seed").parse, default=0)
    p.add_argument("--force", action="store_true", help="replace a classifier already in --out")
    p.set_defaults(run=_train_classifier)


def _train_classifier(args) -> int:
    from gan.data import load_dataset
    from gan.errors import CliError
    from gan.metrics.classifier import train_classifier

    existing = [Path(args.out) / name for name in CLASSIFIER_FILES if (Path(args.out) / name).exists()]
    if existing and not args.force:  # before minutes of loading: the shipped one defines every fd_cifar score
        raise CliError(f"{args.out} already holds a classifier ({existing[0].name}); give another --out, "
                       "or --force to replace it")
    start = time.perf_counter()
    data = load_dataset(args.data, limit=args.limit, seed=args.seed)
    if data.num_classes < 2 or len(data.images) < 4:
        raise CliError(f"{args.data}: need at least 2 classes and 4 images to train a classifier")
    log.info("loaded %d images of %d classes in %.0f s", len(data.images), data.num_classes,
             time.perf_counter() - start)
    summary = train_classifier(data.images, data.labels, list(data.class_names), args.out, epochs=args.epochs,
                               batch_size=args.batch_size, val_size=args.val_size, seed=args.seed,
                               max_steps=args.max_steps)
    print(f"validation accuracy {summary['val_accuracy']:.4f} on {summary['val_images']} held-out images; "
          f"{summary['parameters']:,} parameters, {summary['file_bytes'] / 2**20:.1f} MB, "
          f"{summary['train_seconds']:.0f} s -> {Path(args.out) / 'classifier.keras'}")
    return 0
