"""The Explore page (pages/explore.py)."""

from __future__ import annotations

import pytest

pytest.importorskip("streamlit")
from helpers import app, assert_clean  # noqa: E402


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
