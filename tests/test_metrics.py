"""gan.metrics: each metric against a direct computation and known answers; the classifier; the CLI."""

from __future__ import annotations

import csv
import hashlib
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
from helpers import REPO

from gan.metrics.classes import class_accuracy, class_coverage
from gan.metrics.frechet import feature_stats, frechet_distance, frechet_distance_features
from gan.metrics.inception_score import inception_score
from gan.metrics.kid import kernel_distance, mmd2_unbiased
from gan.metrics.memorization import nn_psnr, psnr_to
from gan.metrics.precision_recall import knn_radii, precision_recall

RNG = np.random.default_rng(0)


# --- Frechet distance -------------------------------------------------------------------------

def _fd_scipy(x: np.ndarray, y: np.ndarray) -> float:
    """The textbook formula with scipy's sqrtm, as a reference."""
    m1, m2 = x.mean(0), y.mean(0)
    c1, c2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    root = scipy.linalg.sqrtm(c1 @ c2).real
    return float(((m1 - m2) ** 2).sum() + np.trace(c1 + c2 - 2 * root))


def test_fd_matches_scipy_on_random_data():
    x, y = RNG.normal(size=(500, 8)), RNG.normal(1.0, 2.0, size=(400, 8)) @ RNG.normal(size=(8, 8))
    assert frechet_distance_features(x, y) == pytest.approx(_fd_scipy(x, y), rel=1e-6)


def test_fd_identical_sets_is_zero():
    x = RNG.normal(size=(300, 16))
    assert frechet_distance_features(x, x) == pytest.approx(0.0, abs=1e-8)


def test_fd_shifted_gaussians_is_squared_shift():
    x = RNG.normal(size=(2000, 4))
    shift = np.array([1.0, -2.0, 0.5, 0.0])
    assert frechet_distance_features(x, x + shift) == pytest.approx((shift**2).sum(), rel=1e-9)


def test_fd_singular_covariance_is_finite():
    x = RNG.normal(size=(10, 64))  # fewer samples than dimensions: rank-deficient covariances
    y = RNG.normal(size=(10, 64))
    value = frechet_distance_features(x, y)
    assert np.isfinite(value) and value > 0
    mu, sigma = feature_stats(x)
    assert mu.shape == (64,) and sigma.shape == (64, 64)
    assert frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-6)


# --- KID --------------------------------------------------------------------------------------

def test_mmd_matches_direct_loops():
    x, y = RNG.normal(size=(12, 5)), RNG.normal(0.5, size=(9, 5))
    k = lambda a, b: (a @ b / 5 + 1) ** 3
    xx = sum(k(x[i], x[j]) for i in range(12) for j in range(12) if i != j) / (12 * 11)
    yy = sum(k(y[i], y[j]) for i in range(9) for j in range(9) if i != j) / (9 * 8)
    xy = sum(k(a, b) for a in x for b in y) / (12 * 9)
    assert mmd2_unbiased(x, y) == pytest.approx(xx + yy - 2 * xy, rel=1e-9)


def test_kid_identical_near_zero_and_shifted_positive():
    x = RNG.normal(size=(400, 8))
    same, _ = kernel_distance(x, x, num_subsets=10, subset_size=200)
    shifted, std = kernel_distance(x, x + 1.0, num_subsets=10, subset_size=200)
    assert abs(same) < 0.02 * shifted and shifted > 1.0 and std >= 0  # unbiased: ~0, may dip below


# --- IS ---------------------------------------------------------------------------------------

def test_is_confident_uniform_equals_class_count():
    probs = np.eye(10)[np.arange(1000) % 10]
    mean, std = inception_score(probs, splits=10)
    assert mean == pytest.approx(10.0, rel=1e-6) and std == pytest.approx(0.0, abs=1e-6)


def test_is_matches_direct_formula_and_uninformative_is_one():
    probs = RNG.dirichlet(np.ones(5), size=200)
    marginal = probs.mean(0)
    direct = np.exp(np.mean([(p * np.log(p / marginal)).sum() for p in probs]))
    assert inception_score(probs, splits=1)[0] == pytest.approx(direct, rel=1e-9)
    assert inception_score(np.full((50, 4), 0.25), splits=1)[0] == pytest.approx(1.0)


# --- precision / recall -----------------------------------------------------------------------

def test_knn_radii_match_brute_force():
    x = RNG.normal(size=(60, 3))
    d = ((x[:, None] - x[None]) ** 2).sum(-1)
    assert np.allclose(knn_radii(x, k=3, batch_size=7), np.sort(d, axis=1)[:, 3])


def test_precision_recall_identical_and_disjoint():
    x = RNG.normal(size=(300, 4))
    assert precision_recall(x, x) == pytest.approx((1.0, 1.0))
    assert precision_recall(x, x + 100.0) == (0.0, 0.0)


def test_precision_recall_matches_brute_force():
    real, fake = RNG.normal(size=(80, 3)), RNG.normal(0.7, size=(70, 3))
    dist = lambda a, b: ((a[:, None] - b[None]) ** 2).sum(-1)
    r_real, r_fake = np.sort(dist(real, real), 1)[:, 3], np.sort(dist(fake, fake), 1)[:, 3]
    precision = (dist(fake, real) <= r_real[None]).any(1).mean()
    recall = (dist(real, fake) <= r_fake[None]).any(1).mean()
    assert precision_recall(real, fake, batch_size=16) == pytest.approx((precision, recall))


# --- memorization -----------------------------------------------------------------------------

def test_nn_psnr_finds_exact_copies():
    train = RNG.integers(0, 256, size=(300, 8, 8, 3), dtype=np.uint8)
    generated = train[[17, 250, 3]].copy()
    generated[2, 0, 0, 0] ^= 1  # almost a copy
    values, index = nn_psnr(generated, train, batch_size=2)
    assert list(index) == [17, 250, 3]
    assert np.isinf(values[0]) and np.isinf(values[1]) and values[2] > 60


def test_psnr_to_one_image_is_the_memorization_psnr():
    images = RNG.integers(0, 256, size=(20, 4, 4, 3), dtype=np.uint8)
    mse = ((images.astype(float) - images[3].astype(float)) ** 2).reshape(20, -1).mean(1)
    values = psnr_to(images[3], images)
    assert np.isinf(values[3]) and np.allclose(np.delete(values, 3), 10 * np.log10(255**2 / np.delete(mse, 3)))


def test_nn_psnr_matches_brute_force():
    train = RNG.integers(0, 256, size=(50, 4, 4, 3), dtype=np.uint8)
    generated = RNG.integers(0, 256, size=(7, 4, 4, 3), dtype=np.uint8)
    mse = ((generated[:, None].astype(float) - train[None].astype(float)) ** 2).reshape(7, 50, -1).mean(-1)
    values, index = nn_psnr(generated, train)
    assert list(index) == list(mse.argmin(1))
    assert np.allclose(values, 10 * np.log10(255**2 / mse.min(1)))


# --- classes ----------------------------------------------------------------------------------

def test_class_accuracy_and_coverage():
    labels = np.arange(100) % 4
    predicted = labels.copy()
    predicted[labels == 1] = 2  # class 1 always drawn as class 2
    overall, per_class = class_accuracy(np.eye(4)[predicted], labels)
    assert overall == pytest.approx(0.75) and list(per_class) == [1.0, 0.0, 1.0, 1.0]
    assert class_coverage(np.eye(4)[labels]) == pytest.approx(1.0)
    assert class_coverage(np.eye(4)[np.zeros(100, int)]) == pytest.approx(0.0)
    assert 0 < class_coverage(np.eye(4)[predicted]) < 1


# --- registry ---------------------------------------------------------------------------------

def test_registry_keeps_what_the_app_reads_and_a_new_metric_is_one_function():
    from gan import metrics

    spec = metrics.METRICS["fd_cifar10k"]
    assert spec.n == 10_000 and spec.extractor == "cifar" and spec.doc  # the Evaluate page's catalogue
    assert {name for name, m in metrics.METRICS.items() if m.needs_test} == {"cas10k", "aug_gain5k"}
    assert set(metrics.ALIASES.values()) | set(metrics.DEFAULT_METRICS) <= set(metrics.METRICS)

    @metrics.register("mean_pixel1k", n=1_000, extractor=None, doc="mean pixel value (a test metric)")
    def mean_pixel(metric, x):
        return [metrics.Result(metric.name, float(x.generated.mean()), float(x.real.mean()), len(x.generated),
                               x.reference, "pixels")]

    try:
        images = np.full((4, 2, 2, 3), 10, np.uint8)
        x = metrics.Inputs(images, None, images + 1, None, "toy:4")
        assert metrics.compute_metric("mean_pixel1k", x) == [
            metrics.Result("mean_pixel1k", 10.0, 11.0, 4, "toy:4", "pixels")]
        with pytest.raises(metrics.MetricError, match="class-conditional"):
            metrics.compute_metric("ifd_cifar10k", x)
        with pytest.raises(metrics.MetricError, match="--holdout"):
            metrics.compute_metric("cas10k", metrics.Inputs(images, np.zeros(4), images, np.zeros(4), "toy:4"))
    finally:
        del metrics.METRICS["mean_pixel1k"]


def test_reference_cache_of_an_older_version_still_loads(tmp_path, monkeypatch):
    """Older caches also stored `floor_halves` (a full-dataset FD nothing read); they load without recomputing."""
    import hashlib
    from types import SimpleNamespace

    from gan.metrics.reference import fingerprint, load_or_compute

    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path))
    images = RNG.integers(0, 256, size=(8, 4, 4, 3), dtype=np.uint8)
    extractor = SimpleNamespace(name="fake", key="k", features=None, features_and_probabilities=None)
    path = tmp_path / f"ref-fake-{hashlib.sha1(b'k').hexdigest()[:8]}-{fingerprint(images)}.npz"
    np.savez(path, mu=np.zeros(2), sigma=np.eye(2), features=np.ones((8, 2), np.float32),
             probs=np.zeros((0, 0), np.float32), rows=np.arange(8), n_images=8, floor_halves=1.5)
    ref = load_or_compute(extractor, images)
    assert ref.n_images == 8 and ref.features.shape == (8, 2)


def test_a_stopped_reference_computation_resumes_from_its_saved_chunks(tmp_path, monkeypatch):
    """The first Inception reference takes ~100 min on a CPU: a run stopped half-way keeps the chunks it
    finished, the next run computes only the rest, gets the same statistics, and leaves no parts behind."""
    from gan.metrics import reference

    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(reference, "CHUNK", 4)
    images = RNG.integers(0, 256, size=(10, 4, 4, 3), dtype=np.uint8)

    class Counting:
        name, key = "counting", "k"

        def __init__(self, fail_after=None):
            self.seen, self.fail_after = [], fail_after

        def features(self, batch):
            if self.fail_after is not None and len(self.seen) >= self.fail_after:
                raise KeyboardInterrupt
            self.seen.append(len(batch))
            return batch.reshape(len(batch), -1)[:, :6].astype(np.float64)

        def features_and_probabilities(self, batch):
            raise ValueError("no class head")

    with pytest.raises(KeyboardInterrupt):
        reference.load_or_compute(Counting(fail_after=2), images)
    assert len(list(tmp_path.glob("*.part*"))) == 2
    second = Counting()
    ref = reference.load_or_compute(second, images)
    assert second.seen == [2]  # only the last chunk was computed again
    whole = reference.compute(Counting(), images)
    np.testing.assert_allclose(ref.mu, whole.mu)
    np.testing.assert_allclose(ref.sigma, whole.sigma)
    assert not list(tmp_path.glob("*.part*"))


def test_metrics_of_one_evaluation_share_the_samples_features():
    """FID and KID in Inception features take ~20 CPU minutes each per 10k samples: one evaluation
    extracts the samples' features once per extractor and sample count, not once per metric."""
    from gan.metrics import Inputs, generated_features

    calls = []

    class Extractor:
        key = "k"

        def features(self, images):
            calls.append(len(images))
            return images.reshape(len(images), -1).astype(np.float64)

    images = RNG.integers(0, 256, size=(6, 2, 2, 3), dtype=np.uint8)
    memo: dict = {}
    first = Inputs(images, None, images, None, "toy:6", memo=memo)
    second = Inputs(images, None, images, None, "toy:6", memo=memo)
    assert generated_features(Extractor(), first) is generated_features(Extractor(), second)
    generated_features(Extractor(), Inputs(images[:3], None, images, None, "toy:6", memo=memo))
    assert calls == [6, 3]


def test_import_is_light():
    import subprocess

    code = "import gan.metrics, sys; print('keras' in sys.modules or 'tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=REPO)
    assert out.stdout.strip() == "False"


def test_unknown_metric_exits_2_with_one_line(tmp_path, capsys):
    from gan.cli import main

    assert main(["evaluate", "--run-dir", str(tmp_path), "--metrics", "fid_bogus"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "fid_bogus" in err


# --- classifier and end to end (tiny, synthetic) ----------------------------------------------

def _synthetic(n_per_class: int = 24, classes: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Each class a noisy solid colour: learnable in a few steps."""
    rng = np.random.default_rng(seed)
    colours = np.array([[220, 40, 40], [40, 220, 40], [40, 40, 220]])[:classes]
    labels = np.repeat(np.arange(classes), n_per_class).astype(np.int32)
    images = colours[labels][:, None, None, :] + rng.normal(0, 20, (len(labels), 32, 32, 3))
    return np.clip(images, 0, 255).astype(np.uint8), labels


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A tiny trained classifier (pointed to by GAN_CLASSIFIER), a cache dir and a tiny .npz dataset."""
    from gan.metrics.classifier import train_classifier

    root = tmp_path_factory.mktemp("metrics")
    images, labels = _synthetic()
    np.savez(root / "tiny.npz", x=images, y=labels, class_names=np.array(["red", "green", "blue"]))
    summary = train_classifier(images, labels, ["red", "green", "blue"], root / "clf", epochs=2, batch_size=16,
                               val_size=12, widths=(8, 16))
    mp = pytest.MonkeyPatch()
    mp.setenv("GAN_CLASSIFIER", str(root / "clf" / "classifier.keras"))
    mp.setenv("GAN_CACHE_DIR", str(root / "cache"))
    yield root, summary
    mp.undo()


def test_classifier_trains_saves_and_loads_safely(workspace):
    import keras

    from gan.metrics.extractors import load_cifar

    root, summary = workspace
    assert summary["val_images"] == 12 and 0.0 <= summary["val_accuracy"] <= 1.0
    keras.saving.load_model(root / "clf" / "classifier.keras", safe_mode=True)
    extractor = load_cifar()
    feats, probs = extractor.features_and_probabilities(_synthetic(4)[0])
    assert feats.shape == (12, 16) and probs.shape == (12, 3)
    assert np.allclose(probs.sum(1), 1.0, atol=1e-5)


def test_stratified_split_and_augment():
    from gan.metrics.classifier import augment, stratified_split

    labels = np.repeat(np.arange(10), 50)
    train, val = stratified_split(labels, 100)
    assert len(val) == 100 and not set(train) & set(val)
    assert np.all(np.bincount(labels[val]) == 10)
    images = RNG.integers(0, 256, size=(5, 32, 32, 3), dtype=np.uint8)
    out = augment(images, np.random.default_rng(0))
    assert out.shape == images.shape and out.dtype == np.uint8


def test_train_and_evaluate_cli_append_evals(workspace, capsys):
    from gan.cli import main
    from gan.runs import Run

    root, _ = workspace
    run_dir = root / "run"
    assert main(["train", "--data", str(root / "tiny.npz"), "--preset", "tiny", "--steps", "4", "--batch-size", "16",
                 "--eval-every", "2", "--no-jit", "--run-dir", str(run_dir), "--quiet"]) == 0
    rows = list(csv.DictReader(Run(run_dir).evals_path.read_text().splitlines()))
    assert [r["step"] for r in rows if not r["metric"].endswith("_floor")] == ["2", "4"]  # live score
    capsys.readouterr()
    names = "fd_cifar2k,kid,is_cifar10k,pr,class_acc10k,nn_psnr1k"  # full names and DESIGN.md's short ones
    assert main(["evaluate", "--run-dir", str(run_dir), "--metrics", names, "--n", "16"]) == 0
    table = capsys.readouterr().out
    assert "fd_cifar2k" in table and "floor" in table and "nn_psnr1k" in table
    text = Run(run_dir).evals_path.read_text()
    assert text.count("step,metric,value,n,reference,extractor,time") == 1
    metrics = {r["metric"]: float(r["value"]) for r in csv.DictReader(text.splitlines())}
    for name in ("fd_cifar2k", "fd_cifar2k_floor", "kid_cifar10k", "is_cifar10k", "pr_cifar10k_precision",
                 "pr_cifar10k_recall", "class_coverage10k", "nn_psnr1k", "nn_psnr1k_floor"):
        assert name in metrics and np.isfinite(metrics[name]), name
    assert list(Path(root / "cache").glob("ref-cifar-*.npz"))  # reference statistics were cached
    # Every score names the classifier weights it was measured with: a retrained one rescales them all.
    digest = hashlib.sha256(Path(os.environ["GAN_CLASSIFIER"]).read_bytes()).hexdigest()[:8]
    labels = {r["metric"]: r["extractor"] for r in csv.DictReader(text.splitlines())}
    assert labels["fd_cifar2k"] == labels["is_cifar10k"] == f"cifar@{digest}" and labels["nn_psnr1k"] == "pixels"


def test_evaluate_run_returns_scores_and_the_evaluate_command_saves_them(workspace, capsys):
    from gan import metrics
    from gan.cli import main
    from gan.runs import Run

    root, _ = workspace
    run = Run(root / "unsaved")
    assert main(["train", "--data", str(root / "tiny.npz"), "--preset", "tiny", "--steps", "2", "--batch-size", "16",
                 "--run-dir", str(run.path), "--quiet"]) == 0
    results = metrics.evaluate_run(run, ["fd_cifar2k", "nn_psnr1k"], n=16)
    assert [r.metric for r in results] == ["fd_cifar2k", "nn_psnr1k"]
    assert not run.evals_path.exists()  # the library writes nothing: its caller saves
    assert main(["evaluate", "--run-dir", str(run.path), "--metrics", "fd_cifar2k,nn_psnr1k", "--n", "16"]) == 0
    saved = run.evals()
    assert set(saved["metric"]) == {"fd_cifar2k", "fd_cifar2k_floor", "nn_psnr1k", "nn_psnr1k_floor"}
    assert set(saved["step"]) == {2}  # the step the generator was saved at


def test_classifier_identity_follows_its_content_not_its_mtime(workspace, tmp_path):
    from gan.metrics.extractors import load_cifar

    original = Path(os.environ["GAN_CLASSIFIER"])
    copy = tmp_path / "copy.keras"
    copy.write_bytes(original.read_bytes())
    os.utime(copy, (1_000_000_000, 1_000_000_000))  # what a git clone does to mtimes
    assert load_cifar(copy).key == load_cifar(original).key and load_cifar(copy).label.startswith("cifar@")
    changed = tmp_path / "changed.keras"
    changed.write_bytes(original.read_bytes() + b"\0")  # different bytes, same weights would load
    assert load_cifar(changed).key != load_cifar(original).key


def test_a_classifier_archive_with_more_than_keras_writes_is_refused_before_keras_reads_it(workspace, tmp_path,
                                                                                           monkeypatch):
    import zipfile

    import keras

    from gan.metrics.extractors import ExtractorError, load_cifar

    odd = tmp_path / "odd.keras"
    with zipfile.ZipFile(Path(os.environ["GAN_CLASSIFIER"])) as source, zipfile.ZipFile(odd, "w") as target:
        for member in source.infolist():
            target.writestr(member, source.read(member))
        target.writestr("payload.bin", b"not Keras'")
    monkeypatch.setattr(keras.saving, "load_model", lambda *a, **kw: pytest.fail("Keras parsed it"))
    with pytest.raises(ExtractorError, match=r"cannot load the CIFAR classifier .*odd.keras is not a plain .keras"):
        load_cifar(odd)


def test_live_score_without_classifier_is_a_noop(tmp_path, monkeypatch, caplog):
    from gan.metrics import live_score

    monkeypatch.setenv("GAN_CLASSIFIER", str(tmp_path / "missing.keras"))
    assert live_score(None, None, 1) is None


def test_intra_class_metrics_keep_per_class_values_with_floors(workspace, capsys):
    from gan.cli import main
    from gan.runs import Run

    root, _ = workspace
    run_dir = root / "conditional"
    assert main(["train", "--data", str(root / "tiny.npz"), "--preset", "tiny", "--conditional", "--steps", "2",
                 "--batch-size", "16", "--run-dir", str(run_dir), "--quiet"]) == 0
    assert main(["evaluate", "--run-dir", str(run_dir), "--metrics", "ifd_cifar10k,ipr_cifar10k", "--n", "24"]) == 0
    rows = list(csv.DictReader(Run(run_dir).evals_path.read_text().splitlines()))
    values = {r["metric"]: float(r["value"]) for r in rows}
    for name in ("ifd_cifar10k", "ipr_cifar10k_precision", "ipr_cifar10k_recall"):
        assert np.isfinite(values[name]) and np.isfinite(values[f"{name}_floor"]), name
    for c in range(3):  # one row per class, each with its own floor
        assert f"ifd_cifar10k_c{c}" in values and f"ifd_cifar10k_c{c}_floor" in values
        assert 0.0 <= values[f"ipr_cifar10k_recall_c{c}"] <= 1.0
    per_class = [values[f"ifd_cifar10k_c{c}"] for c in range(3)]
    assert values["ifd_cifar10k"] == pytest.approx(np.mean(per_class), rel=1e-4)
    assert list(Path(root / "cache").glob("feat-cifar-*.npy"))  # all real features were cached


def test_intra_class_metrics_are_skipped_for_an_unconditional_generator(workspace, capsys):
    from gan.cli import main
    from gan.runs import Run

    root, _ = workspace
    run_dir = root / "unconditional"
    assert main(["train", "--data", str(root / "tiny.npz"), "--preset", "tiny", "--steps", "2", "--batch-size", "16",
                 "--run-dir", str(run_dir), "--quiet"]) == 0
    assert main(["evaluate", "--run-dir", str(run_dir), "--metrics", "fd_cifar2k,ifd_cifar10k", "--n", "16"]) == 0
    metrics = {r["metric"] for r in csv.DictReader(Run(run_dir).evals_path.read_text().splitlines())}
    assert "fd_cifar2k" in metrics and not any(m.startswith("ifd") for m in metrics)


@pytest.mark.slow
def test_cas_and_augmentation_gain_use_the_runs_held_out_images(workspace, capsys, monkeypatch):
    from gan.cli import main
    from gan.metrics import cas
    from gan.runs import Run

    monkeypatch.setattr(cas, "EPOCHS", 1)  # the plumbing is what this checks; test_cas.py checks the scores
    monkeypatch.setattr(cas, "AUG_SEEDS", (0, 1))  # two seeds still give a spread

    root, _ = workspace
    run_dir = root / "held"
    assert main(["train", "--data", str(root / "tiny.npz"), "--preset", "tiny", "--conditional", "--holdout", "12",
                 "--steps", "2", "--batch-size", "16", "--run-dir", str(run_dir), "--quiet"]) == 0
    assert main(["evaluate", "--run-dir", str(run_dir), "--metrics", "cas,aug_gain", "--n", "30"]) == 0
    rows = list(csv.DictReader(Run(run_dir).evals_path.read_text().splitlines()))
    values = {r["metric"]: float(r["value"]) for r in rows}
    for name in ("cas10k", "cas10k_floor", "aug_gain5k", "aug_gain5k_std", "aug_gain5k_without", "aug_gain5k_with"):
        assert np.isfinite(values[name]), name
    assert 0 <= values["cas10k"] <= 1 and values["cas10k_chance"] == pytest.approx(1 / 3)
    assert values["aug_gain5k"] == pytest.approx(values["aug_gain5k_with"] - values["aug_gain5k_without"], abs=1e-4)
    references = {r["reference"] for r in rows}
    assert references == {"held out by the run (12)"}  # said with every result
    assert {r["extractor"] for r in rows} == {"small-resnet"}


def test_cas_without_test_images_says_how_to_get_them(workspace, capsys):
    from gan.cli import main

    root, _ = workspace
    run_dir = root / "no-holdout"
    assert main(["train", "--data", str(root / "tiny.npz"), "--preset", "tiny", "--conditional", "--steps", "2",
                 "--batch-size", "16", "--run-dir", str(run_dir), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--run-dir", str(run_dir), "--metrics", "cas", "--n", "30"]) == 2
    assert "--holdout" in capsys.readouterr().err


def test_keep_best_keeps_the_generator_with_the_lowest_intra_class_fd(workspace, monkeypatch):
    import dataclasses
    import json

    from gan import metrics
    from gan.cli import main
    from gan.runs import Run

    root, _ = workspace
    scores = iter([5.0, 3.0, 4.0])  # the second evaluation is the best
    real = metrics.live_score

    def scripted(generator, data, step, metric):
        results = real(generator, data, step, metric)  # really computed and saved ...
        return [dataclasses.replace(results[0], value=next(scores)), *results[1:]]  # ... judged by a known sequence

    monkeypatch.setattr(metrics, "live_score", scripted)
    run_dir = root / "best"
    assert main(["train", "--data", str(root / "tiny.npz"), "--preset", "tiny", "--conditional", "--steps", "6",
                 "--batch-size", "16", "--eval-every", "2", "--eval-metric", "ifd_cifar5k", "--keep-best",
                 "--run-dir", str(run_dir), "--quiet"]) == 0
    run = Run(run_dir)
    assert json.loads(run.best_path.read_text()) == {"step": 4, "metric": "ifd_cifar5k", "value": 3.0}
    assert run.best_generator_path.is_file()
    rows = list(csv.DictReader(run.evals_path.read_text().splitlines()))
    assert {r["metric"] for r in rows} >= {"ifd_cifar5k", "ifd_cifar5k_floor"}
    assert sorted({int(r["step"]) for r in rows}) == [2, 4, 6]
