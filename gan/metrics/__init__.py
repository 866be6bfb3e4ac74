"""Evaluation metrics, in the spirit of stylegan2-ada-pytorch's registry: names say what they measure.

`fd_cifar10k` is the Frechet distance of 10k generated images to the training set's statistics in
the features of the project's CIFAR classifier; `kid_`, `is_`, `pr_` are KID, Inception Score and
precision/recall (k=3) on the same features; `class_acc10k` is class-conditional accuracy and
class coverage; `nn_psnr1k` is the nearest-training-image PSNR (memorization); `_inception` variants
use Keras' InceptionV3 (ImageNet weights must be cached; no internet needed after that).

Every score is written with its floor: the same metric on held-out real images at the same
sample count (see reference.py). Results go to the run's `evals.csv`, long format, append-only:
`step,metric,value,n,reference,extractor,time`; floors and stds are rows named `<metric>_floor`
and `<metric>_std`. `extractor` is `cifar@<first 8 hex of the classifier file's sha256>`, `inception` or
`pixels`: a retrained classifier rescales every `cifar` score, so only equal labels compare.

Nothing here imports Keras or TensorFlow at import time: the app imports this package.
"""

from __future__ import annotations

import csv
import functools
import io
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gan.config import LIVE_METRICS  # noqa: F401  (re-exported: what the trainer may score itself with)

if TYPE_CHECKING:
    from gan.metrics.cas import TestSet
    from gan.runs import Run

log = logging.getLogger("gan.metrics")

EVAL_COLUMNS = ("step", "metric", "value", "n", "reference", "extractor", "time")
LIVE_METRIC = "fd_cifar2k"  # the trainer's default cheap score (--eval-every)


class MetricError(ValueError):
    """A metric that cannot be computed here; str(e) is one line for the user."""


@dataclass(frozen=True)
class Spec:
    kind: str  # fd, kid, is, pr, class_acc, nn_psnr
    n: int  # generated samples
    extractor: str | None  # None: pixel space
    doc: str


METRICS: dict[str, Spec] = {
    "fd_cifar2k": Spec("fd", 2_000, "cifar", "Frechet distance, 2k samples, CIFAR-classifier features (cheap)"),
    "fd_cifar10k": Spec("fd", 10_000, "cifar", "Frechet distance, 10k samples, CIFAR-classifier features"),
    "kid_cifar10k": Spec("kid", 10_000, "cifar", "kernel distance (unbiased MMD^2), CIFAR-classifier features"),
    "is_cifar10k": Spec("is", 10_000, "cifar", "Inception Score computed with the CIFAR classifier's softmax"),
    "pr_cifar10k": Spec("pr", 10_000, "cifar", "improved precision and recall (k=3), CIFAR-classifier features"),
    "class_acc10k": Spec("class_acc", 10_000, "cifar", "conditional accuracy and class coverage (CIFAR classifier)"),
    "ifd_cifar5k": Spec("ifd", 5_000, "cifar", "intra-class Frechet distance on 5,000 samples: the trainer's cheap "
                        "version of ifd_cifar10k (--eval-metric ifd_cifar5k --keep-best)"),
    "ifd_cifar10k": Spec("ifd", 10_000, "cifar", "intra-class Frechet distance: each class's samples against "
                         "that class's real images, averaged (per class as _c<k>)"),
    "ipr_cifar10k": Spec("ipr", 10_000, "cifar", "intra-class k-NN precision and recall (k=3), averaged over "
                         "classes (per-class recall as _recall_c<k>)"),
    "nn_psnr1k": Spec("nn_psnr", 1_000, None, "PSNR to the nearest training image in pixels (memorization)"),
    "cas10k": Spec("cas", 10_000, None, "Classification Accuracy Score: a small classifier trained only on 10,000 "
                   "samples, tested on real images the generator never saw; floor: the same trained on real images"),
    "aug_gain5k": Spec("aug_gain", 5_000, None, "augmentation gain: real-test accuracy of a small classifier trained "
                       "on 10% of the real images plus 5,000 samples, minus without them (3 seeds, with std)"),
    "fd_inception10k": Spec("fd", 10_000, "inception", "Frechet distance, 10k samples, Keras InceptionV3 features"),
    "kid_inception10k": Spec("kid", 10_000, "inception", "kernel distance, Keras InceptionV3 features"),
}
# The short names of DESIGN.md's CLI contract (`--metrics fd,kid,is,pr`).
ALIASES = {"fd": "fd_cifar10k", "kid": "kid_cifar10k", "is": "is_cifar10k", "pr": "pr_cifar10k",
           "class_acc": "class_acc10k", "nn_psnr": "nn_psnr1k", "fid": "fd_inception10k", "cas": "cas10k",
           "aug_gain": "aug_gain5k"}
DEFAULT_METRICS = ("fd_cifar10k", "ifd_cifar10k", "kid_cifar10k", "is_cifar10k", "pr_cifar10k", "ipr_cifar10k",
                   "class_acc10k", "nn_psnr1k")
CLASS_METRICS = ("ifd", "ipr", "cas", "aug_gain")  # kinds that need a conditional generator and labelled real data
TRAINED_METRICS = ("cas", "aug_gain")  # kinds that train a classifier on samples: minutes, and a test set
SCRATCH_CLASSIFIER = "small-resnet"  # their "extractor": a classifier trained from scratch for each score


@dataclass(frozen=True)
class Result:
    metric: str
    value: float
    floor: float  # the same metric on real held-out images (nan where it has no meaning)
    n: int
    reference: str
    extractor: str
    device: str = "cpu"


# --- computing ----------------------------------------------------------------------------------------

def compute_metric(name: str, generated: np.ndarray, gen_labels: np.ndarray | None, real: np.ndarray,
                   reference_name: str, seed: int = 0, real_labels: np.ndarray | None = None,
                   test: TestSet | None = None) -> list[Result]:
    """Results of metric `name` for uint8 `generated` images against uint8 `real` (training) images.

    `gen_labels` are the conditioning labels (None for unconditional generators); the intra-class
    metrics also need `real_labels`, CAS and augmentation gain also real `test` images the generator
    never saw. Raises MetricError.
    """
    from gan.metrics.extractors import ExtractorError, get_extractor

    spec = METRICS.get(name)
    if spec is None:
        raise MetricError(f"unknown metric {name!r}; choose from {', '.join(METRICS)}")
    n = len(generated)
    if n < 2 or len(real) < 4:
        raise MetricError(f"{name}: need at least 2 generated and 4 real images")
    if spec.kind == "nn_psnr":
        return _nn_psnr(name, generated, real, reference_name)
    if spec.kind in CLASS_METRICS and (gen_labels is None or real_labels is None):
        raise MetricError(f"{name}: needs a class-conditional generator and labelled real images")
    if spec.kind in TRAINED_METRICS:
        if test is None:
            raise MetricError(f"{name}: needs real test images the generator never saw: train with --holdout N, "
                              "or evaluate a CIFAR-10 model where its test split can be downloaded")
        return _trained(name, spec.kind, generated, gen_labels, real, real_labels, test, seed)
    try:
        extractor = get_extractor(spec.extractor)
        from gan.metrics.reference import load_or_compute

        if spec.kind in CLASS_METRICS:
            from gan.metrics.reference import all_features

            feats = extractor.features(generated)
            out = functools.partial(Result, n=n, reference=reference_name, extractor=extractor.label,
                                    device=extractor.device)
            return _CLASS_KINDS[spec.kind](name, feats, gen_labels, all_features(extractor, real), real_labels, out,
                                           seed)
        ref = load_or_compute(extractor, real, seed=seed)
        if spec.kind in ("is", "class_acc"):
            feats, probs = extractor.features_and_probabilities(generated)
        else:
            feats, probs = extractor.features(generated), None
        device = extractor.device
    except ExtractorError as e:
        raise MetricError(str(e)) from None
    out = functools.partial(Result, n=n, reference=reference_name, extractor=extractor.label, device=device)
    return _KINDS[spec.kind](name, feats, probs, gen_labels, ref, out, seed)


def _fd(name, feats, probs, labels, ref, out, seed) -> list[Result]:
    from gan.metrics.frechet import feature_stats, frechet_distance

    floor, _ = ref.fd_floor(len(feats))
    return [out(name, frechet_distance(*feature_stats(feats), ref.mu, ref.sigma), floor)]


def _kid(name, feats, probs, labels, ref, out, seed) -> list[Result]:
    from gan.metrics.kid import kernel_distance

    m = max(2, min(len(feats), len(ref.features) // 2))
    mean, std = kernel_distance(ref.features[m:], feats, seed=seed)
    floor, _ = kernel_distance(ref.features[m:], ref.features[:m], seed=seed)
    return [out(name, mean, floor), out(f"{name}_std", std, float("nan"))]


def _is(name, feats, probs, labels, ref, out, seed) -> list[Result]:
    from gan.metrics.inception_score import inception_score

    mean, std = inception_score(probs)
    floor = inception_score(ref.probs[:len(probs)])[0] if ref.probs.size else float("nan")
    return [out(name, mean, floor), out(f"{name}_std", std, float("nan"))]


def _pr(name, feats, probs, labels, ref, out, seed) -> list[Result]:
    from gan.metrics.precision_recall import precision_recall

    m = max(2, min(len(feats), len(ref.features) // 2))
    precision, recall = precision_recall(ref.features[m:2 * m], feats)
    real_p, real_r = precision_recall(ref.features[m:2 * m], ref.features[:m])
    return [out(f"{name}_precision", precision, real_p), out(f"{name}_recall", recall, real_r)]


def _class_acc(name, feats, probs, labels, ref, out, seed) -> list[Result]:
    from gan.metrics.classes import class_accuracy, class_coverage

    real_coverage = class_coverage(ref.probs[:len(probs)]) if ref.probs.size else float("nan")
    rows = [out(name.replace("class_acc", "class_coverage"), class_coverage(probs), real_coverage)]
    if labels is not None:
        rows.insert(0, out(name, class_accuracy(probs, labels)[0], float("nan")))
    return rows


_KINDS = {"fd": _fd, "kid": _kid, "is": _is, "pr": _pr, "class_acc": _class_acc}


def _ifd(name, feats, labels, real_feats, real_labels, out, seed) -> list[Result]:
    from gan.metrics.intra_class import intra_class_fd

    values, floors = intra_class_fd(feats, labels, real_feats, real_labels, seed)
    rows = [out(name, float(np.mean(list(values.values()))), float(np.mean(list(floors.values()))))]
    return rows + [out(f"{name}_c{c}", values[c], floors[c]) for c in values]


def _ipr(name, feats, labels, real_feats, real_labels, out, seed) -> list[Result]:
    from gan.metrics.intra_class import intra_class_pr

    values, floors = intra_class_pr(feats, labels, real_feats, real_labels, seed=seed)
    rows = [out(f"{name}_{part}", float(np.mean([v[i] for v in values.values()])),
                float(np.mean([f[i] for f in floors.values()]))) for i, part in enumerate(("precision", "recall"))]
    return rows + [out(f"{name}_recall_c{c}", values[c][1], floors[c][1]) for c in values]


_CLASS_KINDS = {"ifd": _ifd, "ipr": _ipr}


def _trained(name, kind, generated, gen_labels, real, real_labels, test, seed) -> list[Result]:
    """CAS or augmentation gain, with a progress bar over every epoch of every classifier it trains."""
    import sys

    from tqdm import tqdm

    from gan.metrics import cas

    classes = int(max(gen_labels.max(), real_labels.max(), test.labels.max())) + 1
    fits = 2 if kind == "cas" else 2 * len(cas.AUG_SEEDS)
    out = functools.partial(Result, n=len(generated), reference=test.name, extractor=SCRATCH_CLASSIFIER)
    with tqdm(total=fits * cas.EPOCHS, desc=name, unit="epoch", disable=not sys.stderr.isatty()) as bar:
        if kind == "cas":
            scores = cas.classification_accuracy_score(generated, gen_labels, real, real_labels, test, classes,
                                                       seed=seed, on_epoch=bar.update)
            return [out(name, scores["cas"], scores["ceiling"]), out(f"{name}_chance", scores["chance"], np.nan)]
        scores = cas.augmentation_gain(generated, gen_labels, real, real_labels, test, classes, on_epoch=bar.update)
    return [out(name, scores["gain"], np.nan), out(f"{name}_std", scores["std"], np.nan),
            out(f"{name}_without", scores["without"], np.nan), out(f"{name}_with", scores["with"], np.nan)]


def _nn_psnr(name: str, generated: np.ndarray, real: np.ndarray, reference_name: str) -> list[Result]:
    from gan.metrics.memorization import nn_psnr

    values, _ = nn_psnr(generated, real)
    # Floor: held-out real images against the rest (a real image is its own neighbour otherwise).
    rng = np.random.default_rng(0)
    order = rng.permutation(len(real))
    m = min(len(generated), len(real) // 2)
    floor, _ = nn_psnr(real[order[:m]], real[order[m:]])
    return [Result(name, float(np.median(values)), float(np.median(floor)), len(generated), reference_name, "pixels")]


# --- runs ----------------------------------------------------------------------------------------

def evaluate_run(run: Run, names: Sequence[str], n: int | None = None, data: str | None = None,
                 seed: int = 0) -> list[Result]:
    """Compute `names` for the run's generator and append them to its evals.csv."""
    from gan.data import load_dataset
    from gan.sampling import load_generator

    check_available(names)
    source = data or run.config().data
    dataset = load_dataset(source)
    train, test = dataset, None
    if any(METRICS[name].kind in TRAINED_METRICS for name in names):
        train, test = held_out_test_set(run, dataset, source)
    results = score_generator(load_generator(run.generator_path), dataset, names, n, seed,
                              _reference_name(source, len(dataset.images)), test=test, train=train)
    append_evals(run, int(run.status().get("step") or 0), results)
    return results


def held_out_test_set(run: Run, dataset: Any, source: str) -> tuple[Any, TestSet | None]:
    """(the images the run trained on, real test images it never saw) for CAS and augmentation gain.

    The run's own held-out images (train --holdout) when it has them; else CIFAR-10's test split for a
    model of CIFAR-10 (downloaded by Keras); else no test set, and those metrics say how to get one.
    """
    import numpy as np

    from gan.data import Dataset, load_dataset
    from gan.metrics.cas import TestSet

    config = run.config()
    held = run.held_out()
    if held and source == config.data:
        if config.limit is not None or config.image_size != dataset.images.shape[1]:
            dataset = load_dataset(source, config.image_size, config.limit, config.seed)
        mask = np.zeros(len(dataset.images), bool)
        mask[held] = True
        train = Dataset(dataset.images[~mask], dataset.labels[~mask], dataset.class_names, source=dataset.source)
        return train, TestSet(dataset.images[mask], dataset.labels[mask], f"held out by the run ({mask.sum():,})")
    if source == "cifar10" and dataset.source == "cifar10":
        try:
            import keras

            _, (x, y) = keras.datasets.cifar10.load_data()
            return dataset, TestSet(np.asarray(x, np.uint8), np.asarray(y).reshape(-1).astype(np.int32),
                                    f"CIFAR-10 test split ({len(x):,})")
        except Exception as e:  # offline: the metric says what to do instead
            log.warning("no CIFAR-10 test split: %s", e)
    return dataset, None


def score_generator(generator: Any, dataset: Any, names: Sequence[str], n: int | None = None, seed: int = 0,
                    reference: str = "", test: TestSet | None = None, train: Any = None) -> list[Result]:
    """`names` for any generator model against `dataset` (gan.data.Dataset); nothing is saved.

    CAS and augmentation gain train on `train` (default `dataset`) and test on `test`.
    """
    from gan.sampling import num_classes, sample

    counts = {name: n or METRICS[name].n for name in names}
    images, labels = sample(generator, max(counts.values()), seed=seed)
    labels = labels if num_classes(generator) else None
    reference = reference or _reference_name(dataset.source or "data", len(dataset.images))
    results: list[Result] = []
    for name in names:
        if labels is None and METRICS[name].kind in CLASS_METRICS:
            log.info("%s skipped: the generator is unconditional", name)
            continue
        k = counts[name]
        real = train if train is not None and METRICS[name].kind in TRAINED_METRICS else dataset
        results += compute_metric(name, images[:k], None if labels is None else labels[:k], real.images,
                                  reference, seed, real_labels=real.labels, test=test)
    return results


def check_available(names: Sequence[str]) -> None:
    """MetricError before any work when a metric is unknown or its extractor's weights are missing.

    Checked up front so a missing Inception download does not throw away minutes of other metrics.
    """
    from gan.metrics.extractors import classifier_path, inception_weights_cached, load_cifar, load_inception

    for name in names:
        spec = METRICS.get(name)
        if spec is None:
            raise MetricError(f"unknown metric {name!r}; choose from {', '.join(METRICS)}")
        try:
            if spec.extractor == "inception" and not inception_weights_cached():
                load_inception()  # raises the one-line "how to get the weights" error
            if spec.extractor == "cifar" and not classifier_path().is_file():
                load_cifar()
        except ValueError as e:
            raise MetricError(f"{name}: {e}") from None


def live_score(run: Run, generator: Any, data: Any, step: int, metric: str = LIVE_METRIC) -> float | None:
    """The trainer's cheap score (`metric`, one of LIVE_METRICS), appended to evals.csv; None when it cannot.

    Small datasets get fewer samples than the name says (at most one per training image); the row
    records the count. A missing classifier logs one warning per run and scores nothing: training
    must never stop here.
    """
    from gan.metrics.extractors import ExtractorError, classifier_path
    from gan.sampling import num_classes, sample

    if not classifier_path().is_file():
        _warn_once(str(classifier_path()))
        return None
    n = min(METRICS[metric].n, len(data.images))
    if n < 4:
        return None
    start = time.perf_counter()
    images, labels = sample(generator, n, seed=step)
    try:
        results = compute_metric(metric, images, labels if num_classes(generator) else None, data.images,
                                 _reference_name(getattr(data, "source", "") or "train", len(data.images)),
                                 real_labels=data.labels)
    except (MetricError, ExtractorError, OSError, ValueError) as e:
        log.warning("live score skipped at step %d: %s", step, e)
        return None
    append_evals(run, step, results)
    log.info("step %d: %s %.3f (floor %.3f, %d samples, %.1f s)", step, results[0].metric, results[0].value,
             results[0].floor, n, time.perf_counter() - start)
    return results[0].value


@functools.lru_cache(maxsize=8)
def _warn_once(path: str) -> None:
    log.warning("live FD is off: no CIFAR classifier at %s (python -m gan train-classifier)", path)


def _reference_name(source: str, count: int) -> str:
    name = Path(source).name if os.sep in source or "." in source else source
    return f"{name}:{count}"


def append_evals(run: Run, step: int, results: Sequence[Result]) -> None:
    """Append results (and their floors as `<metric>_floor` rows) to evals.csv; header once, one write."""
    path = run.evals_path
    new = not path.exists() or path.stat().st_size == 0
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if new:
        writer.writerow(EVAL_COLUMNS)
    now = f"{time.time():.3f}"
    for r in results:
        writer.writerow([step, r.metric, f"{r.value:.6g}", r.n, r.reference, r.extractor, now])
        if np.isfinite(r.floor):
            writer.writerow([step, f"{r.metric}_floor", f"{r.floor:.6g}", r.n, r.reference, r.extractor, now])
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(buffer.getvalue())
        f.flush()
        os.fsync(f.fileno())


def format_table(results: Sequence[Result]) -> str:
    """A plain-text table: metric, value, floor, n, reference, extractor, device."""
    rows = [("metric", "value", "floor", "n", "reference", "extractor", "device")]
    rows += [(r.metric, f"{r.value:.4g}", "-" if not np.isfinite(r.floor) else f"{r.floor:.4g}", str(r.n),
              r.reference, r.extractor, r.device) for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows)
