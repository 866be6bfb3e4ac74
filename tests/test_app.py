"""The Streamlit app, driven headless with streamlit.testing's AppTest.

One tiny conditional run is trained once per session (4 steps, no XLA) and every page is
rendered against it and against an empty app. A live test starts a real training process
from the Train page's form, watches metrics arrive, and stops it.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("streamlit")
from helpers import APP, CLASSES, REPO, app, assert_clean, local_env, lock_held_elsewhere, make_npz  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

PAGES = ["pages/train.py", "pages/explore.py", "pages/compare.py", "pages/export.py"]
OPTIONAL_PAGES = [p for p in ["pages/evaluate.py"] if (REPO / p).is_file()]  # written by others, when present


def use_runs(runs: Path, tmp_path: Path, monkeypatch) -> None:
    """The app lists the runs in `runs`, has tmp_path/checkpoints (empty until a test fills it), no demo mode."""
    monkeypatch.setenv("GAN_RUNS_DIR", str(runs))
    monkeypatch.setenv("GAN_CHECKPOINTS_DIR", str(tmp_path / "checkpoints"))
    local_env(monkeypatch, tmp_path)


@pytest.fixture
def empty_env(tmp_path, monkeypatch):
    use_runs(tmp_path / "runs", tmp_path, monkeypatch)
    return tmp_path


@pytest.fixture
def run_env(tiny_run, tmp_path, monkeypatch):
    """The shared tiny run as the app's only run (read, never written: see own_run_env)."""
    use_runs(tiny_run.parent, tmp_path, monkeypatch)
    return tiny_run


@pytest.fixture
def own_run_env(tiny_run_copy, tmp_path, monkeypatch):
    """Like run_env, with this test's own copy of the tiny run, for a test that writes into it."""
    use_runs(tiny_run_copy.parent, tmp_path, monkeypatch)
    return tiny_run_copy


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [i.value for i in at.info]
    return "\n".join(str(p) for p in parts)


# --- every page renders ----------------------------------------------------------------------


def test_every_page_renders_with_no_model(empty_env):
    at = app()
    assert_clean(at)
    assert "No model yet" in texts(at)
    for page in PAGES:
        at.switch_page(page).run()
        assert_clean(at)
        expected = "No runs yet" if page == "pages/train.py" else "No model yet"
        assert expected in texts(at), page


def test_every_page_renders_with_a_trained_run(run_env):
    at = app()
    assert_clean(at)
    assert "tiny" in [m.value for m in at.metric]
    assert at.get("image"), "home shows a sample grid"
    for page in PAGES:
        at.switch_page(page).run()
        assert_clean(at)
        assert at.get("image") or page in ("pages/train.py", "pages/export.py"), page
    for page in OPTIONAL_PAGES:  # its own tests judge its messages; here: it renders without exceptions
        at.switch_page(page).run()
        assert not at.exception, [e.value for e in at.exception]


def test_a_rerun_with_a_model_loaded_forces_no_full_garbage_collection(run_env, monkeypatch):
    """Streamlit's own clean-up after each run would clear Keras's session with gc.collect() (~0.25 s)."""
    import gc

    import keras

    at = app()
    assert_clean(at)
    assert at.get("image"), "the Home page has loaded the run's generator"
    collections = []
    monkeypatch.setattr(gc, "collect", lambda *args, **kwargs: collections.append(args + tuple(kwargs.values())) or 0)
    cleared = []
    monkeypatch.setattr(keras.backend, "clear_session", lambda *args, **kwargs: cleared.append(kwargs))
    at.button[0].click().run()  # New samples: a rerun that samples from the cached model
    assert_clean(at)
    assert at.session_state["home_seed"] == 1
    assert not cleared
    assert collections and all(args and args[0] < 2 for args in collections), collections  # young ones only


def test_home_new_samples_changes_seed(run_env):
    at = app()
    at.button[0].click().run()
    assert_clean(at)
    assert at.session_state["home_seed"] == 1


def test_explorer_sliders_and_interpolation(run_env):
    at = app()
    at.switch_page("pages/explore.py").run()
    at.slider(key="explore_dir_0").set_value(2.0).run()
    at.radio(key="explore_kind").set_value("Raw latent axes").run()
    at.selectbox(key="explore_class_b").set_value(2).run()
    at.radio(key="explore_method").set_value("lerp").run()
    assert_clean(at)


def test_compare_shows_neighbours_and_explains_missing_data(run_env):
    at = app()
    at.switch_page("pages/compare.py").run()
    assert_clean(at)
    assert "Nearest training images" in [s.value for s in at.subheader]
    at.selectbox(key="compare_class").set_value(1).run()
    at.button(key="compare_real_seed_button").click().run()
    assert_clean(at)
    at.text_input(key="compare_source_tiny").input("/nowhere/images.zip").run()
    assert not at.exception
    assert any("not available" in w.value for w in at.warning)


def export(per_class: int, fmt: str) -> tuple:
    """Generate from the Export page: its export_result (file name, bytes, MIME type, summary)."""
    at = app()
    at.switch_page("pages/export.py").run()
    at.number_input(key="export_per_class").set_value(per_class)
    at.radio(key="export_format").set_value(fmt)
    next(b for b in at.button if b.label == "Generate").click().run()
    assert_clean(at)
    return at.session_state["export_result"]


def test_export_zip_holds_pngs_and_labels(run_env):
    name, blob, mime, _ = export(2, "zip")
    assert name.endswith(".zip") and mime == "application/zip"
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        pngs = [n for n in zf.namelist() if n.endswith(".png")]
        rows = zf.read("labels.csv").decode().splitlines()
        first = zf.read(pngs[0])
    assert len(pngs) == 6
    assert rows[0] == "filename,class_id,class_name" and len(rows) == 7
    assert sorted(r.split(",")[2] for r in rows[1:]) == sorted(CLASSES * 2)
    assert first.startswith(b"\x89PNG")


def test_export_npz(run_env):
    _, blob, _, _ = export(1, "npz")
    arrays = np.load(io.BytesIO(blob))
    assert arrays["images"].shape == (3, 32, 32, 3) and arrays["images"].dtype == np.uint8
    assert list(arrays["labels"]) == [0, 1, 2]


def test_a_broken_model_gives_one_friendly_line(run_env, tmp_path, monkeypatch):
    broken = tmp_path / "checkpoints" / "broken"
    broken.mkdir(parents=True)
    (broken / "config.json").write_text((run_env / "config.json").read_text())
    (broken / "generator.keras").write_bytes(b"not a keras file")
    at = app()  # shipped checkpoints are the default choice
    assert not at.exception
    assert len(at.error) == 1 and "cannot load" in at.error[0].value and "generator.keras" in at.error[0].value
    assert "Traceback" not in at.error[0].value


def test_default_model_comes_from_checkpoints_and_env(run_env, tmp_path, monkeypatch):
    from studio import models

    for name in ("b-model", "a-model"):
        target = tmp_path / "checkpoints" / name
        target.mkdir(parents=True)
        for file in ("config.json", "generator.keras", "classes.json"):
            (target / file).write_bytes((run_env / file).read_bytes())
    choices = models.model_choices()
    assert [c.run.name for c in choices] == ["a-model", "b-model", "tiny"]
    assert choices[models.default_choice(choices)].run.name == "a-model"
    monkeypatch.setenv("GAN_DEFAULT_MODEL", "tiny")
    assert choices[models.default_choice(choices)].run.name == "tiny"


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


def _kill(run_dir: Path) -> None:
    from gan.runs import Run

    pid = Run(run_dir).status().pid
    if pid and Run(run_dir).is_locked():
        os.kill(int(pid), signal.SIGKILL)


@pytest.mark.slow
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


def test_pages_do_not_import_tensorflow_without_a_model(empty_env):
    """Start-up stays fast: TensorFlow loads only when a model is sampled."""
    code = (
        "import sys\n"
        "from streamlit.testing.v1 import AppTest\n"
        f"at = AppTest.from_file({APP!r}, default_timeout=30); at.run()\n"
        "at.switch_page('pages/train.py').run()\n"
        "assert not at.exception, at.exception\n"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ}, cwd=REPO)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-2:] == ["False", "False"]


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


def test_home_shows_the_latest_evaluation_scores(run_env, tmp_path):
    shipped = tmp_path / "checkpoints" / "pretrained"
    shipped.mkdir(parents=True)
    for file in ("config.json", "generator.keras", "classes.json"):
        (shipped / file).write_bytes((run_env / file).read_bytes())
    (shipped / "evals.csv").write_text(
        "step,metric,value,n,reference,extractor,time\n"
        "4,fd_cifar10k,80.5,10000,cifar10:10000,cifar,1\n"
        "4,fd_cifar10k_floor,2.5,10000,cifar10:10000,cifar,1\n"
        "8,fd_cifar10k,61.25,10000,cifar10:10000,cifar,2\n"
        "8,fd_cifar10k_floor,2.5,10000,cifar10:10000,cifar,2\n"  # written with its score, as Run.append_evals does
        "8,nn_psnr1k,17.5,1000,cifar10:1000,pixels,2\n")
    from gan.runs import Run
    from studio import models, scores

    assert scores.evals_summary(Run(shipped)) == {"fd_cifar10k": (61.25, 2.5), "nn_psnr1k": (17.5, None)}
    at = app()
    assert_clean(at)
    shown = {m.label: m.value for m in at.metric}
    # In plain words, with its direction and the real-data floor beside it; the raw id one click away.
    assert "pretrained" in [s.value for s in at.subheader] and shown["Distance to real images"] == "61.2"
    progress = models.training_progress(Run(shipped))  # no status.json shipped: its planned length
    assert progress.label == "Planned" and shown["Planned"] == progress.value and "Model" not in shown
    assert "lower is better; real images: 2.5" in [c.value for c in at.caption]
    assert "fd_cifar10k" not in shown and "nn_psnr1k" not in shown
    table = at.dataframe[0].value
    assert set(table["metric"]) == {"fd_cifar10k", "nn_psnr1k"}


def test_home_grid_has_one_labelled_column_per_class(run_env):
    from PIL import Image

    from gan.runs import Run
    from studio import models

    at = app()
    assert_clean(at)
    run = Run(run_env)
    grid = models.class_grid(run, seed=0)
    classes = len(run.class_names())
    assert classes > 1
    # 34-pixel cells (32 + 2 padding) enlarged 3x, one column per class, under a header of names.
    assert grid.shape[1] == 3 * (classes * 34 + 2)
    header = grid[: grid.shape[0] - 3 * (8 * 34 + 2)]
    assert header.shape[0] > 5 and (header < 128).any()  # the names are drawn
    assert Image.fromarray(grid).mode == "RGB"


def test_gpu_names_from_nvidia_smi():
    from studio import messages

    listing = ("GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-0a1b2c3d-aaaa-bbbb-cccc-0123456789ab)\n"
               "GPU 1: NVIDIA GeForce RTX 4090 (UUID: GPU-11111111-2222-3333-4444-555555555555)\n"
               "  MIG 3g.40gb     Device  0: (UUID: MIG-0a1b2c3d)\n")
    assert messages.parse_nvidia_smi(listing) == ["NVIDIA H100 80GB HBM3", "NVIDIA GeForce RTX 4090"]
    assert messages.parse_nvidia_smi("No devices were found\n") == []


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


def _stopped_run(run_dir: Path) -> None:
    """A tiny run stopped after 3 epochs, with a checkpoint (never loaded by the page)."""
    import json

    from gan.config import TrainConfig

    (run_dir / "ckpt").mkdir(parents=True)
    (run_dir / "ckpt" / "latest.npz").write_bytes(b"placeholder")
    (run_dir / "config.json").write_text(TrainConfig.for_preset("tiny", epochs=3, data="x.npz").to_json())
    (run_dir / "status.json").write_text(json.dumps({"state": "stopped", "step": 12, "total_steps": 12, "epoch": 3}))


def test_a_refused_resume_is_one_line_on_the_page(empty_env):
    """A FIFO where train.log belongs: the launcher refuses it (RunError); the page says so, no traceback."""
    run_dir = empty_env / "runs" / "fifo"
    _stopped_run(run_dir)
    os.mkfifo(run_dir / "train.log")
    at = AppTest.from_file(str(REPO / "pages" / "train.py"), default_timeout=60).run()
    assert not at.button(key="train_resume").disabled
    at.button(key="train_resume").click().run()
    assert not at.exception
    (said,) = [e.value for e in at.error]
    assert said.startswith("Not resumed:") and "FIFO" in said and "\n" not in said


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
    _stopped_run(run_dir)
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


def test_the_explorers_class_carries_to_interpolation_and_reset_warns_nothing(run_env, caplog):
    at = app()
    at.switch_page("pages/explore.py").run()
    at.sidebar.selectbox(key="explore_class").set_value(2).run()
    assert_clean(at)
    assert at.selectbox(key="explore_class_a").value == 2 and at.selectbox(key="explore_class_b").value == 0
    at.slider(key="explore_dir_0").set_value(2.0).run()
    with caplog.at_level("WARNING"):
        next(b for b in at.button if b.label == "Reset sliders").click().run()
    assert at.slider(key="explore_dir_0").value == 0.0
    assert_clean(at)
    assert not [r for r in caplog.records if "Session State" in r.getMessage()]
    assert not [w.value for w in at.warning]


def test_the_page_icon_is_served_by_the_app_not_fetched():
    """An image icon is served by Streamlit's own media endpoint; an emoji or :material: icon is not."""
    from PIL import Image
    from streamlit.commands.page_config import _get_favicon_string

    from studio import messages

    icon = messages.page_icon()
    assert isinstance(icon, Image.Image) and icon.size == (32, 32)
    assert not _get_favicon_string(icon).startswith(("emoji:", ":material"))
    assert "page_icon=messages.page_icon()" in (REPO / "app.py").read_text()


def test_export_says_whether_the_images_are_worth_training_on(own_run_env):
    from gan.runs import Run

    evals = Run(own_run_env).evals_path
    header = "" if evals.exists() else "step,metric,value,n,reference,extractor,time\n"
    with open(evals, "a") as f:
        f.write(header + "8,cas10k,0.41,10000,held out by the run (12),small-resnet,5\n"
                "8,cas10k_floor,0.62,10000,held out by the run (12),small-resnet,5\n"
                "8,cas10k_chance,0.333333,10000,held out by the run (12),small-resnet,5\n"
                "8,aug_gain5k,0.031,5000,held out by the run (12),small-resnet,5\n"
                "8,aug_gain5k_std,0.006,5000,held out by the run (12),small-resnet,5\n"
                "8,aug_gain5k_without,0.44,5000,held out by the run (12),small-resnet,5\n"
                "8,aug_gain5k_with,0.471,5000,held out by the run (12),small-resnet,5\n")
    at = app()
    at.switch_page("pages/export.py").run()
    assert_clean(at)
    text = texts(at)
    assert "41.0%" in text and "62.0%" in text and "33.3%" in text and "10,000" in text
    assert "help: test accuracy +3.1%" in text and "held out by the run (12)" in text
