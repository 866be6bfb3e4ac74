"""studio.launch: starting a run, uploads, run names, the demo's limits.

The Train page's logic without the page: starting a run (studio.launch.start_run), one run's state
(studio.control.run_state) and the rules of Stop, Resume and Delete. No trainer is started: where a test
needs a launch, `start_training` is replaced by one that records its arguments.

Demo mode and data-path confinement in the app (studio.policy and gan.security wired into the pages), with AppTest.

No test here trains: `studio.launch.start_training` is replaced by a recorder, so a refusal is
proven by nothing being launched, and an acceptance by the exact command line that would have
been. A run "in training" is faked the way the trainer makes one: status.json says running and
the run's lock (flock on run.lock) is held, here by the test itself.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import threading
import zipfile

import numpy as np
import pytest

pytest.importorskip("streamlit")
from helpers import Finished, make_npz, png, zip_of  # noqa: E402

from gan.config import TrainConfig  # noqa: E402
from gan.runs import (  # noqa: E402
    Run,  # noqa: E402
)  # noqa: E402
from gan.security import NotAllowedError  # noqa: E402
from studio import launch, policy  # noqa: E402
from studio.policy import DEMO_LIMITS, UNLIMITED, Limits  # noqa: E402


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
def test_start_run_refuses_with_one_line_and_leaves_nothing(launch_env, started, name, settings, source, path, upload,
                                                            said):
    with pytest.raises(launch.StartError, match=said.replace("(", r"\(")) as refused:
        launch.start_run(name, settings, source, path, upload)
    assert "\n" not in str(refused.value)
    assert started == []
    runs = launch_env / "runs"
    assert not runs.exists() or not [p for p in runs.iterdir() if p.name != launch.UPLOADS]


def test_a_path_outside_the_allowed_folders_is_refused_with_where_they_are(launch_env, started, tmp_path_factory):
    outside = make_npz(tmp_path_factory.mktemp("elsewhere") / "data.npz")
    with pytest.raises(launch.StartError, match="Cannot use that path") as refused:
        launch.start_run("ok", SETTINGS, launch.PATH, str(outside))
    assert str(launch_env) in refused.value.hint and "GAN_DATA_ROOTS" in refused.value.hint
    assert started == []


def test_start_run_checks_the_data_then_launches_from_launch_json(launch_env, started):
    data = make_npz(launch_env / "data.npz")
    summary = launch.start_run("first", SETTINGS, launch.PATH, f" {data} ")
    assert summary.startswith("3 class(es)")
    run = Run(launch_env / "runs" / "first")
    assert started == [["--config", str(run.launch_path), "--quiet"]]
    saved = TrainConfig(**json.loads(run.launch_path.read_text()))
    assert saved.data == str(data) and saved.epochs == 2 and saved.batch_size == 16
    with pytest.raises(launch.StartError, match="already exists"):
        launch.start_run("first", SETTINGS, launch.PATH, str(data))


def test_a_run_that_cannot_launch_leaves_neither_its_folder_nor_a_new_upload(launch_env, monkeypatch):
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
    assert not (launch_env / "runs" / "full").exists()
    assert not list((launch_env / "runs" / launch.UPLOADS).glob("*.zip"))


# --- helpers behind the forms -------------------------------------------------------------------
def test_a_new_run_is_launched_from_its_validated_config(tmp_path, monkeypatch):
    """One configuration path: the page's values -> TrainConfig (which alone validates) -> launch.json ->
    `python -m gan train --config launch.json`, and the trainer reads back exactly those settings."""
    import json

    from gan.config import ConfigError, TrainConfig
    from gan.runs import Run
    from studio import launch

    with pytest.raises(ConfigError, match="beta1"):
        TrainConfig.for_preset("tiny", beta1=1.5)
    with pytest.raises(ConfigError, match="unknown preset"):
        TrainConfig.for_preset("huge")
    started = []
    monkeypatch.setattr(launch, "start_training", lambda run_dir, args, env=None: started.append(args) or _Exited())
    config = TrainConfig.for_preset("tiny", epochs=3, conditional=False, g_lr=1e-3, jit=False, data="x.npz")
    run = Run(tmp_path / "new")
    launch.launch_new_run(run, config)
    assert started == [["--config", str(run.launch_path), "--quiet"]]
    assert TrainConfig(**json.loads(run.launch_path.read_text())) == config
    assert run.new_run_problem() is None  # launch.json does not stop the trainer from starting there


class _Exited:
    def poll(self) -> int:
        return 0


def test_uploads_are_checked_before_they_are_saved():
    from studio import launch

    with pytest.raises(ValueError, match="not a valid .zip"):
        launch.check_upload(b"PK\x03\x04 nonsense")
    empty = io.BytesIO()
    with zipfile.ZipFile(empty, "w") as zf:
        zf.writestr("readme.txt", "no images here")
    with pytest.raises(ValueError, match="no images"):
        launch.check_upload(empty.getvalue())
    good = io.BytesIO()
    with zipfile.ZipFile(good, "w") as zf:
        zf.writestr("cats/1.png", b"...")
        zf.writestr("dogs/1.jpg", b"...")
    assert launch.check_upload(good.getvalue()) == 2
    with pytest.raises(ValueError, match="limit"):
        launch.check_upload(b"0" * (launch.MAX_UPLOAD_BYTES + 1))


@pytest.mark.parametrize("name, ok", [("run-1_a", True), ("", False), ("a b", False), ("../x", False),
                                      ("x" * 65, False)])
def test_run_names(name, ok):
    from studio import launch

    assert (launch.validate_run_name(name) is None) == ok


def test_train_limits_are_checked_before_launch():
    """The page checks the values themselves too, whatever the widgets let through."""
    launch.check_train_limits(TrainConfig(epochs=5, limit=10_000), DEMO_LIMITS)
    with pytest.raises(NotAllowedError, match=r"^epochs is limited to 5 in this demo \(asked for 6\)$"):
        launch.check_train_limits(TrainConfig(epochs=6), DEMO_LIMITS)
    with pytest.raises(NotAllowedError, match="images is limited to 10000"):
        launch.check_train_limits(TrainConfig(epochs=1, limit=10_001), DEMO_LIMITS)
    with pytest.raises(NotAllowedError, match="counts training in epochs"):
        launch.check_train_limits(TrainConfig(epochs=1, steps=10), DEMO_LIMITS)
    launch.check_train_limits(TrainConfig(epochs=10_000, steps=10, limit=10**7), UNLIMITED)


def test_one_launch_counts_until_its_process_ends(demo_env, monkeypatch):
    """Between Popen and the trainer taking its lock (TensorFlow imports: seconds) the app itself
    must remember the launch, or two visitors clicking at once both get a slot."""
    class Alive(Finished):
        def poll(self):
            return None

    monkeypatch.setattr(launch, "start_training", lambda run_dir, args, env=None: Alive())
    runs = demo_env / "runs"
    launch.launch_training(Run(runs / "first"), ["--epochs", "1"], DEMO_LIMITS)
    assert launch.active_trainings() == ["first"]
    with pytest.raises(NotAllowedError, match="at most 1 run at a time and first is training now"):
        launch.launch_training(Run(runs / "second"), ["--epochs", "1"], DEMO_LIMITS)
    launch.launch_training(Run(runs / "second"), ["--epochs", "1"], UNLIMITED)  # outside demo mode: no cap
    assert launch.active_trainings() == ["first", "second"]
    Alive.poll = lambda self: 0  # both processes end
    assert launch.active_trainings() == []


def test_in_demo_mode_an_evaluation_and_a_training_never_run_side_by_side(demo_env, monkeypatch):
    """Each worker is ~0.7 GB beside a ~0.8 GB server (RELIABILITY.md, the memory budget): demo mode's one
    slot is shared by trainings and evaluations, and one evaluation runs per server in every mode."""
    class Alive(Finished):
        def poll(self):
            return None

    monkeypatch.setattr(launch, "start_training", lambda run_dir, args, env=None: Alive())
    runs = demo_env / "runs"
    with launch.evaluation_slot(DEMO_LIMITS):
        with pytest.raises(NotAllowedError, match="an evaluation is running now"):
            launch.launch_training(Run(runs / "first"), ["--epochs", "1"], DEMO_LIMITS)
        with pytest.raises(NotAllowedError, match="^another evaluation is running on this server"):
            launch.evaluation_slot(UNLIMITED).__enter__()
        launch.launch_training(Run(runs / "first"), ["--epochs", "1"], UNLIMITED)  # outside demo mode: allowed
    with pytest.raises(NotAllowedError, match="1 training or evaluation at a time and first is training now"):
        launch.evaluation_slot(DEMO_LIMITS).__enter__()
    with launch.evaluation_slot(UNLIMITED):  # a refusal leaves the slot free
        pass
    Alive.poll = lambda self: 0
    with launch.evaluation_slot(DEMO_LIMITS):
        pass


# --- demo mode: uploads -------------------------------------------------------------------------
def test_check_upload_applies_the_limits_it_is_given():
    three = zip_of({f"c/{i}.png": png((10 * i, 0, 0)) for i in range(3)})
    assert launch.check_upload(three) == 3  # general limits only
    assert launch.check_upload(three, Limits(max_images=3)) == 3
    with pytest.raises(NotAllowedError, match=r"^images is limited to 2 in this demo \(asked for 3\)$"):
        launch.check_upload(three, Limits(max_images=2))
    big = zip_of({"c/0.png": png((0, 0, 0)), "c/noise.bin": np.random.default_rng(0).bytes(1_200_000)},
                 zipfile.ZIP_STORED)
    assert launch.check_upload(big, Limits(max_upload_mb=2)) == 1
    with pytest.raises(NotAllowedError, match=r"upload mb is limited to 1 MB in this demo \(asked for 1\.\d MB\)"):
        launch.check_upload(big, Limits(max_upload_mb=1))
    with pytest.raises(ValueError, match="not a valid .zip"):  # the general checks still come first
        launch.check_upload(b"PK\x03\x04 nonsense", Limits(max_images=2))


def test_demo_mode_keeps_the_runs_folder_under_its_disk_cap(demo_env, monkeypatch):
    """Over the cap, the oldest runs nobody trains go first, then uploads no run uses."""
    import os
    import time

    from gan.runs import Run

    monkeypatch.setattr(policy, "DEMO_LIMITS", dataclasses.replace(DEMO_LIMITS, max_disk_mb=1))
    runs = demo_env / "runs"
    for i, name in enumerate(["oldest", "older", "newest"]):
        run = runs / name
        run.mkdir(parents=True)
        (run / "train.log").write_text("x")
        (run / "weights.bin").write_bytes(bytes(400_000))
        os.utime(run / "train.log", (time.time() - 1000 + i, time.time() - 1000 + i))
    orphan, _ = launch.store_upload(bytes(300_000))
    deleted = launch.free_disk(policy.limits())
    assert deleted[:2] == ["oldest", "older"] and orphan.name in deleted
    assert (runs / "newest").exists() and not orphan.exists()
    assert launch.disk_usage(runs) <= 1 * 2**20
    assert Run(runs / "newest").path.exists()
