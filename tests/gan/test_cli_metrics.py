"""`evaluate` and `train-classifier` as a user meets them: skipped metrics said, no negative zero, shipped
folders never written (issue 24, part B items 8, 11 and 13). The scores themselves are gan.metrics' tests:
here `evaluate_run` is replaced by one returning fixed Results, so each test takes well under a second.

`evaluate` that cannot save:

Inputs that used to hang, exhaust memory or escape the allowed folders: each now ends, bounded, in one line.

Hangs are tested in a child process with a deadline, so a regression fails the test instead of stalling CI.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from helpers import REPO

from gan import metrics
from gan.cli import main
from gan.config import TrainConfig
from gan.metrics import Result
from gan.runs import Run


def fake_run(folder: Path, conditional: bool) -> Path:
    """A run folder `evaluate` accepts: a config.json and a (never loaded) generator.keras."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(TrainConfig.for_preset("tiny", conditional=conditional).to_json())
    (folder / "generator.keras").write_bytes(b"not loaded: evaluate_run is replaced")
    return folder


@pytest.fixture
def unconditional_scores(monkeypatch):
    """What evaluate_run gives an unconditional generator for fd_cifar10k,class_acc10k: class_acc10k's coverage
    row only (its accuracy needs labels), with a coverage of -0.0 (every sample in one class)."""
    def evaluate_run(run, names, n=None, data=None, seed=0):
        return [Result("fd_cifar10k", 80.5, 2.5, 16, "d:64", "cifar"),
                Result("class_coverage10k", -0.0, 0.9, 16, "d:64", "cifar")]

    monkeypatch.setattr(metrics, "evaluate_run", evaluate_run)


def test_a_metric_skipped_for_an_unconditional_run_is_said_and_zero_has_no_sign(tmp_path, capsys,
                                                                                unconditional_scores):
    run = fake_run(tmp_path / "runs" / "plain", conditional=False)
    assert main(["evaluate", "--run-dir", str(run), "--metrics", "fd_cifar10k,class_acc10k"]) == 0
    out = capsys.readouterr().out
    assert "-0" not in out.replace("fd_cifar10k", "")
    coverage = next(line for line in out.splitlines() if line.startswith("class_coverage10k"))
    assert coverage.split()[1] == "0"
    assert any(line.split() == ["class_acc10k", "skipped:", "unconditional"] for line in out.splitlines()), out
    saved = (run / "evals.csv").read_text()
    assert ",class_coverage10k,0," in saved and "-0" not in saved


def test_a_conditional_run_that_got_every_metric_says_nothing_was_skipped(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(metrics, "evaluate_run", lambda run, names, **_: [
        Result("class_acc10k", 0.5, math.nan, 16, "d:64", "cifar"),
        Result("class_coverage10k", 0.9, 0.9, 16, "d:64", "cifar"),
        Result("pr_cifar10k_precision", 0.7, 0.8, 16, "d:64", "cifar"),
        Result("pr_cifar10k_recall", 0.1, 0.8, 16, "d:64", "cifar")])
    run = fake_run(tmp_path / "runs" / "cond", conditional=True)
    assert main(["evaluate", "--run-dir", str(run), "--metrics", "class_acc10k,pr"]) == 0
    assert "skipped" not in capsys.readouterr().out


def test_json_prints_one_result_a_line_and_no_save_writes_nothing(tmp_path, capsys, unconditional_scores):
    """What the app's Evaluate page reads: stdout holds the results alone; notes go to stderr."""
    import json

    run = fake_run(tmp_path / "runs" / "plain", conditional=False)
    argv = ["evaluate", "--run-dir", str(run), "--metrics", "fd_cifar10k,class_acc10k", "--json"]
    assert main([*argv, "--no-save"]) == 0
    out, err = capsys.readouterr()
    results = [Result(**json.loads(line)) for line in out.splitlines()]
    assert results == [Result("fd_cifar10k", 80.5, 2.5, 16, "d:64", "cifar"),
                       Result("class_coverage10k", 0.0, 0.9, 16, "d:64", "cifar")]
    assert math.copysign(1, results[1].value) == 1  # no negative zero here either
    assert "class_acc10k  skipped: unconditional" in err
    assert not (run / "evals.csv").exists()
    assert main(argv) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
    assert ",fd_cifar10k,80.5," in (run / "evals.csv").read_text()


def test_json_keeps_a_floor_without_meaning_as_nan(tmp_path, capsys, monkeypatch):
    import json

    monkeypatch.setattr(metrics, "evaluate_run", lambda run, names, **_: [
        Result("class_acc10k", 0.5, math.nan, 16, "d:64", "cifar")])
    run = fake_run(tmp_path / "runs" / "cond", conditional=True)
    assert main(["evaluate", "--run-dir", str(run), "--metrics", "class_acc10k", "--json", "--no-save"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert math.isnan(Result(**json.loads(line)).floor)


# --- item 8: shipped folders are read-only; their new scores go to the user's runs folder ----------------------
def test_the_repos_checkpoints_are_shipped_and_a_users_runs_are_not(tmp_path):
    from gan.cli_metrics import is_shipped

    assert is_shipped(REPO / "checkpoints" / "cifar10-sngan-cpu")
    assert is_shipped(REPO / "checkpoints" / "cifar10-sngan-cpu" / ".." / "cifar10-classifier")
    assert not is_shipped(REPO / "runs" / "mine") and not is_shipped(tmp_path)


def test_evaluating_a_shipped_model_writes_nothing_into_it(tmp_path, capsys, monkeypatch, unconditional_scores):
    """Evaluating the shipped model modified the tracked checkpoints/.../evals.csv."""
    from gan.cli_metrics import scores_run

    shipped = fake_run(tmp_path / "checkpoints" / "pretrained", conditional=False)
    monkeypatch.setenv("GAN_CHECKPOINTS_DIR", str(tmp_path / "checkpoints"))
    monkeypatch.setenv("GAN_RUNS_DIR", str(tmp_path / "runs"))
    before = sorted(p.name for p in shipped.iterdir())
    assert main(["evaluate", "--run-dir", str(shipped), "--metrics", "fd_cifar10k"]) == 0
    assert sorted(p.name for p in shipped.iterdir()) == before
    target = scores_run(Run(shipped))
    assert target.path == tmp_path / "runs" / ".shipped-scores" / "pretrained"
    assert "fd_cifar10k" in target.evals_path.read_text()
    assert str(target.evals_path) in capsys.readouterr().out  # the user is told where the scores went
    assert main(["evaluate", "--run-dir", str(shipped), "--metrics", "fd_cifar10k", "--update-shipped"]) == 0
    assert "fd_cifar10k" in (shipped / "evals.csv").read_text()  # a maintainer refreshing the shipped scores


def test_a_users_run_keeps_its_scores_in_its_own_folder(tmp_path, monkeypatch, unconditional_scores):
    from gan.cli_metrics import scores_run

    monkeypatch.setenv("GAN_RUNS_DIR", str(tmp_path / "runs"))
    run = fake_run(tmp_path / "runs" / "mine", conditional=False)
    assert scores_run(Run(run)).path == run
    assert main(["evaluate", "--run-dir", str(run), "--metrics", "fd_cifar10k"]) == 0
    assert (run / "evals.csv").is_file() and not (tmp_path / "runs" / ".shipped-scores").exists()


# --- item 13: an existing classifier is never replaced without --force ------------------------------------------
def test_train_classifier_never_replaces_a_classifier_without_force(tmp_path, capsys):
    out = tmp_path / "classifier"
    out.mkdir()
    (out / "classifier.keras").write_bytes(b"the shipped weights")
    missing = str(tmp_path / "missing.npz")
    assert main(["train-classifier", "--data", missing, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--force" in err[0] and "already" in err[0]
    assert (out / "classifier.keras").read_bytes() == b"the shipped weights"
    assert main(["train-classifier", "--data", missing, "--out", str(out), "--force"]) == 2  # past the check...
    assert "not found" in capsys.readouterr().err  # ...to the data, which is missing here


def test_evaluate_that_cannot_save_still_prints_its_scores_and_says_why_in_one_line(tiny_run_copy, capsys):
    from gan.cli import main
    from gan.runs import Run

    run = Run(tiny_run_copy)
    run.evals_path.unlink(missing_ok=True)
    run.evals_path.mkdir()  # evals.csv cannot be appended to (as on a read-only mount, which root ignores)
    assert main(["evaluate", "--run-dir", str(run.path), "--metrics", "nn_psnr1k", "--n", "8"]) == 1
    out, err = capsys.readouterr()
    assert "nn_psnr1k" in out, "the scores computed before the failed save are shown"
    err_lines = err.strip().splitlines()
    assert len(err_lines) == 1 and err_lines[0].startswith("error: ") and "evals.csv" in err_lines[0]
