"""studio.models: the default model, and how far a run trained.

What a newcomer meets in their second ten minutes (issue 24): how far a model trained, where a new score
shows, an export past its cap, and Real vs generated without real data.
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("streamlit")
from helpers import REPO, run_folder  # noqa: E402

from gan.runs import Run  # noqa: E402
from studio import models  # noqa: E402


def test_default_model_comes_from_checkpoints_and_env(run_env, tmp_path, monkeypatch):
    from studio import models

    for name in ("b-model", "a-model"):
        target = tmp_path / "checkpoints" / name
        target.mkdir(parents=True)
        for file in ("config.json", "generator.keras", "classes.json"):
            (target / file).write_bytes((run_env / file).read_bytes())
    choices = models.model_choices()
    assert [c.run.name for c in choices] == ["a-model", "b-model", "tiny"]
    assert choices[models.default_choice(choices)].run.name == "a-model"
    monkeypatch.setenv("GAN_DEFAULT_MODEL", "tiny")
    assert choices[models.default_choice(choices)].run.name == "tiny"


SHIPPED = REPO / "checkpoints" / "cifar10-sngan-cpu"


# --- B7: "epoch 70" of how many, and which checkpoint ---------------------------------------------------
def test_the_shipped_model_is_named_as_its_runs_best_checkpoint_of_all_epochs():
    """The shipped folder keeps the best checkpoint (best.json) of a longer run (config.json's epochs)."""
    best = json.loads((SHIPPED / "best.json").read_text())
    planned = json.loads((SHIPPED / "config.json").read_text())["epochs"]
    status = json.loads((SHIPPED / "status.json").read_text())
    epoch = best["step"] // status["steps_per_epoch"]
    assert epoch < planned  # the best was not the last: the tile must not say "epoch N" alone
    progress = models.training_progress(Run(SHIPPED))
    assert (progress.label, progress.value) == ("Best checkpoint", f"epoch {epoch} of {planned}")
    assert progress.sentence == f"best checkpoint, epoch {epoch} of {planned}"
    assert (f"step {best['step']:,} of {status['total_steps']:,}" in progress.detail
            and f"ifd_cifar5k {best['value']:.4g}" in progress.detail)


def test_a_run_says_its_epoch_out_of_its_planned_epochs(tmp_path):
    run = run_folder(tmp_path / "r", {"state": "stopped", "step": 30, "epoch": 3, "total_steps": 50,
                                      "steps_per_epoch": 10}, epochs=5)
    progress = models.training_progress(run)
    assert (progress.label, progress.value, progress.sentence) == ("Trained", "epoch 3 of 5", "epoch 3 of 5")
    assert progress.detail == "Step 30 of 50; state stopped."


def test_a_run_planned_in_steps_is_counted_in_steps(tmp_path):
    run = run_folder(tmp_path / "r", {"state": "stopped", "step": 800, "epoch": 1, "total_steps": 1000,
                                      "steps_per_epoch": 703}, steps=1000)
    assert models.training_progress(run).value == "step 800 of 1,000"


def test_no_total_is_claimed_when_nothing_records_one(tmp_path):
    """best.json without steps per epoch or a total: the epoch comes from status.json at the same step."""
    run = run_folder(tmp_path / "r", {"state": "finished", "step": 400, "epoch": 4}, best={"step": 400},
                     steps=None, epochs=None)
    progress = models.training_progress(run)
    assert (progress.label, progress.value) == ("Best checkpoint", "epoch 4")
    assert " of " not in progress.value + progress.detail.split(":")[0] and "planned" not in progress.detail


def test_without_a_status_the_planned_length_is_labelled_as_planned(tmp_path):
    progress = models.training_progress(run_folder(tmp_path / "r", None, epochs=120))
    assert (progress.label, progress.value, progress.sentence) == ("Planned", "120 epochs", "planned, 120 epochs")
