"""The Export page (pages/export.py).

Demo mode and data-path confinement in the app (studio.policy and gan.security wired into the pages), with AppTest.

What a newcomer meets in their second ten minutes (issue 24): how far a model trained, where a new score
shows, an export past its cap, and Real vs generated without real data.
"""

from __future__ import annotations

import dataclasses
import io
import zipfile

import numpy as np
import pytest

pytest.importorskip("streamlit")
from helpers import CLASSES, app, assert_clean, errors, page, texts, use_runs  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from gan.security import NotAllowedError  # noqa: E402
from studio import export, policy  # noqa: E402
from studio.policy import DEMO_LIMITS  # noqa: E402


@pytest.fixture
def own_run_env(tiny_run_copy, tmp_path, monkeypatch):
    """Like run_env, with this test's own copy of the tiny run, for a test that writes into it."""
    use_runs(tiny_run_copy.parent, tmp_path, monkeypatch)
    return tiny_run_copy


def export_from_page(per_class: int, fmt: str) -> tuple:
    """Generate from the Export page: its export_result (file name, bytes, MIME type, summary)."""
    at = app()
    at.switch_page("pages/export.py").run()
    at.number_input(key="export_per_class").set_value(per_class)
    at.radio(key="export_format").set_value(fmt)
    next(b for b in at.button if b.label == "Generate").click().run()
    assert_clean(at)
    return at.session_state["export_result"]


def test_export_zip_holds_pngs_and_labels(run_env):
    name, blob, mime, _ = export_from_page(2, "zip")
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
    _, blob, _, _ = export_from_page(1, "npz")
    arrays = np.load(io.BytesIO(blob))
    assert arrays["images"].shape == (3, 32, 32, 3) and arrays["images"].dtype == np.uint8
    assert list(arrays["labels"]) == [0, 1, 2]


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


def test_an_export_past_the_cap_makes_the_most_allowed_and_says_so(tiny_env):
    """A browser keeps the old value of a field typed past its max: so the field has none, and the page clamps."""
    at = page("export.py")
    field = at.number_input(key="export_per_class")
    assert not field.proto.has_max  # else the browser would turn 5000 red and send the previous value
    field.set_value(5000)
    at.radio(key="export_format").set_value("npz")
    next(b for b in at.button if b.label == "Generate").click().run()
    assert_clean(at)
    most = export.MAX_EXPORT // 3
    note = f"Images per class: asked for 5,000, the most is {most:,}; used {most:,}."
    assert [w.value for w in at.warning] == [note]
    assert at.session_state["export_result"][3].startswith(f"{most * 3:,} images")
    at.run()  # a later rerun keeps the note beside the download
    assert [w.value for w in at.warning] == [note]


def test_a_seed_out_of_range_is_clamped_and_said(tiny_env):
    """The Seed field, like the count, has no bounds for the browser to keep an old value behind: a seed past
    the int32 range (or below 0) is clamped, the page says so, and the file is named by the seed used."""
    from gan.config import INT32

    at = page("export.py")
    field = at.number_input(key="export_seed")
    assert not field.proto.has_max and not field.proto.has_min
    field.set_value(INT32 + 5)
    at.number_input(key="export_per_class").set_value(1)
    at.radio(key="export_format").set_value("npz")
    next(b for b in at.button if b.label == "Generate").click().run()
    assert_clean(at)
    assert [w.value for w in at.warning] == [f"Seed: asked for {INT32 + 5:,}, the most is {INT32:,}; used {INT32:,}."]
    assert at.session_state["export_result"][0].endswith(f"seed{INT32}.npz")
