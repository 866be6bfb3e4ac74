"""The app as a whole (app.py's Home and navigation, every page at once).

Demo mode and data-path confinement in the app (studio.policy and gan.security wired into the pages), with AppTest.

Settings from a --config file or a run's config.json that are wrong (issue 25, class 5): one line, exit 2,
and one run with a bad config.json never hides the other runs in the app.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from helpers import REPO, app, assert_clean, local_env, texts  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from gan.config import (
    TrainConfig,  # noqa: E402
)  # noqa: E402

PAGES = ["pages/train.py", "pages/explore.py", "pages/compare.py", "pages/export.py"]


OPTIONAL_PAGES = [p for p in ["pages/evaluate.py"] if (REPO / p).is_file()]  # written by others, when present


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


def test_a_broken_model_gives_one_friendly_line(run_env, tmp_path, monkeypatch):
    broken = tmp_path / "checkpoints" / "broken"
    broken.mkdir(parents=True)
    (broken / "config.json").write_text((run_env / "config.json").read_text())
    (broken / "generator.keras").write_bytes(b"not a keras file")
    at = app()  # shipped checkpoints are the default choice
    assert not at.exception
    assert len(at.error) == 1 and "cannot load" in at.error[0].value and "generator.keras" in at.error[0].value
    assert "Traceback" not in at.error[0].value


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


PATH_SOURCE, UPLOAD_SOURCE = "A path on this machine", "Upload a .zip"


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


# --- a run whose config.json is wrong hides no other run (the Train page's table, the Evaluate page) ----------
@pytest.fixture
def runs_with_one_bad_config(tmp_path, monkeypatch) -> Path:
    """Two runs the app lists: `good`, and `bad`, whose config.json says `"epochs": null`."""
    from helpers import local_env

    runs = tmp_path / "runs"
    for name in ("good", "bad"):
        (runs / name).mkdir(parents=True)
        (runs / name / "status.json").write_text(json.dumps({"state": "finished", "step": 4}))
    config = json.loads(TrainConfig.for_preset("tiny").to_json())
    (runs / "good" / "config.json").write_text(json.dumps(config))
    (runs / "bad" / "config.json").write_text(json.dumps({**config, "epochs": None}))
    monkeypatch.setenv("GAN_RUNS_DIR", str(runs))
    monkeypatch.setenv("GAN_CHECKPOINTS_DIR", str(tmp_path / "checkpoints"))
    local_env(monkeypatch, tmp_path)
    return runs


@pytest.mark.parametrize("page", ["pages/train.py", "pages/evaluate.py"])
def test_one_run_with_a_bad_config_hides_no_other_run(runs_with_one_bad_config, page):
    """`"epochs": null` in one run's config.json blanked the whole runs table and ended the Evaluate page."""
    pytest.importorskip("streamlit")
    from helpers import REPO
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / page), default_timeout=60).run()
    assert not at.exception
    shown = "\n".join(str(frame.value.to_dict()) for frame in at.dataframe)
    assert "good" in shown and "bad" in shown, shown
