"""The Evaluate, Home and Export pages' view of a run's scores: headlines in plain words, histories with
their floors, per-class tables, the comparison of runs, and evaluating on request."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from gan.runs import Run, list_runs, runs_root
from studio.messages import redacted
from studio.models import ModelChoice, model_choices

if TYPE_CHECKING:
    import pandas as pd


def run_evals(run: Run) -> pd.DataFrame:
    """Every score of `run`: its own evals.csv and, for a shipped model, the scores the app and the CLI wrote
    for it in the user's folder (gan.cli_metrics.scores_run): shipped folders are never written."""
    import pandas as pd

    from gan.cli_metrics import scores_run

    target = scores_run(run)
    if target is run:
        return run.evals()
    return pd.concat([run.evals(), target.evals()], ignore_index=True)


def evals_summary(run: Run) -> dict[str, tuple[float, float | None]]:
    """The latest score of each metric as {metric: (value, real-vs-real floor or None)}; empty when unscored."""
    return {name: (float(score["value"]), None if score["floor"] != score["floor"] else float(score["floor"]))
            for name, score in latest_scores(run_evals(run)).items()}


# Headline scores in plain words: (metric id, label, True when higher is better, what it means).
HEADLINES = (
    ("fd_cifar10k", "Distance to real images", False,
     "Frechet distance of 10,000 samples to the training images, in the features of the project's CIFAR-10 "
     "classifier. 0 would be indistinguishable; the floor is two sets of real images."),
    ("ifd_cifar10k", "Variety within each class", False,
     "Intra-class Frechet distance: each class's samples against that class's real images, averaged. High when "
     "every sample of a class looks alike, even if the overall distance looks fine."),
    ("pr_cifar10k_recall", "Coverage of the real images", True,
     "k-NN recall: the share of real images that some sample comes close to. 0 means the model shows a few "
     "kinds of picture only (mode collapse)."),
    ("class_acc10k", "Samples of the asked-for class", True,
     "Class accuracy: how often the classifier names the class the sample was drawn for (conditional models)."),
)


def headline_scores(run: Run) -> list[tuple[str, str, str, str]]:
    """[(label, value, comparison with the real-data floor, explanation)] for the headline metrics it has."""
    scores = evals_summary(run)
    rows = []
    for metric, label, higher, meaning in HEADLINES:
        if metric not in scores:
            continue
        value, floor = scores[metric]
        direction = "higher is better" if higher else "lower is better"
        real = f"real images: {floor:.3g}" if floor is not None else "no real-data floor"
        rows.append((label, f"{value:.3g}", f"{direction}; {real}", f"`{metric}`. {meaning}"))
    return rows


def training_value(run: Run) -> list[str]:
    """What the run's evals.csv says about training on its images (CAS, augmentation gain), in plain words."""
    evals = run_evals(run)
    if evals.empty:
        return []
    latest, lines = latest_scores(evals), []
    last = evals.dropna(subset=["value"]).groupby("metric", sort=False)["value"].last()  # every row name
    if "cas10k" in latest:
        score = latest["cas10k"]
        ceiling = score.get("floor")
        chance = last.get("cas10k_chance")
        lines.append(
            f"**A classifier trained only on {int(score['n']):,} of these images** scores "
            f"**{score['value']:.1%}** on real test images ({score['reference']})"
            + (f"; trained on as many real images it scores {ceiling:.1%}" if ceiling == ceiling else "")
            + (f", and guessing scores {chance:.1%}." if chance is not None else "."))
    if "aug_gain5k" in latest:
        score = latest["aug_gain5k"]
        std, without = last.get("aug_gain5k_std", float("nan")), last.get("aug_gain5k_without", float("nan"))
        verdict = ("help" if score["value"] > 2 * std else "hurt" if score["value"] < -2 * std
                   else "make no clear difference")
        lines.append(
            f"**Added to a tenth of the real training images**, {int(score['n']):,} of these images "
            f"{verdict}: test accuracy {score['value']:+.1%} (spread {std:.1%} over 3 seeds; "
            f"{without:.1%} without them; test set: {score['reference']}).")
    return lines


EXTRACTOR_WORDS = {
    "cifar": "features of the project's CIFAR-10 classifier",
    "inception": "the FID Inception network papers use (TF Inception-v3, StyleGAN2-ADA's resize)",
    "pixels": "raw pixels",
    "small-resnet": "a small ResNet trained from scratch on the samples, tested on real images",
}


PER_CLASS = re.compile(r"^(?P<metric>.+)_c(?P<cls>\d+)$")  # ifd_cifar10k_c3: class 3's value of ifd_cifar10k


def score_names(evals: pd.DataFrame) -> list[str]:
    """Metrics with scores of their own, in first-seen order (`<metric>_floor` / `_std` rows ride along;
    per-class rows `<metric>_c<k>` are for `per_class_scores`)."""
    return [name for name in dict.fromkeys(evals["metric"])
            if not name.endswith(("_floor", "_std")) and not PER_CLASS.match(name)]


def per_class_scores(evals: pd.DataFrame, class_names: list[str]) -> pd.DataFrame:
    """The latest per-class values (intra-class FD, recall...) as one row per class, a column per metric."""
    import pandas as pd

    table: dict[str, dict[str, float]] = {}
    for name in dict.fromkeys(evals["metric"]):
        match = PER_CLASS.match(name)
        if not match or name.endswith(("_floor", "_std")):
            continue
        k = int(match["cls"])
        label = class_names[k] if k < len(class_names) else f"class {k}"
        rows = score_history(evals, name)
        if not rows.empty:
            latest = rows.iloc[-1]
            table.setdefault(label, {})[match["metric"]] = float(latest["value"])
            if latest["floor"] == latest["floor"]:
                table[label][f"{match['metric']} (real)"] = float(latest["floor"])
    return pd.DataFrame([{"class": label, **values} for label, values in table.items()])


def score_history(evals: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One row per measurement of `metric` (step, value, n, reference, extractor, time) with its `floor`,
    in the order they were written.

    A floor row is written in the same append as its score (same step, n and time), so that is
    the join; measurements without a floor (nan, e.g. class accuracy) get NaN.
    """
    keys = ["step", "n", "time"]
    scores = evals[evals["metric"] == metric]
    floors = (evals[evals["metric"] == f"{metric}_floor"][[*keys, "value"]]
              .drop_duplicates(keys, keep="last").rename(columns={"value": "floor"}))
    return scores.merge(floors, on=keys, how="left").reset_index(drop=True)  # keeps the file's order


def latest_scores(evals: pd.DataFrame) -> dict[str, dict]:
    """{metric: its latest measurement as a dict}: the last one written (evals.csv is append-only)."""
    latest = {}
    for name in score_names(evals):
        rows = score_history(evals, name)
        if not rows.empty:
            latest[name] = rows.iloc[-1].to_dict()
    return latest


def metric_hint(name: str) -> str:
    """Which way is good, so a chart of numbers can be read at all."""
    if name.startswith(("fd_", "kid_", "ifd_")):
        return "Lower is better."
    if name.startswith("nn_psnr"):
        return "Higher means closer copies of training images (memorization); compare with the floor."
    return "Higher is better."


def describe_reference(reference: object) -> str:
    """'data.npz:64' (gan.metrics' `<source>:<count>`) -> 'data.npz (64 real images)'."""
    text = "" if reference is None or reference != reference else str(reference)  # NaN != NaN
    source, _, count = text.rpartition(":")
    if source and count.isdigit():
        return f"{source} ({int(count):,} real images)"
    return text or "the training data"


def extractor_words(extractor: str) -> str:
    """`cifar@1a2b3c4d` in words: which network's features, and which version of its weights."""
    base, _, version = extractor.partition("@")
    words = EXTRACTOR_WORDS.get(base, f"{base} features" if base else "unknown features")
    return f"{words} (weights {version})" if version else words


def measured_caption(score: dict) -> str:
    """How a score was measured, in words: sample count, reference set, features, floor, direction.

    Honest numbers are a product rule: a score without its sample count and floor invites
    comparisons that do not hold (FD falls as n grows, for real images too).
    """
    n = score.get("n")
    count = f"{int(n):,} generated samples" if n == n and n is not None else "generated samples"
    features = extractor_words(str(score.get("extractor") or ""))
    text = (f"Latest **{score['value']:.4g}** at step {int(score['step']):,}: {count} against "
            f"{describe_reference(score.get('reference'))}, in {features}.")
    floor = score.get("floor")
    if floor is not None and floor == floor:
        text += f" Dashed: the real-vs-real floor, {floor:.4g} (held-out real images at the same count)."
    return f"{text} {metric_hint(str(score['metric']))}"


COMPARE_COLUMNS = ("run", "source", "preset", "conditional", "epoch", "step", "state")  # then <metric>, <metric> n


def compare_choices() -> list[ModelChoice]:
    """The shipped checkpoints the model picker offers, then every run (with or without a generator yet)."""
    shipped = [c for c in model_choices() if c.shipped]
    return shipped + [ModelChoice(run, False) for run in list_runs(runs_root())]


def compare_table(choices: list[ModelChoice]) -> pd.DataFrame:
    """One row per run: what it is, how far it trained, and the latest value (and n) of each metric.

    Cells are empty (None/NaN) where a run does not say, e.g. a shipped checkpoint without status.json.
    `attrs["mixed_extractors"]`: {metric: its feature-network labels} where the column mixes several. A retrained
    classifier rescales every `cifar` score, so such values sit in one column but do not compare; rows written
    before labels carried the weights' hash say just `cifar` and count as a version of their own.
    """
    import pandas as pd

    rows, metric_order, extractors = [], {}, {}
    for choice in choices:
        run = choice.run
        try:
            config = run.config()
        except (OSError, ValueError):
            config = None
        status = run.status() if run.status_path.is_file() else None
        row = {"run": run.name, "source": "pretrained" if choice.shipped else "run",
               "preset": config.preset if config else None,
               "conditional": ("yes" if config.conditional else "no") if config else None,
               "epoch": status and status.epoch, "step": status and status.step, "state": status and status.state}
        for name, score in latest_scores(run_evals(run)).items():
            metric_order.setdefault(name, None)
            row[name] = score["value"]
            row[f"{name} n"] = score["n"]
            label = score.get("extractor")
            extractors.setdefault(name, set()).add(label if isinstance(label, str) and label else "?")
        rows.append(row)
    columns = [*COMPARE_COLUMNS, *(c for name in metric_order for c in (name, f"{name} n"))]
    frame = pd.DataFrame(rows, columns=columns)
    for column in ["epoch", "step", *(f"{name} n" for name in metric_order)]:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("Int64")
    frame.attrs["mixed_extractors"] = {name: sorted(labels) for name, labels in extractors.items() if len(labels) > 1}
    scored = frame[[name for name in metric_order]].notna().any(axis=1) if metric_order else frame["run"].isna()
    # Metrics every scored run has: the columns a comparison can use (others are mostly empty cells).
    frame.attrs["shared_metrics"] = [name for name in metric_order if frame.loc[scored, name].notna().all()]
    return frame


def metric_catalogue() -> list[dict]:
    """Every registered metric with its default sample count, features, description and what it lacks here.

    Availability comes from gan.metrics.check_available, which looks for files only (no TensorFlow).
    """
    from gan import metrics

    rows = []
    for name, spec in metrics.METRICS.items():
        try:
            metrics.check_available([name])
            missing = None
        except metrics.MetricError as e:
            missing = str(e)
        rows.append({"metric": name, "samples": spec.n, "features": spec.extractor or "pixels",
                     "measures": spec.doc, "missing": missing})
    return rows


def save_refusal(run: Run, shipped: bool, demo: bool) -> str | None:
    """None when a new score may be appended to the run's evals.csv, else why not (said to the user).

    Shipped checkpoints may live on a read-only mount; and in demo mode their scores stay as shipped,
    so a visitor's 64-sample score does not become the model's headline number.
    """
    from gan.cli_metrics import scores_run

    if demo and shipped:
        return "demo mode keeps the pretrained models' scores as shipped"
    target = scores_run(run)  # a shipped model's scores go to the user's folder, made when first written
    if target is not run:
        folder = target.path
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        return None if os.access(folder, os.W_OK) else f"{folder} is read-only"
    target = run.evals_path if run.evals_path.exists() else run.path
    if not os.access(target, os.W_OK):
        return f"{target} is read-only"
    return None


def cifar10_problem() -> str | None:
    """Why the "cifar10" source cannot load here right now (offline, a recent failed download), or None.

    Cheap (no download, no TensorFlow); the line ends in the advice loading would give.
    """
    from gan import data

    error = data.cifar10_unavailable()
    return None if error is None else str(error)


def cifar10_caption() -> str:
    """Where CIFAR-10 comes from on this server, in one caption."""
    from gan import data
    from gan.files import keras_datasets_dir

    local = data.local_cifar10()
    if local is not None:
        return f"CIFAR-10 (50,000 images, 10 classes) is read from the local copy `{redacted(str(local))}`."
    folder = keras_datasets_dir()
    try:
        shown = f"~/{folder.relative_to(Path.home())}"
    except ValueError:  # KERAS_HOME outside the home folder
        shown = redacted(str(folder))
    return (f"CIFAR-10 (50,000 images, 10 classes) is downloaded once (170 MB) into {shown}. Offline? "
            f"Start the app with {data.CIFAR10_ENV}=/path/to/a/local/copy.")


def evaluate(run: Run, names: list[str], n: int | None, save: bool, data: str | None = None,
             on_progress: Callable[[int, int, str], None] | None = None) -> list:
    """gan.metrics.evaluate_run (sampling, reference statistics, scores, floors), appended to evals.csv
    only when `save`; returns its Results. Raises gan.metrics.MetricError (one line) when it fails.

    It runs `python -m gan evaluate --json` in a process of its own, as training runs `python -m gan train`:
    the classifier (or Inception), the samples and their buffers go back to the system when it ends, so the
    server stays small however many people evaluate, and the app scores exactly as the command line does.
    Slow extractors (Inception: minutes per thousand images on a CPU) report `progress <done> <total> <what>`
    lines on its stderr, passed on to `on_progress(done, total, what)`.
    """
    import json
    import subprocess
    import sys
    import tempfile

    from gan import metrics
    from gan.files import REPO_ROOT
    from gan.metrics.fid_inception import PROGRESS_ENV

    command = [sys.executable, "-m", "gan", "evaluate", "--run-dir", str(run.path), "--metrics", ",".join(names),
               "--json", *(["--n", str(n)] if n is not None else []), *(["--data", data] if data else []),
               *([] if save else ["--no-save"])]
    env = {**os.environ, PROGRESS_ENV: "lines"}
    with tempfile.TemporaryFile("w+") as out:  # a file, not a pipe: the worker never blocks on a full stdout
        worker = subprocess.Popen(command, stdout=out, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                                  cwd=REPO_ROOT, env=env)
        other = []
        for line in worker.stderr:
            match = PROGRESS.match(line)
            if match and on_progress is not None:
                on_progress(int(match["done"]), int(match["total"]), match["what"])
            elif not match and line.strip():
                other = [*other[-20:], line.strip()]
        returncode = worker.wait()
        out.seek(0)
        output = out.read()
    if returncode != 0:
        raise metrics.MetricError(_failure(other, returncode))
    return [metrics.Result(**json.loads(line)) for line in output.splitlines() if line.strip()]


def _failure(stderr_lines: list[str], returncode: int) -> str:
    """Why the evaluation failed, in one line: the command's own `error: ...` line, without its prefix."""
    said = [line.removeprefix("error:").strip() for line in stderr_lines if line.startswith("error:")]
    if said or stderr_lines:
        return (said or stderr_lines)[-1]
    return f"the evaluation stopped (exit code {returncode})"


PROGRESS = re.compile(r"^progress (?P<done>\d+) (?P<total>\d+) (?P<what>.*)$")
