"""One friendly line, whole where it matters (issue 25, class 8): advice is never cut, an error is cut
at a word; skip messages name the file, not a BytesIO; Pillow's EXIF warning never reaches stderr;
Keras' dataset folder is read from one place that honours KERAS_HOME."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from helpers import REPO
from PIL import Image

from gan import data, security
from gan.data import DataError, load_dataset
from gan.errors import MAX_ERROR_CHARS, first_line
from gan.files import keras_datasets_dir


@pytest.fixture
def offline(tmp_path, monkeypatch) -> Path:
    """No local CIFAR-10, nothing in Keras' cache, and a download that failed a moment ago."""
    monkeypatch.delenv(data.CIFAR10_ENV, raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path / "cache"))
    marker = tmp_path / "cache" / "cifar10-download-failed"
    marker.parent.mkdir()
    marker.write_text("URLError: " + "no route to host " * 20)
    return tmp_path / "keras"


def test_the_offline_advice_is_never_cut_however_long_the_problem(offline):
    error = data.cifar10_unavailable()
    assert isinstance(error, DataError)
    long_problem = DataError("could not download CIFAR-10 (" + "URLError: name resolution failed " * 12 + ")",
                             advice=error.advice)
    for e in (error, long_problem):
        line = first_line(e)
        assert line.endswith(f"put Keras' cifar-10-python.tar.gz into {offline}/datasets/"), line
        assert "\n" not in line
    assert len(first_line(long_problem)) > MAX_ERROR_CHARS  # the advice is whole; the problem was cut
    assert "..." in first_line(long_problem)


def test_advice_survives_an_error_that_wraps_it(offline):
    """studio.launch wraps a start failure as 'Could not start: <line>' (raise ... from e)."""
    from studio.messages import friendly_message

    cause = data.cifar10_unavailable()
    try:
        try:
            raise cause
        except DataError as e:
            raise ValueError(f"Could not start: {friendly_message(e)}") from e
    except ValueError as wrapped:
        assert first_line(wrapped).endswith(f"{offline}/datasets/")


@pytest.mark.parametrize("length", [201, 250, 5000])
def test_an_error_line_is_cut_at_a_word_with_an_ellipsis(length):
    words = ("checkpoint variable generator/dense/kernel has the wrong shape " * 100)[:length]
    line = first_line(ValueError(words))
    assert len(line) <= MAX_ERROR_CHARS and line.endswith("...")
    assert words.startswith(line[:-3]) and words[len(line) - 3] == " "  # the cut falls between words


def test_a_short_error_is_not_touched():
    assert first_line(ValueError("bad value\nmore detail")) == "bad value"
    assert first_line(KeyError()) == "KeyError"


def test_keras_home_moves_the_dataset_folder_everywhere_it_is_read(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    assert keras_datasets_dir() == tmp_path / "kh" / "datasets"
    assert (tmp_path / "kh" / "datasets").resolve() in security.allowed_data_roots(
        {"HOME": str(tmp_path), "KERAS_HOME": str(tmp_path / "kh")}, cwd=tmp_path)
    assert f"{tmp_path / 'kh' / 'datasets'}/" in data.offline_help()
    monkeypatch.delenv("KERAS_HOME")
    assert keras_datasets_dir({"HOME": "/home/x"}) == Path("/home/x/.keras/datasets")
    assert "~/.keras/datasets/" in data.offline_help()


def test_keras_cache_under_keras_home_counts_as_cifar10_being_here(offline):
    assert data.cifar10_unavailable() is not None
    (offline / "datasets" / "cifar-10-batches-py").mkdir(parents=True)
    assert data.cifar10_unavailable() is None


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 10, 10)).save(out, "PNG")
    return out.getvalue()


def test_a_skipped_file_is_named_by_its_member_not_a_bytesio(tmp_path, caplog):
    with zipfile.ZipFile(tmp_path / "d.zip", "w") as zf:
        for i in range(200):
            zf.writestr(f"cat/{i:03d}.png", _png())
        zf.writestr("cat/broken.png", b"this is not an image")
    with caplog.at_level(logging.WARNING, logger="gan.data"):
        assert load_dataset(str(tmp_path / "d.zip")).skipped == 1
    text = caplog.text
    assert "cat/broken.png: unreadable image (not a PNG, JPEG, BMP, GIF or WebP image)" in text
    assert "BytesIO" not in text and " at 0x" not in text


def _jpeg_with_corrupt_exif() -> bytes:
    out = io.BytesIO()
    exif = b"Exif\x00\x00II*\x00\x08\x00\x00\x00\xff\xff" + b"\x01" * 30  # 65535 entries, 30 bytes of them
    Image.new("RGB", (8, 8), (200, 0, 0)).save(out, "JPEG", exif=exif)
    return out.getvalue()


def test_a_corrupt_exif_block_loads_the_image_and_prints_nothing(tmp_path):
    """Pillow warned 'Corrupt EXIF data' with its site-packages path on stderr; the image itself is fine."""
    with zipfile.ZipFile(tmp_path / "exif.zip", "w") as zf:
        zf.writestr("cat/photo.jpg", _jpeg_with_corrupt_exif())
    code = ("import sys\nfrom gan.data import load_dataset\n"
            "d = load_dataset(sys.argv[1])\nprint(len(d.images), d.skipped)")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "exif.zip")], capture_output=True,
                          text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    assert done.returncode == 0 and done.stdout.split() == ["1", "0"], done.stderr
    assert done.stderr == ""
