"""The Compare page (pages/compare.py).

Demo mode and data-path confinement in the app (studio.policy and gan.security wired into the pages), with AppTest.

What a newcomer meets in their second ten minutes (issue 24): how far a model trained, where a new score
shows, an export past its cap, and Real vs generated without real data.
"""

from __future__ import annotations

import shutil

import pytest

pytest.importorskip("streamlit")
from helpers import app, assert_clean, make_npz, page  # noqa: E402


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


# --- B16: Real vs generated without real data, and the neighbour strip ---------------------------------
def test_without_real_data_the_real_half_says_why(tiny_env):
    at = page("compare.py")
    at.text_input(key="compare_source_tiny").input("/nowhere/images.zip").run()
    assert not at.exception
    real_half, generated_half = at.columns[0], at.columns[1]
    assert "No real images to show. The training data is not available" in real_half.warning[0].value
    assert "GAN_DATA_ROOTS" in real_half.caption[0].value
    assert not generated_half.warning and len(generated_half.image) == 1


def test_the_nearest_neighbours_are_one_row_of_eight_columns(tiny_env):
    at = page("compare.py")
    assert_clean(at)
    strip = [block for block in at.columns if len(block.columns) == 8]
    assert len(strip) == 1, "the 8 neighbours are not 8 columns of one row"
    captions = [[c for image in cell.image for c in image.captions] for cell in strip[0].columns]
    assert all(len(c) == 1 and c[0].endswith(("dB - red", "dB - green", "dB - blue")) for c in captions), captions
