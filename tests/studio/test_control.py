"""studio.control: one run's state and the rules of Stop, Resume and Delete.

The Train page's logic without the page: starting a run (studio.launch.start_run), one run's state
(studio.control.run_state) and the rules of Stop, Resume and Delete. No trainer is started: where a test
needs a launch, `start_training` is replaced by one that records its arguments.
"""

from __future__ import annotations

import os
import time

import pytest

pytest.importorskip("streamlit")
from helpers import FakeProcess, stopped_run  # noqa: E402

from gan.runs import CRASHED, Run  # noqa: E402
from studio import control, launch  # noqa: E402
from studio.policy import DEMO_LIMITS, UNLIMITED  # noqa: E402


# --- run_state ------------------------------------------------------------------------------------------
def test_a_stopped_run_with_a_checkpoint_can_resume_to_an_epoch_and_be_deleted(launch_env):
    state = control.run_state(stopped_run(launch_env / "runs" / "r"), UNLIMITED)
    assert (state.state, state.error, state.can_stop, state.can_delete, state.can_resume) == (
        "stopped", None, False, True, True)
    assert state.resume == control.ResumeLength("epoch", 3, 10_000) and state.progress == 1.0
    demo = control.run_state(Run(launch_env / "runs" / "r"), DEMO_LIMITS)
    assert demo.resume.high == DEMO_LIMITS.max_epochs


def test_a_run_counted_in_steps_resumes_to_a_step_but_not_in_demo_mode(launch_env):
    run = stopped_run(launch_env / "runs" / "r", steps=12)
    assert control.run_state(run, UNLIMITED).resume == control.ResumeLength("step", 12, 10_000_000)
    assert not control.run_state(run, DEMO_LIMITS).can_resume


def test_no_checkpoint_no_resume(launch_env):
    assert not control.run_state(stopped_run(launch_env / "runs" / "r", checkpoint=False), UNLIMITED).can_resume


def test_a_run_launched_here_is_starting_until_its_trainer_writes_its_status(launch_env):
    run = stopped_run(launch_env / "runs" / "r")
    process = FakeProcess()
    launch._launches()[1][str(run.path)] = (process, time.time())
    state = control.run_state(run, UNLIMITED)
    assert state.state == control.STARTING and state.warming_up and state.can_stop and not state.can_delete
    assert not state.can_resume
    process.returncode = 2  # it died before writing anything, and said why in its log
    run.log_path.write_text("loading...\nerror: data source 'nowhere' not found\n")
    state = control.run_state(run, UNLIMITED)
    assert (state.state, state.error) == ("failed", "data source 'nowhere' not found")


def test_a_crashed_run_shows_its_log_when_it_said_nothing(launch_env):
    run = stopped_run(launch_env / "runs" / "r")
    run.write_status(state="running")  # and nobody holds the lock: it died
    run.log_path.write_text("step 5\nKilled\n")
    state = control.run_state(run, UNLIMITED)
    assert (state.state, state.error, state.log_tail) == (CRASHED, None, "step 5\nKilled")
    assert state.can_resume


# --- stop, resume, delete -------------------------------------------------------------------------------
def test_stop_cancels_a_starting_trainer_and_refuses_an_idle_run(launch_env):
    run = stopped_run(launch_env / "runs" / "r")
    with pytest.raises(control.Refused, match="not training"):
        control.stop(run, control.run_state(run, UNLIMITED))
    process = FakeProcess()
    launch._launches()[1][str(run.path)] = (process, time.time())
    assert "Cancelled r" in control.stop(run, control.run_state(run, UNLIMITED))
    assert process.terminated


def test_resume_passes_the_new_length_and_refuses_past_the_demo_cap(launch_env, started):
    run = stopped_run(launch_env / "runs" / "r")
    with pytest.raises(control.Refused, match="Not resumed: epochs is limited to 5 in this demo"):
        control.resume(run, control.run_state(run, DEMO_LIMITS), DEMO_LIMITS.max_epochs + 1, DEMO_LIMITS)
    assert started == []
    control.resume(run, control.run_state(run, UNLIMITED), 7, UNLIMITED)
    assert started == [["--resume", "--quiet", "--epochs", "7"]]


def test_resume_refuses_a_run_whose_log_is_a_fifo_in_one_line(launch_env):
    """start_training refuses to open a FIFO where train.log belongs (RunError): Resume says so, no traceback."""
    run = stopped_run(launch_env / "runs" / "r")
    os.mkfifo(run.log_path)
    with pytest.raises(control.Refused, match=r"^Not resumed: .*train.log is a FIFO") as refused:
        control.resume(run, control.run_state(run, UNLIMITED), None, UNLIMITED)
    assert "\n" not in str(refused.value)
    assert launch.launched(run) is None
