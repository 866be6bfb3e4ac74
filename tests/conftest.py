"""Shared pytest fixtures. Each section belongs to one module's tests; add new sections below.

Plain helpers shared by the test modules (REPO, make_npz, assert_clean, ...) are in helpers.py;
no test module imports another.
"""

from __future__ import annotations

import functools
import io
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from helpers import (
    CLASSES,
    TINY_IMAGES,
    FakeProcess,
    Finished,
    local_env,
    make_tiny_run,
    marker_lambda,
    noisy_colours,
    use_runs,
)
from PIL import Image

# ============================================================================
# Streamlit's AppTest scans the metadata of every installed package for
# components each time one is made (~0.3 s of CPU; the suite makes ~60).
# Nothing is installed during a session: scan once.
# ============================================================================

@pytest.fixture(autouse=True, scope="session")
def scan_streamlit_components_once():
    from streamlit.components.v2 import manifest_scanner

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(manifest_scanner, "scan_component_manifests",
                      functools.cache(manifest_scanner.scan_component_manifests))
        yield


# ============================================================================
# gan.data fixtures: tiny synthetic datasets, 3 classes x 8 images of 32x32.
# Every class has its own solid colour (brightened a little per image so the
# images differ), so a test can check that a label matches its pixels.
# ============================================================================

SYNTH_COLOURS: dict[str, tuple[int, int, int]] = {
    "bird": (200, 30, 30),
    "cat": (30, 200, 30),
    "dog": (30, 30, 200),
}
SYNTH_PER_CLASS = 8


def synth_image(cls: str, i: int, size: tuple[int, int] = (32, 32)) -> Image.Image:
    """Solid class colour, shifted by ``2 * i`` so every image is distinct."""
    colour = tuple(min(255, c + 2 * i) for c in SYNTH_COLOURS[cls])
    return Image.new("RGB", size, colour)


def image_bytes(im: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return buf.getvalue()


@pytest.fixture
def synth_colours() -> dict[str, tuple[int, int, int]]:
    """Class name -> base RGB colour of the synthetic fixtures."""
    return dict(SYNTH_COLOURS)


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """``folder/<class>/<nn>.png`` for 3 classes x 8 PNG images."""
    root = tmp_path / "folder"
    for cls in SYNTH_COLOURS:
        (root / cls).mkdir(parents=True)
        for i in range(SYNTH_PER_CLASS):
            synth_image(cls, i).save(root / cls / f"{i:02d}.png")
    return root


@pytest.fixture
def image_zip(tmp_path: Path) -> Path:
    """``images.zip`` with members ``train/<class>/<nn>.jpg`` (JPEG, like the CIFAR zip)."""
    path = tmp_path / "images.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for cls in SYNTH_COLOURS:
            for i in range(SYNTH_PER_CLASS):
                zf.writestr(f"train/{cls}/{i:02d}.jpg", image_bytes(synth_image(cls, i), "JPEG"))
    return path


@pytest.fixture
def image_npz(tmp_path: Path) -> Path:
    """``images.npz`` with ``x`` (24,32,32,3) uint8, ``y`` int64 and ``class_names``."""
    names = list(SYNTH_COLOURS)
    x = np.stack([np.asarray(synth_image(cls, i)) for cls in names for i in range(SYNTH_PER_CLASS)])
    y = np.repeat(np.arange(len(names)), SYNTH_PER_CLASS).astype(np.int64)
    path = tmp_path / "images.npz"
    np.savez(path, x=x, y=y, class_names=np.array(names))
    return path


# ============================================================================
# (end of gan.data fixtures)
# ============================================================================


# ============================================================================
# The `slow` marker: every test under tests/e2e/ (marked there, by location: its
# conftest.py), the ones that start processes, train for real, serve HTTP or
# drive a browser. They still run by default (the README's `python -m pytest`,
# and CI, run them); `python -m pytest -m "not slow"` is the quick loop. Also
# declared in pyproject.toml; declaring it here keeps `--strict-markers` happy
# when pytest runs without that file.
# ============================================================================

def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: every test under tests/e2e/, by location (still run by default)")
    share_jax_compilations(config)


# ============================================================================
# (end of the slow marker)
# ============================================================================


# ============================================================================
# The order files run in: the longest first (longest-processing-time first).
# ============================================================================

# Ranked by seconds per file from `python -m pytest --durations=0`; re-rank when they drift.
# With `-n 2 --dist loadfile --no-loadscope-reorder` (pyproject) xdist hands out whole files in
# collection order; starting with the long ones lets the many short files fill in behind them, so
# both workers finish together. By default xdist would start with the files that hold the most
# tests, and leave the long few-test files for the end.
LONGEST_FILES = ("e2e/test_browser.py", "e2e/test_distribute.py", "e2e/test_reliability.py",
                 "e2e/test_evaluate_worker.py", "e2e/test_training.py", "e2e/test_run_folders.py",
                 "gan/metrics/test_fid_inception.py", "e2e/test_metrics_of_runs.py", "gan/metrics/test_cas.py",
                 "e2e/test_backend.py", "e2e/test_strong.py", "e2e/test_cli_commands.py", "e2e/test_run_files.py",
                 "e2e/test_fresh_process.py", "gan/models/test_sngan_cpu.py", "e2e/test_upload_server.py",
                 "e2e/test_holdout.py", "e2e/test_app_processes.py",
                 "e2e/test_bench.py")  # paths under tests/, each over ~19 s (2026-12-06)
TESTS = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        name = Path(item.path).resolve().relative_to(TESTS).as_posix()
        return LONGEST_FILES.index(name) if name in LONGEST_FILES else len(LONGEST_FILES)

    items.sort(key=rank)  # stable: the other files, and the tests inside each file, keep their order


# ============================================================================
# One JAX compilation cache per session. A JAX training process spends over
# half its time compiling (some 90 small programs for the tiny preset), and the
# suite starts about ten of them with the same shapes. The cache is keyed by the
# compiled program, so it changes no result.
# ============================================================================

def share_jax_compilations(config: pytest.Config) -> None:
    """Set on the controller before xdist starts its workers, so they and their subprocesses inherit
    it; removed when the session ends. A cache the user chose is left alone."""
    if "JAX_COMPILATION_CACHE_DIR" in os.environ:  # a worker (inherited), or the user's own
        return
    cache = tempfile.mkdtemp(prefix="gan-tests-jax-cache-")
    os.environ.update(JAX_COMPILATION_CACHE_DIR=cache, JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
                      JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
    config.add_cleanup(lambda: shutil.rmtree(cache, ignore_errors=True))


# ============================================================================
# The tiny trained run (the app's tests: tests/pages/, tests/studio/, and in
# tests/e2e/ the browser and the evaluation worker): a finished 4-step conditional `tiny` run
# on helpers.make_npz's 3 colour classes, trained once per session. Tests read
# it; a test that writes into a run takes `tiny_run_copy` (or copies the files
# it needs) so that no other test sees what it wrote.
# ============================================================================


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """<tmp>/runs/tiny: the shared trained run; its runs folder holds nothing else. Read it, never write to it."""
    return make_tiny_run(tmp_path_factory.mktemp("tiny_run"))


@pytest.fixture
def tiny_run_copy(tiny_run, tmp_path) -> Path:
    """tmp_path/runs/tiny: a private copy of the whole tiny run, for a test that writes into it."""
    return Path(shutil.copytree(tiny_run, tmp_path / "runs" / "tiny"))


# ============================================================================
# (end of the tiny trained run)
# ============================================================================


# ============================================================================
# Every test session gets its own gan cache (reference statistics, features,
# the remembered failed CIFAR-10 download): nothing leaks in from the user's
# ~/.cache/gan-studio, and a test that simulates an offline download does not
# make the next test see a "failed a moment ago" marker. Tests that need a
# private cache still set GAN_CACHE_DIR themselves.
# ============================================================================


@pytest.fixture(scope="session", autouse=True)
def private_gan_cache(tmp_path_factory):
    patch = pytest.MonkeyPatch()
    patch.setenv("GAN_CACHE_DIR", str(tmp_path_factory.mktemp("gan-cache")))
    yield
    patch.undo()


@pytest.fixture(autouse=True)
def no_remembered_download_failure():
    """A test that simulated a failed download leaves its marker; the next test starts clean."""
    yield
    from gan.data import _download_marker

    _download_marker().unlink(missing_ok=True)


# ============================================================================
# The app's environments (tests/pages, tests/studio, and the app's tests in
# tests/e2e): which runs folder the app lists, demo mode on or off, which data
# paths it accepts, and trainers recorded rather than started. The plain
# helpers behind them (use_runs, FakeProcess, Finished, ...) are in helpers.py.
# ============================================================================


@pytest.fixture
def empty_env(tmp_path, monkeypatch):
    """No runs yet: the app lists tmp_path/runs (not created), no demo mode."""
    use_runs(tmp_path / "runs", tmp_path, monkeypatch)
    return tmp_path


@pytest.fixture
def run_env(tiny_run, tmp_path, monkeypatch):
    """The shared tiny run as the app's only run (read, never written: see own_run_env)."""
    use_runs(tiny_run.parent, tmp_path, monkeypatch)
    return tiny_run


@pytest.fixture
def demo_env(tmp_path, monkeypatch) -> Path:
    """Demo mode on, empty runs and checkpoints folders."""
    monkeypatch.setenv("GAN_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("GAN_CHECKPOINTS_DIR", str(tmp_path / "checkpoints"))
    monkeypatch.setenv("GAN_DEMO_MODE", "1")
    monkeypatch.delenv("GAN_DATA_ROOTS", raising=False)
    monkeypatch.delenv("GAN_DEFAULT_MODEL", raising=False)
    return tmp_path


@pytest.fixture
def allowed(tmp_path, monkeypatch) -> Path:
    """Not demo mode; typed data paths are allowed only under tmp_path/allowed (GAN_DATA_ROOTS)."""
    local_env(monkeypatch, tmp_path / "allowed")
    monkeypatch.setenv("GAN_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("GAN_CHECKPOINTS_DIR", str(tmp_path / "checkpoints"))
    (tmp_path / "allowed").mkdir()
    return tmp_path / "allowed"


@pytest.fixture
def launches(monkeypatch) -> list[tuple[str, list[str]]]:
    """(run name, `gan train` arguments) of every training the app starts; nothing really starts."""
    from studio import launch

    started: list[tuple[str, list[str]]] = []

    def record(run_dir, args, env=None):
        started.append((Path(run_dir).name, list(args)))
        return Finished()

    monkeypatch.setattr(launch, "start_training", record)
    return started


@pytest.fixture
def launch_env(tmp_path, monkeypatch) -> Path:
    """An empty runs folder, data paths allowed under tmp_path, no demo mode, and no trainers started here."""
    from studio import launch

    monkeypatch.setenv("GAN_RUNS_DIR", str(tmp_path / "runs"))
    local_env(monkeypatch, tmp_path)
    launch._launches()[1].clear()
    yield tmp_path
    launch._launches()[1].clear()


@pytest.fixture
def started(monkeypatch) -> list[list[str]]:
    """The argument lists of the trainers `launch` would have started (each one 'alive')."""
    from studio import launch

    calls = []
    monkeypatch.setattr(launch, "start_training",
                        lambda run_dir, args, env=None: calls.append(list(args)) or FakeProcess())
    return calls


@pytest.fixture
def eval_env(tmp_path, monkeypatch) -> Path:
    """Empty runs and checkpoints folders, a private reference-statistics cache, no demo mode."""
    monkeypatch.setenv("GAN_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("GAN_CHECKPOINTS_DIR", str(tmp_path / "checkpoints"))
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("GAN_DEMO_MODE", "0")
    for name in ("GAN_DEFAULT_MODEL", "GAN_CLASSIFIER", "GAN_PUBLIC"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


# ============================================================================
# (end of the app's environments)
# ============================================================================


# ============================================================================
# CIFAR-10 without the internet (gan.data, and the app's messages about it).
# ============================================================================


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """No local copy, a private cache, and a Keras download that fails like an offline machine, counted."""
    import keras

    from gan import data

    calls = []

    def no_network():
        calls.append(1)
        raise Exception("URL fetch failure: [Errno -2] Name or service not known")

    monkeypatch.delenv(data.CIFAR10_ENV, raising=False)
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(keras.datasets.cifar10, "load_data", no_network)
    return calls


@pytest.fixture
def failed_download(tmp_path, monkeypatch) -> Path:
    """No local CIFAR-10, nothing in Keras' cache, and a download that failed a moment ago: Keras' folder."""
    from gan import data

    monkeypatch.delenv(data.CIFAR10_ENV, raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path / "cache"))
    marker = tmp_path / "cache" / "cifar10-download-failed"
    marker.parent.mkdir()
    marker.write_text("URLError: " + "no route to host " * 20)
    return tmp_path / "keras"


# ============================================================================
# (end of CIFAR-10 without the internet)
# ============================================================================


# ============================================================================
# Small data, models and workspaces that tests/gan and their slow halves in
# tests/e2e both use. Module-scoped: each test module builds its own.
# ============================================================================


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    """TINY_IMAGES random 32x32 images (x only, no labels) in an .npz."""
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("data") / "tiny.npz"
    np.savez(path, x=rng.integers(0, 256, (TINY_IMAGES, 32, 32, 3), dtype=np.uint8))
    return path


@pytest.fixture(scope="module")
def tiny_npz(tmp_path_factory) -> Path:
    """64 random 32x32 images with random labels of 3 classes, in an .npz."""
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("data") / "tiny.npz"
    np.savez(path, x=rng.integers(0, 256, (64, 32, 32, 3), dtype=np.uint8), y=rng.integers(0, 3, 64))
    return path


@pytest.fixture(scope="module")
def lambda_model(tmp_path_factory) -> tuple[Path, Path]:
    """(model file, marker): a generator-shaped model with a code-carrying Lambda layer."""
    import keras

    base = tmp_path_factory.mktemp("lambda")
    marker = base / "code-ran"
    z = keras.Input((100,))
    h = keras.layers.Lambda(marker_lambda(marker))(z)
    image = keras.layers.Reshape((32, 32, 3))(keras.layers.Dense(32 * 32 * 3, activation="tanh")(h))
    keras.Model(z, image).save(base / "lambda.keras")
    marker.unlink()  # building the model ran the lambda once
    return base / "lambda.keras", marker


@pytest.fixture(scope="module")
def classifier_workspace(tmp_path_factory):
    """(root, summary): a tiny trained classifier (pointed to by GAN_CLASSIFIER), a cache dir and a tiny .npz
    dataset (root/tiny.npz, helpers.noisy_colours) under root."""
    from gan.metrics.classifier import train_classifier

    root = tmp_path_factory.mktemp("metrics")
    images, labels = noisy_colours()
    np.savez(root / "tiny.npz", x=images, y=labels, class_names=np.array(CLASSES))
    summary = train_classifier(images, labels, CLASSES, root / "clf", epochs=2, batch_size=16,
                               val_size=12, widths=(8, 16))
    mp = pytest.MonkeyPatch()
    mp.setenv("GAN_CLASSIFIER", str(root / "clf" / "classifier.keras"))
    mp.setenv("GAN_CACHE_DIR", str(root / "cache"))
    yield root, summary
    mp.undo()


# ============================================================================
# (end of the small data, models and workspaces)
# ============================================================================
