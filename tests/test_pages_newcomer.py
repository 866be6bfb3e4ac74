"""What a newcomer meets in their second ten minutes (issue 24): how far a model trained, where a new score
shows, an export past its cap, and Real vs generated without real data.

Hand-written run folders where the page only reads files; the session's tiny trained run (conftest.py)
where a page samples a generator. Pages are driven headless with AppTest, each on its own (no Home).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gan.runs import Run

pytest.importorskip("streamlit")
from helpers import REPO, assert_clean, local_env  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from studio import export, models  # noqa: E402

SHIPPED = REPO / "checkpoints" / "cifar10-sngan-cpu"


def page(name: str) -> AppTest:
    at = AppTest.from_file(str(REPO / "pages" / name), default_timeout=120)
    at.run()
    return at


def run_folder(folder: Path, status: dict | None, best: dict | None = None, **config) -> Run:
    """A run folder with a config (tiny preset, `config` overriding), an optional status.json and best.json."""
    from gan.config import TrainConfig

    folder.mkdir(parents=True)
    (folder / "config.json").write_text(TrainConfig(preset="tiny", **config).to_json())
    if status is not None:
        (folder / "status.json").write_text(json.dumps(status))
    if best is not None:
        (folder / "best.json").write_text(json.dumps(best))
    return Run(folder)


@pytest.fixture
def env(tmp_path, monkeypatch) -> Path:
    """Empty runs and checkpoints folders under tmp_path, not demo mode."""
    monkeypatch.setenv("GAN_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("GAN_CHECKPOINTS_DIR", str(tmp_path / "checkpoints"))
    local_env(monkeypatch, tmp_path)
    return tmp_path


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


# --- B9: a score just computed is the first row, not below the fold ---------------------------------------

HEADER = "step,metric,value,n,reference,extractor,time\n"


def test_the_latest_measured_score_is_the_first_row(env):
    """A dozen one-checkpoint scores (like the shipped model's), then a new metric and a re-measured one."""
    rows = [f"7,m{k:02d}_cifar10k,{k},10000,c:50000,cifar,{100 + k}" for k in range(12)]
    rows += ["7,fd_cifar2k,3.5,2000,c:50000,cifar,500", "7,fd_cifar2k_floor,0.5,2000,c:50000,cifar,500",
             "7,m03_cifar10k,3.25,10000,c:50000,cifar,400"]  # written last: newest first
    run = run_folder(env / "runs" / "scored", {"state": "finished", "step": 7, "epoch": 1}, epochs=1)
    (run.path / "generator.keras").write_bytes(b"placeholder: the page loads it only to evaluate")
    (run.path / "evals.csv").write_text(HEADER + "\n".join(rows) + "\n")
    at = page("evaluate.py")
    assert_clean(at)
    table = next(d.value for d in at.dataframe if "real-data floor" in d.value.columns)
    assert list(table["metric"][:3]) == ["fd_cifar2k", "m03_cifar10k", "m11_cifar10k"]
    assert table["value"].iloc[0] == 3.5 and table["real-data floor"].iloc[0] == 0.5
    assert table["value"].iloc[1] == 3.25  # the re-measured value, moved up with its time
    assert list(table["metric"][-2:]) == ["m01_cifar10k", "m00_cifar10k"]


# --- B15: an export past the cap is clamped, and says so ------------------------------------------------


def test_within_clamps_and_says_what_was_used():
    assert export.within(5, 1000, "Images per class") == (5, None)
    assert export.within(5000, 1000, "Images per class") == (
        1000, "Images per class: asked for 5,000, the most is 1,000; used 1,000.")
    assert export.within(0, 1000, "Images") == (1, "Images: asked for 0, the least is 1; used 1.")


@pytest.fixture
def tiny_env(tiny_run, tmp_path, monkeypatch) -> Path:
    """The session's tiny run (3 classes) as the app's only model; read, never written."""
    monkeypatch.setenv("GAN_RUNS_DIR", str(tiny_run.parent))
    monkeypatch.setenv("GAN_CHECKPOINTS_DIR", str(tmp_path / "checkpoints"))
    local_env(monkeypatch, tmp_path)
    return tiny_run


def test_an_export_past_the_cap_makes_the_most_allowed_and_says_so(tiny_env):
    """A browser keeps the old value of a field typed past its max: so the field has none, and the page clamps."""
    at = page("export.py")
    field = at.number_input(key="export_per_class")
    assert not field.proto.has_max  # else the browser would turn 5000 red and send the previous value
    field.set_value(5000)
    at.radio(key="export_format").set_value("npz")
    next(b for b in at.button if b.label == "Generate").click().run()
    assert_clean(at)
    most = export.MAX_EXPORT // 3
    note = f"Images per class: asked for 5,000, the most is {most:,}; used {most:,}."
    assert [w.value for w in at.warning] == [note]
    assert at.session_state["export_result"][3].startswith(f"{most * 3:,} images")
    at.run()  # a later rerun keeps the note beside the download
    assert [w.value for w in at.warning] == [note]


# --- B16: Real vs generated without real data, and the neighbour strip ---------------------------------


def test_without_real_data_the_real_half_says_why(tiny_env):
    at = page("compare.py")
    at.text_input(key="compare_source_tiny").input("/nowhere/images.zip").run()
    assert not at.exception
    real_half, generated_half = at.columns[0], at.columns[1]
    assert "No real images to show. The training data is not available" in real_half.warning[0].value
    assert "GAN_DATA_ROOTS" in real_half.caption[0].value
    assert not generated_half.warning and len(generated_half.image) == 1


def test_the_nearest_neighbours_are_one_row_of_eight_columns(tiny_env):
    at = page("compare.py")
    assert_clean(at)
    strip = [block for block in at.columns if len(block.columns) == 8]
    assert len(strip) == 1, "the 8 neighbours are not 8 columns of one row"
    captions = [[c for image in cell.image for c in image.captions] for cell in strip[0].columns]
    assert all(len(c) == 1 and c[0].endswith(("dB - red", "dB - green", "dB - blue")) for c in captions), captions
