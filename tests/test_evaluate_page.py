"""The Evaluate page (pages/evaluate.py) and its helpers in studio.scores, driven headless with AppTest.

Hand-written evals.csv files check what is drawn and tabled; the session's tiny trained run
(conftest.py's tiny_run, copied per test) is scored for real with a few samples, against the
shipped CIFAR classifier (fd_cifar2k) or in pixels (nn_psnr1k, no classifier needed).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gan.runs import Run

pytest.importorskip("streamlit")
from helpers import REPO, app, assert_clean  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from studio import policy, scores  # noqa: E402
from studio.scores import COMPARE_COLUMNS  # noqa: E402

PAGE = str(REPO / "pages" / "evaluate.py")
HEADER = "step,metric,value,n,reference,extractor,time\n"
EVALS = HEADER + (  # two checkpoints scored at 2k samples, a live score at 64, a metric without a floor
    "100,fd_cifar2k,80.5,2000,cifar10:50000,cifar,1\n"
    "100,fd_cifar2k_floor,2.5,2000,cifar10:50000,cifar,1\n"
    "200,fd_cifar64,95,64,cifar10:50000,cifar,2\n"
    "200,fd_cifar64_floor,30,64,cifar10:50000,cifar,2\n"
    "300,fd_cifar2k,61.25,2000,cifar10:50000,cifar,3\n"
    "300,fd_cifar2k_floor,2.75,2000,cifar10:50000,cifar,3\n"
    "300,class_acc10k,0.5,10000,cifar10:50000,cifar,3\n"
)


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture
def env(tmp_path, monkeypatch) -> Path:
    """Empty runs and checkpoints folders, a private reference-statistics cache, no demo mode."""
    monkeypatch.setenv("GAN_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("GAN_CHECKPOINTS_DIR", str(tmp_path / "checkpoints"))
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("GAN_DEMO_MODE", "0")
    for name in ("GAN_DEFAULT_MODEL", "GAN_CLASSIFIER", "GAN_PUBLIC"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def hand_written_run(folder: Path, evals: str | None = EVALS, step: int = 300) -> Path:
    """A run folder with a config, a status, a placeholder generator (never loaded here) and scores."""
    from gan.config import TrainConfig

    folder.mkdir(parents=True)
    (folder / "config.json").write_text(TrainConfig(preset="tiny", conditional=True, epochs=3).to_json())
    (folder / "status.json").write_text(json.dumps({"state": "finished", "step": step, "epoch": 3}))
    (folder / "generator.keras").write_bytes(b"placeholder: the page only loads it to evaluate")
    if evals is not None:
        (folder / "evals.csv").write_text(evals)
    return folder


def copy_run(source: Path, target: Path) -> Path:
    """A private copy of the tiny run, so scores written by one test do not show in another."""
    target.mkdir(parents=True)
    for name in ("config.json", "generator.keras", "classes.json", "status.json"):
        shutil.copy(source / name, target / name)
    return target


def page() -> AppTest:
    """The Evaluate page on its own: fast (Home would load and sample a model first)."""
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.run()
    return at


def charts(at: AppTest) -> list:
    return list(at.get("arrow_vega_lite_chart")) + list(at.get("vega_lite_chart"))


def texts(at: AppTest) -> str:
    parts = [*at.markdown, *at.caption, *at.info, *at.success, *at.warning]
    return "\n".join(str(p.value) for p in parts)


def chart_data(chart) -> list:
    """The data frames behind a chart's layers (Streamlit ships them as Arrow, apart from the spec)."""
    from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df

    return [convert_arrow_bytes_to_pandas_df(d.data.data) for d in chart.proto.datasets]


def evaluate(at: AppTest, names: list[str], n: int | None) -> None:
    at.multiselect(key="evaluate_metrics").set_value(names)
    at.number_input(key="evaluate_n").set_value(n)
    next(b for b in at.button if b.label == "Evaluate").click().run()


def single_point_table(at: AppTest):
    """The table of metrics measured at one checkpoint only: the one with a `real-data floor` column."""
    return next(d.value for d in at.dataframe if "real-data floor" in d.value.columns)


def compare_table(at: AppTest):
    """The "Compare runs" dataframe: the one with a `run` column."""
    return next(d.value for d in at.dataframe if "run" in d.value.columns)


# --- rendering ------------------------------------------------------------------------------------


def test_no_runs_points_to_train(env):
    at = app()
    at.switch_page("pages/evaluate.py").run()
    assert_clean(at)
    assert "Nothing to evaluate yet" in texts(at) and "**Train**" in texts(at)
    assert not charts(at) and not at.dataframe


def test_hand_written_scores_are_charted_captioned_and_compared(env, monkeypatch):
    hand_written_run(env / "runs" / "scored")
    hand_written_run(env / "runs" / "unscored", evals=None, step=40)
    shipped = hand_written_run(env / "checkpoints" / "pretrained",
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


def test_scores_from_different_classifier_weights_are_flagged_as_not_comparable(env):
    hand_written_run(env / "runs" / "old", evals=HEADER + "5,fd_cifar2k,40,2000,c:50000,cifar@0000aaaa,1\n"
                     "5,nn_psnr1k,15,1000,c:50000,pixels,1\n")
    hand_written_run(env / "runs" / "new", evals=HEADER + "5,fd_cifar2k,9,2000,c:50000,cifar@1111bbbb,1\n"
                     "5,nn_psnr1k,16,1000,c:50000,pixels,1\n")
    at = page()
    assert_clean(at)
    warnings = [w.value for w in at.warning]
    assert len(warnings) == 1 and "fd_cifar2k" in warnings[0], warnings
    assert "cifar@0000aaaa" in warnings[0] and "cifar@1111bbbb" in warnings[0]
    features = " ".join(single_point_table(at)["features"])
    assert "(weights 1111bbbb)" in features or "(weights 0000aaaa)" in features  # the table says which

    (env / "runs" / "old" / "evals.csv").write_text(HEADER + "5,fd_cifar2k,8,2000,c:50000,cifar@1111bbbb,1\n")
    at = page()
    assert not at.warning, [w.value for w in at.warning]  # same weights everywhere: nothing to flag


def test_a_run_without_scores_says_how_to_get_them(env):
    run = hand_written_run(env / "runs" / "fresh", evals=None)
    at = page()
    assert_clean(at)
    assert not charts(at)
    hint = next(i.value for i in at.info if "no scores yet" in i.value)
    assert f"python -m gan evaluate --run-dir {run} --metrics fd_cifar2k" in hint and "Evaluate now" in hint
    assert at.multiselect(key="evaluate_metrics").value == ["fd_cifar2k"]  # the cheap one by default


def test_page_does_not_import_tensorflow(env):
    """Drawing the page reads CSV files only; TensorFlow loads when someone presses Evaluate."""
    hand_written_run(env / "runs" / "scored")
    code = ("import sys\nfrom streamlit.testing.v1 import AppTest\n"
            f"at = AppTest.from_file({PAGE!r}, default_timeout=60); at.run()\n"
            "assert not at.exception, at.exception\n"
            "assert at.get('vega_lite_chart') or at.get('arrow_vega_lite_chart')\n"
            "print('tensorflow' in sys.modules, 'keras' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-2:] == ["False", "False"]


# --- evaluate now ---------------------------------------------------------------------------------


def test_evaluate_now_appends_a_real_score_and_redraws(env, tiny_run):
    run = copy_run(tiny_run, env / "runs" / "tiny")
    at = page()
    assert not charts(at)
    evaluate(at, ["fd_cifar2k"], 16)
    assert_clean(at)
    rows = (run / "evals.csv").read_text().splitlines()
    assert rows[0] == HEADER.strip()
    score = next(r.split(",") for r in rows if r.startswith("4,fd_cifar2k,"))
    floor = next(r.split(",") for r in rows if r.startswith("4,fd_cifar2k_floor,"))
    assert score[3] == floor[3] == "16" and score[4] == "data.npz:64" and score[5].startswith("cifar@")
    assert float(score[2]) > 0 and float(floor[2]) >= 0
    assert "Saved to evals.csv" in at.success[0].value and f"{float(score[2]):.4g}" in at.success[0].value
    assert not charts(at)  # one checkpoint: the rerun shows the new score as a table row, not a one-point chart
    assert single_point_table(at).set_index("metric").loc["fd_cifar2k", "value"] == pytest.approx(float(score[2]))
    assert compare_table(at).set_index("run").loc["tiny", "fd_cifar2k"] == pytest.approx(float(score[2]))


def test_demo_mode_caps_samples_and_keeps_shipped_scores(env, tiny_run, monkeypatch):

    shipped = copy_run(tiny_run, env / "checkpoints" / "pretrained")
    monkeypatch.setenv("GAN_DEMO_MODE", "1")
    cap = policy.limits().max_export_images
    at = page()
    assert at.number_input(key="evaluate_n").max == cap and at.number_input(key="evaluate_n").value == cap
    evaluate(at, ["nn_psnr1k"], 8)  # pixel space: no classifier needed
    assert_clean(at)
    assert not (shipped / "evals.csv").exists()
    assert any("Not saved: demo mode" in i.value for i in at.info)
    shown = next(d.value for d in at.dataframe if "value" in d.value.columns)
    assert list(shown["metric"]) == ["nn_psnr1k"] and list(shown["n"]) == [8]


def test_evaluating_a_shipped_model_keeps_its_folder_as_shipped_and_shows_the_score(env, tiny_run):
    shipped = copy_run(tiny_run, env / "checkpoints" / "pretrained")
    before = sorted(p.name for p in shipped.iterdir())
    at = page()
    evaluate(at, ["nn_psnr1k"], 8)  # pixel space: no classifier needed
    assert_clean(at)
    assert sorted(p.name for p in shipped.iterdir()) == before  # nothing written into the shipped folder
    saved = env / "runs" / ".shipped-scores" / "pretrained" / "evals.csv"
    assert any(line.startswith("4,nn_psnr1k,") for line in saved.read_text().splitlines())
    assert "Saved to evals.csv" in at.success[0].value
    assert "nn_psnr1k" in set(scores.run_evals(Run(shipped))["metric"])


def test_a_missing_classifier_is_one_friendly_line(env, tiny_run, monkeypatch):
    run = copy_run(tiny_run, env / "runs" / "tiny")
    monkeypatch.setenv("GAN_CLASSIFIER", str(env / "no-classifier.keras"))
    at = page()
    assert at.multiselect(key="evaluate_metrics").value == ["nn_psnr1k"]  # the default skips what cannot run
    evaluate(at, ["fd_cifar2k"], 8)
    assert not at.exception
    assert len(at.error) == 1
    message = at.error[0].value
    assert "no CIFAR classifier" in message and "train-classifier" in message
    assert "Traceback" not in message and "\n" not in message
    assert not run.joinpath("evals.csv").exists()


def test_the_app_evaluates_with_the_command_line_and_reports_its_error_line(env, tiny_run):
    """studio.scores.evaluate runs `python -m gan evaluate --json`: its scores unsaved with save=False, and a
    refusal of the command (here: no generator) as the command's own one line."""
    run = copy_run(tiny_run, env / "runs" / "tiny")
    (result,) = scores.evaluate(Run(run), ["nn_psnr1k"], 8, save=False)
    assert (result.metric, result.n) == ("nn_psnr1k", 8) and result.value == result.value
    assert not (run / "evals.csv").exists()
    (run / "generator.keras").unlink()
    from gan import metrics

    with pytest.raises(metrics.MetricError) as failed:
        scores.evaluate(Run(run), ["nn_psnr1k"], 8, save=True)
    assert str(failed.value) == f"no generator in {run}: train it first"


# --- helpers (studio.scores) -------------------------------------------------------------------------


def test_run_evals_tolerates_missing_torn_and_foreign_files(tmp_path):
    from gan.runs import Run

    run = Run(tmp_path)
    assert run.evals().empty
    run.evals_path.write_text("a,b\n1,2\n")  # another layout
    assert run.evals().empty
    run.evals_path.write_text(HEADER + "4,fd_cifar2k,12.5,16,d:64,cifar,1\n4,fd_cifar2k_floor,1.5,16,d:64,cif")
    frame = run.evals()  # a line being appended right now
    assert list(frame["metric"]) == ["fd_cifar2k"] and frame["value"].tolist() == [12.5]


def test_score_history_pairs_each_score_with_its_own_floor(tmp_path):
    from gan.runs import Run
    from studio import scores

    (tmp_path / "evals.csv").write_text(EVALS + "300,kid_cifar10k,0.1,10000,c:5,cifar,4\n"
                                                "300,kid_cifar10k_std,0.01,10000,c:5,cifar,4\n")
    evals = Run(tmp_path).evals()
    assert scores.score_names(evals) == ["fd_cifar2k", "fd_cifar64", "class_acc10k", "kid_cifar10k"]
    history = scores.score_history(evals, "fd_cifar2k")
    assert history[["step", "value", "floor"]].values.tolist() == [[100, 80.5, 2.5], [300, 61.25, 2.75]]
    latest = scores.latest_scores(evals)
    assert latest["fd_cifar2k"]["value"] == 61.25 and latest["fd_cifar2k"]["n"] == 2000
    assert latest["class_acc10k"]["floor"] != latest["class_acc10k"]["floor"]  # NaN: no floor recorded


def test_captions_and_hints():
    from studio import scores

    caption = scores.measured_caption({"metric": "nn_psnr1k", "value": 17.5, "step": 1200, "n": 1000.0,
                                   "reference": "cifar10:50000", "extractor": "pixels", "floor": float("nan")})
    assert caption.startswith("Latest **17.5** at step 1,200: 1,000 generated samples against cifar10 (50,000")
    assert "raw pixels" in caption and "floor" not in caption.split(".")[1] and "memorization" in caption
    assert scores.metric_hint("kid_inception10k") == "Lower is better."
    assert scores.metric_hint("pr_cifar10k_recall") == "Higher is better."
    assert scores.describe_reference("my:data.npz:64") == "my:data.npz (64 real images)"
    assert scores.describe_reference(float("nan")) == "the training data"


def test_save_refusal(tmp_path):
    from gan.runs import Run
    from studio import scores

    run = Run(tmp_path)
    assert scores.save_refusal(run, shipped=False, demo=True) is None
    assert scores.save_refusal(run, shipped=True, demo=False) is None
    assert "demo mode" in scores.save_refusal(run, shipped=True, demo=True)
    assert "read-only" in scores.save_refusal(Run(tmp_path / "gone"), shipped=False, demo=False)


def test_the_catalogue_says_ready_for_the_metrics_this_machine_can_compute(env):
    """pandas 3 stores None in a string column as NaN: the check must not read it back from the frame."""
    hand_written_run(env / "runs" / "scored")
    at = page()
    catalogue = next(d.value for d in at.dataframe if "ready" in d.value.columns).set_index("metric")
    assert catalogue.loc["nn_psnr1k", "ready"] == "yes"  # pixel space: always computable
    assert catalogue.loc["fd_cifar10k", "ready"] == "yes"  # the shipped classifier is there
    assert catalogue.loc["ifd_cifar10k", "ready"] == "yes"


def test_per_class_scores_show_by_class_name_with_their_real_values(env):
    run = hand_written_run(env / "runs" / "scored", evals=HEADER + (
        "300,ifd_cifar10k,12,10000,c:50000,cifar,1\n300,ifd_cifar10k_floor,1,10000,c:50000,cifar,1\n"
        "300,ifd_cifar10k_c0,10,10000,c:50000,cifar,1\n300,ifd_cifar10k_c0_floor,0.9,10000,c:50000,cifar,1\n"
        "300,ifd_cifar10k_c1,14,10000,c:50000,cifar,1\n300,ifd_cifar10k_c1_floor,1.1,10000,c:50000,cifar,1\n"))
    (run / "classes.json").write_text('["cat", "dog"]')
    at = page()
    assert_clean(at)
    per_class = next(d.value for d in at.dataframe if "class" in d.value.columns).set_index("class")
    assert per_class.loc["dog", "ifd_cifar10k"] == 14 and per_class.loc["dog", "ifd_cifar10k (real)"] == 1.1
    assert list(single_point_table(at)["metric"]) == ["ifd_cifar10k"]  # the per-class rows are not metrics


def test_the_compare_table_shows_the_metrics_the_runs_share(env):
    hand_written_run(env / "runs" / "a", evals=HEADER + "5,fd_cifar2k,40,2000,c:50000,cifar,1\n"
                     "5,kid_cifar10k,0.1,10000,c:50000,cifar,1\n")
    hand_written_run(env / "runs" / "b", evals=HEADER + "5,fd_cifar2k,9,2000,c:50000,cifar,1\n"
                     "5,nn_psnr1k,16,1000,c:50000,pixels,1\n")
    hand_written_run(env / "runs" / "c", evals=None)  # not scored: does not decide what is shared
    at = page()
    table = compare_table(at)
    assert [c for c in table.columns if c not in COMPARE_COLUMNS] == ["fd_cifar2k", "fd_cifar2k n"]
    at.toggle(key="evaluate_compare_all").set_value(True).run()
    assert {"kid_cifar10k", "nn_psnr1k"} <= set(compare_table(at).columns)
