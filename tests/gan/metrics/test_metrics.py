"""gan.metrics (the package): the registry the app reads, one evaluation's shared features, the CLI's
unknown metric, the live score.

gan.metrics: each metric against a direct computation and known answers; the classifier; the CLI.
"""

from __future__ import annotations

import numpy as np
import pytest

RNG = np.random.default_rng(0)


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


def test_unknown_metric_exits_2_with_one_line(tmp_path, capsys):
    from gan.cli import main

    assert main(["evaluate", "--run-dir", str(tmp_path), "--metrics", "fid_bogus"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "fid_bogus" in err


def test_live_score_without_classifier_is_a_noop(tmp_path, monkeypatch, caplog):
    from gan.metrics import live_score

    monkeypatch.setenv("GAN_CLASSIFIER", str(tmp_path / "missing.keras"))
    assert live_score(None, None, 1) is None
