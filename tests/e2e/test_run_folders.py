"""Nothing a user made is overwritten: where a new run may start, what --resume may change, odd --run-dir paths.

Each case runs the real CLI in-process on a tiny .npz and checks the exit code, the single error
line and that the folder is byte for byte what it was.


Here the cases that train (a few steps) before or instead of being refused.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers import one_error_line, snapshot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gan.cli import main
from gan.runs import FINISHED, LAUNCHER_FILES, RUNNING, Run

TINY = ["--preset", "tiny", "--batch-size", "16", "--log-every", "2", "--no-jit", "--quiet"]


def test_a_folder_with_only_the_launchers_files_is_a_new_run(tmp_path, tiny_npz):
    folder = tmp_path / "from-the-app"
    folder.mkdir()
    (folder / "train.log").write_text("started by the app\n")
    assert main(["train", "--data", str(tiny_npz), "--steps", "2", "--run-dir", str(folder), *TINY]) == 0
    assert Run(folder).status().state == "finished"
    assert (folder / "train.log").read_text() == "started by the app\n"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(st.sampled_from(sorted(LAUNCHER_FILES) + ["config.json", "evals.csv", "notes.txt", "data.zip",
                                                                  "generator.keras", ".hidden", "samples"]),
                      min_size=1, max_size=4, unique=True))
def test_any_folder_holding_more_than_the_launchers_files_is_refused(tmp_path_factory, tiny_npz, names):
    folder = tmp_path_factory.mktemp("run")
    for name in names:
        (folder / name).write_text(f"the user's {name}")
    before = snapshot(folder)
    code = main(["train", "--data", str(tiny_npz), "--steps", "1", "--run-dir", str(folder), *TINY])
    if set(names) <= LAUNCHER_FILES:
        assert code == 0
        assert all((folder / n).read_text() == f"the user's {n}" for n in names if n != "run.lock")
    else:
        assert code == 2 and snapshot(folder) == before


def test_resume_without_a_checkpoint_refuses_and_keeps_the_trained_generator(tmp_path, tiny_npz, capsys):
    run_dir = tmp_path / "run"
    assert main(["train", "--data", str(tiny_npz), "--steps", "2", "--run-dir", str(run_dir), *TINY]) == 0
    Run(run_dir).checkpoint_path.unlink()  # lost, or never written
    before = snapshot(run_dir)
    capsys.readouterr()
    assert main(["train", "--resume", "--run-dir", str(run_dir), "--quiet"]) == 2
    assert "checkpoint is missing" in one_error_line(capsys)
    assert snapshot(run_dir) == before


def test_resume_of_a_run_killed_before_its_first_checkpoint_starts_it_from_the_beginning(tmp_path, tiny_npz):
    """Killed at step 1, before the first checkpoint (step 2): nothing saved, one step of history to redo."""
    run_dir = tmp_path / "run"
    assert main(["train", "--data", str(tiny_npz), "--steps", "2", "--run-dir", str(run_dir), *TINY,
                 "--log-every", "1"]) == 0
    run = Run(run_dir)  # what a SIGKILL at step 1 leaves: one metrics row, status "running", nothing saved
    run.truncate_metrics(1)
    run.write_status(state=RUNNING, step=1)
    for saved in (run.checkpoint_path, run.generator_path, *run.sample_grids()):
        saved.unlink()
    assert main(["train", "--resume", "--run-dir", str(run_dir), "--steps", "2", "--quiet"]) == 0
    assert run.status().step == 2 and run.generator_path.is_file()
    assert [int(r["step"]) for r in run.metric_rows()] == [1, 2]


@pytest.mark.parametrize("state", [FINISHED, RUNNING])
def test_resume_after_checkpoint_and_generator_were_deleted_refuses_and_keeps_the_history(tmp_path, tiny_npz, capsys,
                                                                                          state):
    """The records say a checkpoint was written (the run finished, or logged past its first checkpoint), so
    restarting at step 0 would rewrite its history: exit 2 naming what is missing (before: exit 0, step 0)."""
    run_dir = tmp_path / "run"
    assert main(["train", "--data", str(tiny_npz), "--steps", "4", "--checkpoint-every", "2", "--run-dir",
                 str(run_dir), *TINY, "--log-every", "1"]) == 0
    run = Run(run_dir)
    run.write_status(state=state)  # RUNNING: killed at step 4, after checkpoints at 2 and 4
    shutil.rmtree(run.checkpoint_path.parent)
    run.generator_path.unlink()
    before = snapshot(run_dir)
    capsys.readouterr()
    assert main(["train", "--resume", "--run-dir", str(run_dir), "--steps", "6", "--quiet"]) == 2
    line = one_error_line(capsys)
    assert "ckpt/latest.npz" in line and "generator.keras" in line and "step 4" in line, line
    assert snapshot(run_dir) == before


@pytest.mark.parametrize("flags", [["--data", "/no/such/data"], ["--g-lr", "0.01"], ["--preset", "seed"],
                                   ["--batch-size", "8"], ["--conditional"]])
def test_resume_refuses_the_flags_it_cannot_apply(tmp_path, tiny_npz, capsys, flags):
    run_dir = tmp_path / "run"
    assert main(["train", "--data", str(tiny_npz), "--steps", "2", "--run-dir", str(run_dir), *TINY]) == 0
    before = snapshot(run_dir)
    capsys.readouterr()
    assert main(["train", "--resume", "--run-dir", str(run_dir), "--steps", "4", *flags]) == 2
    assert flags[0] in one_error_line(capsys)
    assert snapshot(run_dir) == before


def test_resume_epochs_means_epochs_in_all_even_for_a_run_started_with_steps(tmp_path, tiny_npz):
    run_dir = tmp_path / "run"
    assert main(["train", "--data", str(tiny_npz), "--steps", "2", "--run-dir", str(run_dir), *TINY]) == 0
    assert main(["train", "--resume", "--run-dir", str(run_dir), "--epochs", "3", "--quiet"]) == 0
    status = Run(run_dir).status()
    assert status.step == 3 * status.steps_per_epoch == 12  # 64 images / 16 per step = 4 steps an epoch
    assert Run(run_dir).config().epochs == 3 and Run(run_dir).config().steps is None


@pytest.fixture(scope="module")
def two_steps(tmp_path_factory, tiny_npz) -> Path:
    """A finished 2-step run, trained once; tests copy it."""
    run_dir = tmp_path_factory.mktemp("two_steps") / "run"
    assert main(["train", "--data", str(tiny_npz), "--steps", "2", "--run-dir", str(run_dir), *TINY]) == 0
    return run_dir


@pytest.mark.parametrize("content", ["[1, 2]", "\"running\"", "42", "{\"state\": 7}", "{not json", ""])
def test_a_corrupt_status_file_reads_as_no_status(tmp_path, two_steps, capsys, content):
    run_dir = shutil.copytree(two_steps, tmp_path / "run")
    Run(run_dir).status_path.write_text(content)
    assert Run(run_dir).status().state == "stopped"
    capsys.readouterr()
    assert main(["info", str(run_dir)]) == 0
    assert main(["train", "--resume", "--run-dir", str(run_dir), "--steps", "4", "--quiet"]) == 0
    assert json.loads(Run(run_dir).status_path.read_text())["state"] == "finished"
