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

import json
import os
import signal
import time
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from helpers import REPO, app, assert_clean, local_env, lock_held_elsewhere, make_npz  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from gan.config import TrainConfig  # noqa: E402
from gan.runs import (  # noqa: E402
    Run,  # noqa: E402
)  # noqa: E402
from studio import control, launch  # noqa: E402
from studio.policy import UNLIMITED  # noqa: E402


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


def test_a_trainer_warms_up_until_it_reports_its_speed(env):
    run = stopped_run(env / "runs" / "r")
    with lock_held_elsewhere(run.path):
        run.write_status(state="running", step=12, imgs_per_s=None)
        state = control.run_state(run, UNLIMITED)
        assert (state.state, state.warming_up, state.can_delete) == ("running", True, False)
        run.write_status(imgs_per_s=250.0)
        assert not control.run_state(run, UNLIMITED).warming_up


def test_resume_refuses_a_run_being_trained(env, started):
    run = stopped_run(env / "runs" / "r")
    state = control.run_state(run, UNLIMITED)  # read before another process took the run
    with lock_held_elsewhere(run.path), pytest.raises(control.Busy, match="Not resumed: run r is already being"):
        control.resume(run, state, None, UNLIMITED)
    assert started == []


def test_delete_refuses_a_training_run_and_forgets_a_deleted_one(env):
    run = stopped_run(env / "runs" / "r")
    launch._launches()[1][str(run.path)] = (FakeProcess(0), time.time() - 120)
    with lock_held_elsewhere(run.path):
        run.write_status(state="running")
        with pytest.raises(control.Refused, match="stop it before deleting it"):
            control.delete(run, control.run_state(run, UNLIMITED))
    run.write_status(state="stopped")
    control.delete(run, control.run_state(run, UNLIMITED))
    assert not run.path.exists() and launch.launched(run) is None


def use_runs(runs: Path, tmp_path: Path, monkeypatch) -> None:
    """The app lists the runs in `runs`, has tmp_path/checkpoints (empty until a test fills it), no demo mode."""
    monkeypatch.setenv("GAN_RUNS_DIR", str(runs))
    monkeypatch.setenv("GAN_CHECKPOINTS_DIR", str(tmp_path / "checkpoints"))
    local_env(monkeypatch, tmp_path)


@pytest.fixture
def empty_env(tmp_path, monkeypatch):
    use_runs(tmp_path / "runs", tmp_path, monkeypatch)
    return tmp_path


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [i.value for i in at.info]
    return "\n".join(str(p) for p in parts)


# --- train page ---------------------------------------------------------------------------------
def fill_form(at: AppTest, data: Path, name: str) -> None:
    at.radio(key="train_source").set_value("A path on this machine").run()
    at.text_input(key="train_data_path").input(str(data))
    at.text_input(key="train_run_name").input(name)
    at.number_input(key="train_epochs").set_value(1000)
    at.number_input(key="train_batch_size").set_value(16)
    at.number_input(key="train_log_every").set_value(1)
    at.selectbox(key="train_conditional").set_value("yes")
    at.selectbox(key="train_jit").select("off")


def submit(at: AppTest) -> None:
    next(b for b in at.button if b.label == "Start training").click().run()


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


def _stopped_run(run_dir: Path) -> None:
    """A tiny run stopped after 3 epochs, with a checkpoint (never loaded by the page)."""
    import json

    from gan.config import TrainConfig

    (run_dir / "ckpt").mkdir(parents=True)
    (run_dir / "ckpt" / "latest.npz").write_bytes(b"placeholder")
    (run_dir / "config.json").write_text(TrainConfig.for_preset("tiny", epochs=3, data="x.npz").to_json())
    (run_dir / "status.json").write_text(json.dumps({"state": "stopped", "step": 12, "total_steps": 12, "epoch": 3}))


def test_the_started_banner_goes_at_the_first_step_and_after_stop(empty_env):
    from gan.runs import Run

    run_dir = empty_env / "runs" / "fresh"
    _stopped_run(run_dir)
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


@pytest.fixture
def allowed(tmp_path, monkeypatch) -> Path:
    """Not demo mode; typed data paths are allowed only under tmp_path/allowed (GAN_DATA_ROOTS)."""
    local_env(monkeypatch, tmp_path / "allowed")
    monkeypatch.setenv("GAN_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("GAN_CHECKPOINTS_DIR", str(tmp_path / "checkpoints"))
    (tmp_path / "allowed").mkdir()
    return tmp_path / "allowed"


class _Finished:
    """What the recorder returns instead of a Popen: a process that has already exited."""

    def poll(self) -> int:
        return 0

    def terminate(self) -> None:
        pass


@pytest.fixture
def launches(monkeypatch) -> list[tuple[str, list[str]]]:
    """(run name, `gan train` arguments) of every training the app starts; nothing really starts."""
    started: list[tuple[str, list[str]]] = []

    def record(run_dir, args, env=None):
        started.append((Path(run_dir).name, list(args)))
        return _Finished()

    monkeypatch.setattr(launch, "start_training", record)
    return started


# --- helpers ------------------------------------------------------------------------------------
def train_page() -> AppTest:
    at = app()
    at.switch_page("pages/train.py").run()
    assert_clean(at)
    return at


def hand_run(path: Path, state: str, epochs: int = 2) -> Run:
    """A run folder as the trainer leaves it (config, status, a checkpoint file), without training."""
    run = Run(path)
    path.mkdir(parents=True)
    run.config_path.write_text(TrainConfig(preset="tiny", epochs=epochs).to_json())
    run.checkpoint_path.parent.mkdir()
    run.checkpoint_path.write_bytes(b"placeholder: only its presence is read here")
    run.write_status(state=state, pid=None, step=1, total_steps=10, epoch=0)
    return run


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
