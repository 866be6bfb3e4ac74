"""studio.control: one run's state and the rules of Stop, Resume and Delete.

The Train page's logic without the page: starting a run (studio.launch.start_run), one run's state
(studio.control.run_state) and the rules of Stop, Resume and Delete. No trainer is started: where a test
needs a launch, `start_training` is replaced by one that records its arguments.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from helpers import local_env  # noqa: E402

from gan.config import TrainConfig  # noqa: E402
from gan.runs import CRASHED, Run  # noqa: E402
from studio import control, launch  # noqa: E402
from studio.policy import DEMO_LIMITS, UNLIMITED  # noqa: E402


@pytest.fixture
def env(tmp_path, monkeypatch) -> Path:
    """An empty runs folder, data paths allowed under tmp_path, no demo mode, and no trainers started here."""
    monkeypatch.setenv("GAN_RUNS_DIR", str(tmp_path / "runs"))
    local_env(monkeypatch, tmp_path)
    launch._launches()[1].clear()
    yield tmp_path
    launch._launches()[1].clear()


class FakeProcess:
    """A trainer as the registry sees it: alive (returncode None) or exited with `returncode`."""

    def __init__(self, returncode: int | None = None):
        self.returncode, self.terminated = returncode, False

    def poll(self) -> int | None:
        return self.returncode

    def terminate(self) -> None:
        self.terminated, self.returncode = True, -15


@pytest.fixture
def started(monkeypatch) -> list[list[str]]:
    """The argument lists of the trainers `launch` would have started (each one 'alive')."""
    calls = []
    monkeypatch.setattr(launch, "start_training",
                        lambda run_dir, args, env=None: calls.append(list(args)) or FakeProcess())
    return calls


def stopped_run(folder: Path, steps: int | None = None, checkpoint: bool = True) -> Run:
    """A run that trained 3 epochs and was stopped, with its checkpoint (never loaded here)."""
    folder.mkdir(parents=True)
    config = TrainConfig.for_preset("tiny", epochs=3, steps=steps, data="x.npz")
    (folder / "config.json").write_text(config.to_json())
    (folder / "status.json").write_text(json.dumps({"state": "stopped", "step": 12, "total_steps": 12,
                                                    "epoch": 3, "updated_at": time.time() - 60}))
    if checkpoint:
        (folder / "ckpt").mkdir()
        (folder / "ckpt" / "latest.npz").write_bytes(b"placeholder")
    return Run(folder)


# --- run_state ------------------------------------------------------------------------------------------
def test_a_stopped_run_with_a_checkpoint_can_resume_to_an_epoch_and_be_deleted(env):
    state = control.run_state(stopped_run(env / "runs" / "r"), UNLIMITED)
    assert (state.state, state.error, state.can_stop, state.can_delete, state.can_resume) == (
        "stopped", None, False, True, True)
    assert state.resume == control.ResumeLength("epoch", 3, 10_000) and state.progress == 1.0
    demo = control.run_state(Run(env / "runs" / "r"), DEMO_LIMITS)
    assert demo.resume.high == DEMO_LIMITS.max_epochs


def test_a_run_counted_in_steps_resumes_to_a_step_but_not_in_demo_mode(env):
    run = stopped_run(env / "runs" / "r", steps=12)
    assert control.run_state(run, UNLIMITED).resume == control.ResumeLength("step", 12, 10_000_000)
    assert not control.run_state(run, DEMO_LIMITS).can_resume


def test_no_checkpoint_no_resume(env):
    assert not control.run_state(stopped_run(env / "runs" / "r", checkpoint=False), UNLIMITED).can_resume


def test_a_run_launched_here_is_starting_until_its_trainer_writes_its_status(env):
    run = stopped_run(env / "runs" / "r")
    process = FakeProcess()
    launch._launches()[1][str(run.path)] = (process, time.time())
    state = control.run_state(run, UNLIMITED)
    assert state.state == control.STARTING and state.warming_up and state.can_stop and not state.can_delete
    assert not state.can_resume
    process.returncode = 2  # it died before writing anything, and said why in its log
    run.log_path.write_text("loading...\nerror: data source 'nowhere' not found\n")
    state = control.run_state(run, UNLIMITED)
    assert (state.state, state.error) == ("failed", "data source 'nowhere' not found")


def test_a_crashed_run_shows_its_log_when_it_said_nothing(env):
    run = stopped_run(env / "runs" / "r")
    run.write_status(state="running")  # and nobody holds the lock: it died
    run.log_path.write_text("step 5\nKilled\n")
    state = control.run_state(run, UNLIMITED)
    assert (state.state, state.error, state.log_tail) == (CRASHED, None, "step 5\nKilled")
    assert state.can_resume


# --- stop, resume, delete -------------------------------------------------------------------------------
def test_stop_cancels_a_starting_trainer_and_refuses_an_idle_run(env):
    run = stopped_run(env / "runs" / "r")
    with pytest.raises(control.Refused, match="not training"):
        control.stop(run, control.run_state(run, UNLIMITED))
    process = FakeProcess()
    launch._launches()[1][str(run.path)] = (process, time.time())
    assert "Cancelled r" in control.stop(run, control.run_state(run, UNLIMITED))
    assert process.terminated


def test_resume_passes_the_new_length_and_refuses_past_the_demo_cap(env, started):
    run = stopped_run(env / "runs" / "r")
    with pytest.raises(control.Refused, match="Not resumed: epochs is limited to 5 in this demo"):
        control.resume(run, control.run_state(run, DEMO_LIMITS), DEMO_LIMITS.max_epochs + 1, DEMO_LIMITS)
    assert started == []
    control.resume(run, control.run_state(run, UNLIMITED), 7, UNLIMITED)
    assert started == [["--resume", "--quiet", "--epochs", "7"]]


def test_resume_refuses_a_run_whose_log_is_a_fifo_in_one_line(env):
    """start_training refuses to open a FIFO where train.log belongs (RunError): Resume says so, no traceback."""
    run = stopped_run(env / "runs" / "r")
    os.mkfifo(run.log_path)
    with pytest.raises(control.Refused, match=r"^Not resumed: .*train.log is a FIFO") as refused:
        control.resume(run, control.run_state(run, UNLIMITED), None, UNLIMITED)
    assert "\n" not in str(refused.value)
    assert launch.launched(run) is None
