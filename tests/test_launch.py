"""The Train page's logic without the page: starting a run (studio.launch.start_run), one run's state
(studio.control.run_state) and the rules of Stop, Resume and Delete. No trainer is started: where a test
needs a launch, `start_training` is replaced by one that records its arguments."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from helpers import local_env, lock_held_elsewhere, make_npz  # noqa: E402

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


# --- log_tail ---------------------------------------------------------------------------------------


def test_log_tail_gives_the_last_lines_and_never_waits_on_a_fifo(tmp_path):
    run = Run(tmp_path / "r")
    run.path.mkdir()
    run.log_path.write_text("".join(f"line {i}\r\n" for i in range(5000)))  # far over the 8 KiB it reads
    assert launch.log_tail(run, lines=3) == "line 4997\nline 4998\nline 4999"
    run.log_path.unlink()
    os.mkfifo(run.log_path)  # nobody writes to it: a plain open() would wait forever
    got = []
    reader = threading.Thread(target=lambda: got.append(launch.log_tail(run)), daemon=True)
    reader.start()
    reader.join(10)
    assert got == [""]


# --- start_run ----------------------------------------------------------------------------------------


SETTINGS = dict(preset="tiny", epochs=2, batch_size=16, conditional=True, jit=False)


@pytest.mark.parametrize("name, settings, source, path, upload, said", [
    ("bad name!", SETTINGS, launch.CIFAR10, None, None, "letters, digits"),
    ("ok", SETTINGS, launch.PATH, "  ", None, "Enter the path"),
    ("ok", SETTINGS, launch.UPLOAD, None, None, "Choose a .zip"),
    ("ok", {**SETTINGS, "beta1": 1.5}, launch.CIFAR10, None, None, "Check the settings: beta1 must be"),
    ("ok", SETTINGS, launch.UPLOAD, None, b"PK\x03\x04 nonsense", "Could not start: the upload is not a valid .zip"),
])
def test_start_run_refuses_with_one_line_and_leaves_nothing(env, started, name, settings, source, path, upload,
                                                            said):
    with pytest.raises(launch.StartError, match=said.replace("(", r"\(")) as refused:
        launch.start_run(name, settings, source, path, upload)
    assert "\n" not in str(refused.value)
    assert started == []
    assert not (env / "runs").exists() or not [p for p in (env / "runs").iterdir() if p.name != launch.UPLOADS]


def test_a_path_outside_the_allowed_folders_is_refused_with_where_they_are(env, started, tmp_path_factory):
    outside = make_npz(tmp_path_factory.mktemp("elsewhere") / "data.npz")
    with pytest.raises(launch.StartError, match="Cannot use that path") as refused:
        launch.start_run("ok", SETTINGS, launch.PATH, str(outside))
    assert str(env) in refused.value.hint and "GAN_DATA_ROOTS" in refused.value.hint
    assert started == []


def test_start_run_checks_the_data_then_launches_from_launch_json(env, started):
    data = make_npz(env / "data.npz")
    summary = launch.start_run("first", SETTINGS, launch.PATH, f" {data} ")
    assert summary.startswith("3 class(es)")
    run = Run(env / "runs" / "first")
    assert started == [["--config", str(run.launch_path), "--quiet"]]
    saved = TrainConfig(**json.loads(run.launch_path.read_text()))
    assert saved.data == str(data) and saved.epochs == 2 and saved.batch_size == 16
    with pytest.raises(launch.StartError, match="already exists"):
        launch.start_run("first", SETTINGS, launch.PATH, str(data))


def test_a_run_that_cannot_launch_leaves_neither_its_folder_nor_a_new_upload(env, monkeypatch):
    import io
    import zipfile

    from PIL import Image

    def refuse(run_dir, args, env=None):
        raise OSError(28, "No space left on device", str(run_dir))

    monkeypatch.setattr(launch, "start_training", refuse)
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w") as zf:
        for cls in ("a", "b"):
            image = io.BytesIO()
            Image.new("RGB", (32, 32), (200, 10, 10)).save(image, "PNG")
            zf.writestr(f"{cls}/1.png", image.getvalue())
    with pytest.raises(launch.StartError, match="Could not start: File problem: No space left"):
        launch.start_run("full", SETTINGS, launch.UPLOAD, upload=raw.getvalue())
    assert not (env / "runs" / "full").exists()
    assert not list((env / "runs" / launch.UPLOADS).glob("*.zip"))


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


def test_a_trainer_warms_up_until_it_reports_its_speed(env):
    run = stopped_run(env / "runs" / "r")
    with lock_held_elsewhere(run.path):
        run.write_status(state="running", step=12, imgs_per_s=None)
        state = control.run_state(run, UNLIMITED)
        assert (state.state, state.warming_up, state.can_delete) == ("running", True, False)
        run.write_status(imgs_per_s=250.0)
        assert not control.run_state(run, UNLIMITED).warming_up


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
