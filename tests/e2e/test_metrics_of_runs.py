"""gan.metrics on real runs: `python -m gan train` (in-process, a few steps), then `evaluate`, CAS,
intra-class scores and --keep-best.

gan.metrics: each metric against a direct computation and known answers; the classifier; the CLI.
"""

from __future__ import annotations

import csv
import hashlib
import os
from pathlib import Path

import numpy as np
import pytest


# --- classifier and end to end (tiny, synthetic) ----------------------------------------------
def test_train_and_evaluate_cli_append_evals(classifier_workspace, capsys):
    from gan.cli import main
    from gan.runs import Run

    root, _ = classifier_workspace
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


def test_evaluate_run_returns_scores_and_the_evaluate_command_saves_them(classifier_workspace, capsys):
    from gan import metrics
    from gan.cli import main
    from gan.runs import Run

    root, _ = classifier_workspace
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


def test_intra_class_metrics_keep_per_class_values_with_floors(classifier_workspace, capsys):
    from gan.cli import main
    from gan.runs import Run

    root, _ = classifier_workspace
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


def test_intra_class_metrics_are_skipped_for_an_unconditional_generator(classifier_workspace, capsys):
    from gan.cli import main
    from gan.runs import Run

    root, _ = classifier_workspace
    run_dir = root / "unconditional"
    assert main(["train", "--data", str(root / "tiny.npz"), "--preset", "tiny", "--steps", "2", "--batch-size", "16",
                 "--run-dir", str(run_dir), "--quiet"]) == 0
    assert main(["evaluate", "--run-dir", str(run_dir), "--metrics", "fd_cifar2k,ifd_cifar10k", "--n", "16"]) == 0
    metrics = {r["metric"] for r in csv.DictReader(Run(run_dir).evals_path.read_text().splitlines())}
    assert "fd_cifar2k" in metrics and not any(m.startswith("ifd") for m in metrics)
def test_cas_and_augmentation_gain_use_the_runs_held_out_images(classifier_workspace, capsys, monkeypatch):
    from gan.cli import main
    from gan.metrics import cas
    from gan.runs import Run

    monkeypatch.setattr(cas, "EPOCHS", 1)  # the plumbing is what this checks; test_cas.py checks the scores
    monkeypatch.setattr(cas, "AUG_SEEDS", (0, 1))  # two seeds still give a spread

    root, _ = classifier_workspace
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


def test_cas_without_test_images_says_how_to_get_them(classifier_workspace, capsys):
    from gan.cli import main

    root, _ = classifier_workspace
    run_dir = root / "no-holdout"
    assert main(["train", "--data", str(root / "tiny.npz"), "--preset", "tiny", "--conditional", "--steps", "2",
                 "--batch-size", "16", "--run-dir", str(run_dir), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--run-dir", str(run_dir), "--metrics", "cas", "--n", "30"]) == 2
    assert "--holdout" in capsys.readouterr().err


def test_keep_best_keeps_the_generator_with_the_lowest_intra_class_fd(classifier_workspace, monkeypatch):
    import dataclasses
    import json

    from gan import metrics
    from gan.cli import main
    from gan.runs import Run

    root, _ = classifier_workspace
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
