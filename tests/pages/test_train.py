"""The Train page (pages/train.py); the tests that start a trainer or hold a run's lock in another
process are in tests/e2e/test_app_processes.py.

Demo mode and data-path confinement in the app (studio.policy and gan.security wired into the pages), with AppTest.

CIFAR-10 without the internet: a local copy named once (GAN_CIFAR10), a failed download remembered,
and the app suggesting only what it will accept.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("streamlit")
from helpers import (  # noqa: E402
    REPO,
    app,
    assert_clean,
    errors,
    fill_form,
    hand_run,
    make_npz,
    png,
    submit,
    texts,
    train_page,
    write_stopped_run,
    zip_of,
)
from streamlit.testing.v1 import AppTest  # noqa: E402

from gan import data  # noqa: E402
from gan.config import TrainConfig  # noqa: E402
from gan.data import DataError, load_dataset  # noqa: E402
from studio import launch, messages, policy  # noqa: E402
from studio.policy import DEMO_LIMITS  # noqa: E402


# --- train page ---------------------------------------------------------------------------------
def test_bad_run_names_and_paths_are_refused(empty_env):
    at = app()
    at.switch_page("pages/train.py").run()
    fill_form(at, empty_env / "missing.npz", "bad name!")
    submit(at)
    assert not at.exception
    assert "letters, digits" in at.error[0].value
    at.text_input(key="train_run_name").input("ok-name")
    submit(at)
    assert "no such file or directory" in at.error[0].value
    assert not (empty_env / "runs" / "ok-name").exists()


# --- the Train page's epoch grids ----------------------------------------------------------------
def _grid_run(tiny_run: Path, root: Path, epochs: int) -> Path:
    """A finished run folder (a copy of tiny_run) with `epochs` sample grids, each a different solid colour."""
    from gan.runs import Run

    run_dir = root / "runs" / "watched"
    shutil.copytree(tiny_run, run_dir)
    for old in Run(run_dir).sample_grids():
        old.unlink()
    for epoch in range(1, epochs + 1):
        add_grid(run_dir, epoch)
    return run_dir


def add_grid(run_dir: Path, epoch: int) -> None:
    from PIL import Image

    from gan.runs import Run

    Image.new("RGB", (34, 34), (epoch * 40 % 256, 80, 160)).save(Run(run_dir).grid_path(epoch))


def test_the_epoch_slider_follows_new_epochs_until_the_user_picks_one(tiny_run, empty_env):
    run_dir = _grid_run(tiny_run, empty_env, 2)
    at = AppTest.from_file(str(REPO / "pages" / "train.py"), default_timeout=60).run()
    assert_clean(at)
    slider = at.select_slider(key="train_grid_epoch_watched")
    assert slider.value == 2
    add_grid(run_dir, 3)  # a new epoch lands while the page is open
    at.run()
    assert at.select_slider(key="train_grid_epoch_watched").value == 3
    at.select_slider(key="train_grid_epoch_watched").set_value(1).run()  # the user looks back
    add_grid(run_dir, 4)
    at.run()
    assert at.select_slider(key="train_grid_epoch_watched").value == 1  # their choice holds
    at.select_slider(key="train_grid_epoch_watched").set_value(4).run()  # back to the newest: follow again
    add_grid(run_dir, 5)
    at.run()
    assert at.select_slider(key="train_grid_epoch_watched").value == 5
    assert "What to expect" in texts(at)
    # The GIF's bytes are in the page already: a download made lazily on click came empty the first time.
    gif_button = at.get("download_button")[0].proto
    assert gif_button.label == "Download GIF of all epochs" and gif_button.url and not gif_button.deferred_file_id


def test_the_gif_leaves_out_a_grid_too_big_to_be_the_runs_own(tiny_run, empty_env, monkeypatch):
    """Run files are not trusted: a grid over 4096 pixels a side is not decoded into the GIF."""
    from PIL import Image

    from gan import explore
    from gan.runs import Run

    run_dir = _grid_run(tiny_run, empty_env, 3)
    Image.new("1", (5000, 8)).save(Run(run_dir).grid_path(1))  # cheap to write, wide enough to refuse
    made = []
    gif_bytes = explore.gif_bytes
    monkeypatch.setattr(explore, "gif_bytes", lambda frames, **kw: made.append(len(frames)) or gif_bytes(frames, **kw))
    at = AppTest.from_file(str(REPO / "pages" / "train.py"), default_timeout=60).run()
    assert_clean(at)
    assert made == [2]  # epochs 2 and 3
    assert at.get("download_button")[0].proto.label == "Download GIF of all epochs"


def test_a_run_that_failed_before_its_config_is_listed_with_its_reason_and_can_be_deleted(empty_env):
    failed = empty_env / "runs" / "early"
    failed.mkdir(parents=True)
    (failed / "train.log").write_text("loading...\nerror: data source 'nowhere' not found\n")
    at = AppTest.from_file(str(REPO / "pages" / "train.py"), default_timeout=60).run()
    assert not at.exception
    assert at.selectbox(key="train_monitor").value == "early"
    assert any("data source 'nowhere' not found" in e.value for e in at.error)  # said why, in a new session
    at.button(key="train_delete").click().run()
    assert failed.exists()  # one click only asks
    at.button(key="train_delete_confirm").click().run()
    assert not failed.exists()
    assert not at.exception


def test_a_refused_resume_is_one_line_on_the_page(empty_env):
    """A FIFO where train.log belongs: the launcher refuses it (RunError); the page says so, no traceback."""
    run_dir = empty_env / "runs" / "fifo"
    write_stopped_run(run_dir)
    os.mkfifo(run_dir / "train.log")
    at = AppTest.from_file(str(REPO / "pages" / "train.py"), default_timeout=60).run()
    assert not at.button(key="train_resume").disabled
    at.button(key="train_resume").click().run()
    assert not at.exception
    (said,) = [e.value for e in at.error]
    assert said.startswith("Not resumed:") and "FIFO" in said and "\n" not in said


PAGE_SETTINGS = ("epochs", "batch_size", "latent_dim", "g_lr", "d_lr", "beta1", "label_smoothing", "instance_noise",
                 "steps", "limit", "log_every")  # the number inputs of the new-run form, keyed train_<setting>


@pytest.mark.parametrize("demo", [False, True])
def test_the_forms_bounds_and_help_are_the_settings_own(empty_env, monkeypatch, demo):
    """Each widget of a setting is bounded and explained by the setting's Spec (the CLI's flags use it too);
    demo mode lowers only the maxima it caps."""
    from gan.config import spec_of
    from studio.policy import DEMO_LIMITS

    monkeypatch.setenv("GAN_DEMO_MODE", "1" if demo else "0")
    at = AppTest.from_file(str(REPO / "pages" / "train.py"), default_timeout=60).run()
    assert not at.exception
    caps = {"epochs": DEMO_LIMITS.max_epochs, "limit": DEMO_LIMITS.max_images} if demo else {}
    shown = [name for name in PAGE_SETTINGS if not (demo and name == "steps")]  # demo mode counts in epochs
    for name in shown:
        spec, widget = spec_of(name), at.number_input(key=f"train_{name}")
        assert (widget.min, widget.max) == (spec.low, caps.get(name, spec.high)), name
        assert widget.proto.help.startswith(spec.usage()), name
    for name in ("conditional", "jit"):
        assert at.selectbox(key=f"train_{name}").help == spec_of(name).usage()
    assert at.number_input(key="train_g_lr").max == 1  # the page said 0.5 while the config takes up to 1


def _in_order(node) -> list:
    """The elements under an AppTest node, in the order the page shows them."""
    children = getattr(node, "children", None)
    if children is None:
        return [node]
    return [leaf for _, child in sorted(children.items()) for leaf in _in_order(child)]


def test_the_charts_hover_toolbar_sits_over_the_progress_not_the_buttons(empty_env):
    """Streamlit draws a chart's toolbar just above its top-right corner: it covered the Resume button."""
    from gan.runs import Run

    run_dir = empty_env / "runs" / "charted"
    write_stopped_run(run_dir)
    for step in (4, 8, 12):
        Run(run_dir).append_metrics({"step": step, "epoch": step / 4, "time": 1.0, "d_loss_real": 0.5,
                                     "d_loss_fake": 0.5, "g_loss": 1.0, "d_real_mean": 0.6, "d_fake_mean": 0.4,
                                     "imgs_per_s": 200.0})
    at = AppTest.from_file(str(REPO / "pages" / "train.py"), default_timeout=60).run()
    assert not at.exception
    kinds = [getattr(e, "type", "") for e in _in_order(at.main)]
    chart = next(i for i, kind in enumerate(kinds) if "vega_lite_chart" in kind)
    resume = max(i for i, e in enumerate(_in_order(at.main)) if getattr(e, "key", None) == "train_resume")
    assert resume < chart and "progress" in kinds[resume:chart]  # the progress row lies between them
    assert kinds[chart - 1] not in ("button", "number_input"), kinds[resume:chart]


PATH_SOURCE, UPLOAD_SOURCE = "A path on this machine", "Upload a .zip"


# --- helpers ------------------------------------------------------------------------------------
def submit_checked(at: AppTest) -> None:
    next(b for b in at.button if b.label == "Start training").click().run()
    assert not at.exception, [e.value for e in at.exception]


def flag(args: list[str], name: str) -> str | None:
    """The value the trainer gets for `name` (a flag such as --epochs): on the command line, or in the
    settings file the app launches a new run with (`--config <run>/launch.json`)."""
    if name in args:
        return args[args.index(name) + 1]
    if "--config" in args:
        value = json.loads(Path(args[args.index("--config") + 1]).read_text()).get(name[2:].replace("-", "_"))
        return None if value is None else str(value)
    return None


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
    submit_checked(at)
    assert_clean(at)
    at.number_input(key="train_epochs").set_value(50)  # a crafted request: Streamlit resets it to the default
    at.text_input(key="train_run_name").input("crafted")
    submit_checked(at)
    assert_clean(at)
    assert [(name, flag(args, "--epochs"), flag(args, "--limit"), flag(args, "--data")) for name, args in launches] \
        == [("too-long", "3", "10000", "cifar10"), ("crafted", "5", "10000", "cifar10")]  # "all" images: the cap


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
        submit_checked(at)
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


def test_demo_refuses_uploads_over_the_caps(demo_env, launches, monkeypatch):
    monkeypatch.setattr(policy, "DEMO_LIMITS", dataclasses.replace(DEMO_LIMITS, max_upload_mb=1, max_images=2))
    at = train_page()
    at.radio(key="train_source").set_value(UPLOAD_SOURCE).run()
    assert at.file_uploader(key="train_upload").proto.max_upload_size_mb == 1
    at.text_input(key="train_run_name").input("upload")
    at.number_input(key="train_epochs").set_value(1)

    at.file_uploader(key="train_upload").upload("three.zip", zip_of({f"c/{i}.png": png((80 * i, 0, 0))
                                                                      for i in range(3)}), "application/zip")
    submit_checked(at)
    assert "images is limited to 2 in this demo (asked for 3)" in errors(at)
    big = zip_of({"c/0.png": png((0, 0, 0)), "c/noise.bin": np.random.default_rng(0).bytes(1_200_000)},
                 zipfile.ZIP_STORED)
    at.file_uploader(key="train_upload").upload("big.zip", big, "application/zip")
    submit_checked(at)
    assert "upload mb is limited to 1 MB in this demo" in errors(at)
    assert launches == [] and not (demo_env / "runs" / "upload").exists()  # nothing saved

    at.file_uploader(key="train_upload").upload("two.zip", zip_of({"red/0.png": png((200, 0, 0)),
                                                                    "blue/0.png": png((0, 0, 200))}),
                                                "application/zip")
    submit_checked(at)
    assert_clean(at)
    [(name, args)] = launches
    [saved] = (demo_env / "runs" / launch.UPLOADS).glob("*.zip")  # stored once, outside the run
    assert name == "upload" and flag(args, "--data") == str(saved.resolve()) and flag(args, "--limit") == "2"
    assert [p.parent.name for p in (demo_env / "runs").glob("*/*.zip")] == [launch.UPLOADS]  # no copy in the run


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
        submit_checked(at)
        assert "is outside the allowed data folders" in errors(at), refused
        assert str(allowed.resolve()) in "\n".join(c.value for c in at.caption)  # where data may live
    assert launches == [] and not (allowed.parent / "runs" / "typed").exists()

    at.text_input(key="train_data_path").input(str(inside))
    submit_checked(at)
    assert_clean(at)
    [(name, args)] = launches
    assert name == "typed" and flag(args, "--data") == str(inside.resolve())
    assert flag(args, "--limit") is None  # outside demo mode: all images


def test_the_same_upload_is_stored_once_and_a_refused_one_not_at_all(demo_env, launches):
    two = zip_of({"red/0.png": png((200, 0, 0)), "blue/0.png": png((0, 0, 200))})
    at = train_page()
    at.radio(key="train_source").set_value(UPLOAD_SOURCE).run()
    for name in ("first", "second"):
        at.text_input(key="train_run_name").input(name)
        at.number_input(key="train_epochs").set_value(1)
        at.file_uploader(key="train_upload").upload("two.zip", two, "application/zip")
        submit_checked(at)
        assert_clean(at)
    assert len(launches) == 2 and flag(launches[0][1], "--data") == flag(launches[1][1], "--data")
    assert len(list((demo_env / "runs" / launch.UPLOADS).glob("*.zip"))) == 1
    at.text_input(key="train_run_name").input("unreadable")
    at.file_uploader(key="train_upload").upload("bad.zip", zip_of({"c/0.png": b"not a png"}), "application/zip")
    submit_checked(at)
    assert errors(at) and len(launches) == 2
    assert len(list((demo_env / "runs" / launch.UPLOADS).glob("*.zip"))) == 1  # the refused upload is gone
    assert not (demo_env / "runs" / "unreadable").exists()


def test_the_train_page_refuses_cifar10_offline_with_the_fix_and_launches_nothing(offline, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("GAN_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("GAN_DEMO_MODE", "0")
    with pytest.raises(DataError):
        load_dataset("cifar10")  # the first visit's failed download
    at = AppTest.from_file(str(REPO / "pages" / "train.py"), default_timeout=60).run()
    assert "GAN_CIFAR10" in " ".join(c.value for c in at.caption)
    at.text_input(key="train_run_name").input("offline-run")
    next(b for b in at.button if b.label == "Start training").click().run()
    errors = " ".join(e.value for e in at.error)
    assert data.offline_help() in errors and "../shared" not in errors  # the advice whole, not cut
    assert not (tmp_path / "runs" / "offline-run").exists()
    assert len(offline) == 1
