"""Evaluation metrics, in the spirit of stylegan2-ada-pytorch's registry: names say what they measure.

`fd_cifar10k` is the Frechet distance of 10k generated images to the training set's statistics in
the features of the project's CIFAR classifier; `kid_`, `is_`, `pr_` are KID, Inception Score and
precision/recall (k=3) on the same features; `class_acc10k` is class-conditional accuracy and
class coverage; `nn_psnr1k` is the nearest-training-image PSNR (memorization); `fid_inception10k` is the
FID that papers report (the TF FID Inception network, an optional install: gan/metrics/fid_inception.py).

Every metric is one function registered under its name with `@register`: it receives the metric
(its name, sample count, extractor) and an `Inputs` (generated images, real images, ...) and
returns `Result`s. Every score comes with its floor: the same metric on held-out real images at the
same sample count (see reference.py). Nothing here writes: the run folder's owner saves results
(`Run.append_evals`, long format `step,metric,value,n,reference,extractor,time`; floors and stds
are rows named `<metric>_floor` and `<metric>_std`). `extractor` is `cifar@<first 8 hex of the
classifier file's sha256>`, `inception` or `pixels`: a retrained classifier rescales every `cifar`
score, so only equal labels compare.

Nothing here imports Keras or TensorFlow at import time: the app imports this package.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gan.config import LIVE_METRICS  # noqa: F401  (re-exported: what the trainer may score itself with)
from gan.files import same_path
from gan.runs import EVAL_COLUMNS  # noqa: F401  (re-exported: evals.csv's columns)

if TYPE_CHECKING:
    from gan.metrics.cas import TestSet
    from gan.runs import Run

log = logging.getLogger("gan.metrics")

LIVE_METRIC = "fd_cifar2k"  # the trainer's default cheap score (--eval-every)
SCRATCH_CLASSIFIER = "small-resnet"  # the "extractor" of CAS and augmentation gain: trained anew for each score


class MetricError(ValueError):
    """A metric that cannot be computed here; str(e) is one line for the user."""


@dataclass(frozen=True)
class Result:
    metric: str
    value: float
    floor: float  # the same metric on real held-out images (nan where it has no meaning)
    n: int
    reference: str
    extractor: str
    device: str = "cpu"


@dataclass(frozen=True)
class Inputs:
    """What a metric may read. Images are uint8 (N, H, W, C)."""

    generated: np.ndarray
    labels: np.ndarray | None  # the labels `generated` were drawn with; None for an unconditional generator
    real: np.ndarray  # the images the generator trained on
    real_labels: np.ndarray | None
    reference: str  # what `real` is, written with every result: "<source>:<count>"
    seed: int = 0
    test: TestSet | None = None  # real images the generator never saw (CAS, augmentation gain)
    # Features of `generated` by extractor key, shared by the metrics of one evaluation: FID and KID in
    # Inception features then cost one pass of ~20 CPU minutes, not two.
    memo: dict = field(default_factory=dict, compare=False, repr=False)


def generated_features(extractor: Any, x: Inputs) -> np.ndarray:
    """The extractor's features of `x.generated`, computed once per evaluation (see Inputs.memo)."""
    key = (extractor.key, len(x.generated))
    if key not in x.memo:
        x.memo[key] = extractor.features(x.generated)
    return x.memo[key]


# --- the registry --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Metric:
    name: str
    compute: Callable[[Metric, Inputs], list[Result]]
    n: int  # generated samples
    extractor: str | None  # "cifar", "inception"; None: pixel space or a classifier of its own
    doc: str
    needs_labels: bool = False  # a class-conditional generator and labelled real images
    needs_test: bool = False  # real test images (Inputs.test); trains classifiers: minutes


METRICS: dict[str, Metric] = {}


def register(name: str, *, n: int, extractor: str | None, doc: str, needs_labels: bool = False,
             needs_test: bool = False) -> Callable:
    """Record the decorated function as metric `name`. Stacked, one function serves several names
    (sample counts, extractors); decorators apply bottom-up, so the lowest is registered first."""
    def add(compute: Callable[[Metric, Inputs], list[Result]]) -> Callable:
        METRICS[name] = Metric(name, compute, n, extractor, doc, needs_labels, needs_test)
        return compute
    return add


def _measured(metric: Metric, x: Inputs) -> tuple[Any, Callable[..., Result]]:
    """(the metric's extractor, `Result` with n, reference, extractor label and device filled in)."""
    from gan.metrics.extractors import get_extractor

    extractor = get_extractor(metric.extractor)
    return extractor, functools.partial(Result, n=len(x.generated), reference=x.reference,
                                        extractor=extractor.label, device=extractor.device)


def _against_reference(metric: Metric, x: Inputs) -> tuple[Any, Callable[..., Result], Any]:
    """`_measured`, plus the real images' cached statistics (features, probabilities) in its features."""
    from gan.metrics.reference import load_or_compute

    extractor, result = _measured(metric, x)
    return extractor, result, load_or_compute(extractor, x.real, seed=x.seed)


def _with_held_out_real(metric: Metric, x: Inputs) -> tuple[Callable[..., Result], np.ndarray, np.ndarray, int]:
    """(`Result` filled in, sample features, real features, m): real[:m] stand in for the samples in the
    real-vs-real floor, so the floor compares equal counts against the same real set."""
    extractor, result, ref = _against_reference(metric, x)
    feats = generated_features(extractor, x)
    return result, feats, ref.features, max(2, min(len(feats), len(ref.features) // 2))


def _features_of_both(metric: Metric, x: Inputs) -> tuple[Callable[..., Result], np.ndarray, np.ndarray]:
    """(`Result` with its fields filled in, features of the samples, of every real image): per-class metrics
    need each real image's features with its label, not only the cached statistics."""
    from gan.metrics.reference import all_features

    extractor, result = _measured(metric, x)
    return result, generated_features(extractor, x), all_features(extractor, x.real)


# --- FD, KID, IS, precision/recall, class accuracy: against the cached reference statistics ------------

@register("fid_inception2k", n=2_000, extractor="inception",
          doc="FID on 2k samples, FID Inception features (cheap; biased upwards against the 10k figure)")
@register("fid_inception10k", n=10_000, extractor="inception",
          doc="FID as papers report it: 10k samples, the TF FID Inception network (StyleGAN2-ADA's resize)")
@register("fd_cifar10k", n=10_000, extractor="cifar", doc="Frechet distance, 10k samples, CIFAR-classifier features")
@register("fd_cifar2k", n=2_000, extractor="cifar",
          doc="Frechet distance, 2k samples, CIFAR-classifier features (cheap)")
def _fd(metric: Metric, x: Inputs) -> list[Result]:
    from gan.metrics.frechet import feature_stats, frechet_distance

    extractor, result, ref = _against_reference(metric, x)
    floor, _ = ref.fd_floor(len(x.generated))
    value = frechet_distance(*feature_stats(generated_features(extractor, x)), ref.mu, ref.sigma)
    return [result(metric.name, value, floor)]


@register("kid_inception10k", n=10_000, extractor="inception",
          doc="kernel distance (unbiased MMD^2), FID Inception features")
@register("kid_cifar10k", n=10_000, extractor="cifar",
          doc="kernel distance (unbiased MMD^2), CIFAR-classifier features")
def _kid(metric: Metric, x: Inputs) -> list[Result]:
    from gan.metrics.kid import kernel_distance

    result, feats, real, m = _with_held_out_real(metric, x)
    mean, std = kernel_distance(real[m:], feats, seed=x.seed)
    floor, _ = kernel_distance(real[m:], real[:m], seed=x.seed)
    return [result(metric.name, mean, floor), result(f"{metric.name}_std", std, np.nan)]


@register("is_cifar10k", n=10_000, extractor="cifar",
          doc="Inception Score computed with the CIFAR classifier's softmax")
def _is(metric: Metric, x: Inputs) -> list[Result]:
    from gan.metrics.inception_score import inception_score

    extractor, result, ref = _against_reference(metric, x)
    _, probs = extractor.features_and_probabilities(x.generated)
    mean, std = inception_score(probs)
    floor = inception_score(ref.probs[:len(probs)])[0] if ref.probs.size else np.nan
    return [result(metric.name, mean, floor), result(f"{metric.name}_std", std, np.nan)]


@register("pr_cifar10k", n=10_000, extractor="cifar",
          doc="improved precision and recall (k=3), CIFAR-classifier features")
def _pr(metric: Metric, x: Inputs) -> list[Result]:
    from gan.metrics.precision_recall import precision_recall

    result, feats, real, m = _with_held_out_real(metric, x)
    precision, recall = precision_recall(real[m:2 * m], feats)
    real_p, real_r = precision_recall(real[m:2 * m], real[:m])
    return [result(f"{metric.name}_precision", precision, real_p), result(f"{metric.name}_recall", recall, real_r)]


@register("class_acc10k", n=10_000, extractor="cifar",
          doc="conditional accuracy and class coverage (CIFAR classifier)")
def _class_acc(metric: Metric, x: Inputs) -> list[Result]:
    """Coverage always; accuracy only for a conditional generator (rows class_acc10k, class_coverage10k)."""
    from gan.metrics.classes import class_accuracy, class_coverage

    extractor, result, ref = _against_reference(metric, x)
    _, probs = extractor.features_and_probabilities(x.generated)
    real_coverage = class_coverage(ref.probs[:len(probs)]) if ref.probs.size else np.nan
    rows = [result(metric.name.replace("class_acc", "class_coverage"), class_coverage(probs), real_coverage)]
    if x.labels is not None:
        rows.insert(0, result(metric.name, class_accuracy(probs, x.labels)[0], np.nan))
    return rows


# --- intra-class: each class's samples against that class's real images ------------------------------

@register("ifd_cifar10k", n=10_000, extractor="cifar", needs_labels=True,
          doc="intra-class Frechet distance: each class's samples against that class's real images, averaged "
              "(per class as _c<k>)")
@register("ifd_cifar5k", n=5_000, extractor="cifar", needs_labels=True,
          doc="intra-class Frechet distance on 5,000 samples: the trainer's cheap version of ifd_cifar10k "
              "(--eval-metric ifd_cifar5k --keep-best)")
def _ifd(metric: Metric, x: Inputs) -> list[Result]:
    from gan.metrics.intra_class import intra_class_fd

    result, feats, real_feats = _features_of_both(metric, x)
    values, floors = intra_class_fd(feats, x.labels, real_feats, x.real_labels, x.seed)
    rows = [result(metric.name, float(np.mean(list(values.values()))), float(np.mean(list(floors.values()))))]
    return rows + [result(f"{metric.name}_c{c}", values[c], floors[c]) for c in values]


@register("ipr_cifar10k", n=10_000, extractor="cifar", needs_labels=True,
          doc="intra-class k-NN precision and recall (k=3), averaged over classes (per-class recall as "
              "_recall_c<k>)")
def _ipr(metric: Metric, x: Inputs) -> list[Result]:
    from gan.metrics.intra_class import intra_class_pr

    result, feats, real_feats = _features_of_both(metric, x)
    values, floors = intra_class_pr(feats, x.labels, real_feats, x.real_labels, seed=x.seed)
    rows = [result(f"{metric.name}_{part}", float(np.mean([v[i] for v in values.values()])),
                   float(np.mean([f[i] for f in floors.values()]))) for i, part in enumerate(("precision", "recall"))]
    return rows + [result(f"{metric.name}_recall_c{c}", values[c][1], floors[c][1]) for c in values]


# --- trained: a small classifier fitted on samples, tested on real images the generator never saw -----

@register("cas10k", n=10_000, extractor=None, needs_labels=True, needs_test=True,
          doc="Classification Accuracy Score: a small classifier trained only on 10,000 samples, tested on real "
              "images the generator never saw; floor: the same trained on real images")
def _cas(metric: Metric, x: Inputs) -> list[Result]:
    from gan.metrics import cas

    result = _trained_result(x)
    with _epoch_bar(metric.name, fits=2) as bar:
        scores = cas.classification_accuracy_score(x.generated, x.labels, x.real, x.real_labels, x.test,
                                                   _num_classes(x), epochs=cas.EPOCHS, seed=x.seed,
                                                   on_epoch=bar.update)
    return [result(metric.name, scores["cas"], scores["ceiling"]),
            result(f"{metric.name}_chance", scores["chance"], np.nan)]


@register("aug_gain5k", n=5_000, extractor=None, needs_labels=True, needs_test=True,
          doc="augmentation gain: real-test accuracy of a small classifier trained on 10% of the real images "
              "plus 5,000 samples, minus without them (3 seeds, with std)")
def _aug_gain(metric: Metric, x: Inputs) -> list[Result]:
    from gan.metrics import cas

    result = _trained_result(x)
    with _epoch_bar(metric.name, fits=2 * len(cas.AUG_SEEDS)) as bar:
        scores = cas.augmentation_gain(x.generated, x.labels, x.real, x.real_labels, x.test, _num_classes(x),
                                       seeds=cas.AUG_SEEDS, epochs=cas.EPOCHS, on_epoch=bar.update)
    return [result(metric.name, scores["gain"], np.nan), result(f"{metric.name}_std", scores["std"], np.nan),
            result(f"{metric.name}_without", scores["without"], np.nan),
            result(f"{metric.name}_with", scores["with"], np.nan)]


def _trained_result(x: Inputs) -> Callable[..., Result]:
    return functools.partial(Result, n=len(x.generated), reference=x.test.name, extractor=SCRATCH_CLASSIFIER)


def _num_classes(x: Inputs) -> int:
    return int(max(x.labels.max(), x.real_labels.max(), x.test.labels.max())) + 1


def _epoch_bar(name: str, fits: int):
    """A progress bar over every epoch of every classifier a trained metric fits (on a terminal only)."""
    import sys

    from tqdm import tqdm

    from gan.metrics.cas import EPOCHS

    return tqdm(total=fits * EPOCHS, desc=name, unit="epoch", disable=not sys.stderr.isatty())


# --- memorization: pixel space, no extractor ------------------------------------------------------------

@register("nn_psnr1k", n=1_000, extractor=None, doc="PSNR to the nearest training image in pixels (memorization)")
def _nn_psnr(metric: Metric, x: Inputs) -> list[Result]:
    """The median over samples; floor: held-out real images against the rest (a real image is its own
    neighbour otherwise)."""
    from gan.metrics.memorization import nn_psnr

    values, _ = nn_psnr(x.generated, x.real)
    order = np.random.default_rng(0).permutation(len(x.real))
    m = min(len(x.generated), len(x.real) // 2)
    floor, _ = nn_psnr(x.real[order[:m]], x.real[order[m:]])
    return [Result(metric.name, float(np.median(values)), float(np.median(floor)), len(x.generated), x.reference,
                   "pixels")]


# Short names `evaluate --metrics` also accepts (`fd,kid,is,pr`): each is the metric at its default sample count.
ALIASES = {"fd": "fd_cifar10k", "kid": "kid_cifar10k", "is": "is_cifar10k", "pr": "pr_cifar10k",
           "class_acc": "class_acc10k", "nn_psnr": "nn_psnr1k", "fid": "fid_inception10k", "cas": "cas10k",
           "aug_gain": "aug_gain5k"}
DEFAULT_METRICS = ("fd_cifar10k", "ifd_cifar10k", "kid_cifar10k", "is_cifar10k", "pr_cifar10k", "ipr_cifar10k",
                   "class_acc10k", "nn_psnr1k")


# --- computing ----------------------------------------------------------------------------------------

def compute_metric(name: str, x: Inputs) -> list[Result]:
    """Results of metric `name` on `x`; MetricError (one line) when it cannot be computed from them."""
    from gan.metrics.extractors import ExtractorError

    metric = METRICS.get(name)
    if metric is None:
        raise MetricError(f"unknown metric {name!r}; choose from {', '.join(METRICS)}")
    if len(x.generated) < 2 or len(x.real) < 4:
        raise MetricError(f"{name}: need at least 2 generated and 4 real images")
    if metric.needs_labels and (x.labels is None or x.real_labels is None):
        raise MetricError(f"{name}: needs a class-conditional generator and labelled real images")
    if metric.needs_test and x.test is None:
        raise MetricError(f"{name}: needs real test images the generator never saw: train with --holdout N, "
                          "or evaluate a CIFAR-10 model where its test split can be downloaded")
    try:
        return metric.compute(metric, x)
    except ExtractorError as e:
        raise MetricError(str(e)) from None


def score_generator(generator: Any, dataset: Any, names: Sequence[str], n: int | None = None, seed: int = 0,
                    reference: str = "", test: TestSet | None = None, train: Any = None) -> list[Result]:
    """`names` for any generator model against `dataset` (gan.data.Dataset); nothing is saved.

    One batch of samples serves every metric (each takes its first `n`). Metrics that need labels are
    skipped for an unconditional generator; CAS and augmentation gain train on `train` (default
    `dataset`) and test on `test`.
    """
    from gan.sampling import num_classes, sample

    counts = {name: n or METRICS[name].n for name in names}
    images, labels = sample(generator, max(counts.values()), seed=seed)
    labels = labels if num_classes(generator) else None
    reference = reference or _reference_name(dataset.source or "data", len(dataset.images))
    results: list[Result] = []
    memo: dict = {}
    for name in names:
        metric, k = METRICS[name], counts[name]
        if labels is None and metric.needs_labels:
            log.info("%s skipped: the generator is unconditional", name)
            continue
        real = train if train is not None and metric.needs_test else dataset
        results += compute_metric(name, Inputs(images[:k], None if labels is None else labels[:k], real.images,
                                               real.labels, reference, seed, test, memo))
    return results


# --- runs ----------------------------------------------------------------------------------------

def evaluate_run(run: Run, names: Sequence[str], n: int | None = None, data: str | None = None,
                 seed: int = 0) -> list[Result]:
    """`names` for the run's generator; nothing is written (the caller saves with `run.append_evals`)."""
    from gan.data import load_dataset
    from gan.sampling import load_generator

    check_available(names)
    source = data or run.config().data
    dataset = load_dataset(source)
    train, test = dataset, None
    if any(METRICS[name].needs_test for name in names):
        train, test = held_out_test_set(run, dataset, source)
    return score_generator(load_generator(run.generator_path), dataset, names, n, seed,
                           _reference_name(source, len(dataset.images)), test=test, train=train)


def held_out_test_set(run: Run, dataset: Any, source: str) -> tuple[Any, TestSet | None]:
    """(the images the run trained on, real test images it never saw) for CAS and augmentation gain.

    The run's own held-out images (train --holdout) when it has them; else CIFAR-10's test split for a
    model of CIFAR-10 (downloaded by Keras); else no test set, and those metrics say how to get one.
    """
    from gan.data import Dataset, load_dataset
    from gan.metrics.cas import TestSet

    config = run.config()
    held = run.held_out()
    if held and same_path(source, config.data):  # "cifar10", or one file written two ways
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


def check_available(names: Sequence[str]) -> None:
    """MetricError before any work when a metric is unknown or its extractor's weights are missing.

    Checked up front so a missing Inception download does not throw away minutes of other metrics.
    """
    from gan.metrics.extractors import classifier_path, load_cifar
    from gan.metrics.fid_inception import unavailable_reason

    for name in names:
        metric = METRICS.get(name)
        if metric is None:
            raise MetricError(f"unknown metric {name!r}; choose from {', '.join(METRICS)}")
        missing = unavailable_reason() if metric.extractor == "inception" else None
        if missing:
            raise MetricError(f"{name}: {missing}")  # the one-line install command
        try:
            if metric.extractor == "cifar" and not classifier_path().is_file():
                load_cifar()
        except ValueError as e:
            raise MetricError(f"{name}: {e}") from None


def live_score(generator: Any, data: Any, step: int, metric: str = LIVE_METRIC) -> list[Result] | None:
    """The trainer's cheap score (`metric`, one of LIVE_METRICS) of `generator` at `step`, its headline
    result first; None when it cannot be computed. Nothing is written: the trainer saves it.

    Small datasets get fewer samples than the name says (at most one per training image); the
    results record the count. A missing classifier logs one warning per run and scores nothing:
    training must never stop here.
    """
    from gan.metrics.extractors import ExtractorError, classifier_path
    from gan.sampling import num_classes, sample

    if not classifier_path().is_file():
        _warn_once(str(classifier_path()))
        return None
    n = min(METRICS[metric].n, len(data.images))
    if n < 4:
        return None
    images, labels = sample(generator, n, seed=step)
    reference = _reference_name(getattr(data, "source", "") or "train", len(data.images))
    try:
        return compute_metric(metric, Inputs(images, labels if num_classes(generator) else None, data.images,
                                             data.labels, reference))
    except (MetricError, ExtractorError, OSError, ValueError) as e:
        log.warning("live score skipped at step %d: %s", step, e)
        return None


@functools.lru_cache(maxsize=8)
def _warn_once(path: str) -> None:
    log.warning("live FD is off: no CIFAR classifier at %s (python -m gan train-classifier)", path)


def _reference_name(source: str, count: int) -> str:
    name = Path(source).name if os.sep in source or "." in source else source
    return f"{name}:{count}"


def format_table(results: Sequence[Result]) -> str:
    """A plain-text table: metric, value, floor, n, reference, extractor, device."""
    rows = [("metric", "value", "floor", "n", "reference", "extractor", "device")]
    rows += [(r.metric, f"{r.value:.4g}", "-" if not np.isfinite(r.floor) else f"{r.floor:.4g}", str(r.n),
              r.reference, r.extractor, r.device) for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows)
