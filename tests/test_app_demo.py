"""Demo mode and data-path confinement in the app (studio.policy and gan.security wired into the pages), with AppTest.

No test here trains: `studio.launch.start_training` is replaced by a recorder, so a refusal is
proven by nothing being launched, and an acceptance by the exact command line that would have
been. A run "in training" is faked the way the trainer makes one: status.json says running and
the run's lock (flock on run.lock) is held, here by the test itself.
"""

from __future__ import annotations

import dataclasses
import io
import json
import shutil
import tomllib
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("streamlit")
from helpers import REPO, app, assert_clean, local_env, lock_held_elsewhere, make_npz  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from gan.config import TrainConfig  # noqa: E402
from gan.runs import Run  # noqa: E402
from gan.security import NotAllowedError  # noqa: E402
from studio import export, launch, messages, policy  # noqa: E402
from studio.policy import DEMO_LIMITS, UNLIMITED, Limits  # noqa: E402

PATH_SOURCE, UPLOAD_SOURCE = "A path on this machine", "Upload a .zip"


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture
def demo_env(tmp_path, monkeypatch) -> Path:
    """Demo mode on, empty runs and checkpoints folders."""
    monkeypatch.setenv("GAN_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("GAN_CHECKPOINTS_DIR", str(tmp_path / "checkpoints"))
    monkeypatch.setenv("GAN_DEMO_MODE", "1")
    monkeypatch.delenv("GAN_DATA_ROOTS", raising=False)
    monkeypatch.delenv("GAN_DEFAULT_MODEL", raising=False)
    return tmp_path


@pytest.fixture
def demo_run_env(tiny_run, demo_env, monkeypatch) -> Path:
    """Demo mode on, with the tiny trained run as the only model."""
    monkeypatch.setenv("GAN_RUNS_DIR", str(tiny_run.parent))
    return tiny_run


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


def submit(at: AppTest) -> None:
    next(b for b in at.button if b.label == "Start training").click().run()
    assert not at.exception, [e.value for e in at.exception]


def errors(at: AppTest) -> str:
    return "\n".join(e.value for e in at.error)


def flag(args: list[str], name: str) -> str | None:
    """The value the trainer gets for `name` (a flag such as --epochs): on the command line, or in the
    settings file the app launches a new run with (`--config <run>/launch.json`)."""
    if name in args:
        return args[args.index(name) + 1]
    if "--config" in args:
        value = json.loads(Path(args[args.index("--config") + 1]).read_text()).get(name[2:].replace("-", "_"))
        return None if value is None else str(value)
    return None


def hand_run(path: Path, state: str, epochs: int = 2) -> Run:
    """A run folder as the trainer leaves it (config, status, a checkpoint file), without training."""
    run = Run(path)
    path.mkdir(parents=True)
    run.config_path.write_text(TrainConfig(preset="tiny", epochs=epochs).to_json())
    run.checkpoint_path.parent.mkdir()
    run.checkpoint_path.write_bytes(b"placeholder: only its presence is read here")
    run.write_status(state=state, pid=None, step=1, total_steps=10, epoch=0)
    return run


def png(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def zip_of(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


# --- demo mode: what is offered -----------------------------------------------------------------


@pytest.mark.parametrize("demo", [True, False])
def test_demo_mode_offers_no_server_paths(tiny_run, tmp_path, monkeypatch, demo):
    local_env(monkeypatch, tmp_path)
    monkeypatch.setenv("GAN_DEMO_MODE", "1" if demo else "0")
    monkeypatch.setenv("GAN_RUNS_DIR", str(tiny_run.parent))
    monkeypatch.setenv("GAN_CHECKPOINTS_DIR", str(tmp_path / "checkpoints"))
    at = app()
    assert any("Demo mode" in c.value for c in at.sidebar.caption) == demo
    at.switch_page("pages/train.py").run()
    assert_clean(at)
    assert (PATH_SOURCE in at.radio(key="train_source").options) == (not demo)
    assert at.number_input(key="train_epochs").proto.max == (5 if demo else 10_000)
    at.switch_page("pages/compare.py").run()
    assert_clean(at)
    assert bool(at.text_input) == (not demo)  # the compare page's data source box


# --- demo mode: training ------------------------------------------------------------------------


def test_demo_caps_epochs(demo_env, launches):
    at = train_page()
    epochs = at.number_input(key="train_epochs")
    assert epochs.proto.max == DEMO_LIMITS.max_epochs == 5 and epochs.value == 5
    assert at.number_input(key="train_limit").proto.max == DEMO_LIMITS.max_images
    with pytest.raises(KeyError):
        at.number_input(key="train_steps")  # steps would get round the epoch cap: not offered
    at.text_input(key="train_run_name").input("too-long")
    at.number_input(key="train_epochs").set_value(3)
    submit(at)
    assert_clean(at)
    at.number_input(key="train_epochs").set_value(50)  # a crafted request: Streamlit resets it to the default
    at.text_input(key="train_run_name").input("crafted")
    submit(at)
    assert_clean(at)
    assert [(name, flag(args, "--epochs"), flag(args, "--limit"), flag(args, "--data")) for name, args in launches] \
        == [("too-long", "3", "10000", "cifar10"), ("crafted", "5", "10000", "cifar10")]  # "all" images: the cap


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


def test_demo_trains_one_run_at_a_time(demo_env, launches):
    runs = demo_env / "runs"
    busy = hand_run(runs / "busy", "running")
    hand_run(runs / "paused", "stopped", epochs=2)
    with busy.lock():  # held as a live trainer holds it
        assert busy.status().state == "running"
        assert launch.active_trainings() == ["busy"]
        at = train_page()
        at.text_input(key="train_run_name").input("second")
        at.number_input(key="train_epochs").set_value(1)
        submit(at)
        message = errors(at)
        assert "at most 1 run at a time" in message and "busy is training now" in message
        assert "Traceback" not in message

        at.selectbox(key="train_monitor").set_value("paused").run()
        at.button(key="train_resume").click().run()
        assert not at.exception
        assert "Not resumed: this demo trains at most 1 run at a time" in errors(at)
        assert launches == [] and not (runs / "second").exists()

    assert launch.active_trainings() == []  # the "trainer" is gone: the same requests now go through
    assert at.number_input(key="train_resume_epochs").proto.max == 5
    at.number_input(key="train_resume_epochs").set_value(4)
    at.button(key="train_resume").click().run()
    assert not at.exception
    assert launches == [("paused", ["--resume", "--quiet", "--epochs", "4"])]


def test_one_launch_counts_until_its_process_ends(demo_env, monkeypatch):
    """Between Popen and the trainer taking its lock (TensorFlow imports: seconds) the app itself
    must remember the launch, or two visitors clicking at once both get a slot."""
    class Alive(_Finished):
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


def test_demo_shows_file_names_not_server_paths(demo_env, monkeypatch):
    """Errors, log tails and the runs table name the file (`status.json`, `upload.zip`), never the
    folder the server keeps it in; outside demo mode the owner sees whole paths."""
    runs = demo_env / "runs"
    failed = hand_run(runs / "failed", "failed")
    upload = failed.path / "upload.zip"
    failed.config_path.write_text(TrainConfig(preset="tiny", epochs=2, data=str(upload)).to_json())
    failed.write_status(error=f"write failed: Permission denied ({failed.status_path})")
    crashed = hand_run(runs / "crashed", "running")  # status says running, nobody holds the lock
    crashed.log_path.write_text(f'Traceback (most recent call last):\n  File "{REPO}/gan/trainer.py", line 90, '
                                f'in train\nOSError: [Errno 5] Input/output error: \'{upload}\'\n')
    at = train_page()
    at.selectbox(key="train_monitor").set_value("failed").run()
    assert errors(at) == "Training stopped: write failed: Permission denied (status.json)"
    table = at.dataframe[0].value
    assert set(table["data"]) == {"upload.zip", "cifar10"}
    at.selectbox(key="train_monitor").set_value("crashed").run()
    tail = "\n".join(c.value for c in at.code)
    assert 'File "trainer.py", line 90' in tail and "error: 'upload.zip'" in tail
    shown = "\n".join([errors(at), tail, *(w.value for w in at.warning), *(str(m.value) for m in at.markdown)])
    assert str(demo_env) not in shown and str(REPO) not in shown

    assert messages.redacted(str(failed.status_path)) == "status.json"
    monkeypatch.setenv("GAN_DEMO_MODE", "0")
    assert messages.redacted(str(failed.status_path)) == str(failed.status_path)


def test_a_trainer_that_could_not_write_its_status_is_still_heard(allowed, tmp_path):
    """A trainer that lost its disk cannot write status.json (the run reads "stopped unexpectedly"),
    but its last words in train.log say why; only the last line counts, not an older error."""
    run = hand_run(tmp_path / "runs" / "full", "running")
    run.log_path.write_text("error: an older failure\nresumed run at step 2\n"
                            "error: write failed: No space left on device (/data/runs/full/status.json)\n")
    at = app()
    at.switch_page("pages/train.py").run()
    assert not at.exception
    assert errors(at) == "Training stopped: write failed: No space left on device (/data/runs/full/status.json)"
    run.log_path.write_text("error: an older failure\nresumed run at step 4\n")  # then killed: no last words
    at.run()
    assert not at.error and "stopped without saying why" in "\n".join(w.value for w in at.warning)


def test_the_epoch_end_pause_shows_beside_the_speed(allowed, tmp_path):
    """status.json's pause_s (grid, checkpoint and scores at an epoch end) is said beside Images/s, not in it."""
    run = hand_run(tmp_path / "runs" / "paused", "stopped")
    at = train_page()
    assert not [c for c in at.caption if "at each epoch end" in c.value]  # not measured yet: nothing claimed
    run.write_status(imgs_per_s=250.0, pause_s=4.4)
    at.run()
    assert {m.label: m.value for m in at.metric}["Images/s"] == "250"
    assert "pauses about 4 s at each epoch end" in [c.value for c in at.caption]


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


def test_demo_refuses_uploads_over_the_caps(demo_env, launches, monkeypatch):
    monkeypatch.setattr(policy, "DEMO_LIMITS", dataclasses.replace(DEMO_LIMITS, max_upload_mb=1, max_images=2))
    at = train_page()
    at.radio(key="train_source").set_value(UPLOAD_SOURCE).run()
    assert at.file_uploader(key="train_upload").proto.max_upload_size_mb == 1
    at.text_input(key="train_run_name").input("upload")
    at.number_input(key="train_epochs").set_value(1)

    at.file_uploader(key="train_upload").upload("three.zip", zip_of({f"c/{i}.png": png((80 * i, 0, 0))
                                                                      for i in range(3)}), "application/zip")
    submit(at)
    assert "images is limited to 2 in this demo (asked for 3)" in errors(at)
    big = zip_of({"c/0.png": png((0, 0, 0)), "c/noise.bin": np.random.default_rng(0).bytes(1_200_000)},
                 zipfile.ZIP_STORED)
    at.file_uploader(key="train_upload").upload("big.zip", big, "application/zip")
    submit(at)
    assert "upload mb is limited to 1 MB in this demo" in errors(at)
    assert launches == [] and not (demo_env / "runs" / "upload").exists()  # nothing saved

    at.file_uploader(key="train_upload").upload("two.zip", zip_of({"red/0.png": png((200, 0, 0)),
                                                                    "blue/0.png": png((0, 0, 200))}),
                                                "application/zip")
    submit(at)
    assert_clean(at)
    [(name, args)] = launches
    [saved] = (demo_env / "runs" / launch.UPLOADS).glob("*.zip")  # stored once, outside the run
    assert name == "upload" and flag(args, "--data") == str(saved.resolve()) and flag(args, "--limit") == "2"
    assert [p.parent.name for p in (demo_env / "runs").glob("*/*.zip")] == [launch.UPLOADS]  # no copy in the run


# --- demo mode: exports -------------------------------------------------------------------------


def generate(at: AppTest) -> None:
    next(b for b in at.button if b.label == "Generate").click().run()
    assert not at.exception, [e.value for e in at.exception]


def test_demo_caps_exports(demo_run_env):
    at = app()
    at.switch_page("pages/export.py").run()
    assert_clean(at)
    per_class = at.number_input(key="export_per_class")  # the tiny run has 3 classes
    assert not per_class.proto.has_max and "at most 85 per class" in per_class.help  # Export clamps visibly
    per_class.set_value(2)
    generate(at)
    assert_clean(at)
    assert at.session_state["export_result"][3].startswith("6 images")


def test_demo_refuses_exports_over_the_cap(demo_run_env, monkeypatch):
    """A cap below one image per class cannot be met, however Export clamps: the page's own check refuses."""
    monkeypatch.setattr(policy, "DEMO_LIMITS", dataclasses.replace(DEMO_LIMITS, max_export_images=2))
    at = app()
    at.switch_page("pages/export.py").run()
    assert "at most 1 per class" in at.number_input(key="export_per_class").help
    generate(at)
    assert "Not exported: export images is limited to 2 in this demo (asked for 3)." in errors(at)
    with pytest.raises(KeyError):
        at.session_state["export_result"]
    export.check_export(10_000)
    with pytest.raises(NotAllowedError, match="at most 10,000 images per export"):
        export.check_export(10_001)


# --- outside demo mode: typed paths stay inside the allowed folders -----------------------------


def test_train_accepts_typed_paths_only_inside_the_allowed_folders(allowed, launches):
    outside = make_npz(allowed.parent / "outside.npz")
    inside = make_npz(allowed / "data.npz")
    (allowed / "link.npz").symlink_to(outside)
    at = train_page()
    at.radio(key="train_source").set_value(PATH_SOURCE).run()
    at.text_input(key="train_run_name").input("typed")
    at.number_input(key="train_epochs").set_value(1)
    for refused in (outside, allowed / "link.npz", allowed / ".." / "outside.npz"):
        at.text_input(key="train_data_path").input(str(refused))
        submit(at)
        assert "is outside the allowed data folders" in errors(at), refused
        assert str(allowed.resolve()) in "\n".join(c.value for c in at.caption)  # where data may live
    assert launches == [] and not (allowed.parent / "runs" / "typed").exists()

    at.text_input(key="train_data_path").input(str(inside))
    submit(at)
    assert_clean(at)
    [(name, args)] = launches
    assert name == "typed" and flag(args, "--data") == str(inside.resolve())
    assert flag(args, "--limit") is None  # outside demo mode: all images


def test_compare_reads_typed_sources_only_inside_the_allowed_folders(tiny_run, allowed, monkeypatch):
    monkeypatch.setenv("GAN_RUNS_DIR", str(tiny_run.parent))
    outside = make_npz(allowed.parent / "outside.npz")
    inside = allowed / "copy.npz"
    shutil.copy(outside, inside)
    at = app()
    at.switch_page("pages/compare.py").run()
    assert_clean(at)
    assert "Nearest training images" in [s.value for s in at.subheader]  # the run's own data: as recorded

    at.text_input(key="compare_source_tiny").input(str(outside)).run()
    assert not at.exception
    assert any("is outside the allowed data folders" in w.value for w in at.warning)
    assert "Nearest training images" not in [s.value for s in at.subheader]

    at.text_input(key="compare_source_tiny").input(str(inside)).run()
    assert_clean(at)
    assert not at.warning
    assert "Nearest training images" in [s.value for s in at.subheader]


# --- configuration ------------------------------------------------------------------------------


def test_streamlit_upload_limit_matches_the_app():
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] * 2**20 == launch.MAX_UPLOAD_BYTES  # Streamlit counts MB as 2**20 bytes
    assert DEMO_LIMITS.max_upload_mb <= config["server"]["maxUploadSize"]
    assert config["client"]["showErrorDetails"] == "none"  # never a traceback


def test_the_same_upload_is_stored_once_and_a_refused_one_not_at_all(demo_env, launches):
    two = zip_of({"red/0.png": png((200, 0, 0)), "blue/0.png": png((0, 0, 200))})
    at = train_page()
    at.radio(key="train_source").set_value(UPLOAD_SOURCE).run()
    for name in ("first", "second"):
        at.text_input(key="train_run_name").input(name)
        at.number_input(key="train_epochs").set_value(1)
        at.file_uploader(key="train_upload").upload("two.zip", two, "application/zip")
        submit(at)
        assert_clean(at)
    assert len(launches) == 2 and flag(launches[0][1], "--data") == flag(launches[1][1], "--data")
    assert len(list((demo_env / "runs" / launch.UPLOADS).glob("*.zip"))) == 1
    at.text_input(key="train_run_name").input("unreadable")
    at.file_uploader(key="train_upload").upload("bad.zip", zip_of({"c/0.png": b"not a png"}), "application/zip")
    submit(at)
    assert errors(at) and len(launches) == 2
    assert len(list((demo_env / "runs" / launch.UPLOADS).glob("*.zip"))) == 1  # the refused upload is gone
    assert not (demo_env / "runs" / "unreadable").exists()


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


def element_texts(at: AppTest) -> list[str]:
    """Every string in every element's proto on the page (main area and sidebar), nested fields too."""
    found: list[str] = []

    def strings(proto) -> None:
        for field, value in proto.ListFields():
            repeated = field.is_repeated
            if field.type == field.TYPE_MESSAGE:
                for item in (value if repeated else [value]):
                    strings(item)
            elif field.type == field.TYPE_STRING:
                found.extend(value if repeated else [value])

    def walk(node) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None and hasattr(proto, "ListFields"):
            strings(proto)
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return found


def test_no_element_on_any_page_shows_a_server_path_in_demo_mode(demo_run_env, tmp_path):
    """The redaction sits below every page (Streamlit's element queue), so no caption can forget it."""
    server_paths = [str(demo_run_env.parent), str(REPO), str(tmp_path)]
    at = app()
    pages = [None, "pages/train.py", "pages/explore.py", "pages/compare.py", "pages/evaluate.py", "pages/export.py"]
    for page in pages:
        if page:
            at.switch_page(page).run()
        assert not at.exception, (page, [e.value for e in at.exception])
        texts = element_texts(at)
        assert texts, page
        leaks = [t for t in texts if any(p in t for p in server_paths)]
        assert not leaks, (page, leaks[:3])
