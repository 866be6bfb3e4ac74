"""studio.scores without a page: evals.csv reading, score history, captions, save refusals.

The Evaluate page (pages/evaluate.py) and its helpers in studio.scores, driven headless with AppTest.

CIFAR-10 without the internet: a local copy named once (GAN_CIFAR10), a failed download remembered,
and the app suggesting only what it will accept.
"""

from __future__ import annotations

import pytest

pytest.importorskip("streamlit")
from helpers import EVALS, HEADER  # noqa: E402

from gan import data  # noqa: E402
from gan.data import DataError, load_dataset  # noqa: E402


# --- helpers (studio.scores) -------------------------------------------------------------------------
def test_run_evals_tolerates_missing_torn_and_foreign_files(tmp_path):
    from gan.runs import Run

    run = Run(tmp_path)
    assert run.evals().empty
    run.evals_path.write_text("a,b\n1,2\n")  # another layout
    assert run.evals().empty
    run.evals_path.write_text(HEADER + "4,fd_cifar2k,12.5,16,d:64,cifar,1\n4,fd_cifar2k_floor,1.5,16,d:64,cif")
    frame = run.evals()  # a line being appended right now
    assert list(frame["metric"]) == ["fd_cifar2k"] and frame["value"].tolist() == [12.5]


def test_score_history_pairs_each_score_with_its_own_floor(tmp_path):
    from gan.runs import Run
    from studio import scores

    (tmp_path / "evals.csv").write_text(EVALS + "300,kid_cifar10k,0.1,10000,c:5,cifar,4\n"
                                                "300,kid_cifar10k_std,0.01,10000,c:5,cifar,4\n")
    evals = Run(tmp_path).evals()
    assert scores.score_names(evals) == ["fd_cifar2k", "fd_cifar64", "class_acc10k", "kid_cifar10k"]
    history = scores.score_history(evals, "fd_cifar2k")
    assert history[["step", "value", "floor"]].values.tolist() == [[100, 80.5, 2.5], [300, 61.25, 2.75]]
    latest = scores.latest_scores(evals)
    assert latest["fd_cifar2k"]["value"] == 61.25 and latest["fd_cifar2k"]["n"] == 2000
    assert latest["class_acc10k"]["floor"] != latest["class_acc10k"]["floor"]  # NaN: no floor recorded


def test_captions_and_hints():
    from studio import scores

    caption = scores.measured_caption({"metric": "nn_psnr1k", "value": 17.5, "step": 1200, "n": 1000.0,
                                   "reference": "cifar10:50000", "extractor": "pixels", "floor": float("nan")})
    assert caption.startswith("Latest **17.5** at step 1,200: 1,000 generated samples against cifar10 (50,000")
    assert "raw pixels" in caption and "floor" not in caption.split(".")[1] and "memorization" in caption
    assert scores.metric_hint("kid_inception10k") == "Lower is better."
    assert scores.metric_hint("pr_cifar10k_recall") == "Higher is better."
    assert scores.describe_reference("my:data.npz:64") == "my:data.npz (64 real images)"
    assert scores.describe_reference(float("nan")) == "the training data"


def test_save_refusal(tmp_path):
    from gan.runs import Run
    from studio import scores

    run = Run(tmp_path)
    assert scores.save_refusal(run, shipped=False, demo=True) is None
    assert scores.save_refusal(run, shipped=True, demo=False) is None
    assert "demo mode" in scores.save_refusal(run, shipped=True, demo=True)
    assert "read-only" in scores.save_refusal(Run(tmp_path / "gone"), shipped=False, demo=False)


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
