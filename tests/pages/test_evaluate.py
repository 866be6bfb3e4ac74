"""The Evaluate page (pages/evaluate.py) and its helpers in studio.scores, driven headless with AppTest.

Hand-written evals.csv files check what is drawn and tabled; the session's tiny trained run
(conftest.py's tiny_run, copied per test) is read; the tests that score it for real
are in tests/e2e/test_evaluate_worker.py.

What a newcomer meets in their second ten minutes (issue 24): how far a model trained, where a new score
shows, an export past its cap, and Real vs generated without real data.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from helpers import EVALUATE_PAGE as PAGE  # noqa: E402
from helpers import (  # noqa: E402
    HEADER,
    app,
    assert_clean,
    charts,
    compare_table,
    hand_written_run,
    local_env,
    run_folder,
    single_point_table,
)
from helpers import evaluate_page as page  # noqa: E402
from helpers import page as page_file  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from studio.scores import COMPARE_COLUMNS  # noqa: E402


# --- helpers ------------------------------------------------------------------------------------
def texts(at: AppTest) -> str:
    parts = [*at.markdown, *at.caption, *at.info, *at.success, *at.warning]
    return "\n".join(str(p.value) for p in parts)


def chart_data(chart) -> list:
    """The data frames behind a chart's layers (Streamlit ships them as Arrow, apart from the spec)."""
    from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df

    return [convert_arrow_bytes_to_pandas_df(d.data.data) for d in chart.proto.datasets]


# --- rendering ------------------------------------------------------------------------------------
def test_no_runs_points_to_train(eval_env):
    at = app()
    at.switch_page("pages/evaluate.py").run()
    assert_clean(at)
    assert "Nothing to evaluate yet" in texts(at) and "**Train**" in texts(at)
    assert not charts(at) and not at.dataframe


def test_hand_written_scores_are_charted_captioned_and_compared(eval_env, monkeypatch):
    hand_written_run(eval_env / "runs" / "scored")
    hand_written_run(eval_env / "runs" / "unscored", evals=None, step=40)
    shipped = hand_written_run(eval_env / "checkpoints" / "pretrained",
                               evals=HEADER + "0,nn_psnr1k,17.5,1000,x:9,pixels,5\n")
    (shipped / "status.json").unlink()  # shipped folders often carry no status
    monkeypatch.setenv("GAN_DEFAULT_MODEL", "scored")  # else the shipped checkpoint is picked first
    at = page()
    assert_clean(at)
    assert "Scores of scored over training" in [s.value for s in at.subheader]

    drawn = {json.loads(c.proto.spec)["title"]: c for c in charts(at)}
    assert sorted(drawn) == ["fd_cifar2k"]  # floors and stds are not charts; one-point metrics are table rows
    once = single_point_table(at).set_index("metric")
    assert sorted(once.index) == ["class_acc10k", "fd_cifar64"]
    assert once.loc["fd_cifar64", "samples"] == 64 and once.loc["fd_cifar64", "better"] == "Lower is better"
    assert once.isna().loc["class_acc10k", "real-data floor"]  # no floor: none claimed
    line, rule = json.loads(drawn["fd_cifar2k"].proto.spec)["layer"]
    assert line["mark"]["type"] == "line" and rule["mark"] == {"type": "rule", "strokeDash": [6, 4]}
    points, floors = chart_data(drawn["fd_cifar2k"])
    assert points[["step", "value", "samples"]].values.tolist() == [[100, 80.5, "n=2,000"], [300, 61.25, "n=2,000"]]
    assert floors[["samples", "floor"]].values.tolist() == [["n=2,000", 2.75]]  # the latest floor, dashed
    captions = [c.value for c in at.caption]
    fd_caption = next(c for c in captions if "61.25" in c)
    assert "2,000 generated samples" in fd_caption and "cifar10 (50,000 real images)" in fd_caption
    assert "floor, 2.75" in fd_caption and "CIFAR-10 classifier" in fd_caption and "Lower is better" in fd_caption

    table = compare_table(at).set_index("run")
    assert table.index[0] == "pretrained" and set(table.index) == {"pretrained", "scored", "unscored"}
    assert table.loc["scored", "fd_cifar2k"] == pytest.approx(61.25)  # the latest, not the first
    assert table.loc["scored", "fd_cifar2k n"] == 2000 and table.loc["scored", "fd_cifar64 n"] == 64
    assert table.loc["scored", "preset"] == "tiny" and table.loc["scored", "conditional"] == "yes"
    assert table.loc["unscored", "step"] == 40 and table.loc["unscored", "state"] == "finished"
    assert table.isna().loc["unscored", "fd_cifar2k"] and table.isna().loc["pretrained", "step"]
    assert table.loc["pretrained", "nn_psnr1k"] == pytest.approx(17.5)
    assert table.loc["pretrained", "source"] == "pretrained"


def test_scores_from_different_classifier_weights_are_flagged_as_not_comparable(eval_env):
    hand_written_run(eval_env / "runs" / "old", evals=HEADER + "5,fd_cifar2k,40,2000,c:50000,cifar@0000aaaa,1\n"
                     "5,nn_psnr1k,15,1000,c:50000,pixels,1\n")
    hand_written_run(eval_env / "runs" / "new", evals=HEADER + "5,fd_cifar2k,9,2000,c:50000,cifar@1111bbbb,1\n"
                     "5,nn_psnr1k,16,1000,c:50000,pixels,1\n")
    at = page()
    assert_clean(at)
    warnings = [w.value for w in at.warning]
    assert len(warnings) == 1 and "fd_cifar2k" in warnings[0], warnings
    assert "cifar@0000aaaa" in warnings[0] and "cifar@1111bbbb" in warnings[0]
    features = " ".join(single_point_table(at)["features"])
    assert "(weights 1111bbbb)" in features or "(weights 0000aaaa)" in features  # the table says which

    (eval_env / "runs" / "old" / "evals.csv").write_text(HEADER + "5,fd_cifar2k,8,2000,c:50000,cifar@1111bbbb,1\n")
    at = page()
    assert not at.warning, [w.value for w in at.warning]  # same weights everywhere: nothing to flag


def test_a_run_without_scores_says_how_to_get_them(eval_env):
    run = hand_written_run(eval_env / "runs" / "fresh", evals=None)
    at = page()
    assert_clean(at)
    assert not charts(at)
    hint = next(i.value for i in at.info if "no scores yet" in i.value)
    assert f"python -m gan evaluate --run-dir {run} --metrics fd_cifar2k" in hint and "Evaluate now" in hint
    assert at.multiselect(key="evaluate_metrics").value == ["fd_cifar2k"]  # the cheap one by default


def test_the_catalogue_says_ready_for_the_metrics_this_machine_can_compute(eval_env):
    """pandas 3 stores None in a string column as NaN: the check must not read it back from the frame."""
    hand_written_run(eval_env / "runs" / "scored")
    at = page()
    catalogue = next(d.value for d in at.dataframe if "ready" in d.value.columns).set_index("metric")
    assert catalogue.loc["nn_psnr1k", "ready"] == "yes"  # pixel space: always computable
    assert catalogue.loc["fd_cifar10k", "ready"] == "yes"  # the shipped classifier is there
    assert catalogue.loc["ifd_cifar10k", "ready"] == "yes"


def test_per_class_scores_show_by_class_name_with_their_real_values(eval_env):
    run = hand_written_run(eval_env / "runs" / "scored", evals=HEADER + (
        "300,ifd_cifar10k,12,10000,c:50000,cifar,1\n300,ifd_cifar10k_floor,1,10000,c:50000,cifar,1\n"
        "300,ifd_cifar10k_c0,10,10000,c:50000,cifar,1\n300,ifd_cifar10k_c0_floor,0.9,10000,c:50000,cifar,1\n"
        "300,ifd_cifar10k_c1,14,10000,c:50000,cifar,1\n300,ifd_cifar10k_c1_floor,1.1,10000,c:50000,cifar,1\n"))
    (run / "classes.json").write_text('["cat", "dog"]')
    at = page()
    assert_clean(at)
    per_class = next(d.value for d in at.dataframe if "class" in d.value.columns).set_index("class")
    assert per_class.loc["dog", "ifd_cifar10k"] == 14 and per_class.loc["dog", "ifd_cifar10k (real)"] == 1.1
    assert list(single_point_table(at)["metric"]) == ["ifd_cifar10k"]  # the per-class rows are not metrics


def test_the_compare_table_shows_the_metrics_the_runs_share(eval_env):
    hand_written_run(eval_env / "runs" / "a", evals=HEADER + "5,fd_cifar2k,40,2000,c:50000,cifar,1\n"
                     "5,kid_cifar10k,0.1,10000,c:50000,cifar,1\n")
    hand_written_run(eval_env / "runs" / "b", evals=HEADER + "5,fd_cifar2k,9,2000,c:50000,cifar,1\n"
                     "5,nn_psnr1k,16,1000,c:50000,pixels,1\n")
    hand_written_run(eval_env / "runs" / "c", evals=None)  # not scored: does not decide what is shared
    at = page()
    table = compare_table(at)
    assert [c for c in table.columns if c not in COMPARE_COLUMNS] == ["fd_cifar2k", "fd_cifar2k n"]
    at.toggle(key="evaluate_compare_all").set_value(True).run()
    assert {"kid_cifar10k", "nn_psnr1k"} <= set(compare_table(at).columns)


@pytest.fixture
def runs_env(tmp_path, monkeypatch) -> Path:
    """Empty runs and checkpoints folders under tmp_path, not demo mode."""
    monkeypatch.setenv("GAN_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("GAN_CHECKPOINTS_DIR", str(tmp_path / "checkpoints"))
    local_env(monkeypatch, tmp_path)
    return tmp_path


# --- B9: a score just computed is the first row, not below the fold ---------------------------------------


def test_the_latest_measured_score_is_the_first_row(runs_env):
    """A dozen one-checkpoint scores (like the shipped model's), then a new metric and a re-measured one."""
    rows = [f"7,m{k:02d}_cifar10k,{k},10000,c:50000,cifar,{100 + k}" for k in range(12)]
    rows += ["7,fd_cifar2k,3.5,2000,c:50000,cifar,500", "7,fd_cifar2k_floor,0.5,2000,c:50000,cifar,500",
             "7,m03_cifar10k,3.25,10000,c:50000,cifar,400"]  # written last: newest first
    run = run_folder(runs_env / "runs" / "scored", {"state": "finished", "step": 7, "epoch": 1}, epochs=1)
    (run.path / "generator.keras").write_bytes(b"placeholder: the page loads it only to evaluate")
    (run.path / "evals.csv").write_text(HEADER + "\n".join(rows) + "\n")
    at = page_file("evaluate.py")
    assert_clean(at)
    table = next(d.value for d in at.dataframe if "real-data floor" in d.value.columns)
    assert list(table["metric"][:3]) == ["fd_cifar2k", "m03_cifar10k", "m11_cifar10k"]
    assert table["value"].iloc[0] == 3.5 and table["real-data floor"].iloc[0] == 0.5
    assert table["value"].iloc[1] == 3.25  # the re-measured value, moved up with its time
    assert list(table["metric"][-2:]) == ["m01_cifar10k", "m00_cifar10k"]


# --- issue 25, class 2: in demo mode one worker beside the server --------------------------------------


def test_in_demo_mode_evaluate_waits_while_a_run_trains(eval_env, tiny_run, monkeypatch):
    """An evaluation worker (~0.7 GB) beside a trainer and the server is more than a small host has: the page
    refuses in one line, starts no worker and writes nothing."""
    import shutil

    from studio import launch

    run = eval_env / "runs" / "tiny"
    run.mkdir(parents=True)
    for name in ("config.json", "generator.keras", "classes.json", "status.json"):
        shutil.copy(tiny_run / name, run / name)
    monkeypatch.setenv("GAN_DEMO_MODE", "1")
    monkeypatch.setattr(launch, "active_trainings", lambda root=None: ["other"])
    monkeypatch.setattr("studio.scores.evaluate", lambda *a, **k: pytest.fail("a worker was started"))
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    at.multiselect(key="evaluate_metrics").set_value(["fd_cifar2k"])
    next(b for b in at.button if b.label == "Evaluate").click().run()
    assert_clean(at)
    assert [w.value for w in at.warning] == [
        "This demo runs 1 training or evaluation at a time and other is training now; evaluate when it has finished."]
    assert not (run / "evals.csv").exists()
