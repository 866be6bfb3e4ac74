"""CIFAR-10 without the internet: a local copy named once (GAN_CIFAR10), a failed download remembered,
and the app suggesting only what it will accept."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from helpers import REPO
from PIL import Image

from gan import data
from gan.data import CIFAR10_CLASSES, DataError, load_dataset
from gan.security import allowed_data_roots, check_data_source


def cifar_like_zip(path: Path, classes=CIFAR10_CLASSES, per_class: int = 2) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for k, name in enumerate(classes):
            for i in range(per_class):
                buffer = io.BytesIO()
                Image.new("RGB", (32, 32), (20 * k, 5 * i, 100)).save(buffer, format="PNG")
                zf.writestr(f"train/{name}/{i}.png", buffer.getvalue())
    return path


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """No local copy, a private cache, and a Keras download that fails like an offline machine, counted."""
    import keras

    calls = []

    def no_network():
        calls.append(1)
        raise Exception("URL fetch failure: [Errno -2] Name or service not known")

    monkeypatch.delenv(data.CIFAR10_ENV, raising=False)
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(keras.datasets.cifar10, "load_data", no_network)
    return calls


def test_the_local_copy_is_cifar10(tmp_path, monkeypatch):
    monkeypatch.setenv(data.CIFAR10_ENV, str(cifar_like_zip(tmp_path / "cifar.zip")))
    loaded = load_dataset("cifar10")
    assert loaded.class_names == CIFAR10_CLASSES and len(loaded.images) == 20
    assert np.bincount(loaded.labels).tolist() == [2] * 10


def test_a_local_copy_of_something_else_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv(data.CIFAR10_ENV, str(cifar_like_zip(tmp_path / "pets.zip", classes=("cat", "dog"))))
    with pytest.raises(DataError, match="not CIFAR-10's"):
        load_dataset("cifar10")
    monkeypatch.setenv(data.CIFAR10_ENV, str(tmp_path / "missing.zip"))
    with pytest.raises(DataError, match="does not exist"):
        load_dataset("cifar10")


def test_a_failed_download_is_remembered_and_says_what_works(offline):
    with pytest.raises(DataError, match=data.CIFAR10_ENV):
        load_dataset("cifar10")
    for _ in range(3):  # reruns of a page, trainers started by the app: no new attempt
        with pytest.raises(DataError, match="failed .* ago"):
            load_dataset("cifar10")
    assert len(offline) == 1


def test_the_download_is_tried_again_later(offline, monkeypatch):
    with pytest.raises(DataError):
        load_dataset("cifar10")
    monkeypatch.setattr(data, "RETRY_DOWNLOAD_S", 0)
    with pytest.raises(DataError):
        load_dataset("cifar10")
    assert len(offline) == 2


def test_the_app_accepts_the_local_copy_it_suggests(tmp_path, monkeypatch):
    (tmp_path / "elsewhere").mkdir()
    copy = cifar_like_zip(tmp_path / "elsewhere" / "cifar.zip")
    monkeypatch.setenv("GAN_DATA_ROOTS", str(tmp_path / "runs"))
    monkeypatch.setenv(data.CIFAR10_ENV, str(copy))
    assert copy.resolve() in allowed_data_roots()
    assert check_data_source(str(copy)) == str(copy.resolve())


def test_the_train_page_refuses_cifar10_offline_with_the_fix_and_launches_nothing(offline, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("GAN_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("GAN_DEMO_MODE", "0")
    with pytest.raises(DataError):
        load_dataset("cifar10")  # the first visit's failed download
    at = AppTest.from_file(str(REPO / "pages" / "train.py"), default_timeout=60).run()
    assert "GAN_CIFAR10" in " ".join(c.value for c in at.caption)
    at.text_input(key="train_run_name").input("offline-run")
    next(b for b in at.button if b.label == "Start training").click().run()
    errors = " ".join(e.value for e in at.error)
    assert data.offline_help() in errors and "../shared" not in errors  # the advice whole, not cut
    assert not (tmp_path / "runs" / "offline-run").exists()
    assert len(offline) == 1


def test_the_app_looks_for_cifar10_where_keras_does(offline, tmp_path, monkeypatch):
    """KERAS_HOME moves Keras' cache: the app's "is CIFAR-10 here" and its caption follow it."""
    from studio import scores

    with pytest.raises(DataError):
        load_dataset("cifar10")  # a failed download, remembered
    problem = scores.cifar10_problem()
    assert problem is not None and problem.endswith(data.offline_help())
    assert "into ~/.keras/datasets." in scores.cifar10_caption()
    keras_home = tmp_path / "home" / "keras"
    (keras_home / "datasets" / "cifar-10-batches-py").mkdir(parents=True)
    monkeypatch.setenv("KERAS_HOME", str(keras_home))
    assert scores.cifar10_problem() is None  # Keras would read it from there, offline
    assert "into ~/keras/datasets." in scores.cifar10_caption()
