"""The Explore page (pages/explore.py).

The Streamlit app, driven headless with streamlit.testing's AppTest.

One tiny conditional run is trained once per session (4 steps, no XLA) and every page is
rendered against it and against an empty app.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from helpers import app, assert_clean, local_env  # noqa: E402


def use_runs(runs: Path, tmp_path: Path, monkeypatch) -> None:
    """The app lists the runs in `runs`, has tmp_path/checkpoints (empty until a test fills it), no demo mode."""
    monkeypatch.setenv("GAN_RUNS_DIR", str(runs))
    monkeypatch.setenv("GAN_CHECKPOINTS_DIR", str(tmp_path / "checkpoints"))
    local_env(monkeypatch, tmp_path)


@pytest.fixture
def run_env(tiny_run, tmp_path, monkeypatch):
    """The shared tiny run as the app's only run (read, never written: see own_run_env)."""
    use_runs(tiny_run.parent, tmp_path, monkeypatch)
    return tiny_run


def test_explorer_sliders_and_interpolation(run_env):
    at = app()
    at.switch_page("pages/explore.py").run()
    at.slider(key="explore_dir_0").set_value(2.0).run()
    at.radio(key="explore_kind").set_value("Raw latent axes").run()
    at.selectbox(key="explore_class_b").set_value(2).run()
    at.radio(key="explore_method").set_value("lerp").run()
    assert_clean(at)


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


def test_a_seed_out_of_range_is_clamped_and_said(run_env):
    """No bounds on the seed fields (past one the browser keeps the old seed, so the picture would not change
    and nothing would say why): a negative seed shows seed 0 and a caption saying so."""
    at = app()
    at.switch_page("pages/explore.py").run()
    for key in ("explore_seed", "explore_seed_a", "explore_seed_b"):
        assert not at.number_input(key=key).proto.has_min
    at.number_input(key="explore_seed").set_value(-3).run()
    assert_clean(at)
    assert "Seed: asked for -3, the least is 0; used 0." in [c.value for c in at.sidebar.caption]
