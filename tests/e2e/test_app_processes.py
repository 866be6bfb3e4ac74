"""The app against real processes (pages/train.py, studio.launch, studio.control): a trainer started
from the Train page's form, watched and stopped, and runs whose lock another process holds.

The Streamlit app, driven headless with streamlit.testing's AppTest.

One tiny conditional run is trained once per session (4 steps, no XLA) and every page is
rendered against it and against an empty app.
A live test starts a real training process from the Train page's form, watches metrics arrive, and
stops it; the other tests hold a run's lock in a second process (helpers.lock_held_elsewhere).

The Train page's logic without the page: starting a run (studio.launch.start_run), one run's state
(studio.control.run_state) and the rules of Stop, Resume and Delete. Here a second process holds
the run's lock.

Demo mode and data-path confinement in the app (studio.policy and gan.security wired into the pages), with AppTest.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from helpers import (  # noqa: E402
    REPO,
    FakeProcess,
    app,
    assert_clean,
    fill_form,
    hand_run,
    lock_held_elsewhere,
    make_npz,
    stopped_run,
    submit,
    texts,
    train_page,
    write_stopped_run,
)
from streamlit.testing.v1 import AppTest  # noqa: E402

from studio import control, launch  # noqa: E402
from studio.policy import UNLIMITED  # noqa: E402


def test_a_trainer_warms_up_until_it_reports_its_speed(launch_env):
    run = stopped_run(launch_env / "runs" / "r")
    with lock_held_elsewhere(run.path):
        run.write_status(state="running", step=12, imgs_per_s=None)
        state = control.run_state(run, UNLIMITED)
        assert (state.state, state.warming_up, state.can_delete) == ("running", True, False)
        run.write_status(imgs_per_s=250.0)
        assert not control.run_state(run, UNLIMITED).warming_up


def test_resume_refuses_a_run_being_trained(launch_env, started):
    run = stopped_run(launch_env / "runs" / "r")
    state = control.run_state(run, UNLIMITED)  # read before another process took the run
    with lock_held_elsewhere(run.path), pytest.raises(control.Busy, match="Not resumed: run r is already being"):
        control.resume(run, state, None, UNLIMITED)
    assert started == []


def test_delete_refuses_a_training_run_and_forgets_a_deleted_one(launch_env):
    run = stopped_run(launch_env / "runs" / "r")
    launch._launches()[1][str(run.path)] = (FakeProcess(0), time.time() - 120)
    with lock_held_elsewhere(run.path):
        run.write_status(state="running")
        with pytest.raises(control.Refused, match="stop it before deleting it"):
            control.delete(run, control.run_state(run, UNLIMITED))
    run.write_status(state="stopped")
    control.delete(run, control.run_state(run, UNLIMITED))
    assert not run.path.exists() and launch.launched(run) is None


# --- train page ---------------------------------------------------------------------------------
def _kill(run_dir: Path) -> None:
    from gan.runs import Run

    pid = Run(run_dir).status().pid
    if pid and Run(run_dir).is_locked():
        os.kill(int(pid), signal.SIGKILL)
def test_train_live_then_stop(empty_env):
    from gan.runs import Run
    from studio import launch

    data = make_npz(empty_env / "data.npz")
    at = app()
    at.switch_page("pages/train.py").run()
    fill_form(at, data, "live")
    submit(at)
    assert_clean(at)
    run = Run(empty_env / "runs" / "live")
    try:
        deadline = time.time() + 90
        while time.time() < deadline and not (run.metric_rows() and run.status().state == "running"):
            time.sleep(0.5)
        assert run.metric_rows(), run.log_path.read_text() if run.log_path.exists() else "no log"
        at.run()
        assert_clean(at)
        assert "running" in texts(at)
        assert {"Step", "Epoch", "ETA", "Images/s"} <= {m.label for m in at.metric}
        assert len(at.get("arrow_vega_lite_chart")) >= 1 or len(at.get("vega_lite_chart")) >= 1
        assert at.button(key="train_resume").disabled  # no second process on a running run

        at.text_input(key="train_run_name").input("live")  # the same name again while it trains
        submit(at)
        assert "already exists" in at.error[0].value

        at.button(key="train_stop").click().run()
        deadline = time.time() + 60
        while time.time() < deadline and run.status().state == "running":
            time.sleep(0.5)
        assert run.status().state == "stopped"
        at.run()
        assert "stopped" in texts(at)
        assert not at.button(key="train_resume").disabled

        at.button(key="train_resume").click().run()  # resume: a new process, shown as starting
        assert_clean(at)
        process = launch.launched(run)
        assert "starting" in texts(at) or run.is_locked()
        process.terminate()
        process.wait(30)
    finally:
        _kill(run.path)


def test_the_started_banner_goes_at_the_first_step_and_after_stop(empty_env):
    from gan.runs import Run

    run_dir = empty_env / "runs" / "fresh"
    write_stopped_run(run_dir)
    run = Run(run_dir)
    at = AppTest.from_file(str(REPO / "pages" / "train.py"), default_timeout=60)
    at.session_state["train_started"] = ("fresh", "3 class(es): a, b, c")

    def banner() -> list[str]:
        return [s.value for s in at.success if s.value.startswith("Started")]

    with lock_held_elsewhere(run_dir):
        run.write_status(state="running", step=12, imgs_per_s=None)  # a resumed trainer, still compiling
        at.run()
        assert banner() == ["Started **fresh** on 3 class(es): a, b, c. The first step takes a little while "
                            "(loading the data, building the model)."]
        at.run()
        assert banner()  # still warming up: it stays
        run.write_status(imgs_per_s=120.0)  # its first logged step
        at.run()
        assert not banner()
    at.session_state["train_started"] = ("fresh", "3 class(es): a, b, c")  # started again, then stopped
    run.write_status(state="stopped", imgs_per_s=None)
    at.run()
    assert not banner()
    assert not at.exception


def test_a_training_run_cannot_be_deleted(tmp_path):
    from gan.runs import Run, RunLockedError, delete_run

    run_dir = tmp_path / "busy"
    run = Run(run_dir)
    run.path.mkdir()
    (run_dir / "train.log").write_text("")
    with lock_held_elsewhere(run_dir):
        with pytest.raises(RunLockedError):
            delete_run(run)
        assert run_dir.exists()
    delete_run(run)
    assert not run_dir.exists()


# --- helpers ------------------------------------------------------------------------------------
def test_resume_is_refused_while_another_process_trains_the_run(allowed, launches, tmp_path):
    """One writer per run, seen from the app: a `python -m gan train` started elsewhere (a terminal)
    holds the run's lock before it has written any status, so the page still shows the run as
    stopped. Resume must then say so in one line and start nothing."""
    run = hand_run(tmp_path / "runs" / "taken", "stopped")
    with lock_held_elsewhere(run.path):
        at = train_page()
        assert at.selectbox(key="train_monitor").value == "taken"
        at.button(key="train_resume").click().run()
        assert not at.exception and not at.error  # nothing is wrong with the run: a warning
        assert [w.value for w in at.warning] == ["Not resumed: run taken is already being trained; stop it first."]
        assert launches == []
    at.button(key="train_resume").click().run()  # the other trainer is gone: now it resumes
    assert launches == [("taken", ["--resume", "--quiet", "--epochs", "2"])]
