"""`python -m gan evaluate` and `python -m gan train-classifier` (added to gan.cli.COMMANDS).

The command-line layer over gan.metrics: it imports the library, never the reverse. `evaluate`
computes scores with gan.metrics and saves them through the run (`Run.append_evals`); the library
itself writes nothing. Bad input raises `gan.errors.CliError` (one line, exit code 2), and so does a
metric that cannot be computed here (`MetricError`).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from gan.config import Spec, spec_of

log = logging.getLogger("gan.metrics")
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
    p.set_defaults(run=_evaluate)


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
    try:
        results = metrics.evaluate_run(run, names, n=args.n, data=args.data, seed=args.seed)
    except metrics.MetricError as e:
        raise CliError(str(e)) from None
    print(metrics.format_table(results), flush=True)  # first: a failed save must not lose minutes of work
    run.append_evals(run.status().step or 0, results)
    return 0


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
    p.set_defaults(run=_train_classifier)


def _train_classifier(args) -> int:
    from gan.data import load_dataset
    from gan.errors import CliError
    from gan.metrics.classifier import train_classifier

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
