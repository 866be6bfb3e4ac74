"""Shared pieces of the Streamlit pages: where models live, cached loading, pickers, errors, device.

The app's state is the filesystem (run directories) plus Streamlit's caches; nothing here
keeps module-level state. TensorFlow is imported only when a model is first loaded, so the
Train page and an empty app start fast.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import streamlit as st

from gan import security
from gan.runs import Run, RunLockedError, list_runs, start_training
from gan.security import UNLIMITED, Limits, NotAllowedError, demo_mode, redact_paths

if TYPE_CHECKING:
    import keras
    import pandas as pd

log = logging.getLogger("gan.app")

REPO = Path(__file__).resolve().parents[1]
RUN_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MODEL_KEY = "model_path"  # session_state: the chosen model's run directory, shared by all pages


def runs_root() -> Path:
    """Where the Train page writes runs: $GAN_RUNS_DIR, else runs/ in the repository."""
    return Path(os.environ.get("GAN_RUNS_DIR") or REPO / "runs")


def checkpoints_root() -> Path:
    """Where shipped pretrained models live: $GAN_CHECKPOINTS_DIR, else checkpoints/."""
    return Path(os.environ.get("GAN_CHECKPOINTS_DIR") or REPO / "checkpoints")


def demo_summary(limits: Limits) -> str:
    """What demo mode allows, in one sentence for the pages (gan.security decides whether it is on)."""
    return (f"Demo mode: uploads up to {limits.max_upload_mb} MB and {limits.max_images:,} images, at most "
            f"{limits.max_epochs} epochs, {limits.max_concurrent_trainings} training at a time, exports of "
            f"up to {limits.max_export_images:,} images; no paths on the server.")


def validate_run_name(name: str) -> str | None:
    """None when `name` is a usable run name, else the reason it is not."""
    if not name:
        return "Give the run a name."
    if not RUN_NAME.match(name):
        return "Run names may use letters, digits, '-' and '_' only (at most 64 characters)."
    return None


# --- models ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelChoice:
    """A run directory with a generator in it, from checkpoints/ (shipped) or runs/ (trained here)."""

    run: Run
    shipped: bool

    @property
    def label(self) -> str:
        return f"{self.run.name} ({'pretrained' if self.shipped else 'run'})"


def model_choices() -> list[ModelChoice]:
    """Shipped checkpoints first (alphabetical), then runs (newest first); only those with a generator."""
    root = checkpoints_root()
    shipped = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.name) if root.is_dir() else []
    choices = [ModelChoice(Run(p), True) for p in shipped if (p / "generator.keras").is_file()]
    choices += [ModelChoice(run, False) for run in list_runs(runs_root()) if run.generator_path.is_file()]
    return choices


def default_choice(choices: list[ModelChoice]) -> int:
    """Index of $GAN_DEFAULT_MODEL among `choices`, else the first shipped checkpoint, else 0."""
    wanted = os.environ.get("GAN_DEFAULT_MODEL")
    for i, choice in enumerate(choices):
        if wanted and choice.run.name == wanted:
            return i
    return next((i for i, c in enumerate(choices) if c.shipped), 0)


def pick_model(where=None) -> Run | None:
    """A model selectbox (in the sidebar by default); the choice is shared by every page.

    Returns None after drawing the empty state when there is no model at all.
    """
    choices = model_choices()
    if not choices:
        empty_state()
        return None
    paths = [str(c.run.path) for c in choices]
    current = st.session_state.get(MODEL_KEY)
    index = paths.index(current) if current in paths else default_choice(choices)
    labels = {str(c.run.path): c.label for c in choices}
    container = where or st.sidebar
    chosen = container.selectbox("Model", paths, index=index, format_func=labels.__getitem__, key="model_picker",
                                 help="Pretrained checkpoints and your own runs that have saved a generator.")
    st.session_state[MODEL_KEY] = chosen
    return choices[paths.index(chosen)].run


def empty_state() -> None:
    st.info("No model yet: train one on the **Train** page (a few minutes with the `tiny` preset), "
            "or put a pretrained run folder under `checkpoints/`.")
    with contextlib.suppress(Exception):  # page_link needs the navigation to be set up
        st.page_link("pages/train.py", label="Go to Train", icon=":material/model_training:")


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


@st.cache_resource(max_entries=4, show_spinner="Loading the model (TensorFlow starts once)...")
def _load_generator(path: str, mtime: float) -> keras.Model:
    from gan.sampling import load_generator

    return load_generator(path)


def load_model(run: Run) -> keras.Model:
    """The run's generator, loaded once per file version (a retrained run reloads)."""
    return _load_generator(str(run.generator_path), _mtime(run.generator_path))


@dataclass(frozen=True)
class ModelInfo:
    latent_dim: int
    num_classes: int
    class_names: list[str]


def model_info(run: Run, model: keras.Model) -> ModelInfo:
    """Latent size and classes, with readable names where the run recorded them."""
    from gan import sampling

    classes = sampling.num_classes(model)
    names = [str(n) for n in run.class_names()]
    if len(names) != classes:
        names = [f"class {i}" for i in range(classes)]
    return ModelInfo(sampling.latent_dim(model), classes, names)


def sample_grid(run: Run, n: int = 64, seed: int = 0, class_id: int | None = None,
                truncation: float | None = None) -> np.ndarray:
    """A grid image of `n` samples (conditional models: classes take turns, cell by cell).

    Cached per model version and arguments: a big generator takes seconds for 64 images on a
    CPU, and page revisits or unrelated widget changes should not pay that again.
    """
    return _grid(str(run.generator_path), _mtime(run.generator_path), n, seed, class_id, truncation)


@st.cache_data(max_entries=64, show_spinner="Sampling...")
def _grid(path: str, mtime: float, n: int, seed: int, class_id: int | None, truncation: float | None,
          columns: int = 8) -> np.ndarray:
    from gan import sampling

    images, _ = sampling.sample(_load_generator(path, mtime), n, seed, class_id, truncation)
    return sampling.make_grid(images, columns)


# --- errors ---------------------------------------------------------------------------------


def shown(text: str) -> str:
    """What a visitor may see of an error or log text: in demo mode, file names but no server paths."""
    return redact_paths(text) if demo_mode() else text


def friendly_message(error: BaseException) -> str:
    """One line a user can act on (our own error types already carry one); no server paths in demo mode."""
    return shown(_one_line(error))


def _one_line(error: BaseException) -> str:
    from gan.config import ConfigError
    from gan.sampling import ModelError

    known = (ConfigError, ModelError, RunLockedError, ValueError)
    with contextlib.suppress(ImportError):
        from gan.data import DataError

        known = (DataError, *known)
    if isinstance(error, known):
        return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    if isinstance(error, MemoryError):
        return "Out of memory: try fewer images or a smaller batch."
    if isinstance(error, OSError):
        return f"File problem: {error.strerror or error} ({error.filename or ''})"
    first = (str(error).strip().splitlines() or [""])[0][:200]
    return f"Something went wrong ({type(error).__name__}{': ' + first if first else ''})."


# Proto fields that hold text a visitor reads (markdown bodies, captions, labels, help, messages, code).
# Ids, URLs and chart specs are left alone: a media URL looks like an absolute path.
TEXT_FIELDS = frozenset({"body", "label", "help", "caption", "placeholder", "text", "code_text", "message",
                         "stack_trace", "description"})


def redact_element(proto) -> None:
    """Pass every text field of an element's proto, nested ones too, through `redact_paths`."""
    for field, value in proto.ListFields():
        repeated = field.is_repeated
        if field.type == field.TYPE_MESSAGE:
            for item in (value if repeated else [value]):
                redact_element(item)
        elif field.type == field.TYPE_STRING and field.name in TEXT_FIELDS:
            if repeated:
                value[:] = [redact_paths(v) for v in value]
            else:
                setattr(proto, field.name, redact_paths(value))


def install_redaction() -> None:
    """In demo mode, every element any page draws has its text redacted on its way to the browser.

    One place, below every page: Streamlit queues each element through `DeltaGenerator._enqueue`
    (captions, alerts, metrics, image captions, errors alike), so no caption can forget `shown()`.
    Installed once per server; demo mode is a property of the deployment, not of a session.
    """
    from streamlit.delta_generator import DeltaGenerator

    enqueue = DeltaGenerator._enqueue
    if getattr(enqueue, "redacts_paths", False) or not demo_mode():
        return

    def redacting_enqueue(self, delta_type, element_proto, *args, **kwargs):
        if demo_mode():
            redact_element(element_proto)
        return enqueue(self, delta_type, element_proto, *args, **kwargs)

    redacting_enqueue.redacts_paths = True
    DeltaGenerator._enqueue = redacting_enqueue


@contextlib.contextmanager
def friendly_errors(what: str = "This page") -> Iterator[None]:
    """Turn any exception in the body into an `st.error` line instead of a traceback.

    Streamlit's own control flow (st.rerun, st.stop, page switches) derives from
    BaseException and passes through untouched.
    """
    install_redaction()
    try:
        yield
    except Exception as e:
        log.exception("%s failed", what)
        st.error(f"{what} could not finish: {friendly_message(e)}", icon=":material/error:")


def page_icon():
    """A 4x4 grid of colour swatches, drawn here: an emoji or icon-font favicon is fetched from the internet."""
    from PIL import Image

    colours = np.array([[66, 133, 244], [219, 68, 55], [244, 180, 0], [15, 157, 88]], np.uint8)
    cells = colours[(np.arange(16).reshape(4, 4) + np.arange(4)[:, None]) % 4]
    return Image.fromarray(np.kron(cells, np.ones((8, 8, 1), np.uint8)))


# --- device -----------------------------------------------------------------------------------


@st.cache_data(ttl=3600, show_spinner=False)
def gpu_names() -> list[str]:
    """GPU names from `nvidia-smi -L` or /proc/driver/nvidia, without importing TensorFlow."""
    smi = shutil.which("nvidia-smi")
    if smi:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            names = parse_nvidia_smi(subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=3).stdout)
            if names:
                return names
    names = []
    for info in sorted(Path("/proc/driver/nvidia/gpus").glob("*/information")):
        with contextlib.suppress(OSError):
            found = re.search(r"^Model:\s*(.+)$", info.read_text(), re.M)
            if found:
                names.append(found.group(1).strip())
    return names


def parse_nvidia_smi(listing: str) -> list[str]:
    """GPU names from `nvidia-smi -L` lines like 'GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-...)'."""
    return [m.group(1).strip() for m in re.finditer(r"^GPU \d+: (.+?)(?: \(UUID:.*\))?\s*$", listing, re.M)]


def device_line() -> tuple[str, bool]:
    """(what computes, has a GPU) for the Home page."""
    names = gpu_names()
    if names:
        return (names[0] if len(names) == 1 else f"{len(names)} GPUs: {', '.join(names)}"), True
    return "CPU", False


# --- formatting --------------------------------------------------------------------------------


def duration(seconds: float | None) -> str:
    """'1 h 02 min', '3 min 05 s', '12 s' or '-'."""
    if seconds is None or not np.isfinite(seconds) or seconds < 0:
        return "-"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def evals_summary(run: Run) -> dict[str, tuple[float, float | None]]:
    """The latest score of each metric in evals.csv as {metric: (value, real-vs-real floor or None)}.

    evals.csv is long format (step, metric, value, n, reference, extractor, time), with floors as
    rows named `<metric>_floor` (gan.metrics). Empty when the run has not been evaluated.
    """
    import pandas as pd

    if not run.evals_path.is_file():
        return {}
    try:
        frame = pd.read_csv(run.evals_path)
        frame["value"] = pd.to_numeric(frame["value"], errors="coerce")
        latest = frame.dropna(subset=["value"]).groupby("metric", sort=False)["value"].last()
    except Exception:  # a file being written, or of another layout: show nothing rather than fail
        return {}
    return {name: (float(value), float(latest[f"{name}_floor"]) if f"{name}_floor" in latest else None)
            for name, value in latest.items() if not name.endswith(("_floor", "_std"))}


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
    evals = read_evals(run)
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


def class_grid(run: Run, seed: int = 0) -> np.ndarray:
    """A grid of fresh samples, one labelled column per class for a conditional model (8 x 8 otherwise)."""
    from gan import sampling

    info = model_info(run, load_model(run))
    n, columns = sampling.grid_layout(info.num_classes)
    images = _grid(str(run.generator_path), _mtime(run.generator_path), n, seed, None, None, columns)
    if columns == info.num_classes:
        return sampling.label_columns(images, info.class_names)
    return images


# --- evaluation (the Evaluate page) ---------------------------------------------------------------

EXTRACTOR_WORDS = {
    "cifar": "features of the project's CIFAR-10 classifier",
    "inception": "Keras InceptionV3 features (close to, not equal to, published FIDs)",
    "pixels": "raw pixels",
    "small-resnet": "a small ResNet trained from scratch on the samples, tested on real images",
}


def read_evals(run: Run) -> pd.DataFrame:
    """The run's evals.csv (gan.metrics' long format) with numeric step/value/n/time.

    Empty, with the usual columns, when there is no file or it cannot be parsed. A line the trainer
    is appending right now, and rows without a number, are dropped rather than failing the page.
    """
    import pandas as pd

    from gan.metrics import EVAL_COLUMNS

    empty = pd.DataFrame(columns=list(EVAL_COLUMNS))
    try:
        text = run.evals_path.read_text()
    except (OSError, UnicodeDecodeError):
        return empty
    if not text.endswith("\n"):  # append_evals writes whole lines: a last line without one is still being written
        text = text[:text.rfind("\n") + 1]
    try:
        frame = pd.read_csv(io.StringIO(text), dtype={"metric": str, "reference": str, "extractor": str})
    except Exception:  # empty or foreign file: show nothing rather than fail
        return empty
    if not {"step", "metric", "value"} <= set(frame.columns):
        return empty
    for column in EVAL_COLUMNS:
        if column not in frame:
            frame[column] = None
    for column in ("step", "value", "n", "time"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return frame.dropna(subset=["step", "metric", "value"]).reset_index(drop=True)


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
        status = run.status() if run.status_path.is_file() else {}
        row = {"run": run.name, "source": "pretrained" if choice.shipped else "run",
               "preset": config.preset if config else None,
               "conditional": ("yes" if config.conditional else "no") if config else None,
               "epoch": status.get("epoch"), "step": status.get("step"), "state": status.get("state")}
        for name, score in latest_scores(read_evals(run)).items():
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
    if demo and shipped:
        return "demo mode keeps the pretrained models' scores as shipped"
    target = run.evals_path if run.evals_path.exists() else run.path
    if not os.access(target, os.W_OK):
        return f"{target} is read-only"
    return None


class _ScratchEvals(Run):
    """The same run, but its evals.csv lives in a scratch folder: scores a read-only run without writing to it."""

    def __init__(self, path: str | Path, scratch: str | Path):
        super().__init__(path)
        self._scratch = Path(scratch)

    @property
    def evals_path(self) -> Path:
        return self._scratch / "evals.csv"


def cifar10_problem() -> str | None:
    """Why the "cifar10" source cannot load here right now (offline, a recent failed download), or None.

    Cheap (no download, no TensorFlow): looks for the local copy, Keras' cache and the failure marker.
    """
    from gan import data

    local = data.local_cifar10()
    if local is not None:
        return None if local.exists() else f"{data.CIFAR10_ENV} names {local}, which does not exist"
    if (Path.home() / ".keras" / "datasets" / "cifar-10-batches-py").is_dir():
        return None
    return data.recent_download_failure()


def cifar10_caption() -> str:
    from gan import data

    local = data.local_cifar10()
    if local is not None:
        return f"CIFAR-10 (50,000 images, 10 classes) is read from the local copy `{shown(str(local))}`."
    return ("CIFAR-10 (50,000 images, 10 classes) is downloaded once (170 MB) into ~/.keras/datasets. Offline? "
            f"Start the app with {data.CIFAR10_ENV}=/path/to/a/local/copy.")


def evaluate(run: Run, names: list[str], n: int | None, save: bool, data: str | None = None) -> list:
    """gan.metrics.evaluate_run (sampling, reference statistics, scores, floors), appended to evals.csv
    only when `save`; returns its Results. Raises gan.metrics.MetricError (one line) when a metric
    cannot be computed here, and DataError / ModelError for a missing dataset or generator.
    """
    import tempfile

    from gan import metrics

    if save:
        return metrics.evaluate_run(run, names, n=n, data=data)
    with tempfile.TemporaryDirectory(prefix="gan-eval-") as scratch:
        return metrics.evaluate_run(_ScratchEvals(run.path, scratch), names, n=n, data=data)


# --- starting runs -------------------------------------------------------------------------------

MAX_UPLOAD_BYTES = 200 * 1024 * 1024  # keep in step with server.maxUploadSize in .streamlit/config.toml
MAX_UPLOAD_MEMBERS = 100_000
UPLOADS = ".uploads"  # under the runs folder: each uploaded dataset once, named by its content's hash


def store_upload(raw: bytes) -> tuple[Path, bool]:
    """Save an uploaded zip once, whichever runs train on it: (its path, whether it was new).

    A hundred runs of one 52 MB dataset used to hold a hundred copies of it.
    """
    import hashlib

    from gan.files import atomic_write_bytes

    path = runs_root() / UPLOADS / f"{hashlib.sha256(raw).hexdigest()[:32]}.zip"
    if path.is_file() and path.stat().st_size == len(raw):
        return path.resolve(), False
    atomic_write_bytes(path, raw)
    return path.resolve(), True


def disk_usage(folder: Path) -> int:
    """Bytes of the regular files under `folder` (links not followed)."""
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def free_disk(limits: Limits) -> list[str]:
    """Keep the runs folder under the demo's disk cap: delete the oldest runs nobody is training, then
    uploads no remaining run uses. Returns what was deleted; NotAllowedError when still over the cap."""
    from gan.runs import RunError, delete_run

    cap = limits.max_disk_mb
    if cap is None:
        return []
    root, budget, deleted = runs_root(), cap * 2**20 * 0.8, []  # 20% headroom for the run about to start
    for run in reversed(list_runs(root)):  # oldest first
        if disk_usage(root) <= budget:
            break
        with contextlib.suppress(RunError, OSError):
            delete_run(run)
            deleted.append(run.name)
    used_uploads = {run_data(run) for run in list_runs(root)}
    for upload in sorted((root / UPLOADS).glob("*.zip"), key=lambda p: p.stat().st_mtime):
        if str(upload.resolve()) not in used_uploads and (deleted or disk_usage(root) > budget):
            upload.unlink(missing_ok=True)
            deleted.append(upload.name)
    limits.check("max_disk_mb", round(disk_usage(root) / 2**20), " MB")
    return deleted


def run_data(run: Run) -> str | None:
    """The data source a run trained on (config.json's `data`), or None when its config is unreadable."""
    try:
        return run.config().data
    except (OSError, ValueError):
        return None


def train_args(fields: dict) -> list[str]:
    """`python -m gan train` flags for the form's values; None means "the preset's default".

    The values are checked with TrainConfig.validate first (cheap: no preset or Keras import),
    so a bad value is reported on the page instead of in a dead process's log.
    """
    from gan.config import ConfigError, TrainConfig
    from gan.models import preset_names

    if fields.get("preset") not in preset_names():
        raise ConfigError(f"unknown preset {fields.get('preset')!r}; choose from {', '.join(preset_names())}")
    config_fields = {k: v for k, v in fields.items() if v is not None and k in TrainConfig.__dataclass_fields__}
    TrainConfig(**config_fields).validate()
    args: list[str] = []
    for key, value in fields.items():
        if value is None:
            continue
        if key == "conditional":
            args.append("--conditional" if value else "--unconditional")
        elif key == "jit":
            args.append("--jit" if value else "--no-jit")
        elif isinstance(value, bool):
            args += [f"--{key.replace('_', '-')}"] if value else []
        else:
            args += [f"--{key.replace('_', '-')}", str(value)]
    return [*args, "--quiet"]


def check_upload(data: bytes, limits: Limits = UNLIMITED) -> int:
    """Refuse an uploaded zip that is too big, not a zip, or has no images; returns its image count.

    The general caps (MAX_UPLOAD_BYTES, MAX_UPLOAD_MEMBERS) always hold; `limits` (demo mode:
    gan.security.limits()) adds its upload size and image count, raising NotAllowedError.
    gan.data enforces the rest (unsafe member names, zip bombs, oversized images) when it reads it.
    """
    import io
    import zipfile

    if len(data) > MAX_UPLOAD_BYTES:
        raise ValueError(f"the upload is {len(data) / 2**20:.0f} MB; the limit is {MAX_UPLOAD_BYTES // 2**20} MB")
    limits.check("max_upload_mb", round(len(data) / 2**20, 1), " MB")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, ValueError, EOFError):
        raise ValueError("the upload is not a valid .zip file") from None
    if len(names) > MAX_UPLOAD_MEMBERS:
        raise ValueError(f"the zip has {len(names):,} entries; the limit is {MAX_UPLOAD_MEMBERS:,}")
    images = [n for n in names if Path(n).suffix.lower() in {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}]
    if not images:
        raise ValueError("the zip holds no images; expected <class>/<image>.png (or .jpg) entries")
    limits.check("max_images", len(images))
    return len(images)


def check_train_limits(fields: dict, limits: Limits) -> None:
    """NotAllowedError when the form asks for more than `limits` allow (epochs, images, steps)."""
    limits.check("max_epochs", fields.get("epochs") or 0)
    if fields.get("limit") is not None:
        limits.check("max_images", fields["limit"])
    if limits.max_epochs is not None and fields.get("steps") is not None:
        raise NotAllowedError("this demo counts training in epochs; leave 'Stop after steps' empty")


@st.cache_resource
def _launches() -> tuple[threading.Lock, dict[str, tuple[subprocess.Popen, float]]]:
    """{run path: (process, launch time)} of trainings this server started, shared by every session
    (browser tab), and the lock that makes check-then-start one step across sessions.

    A trainer takes its run's lock only after importing TensorFlow (seconds), so until then only
    this knows a training is starting.
    """
    return threading.Lock(), {}


def _still_starting(path: str, process: subprocess.Popen, launched_at: float) -> bool:
    """Alive, and the trainer has written no status since its launch (it writes one only while
    holding the run's lock, so from then on the lock tells; an exiting trainer no longer counts)."""
    return process.poll() is None and (Run(path).status().get("updated_at") or 0.0) < launched_at


def active_trainings(root: Path | None = None) -> list[str]:
    """Runs under `root` (default runs_root()) being trained now: a process holds the run's lock,
    or a process started from this app has not reached the point of taking it yet."""
    root = runs_root() if root is None else Path(root)
    _, launched = _launches()
    for path, (process, launched_at) in list(launched.items()):
        if not _still_starting(path, process, launched_at):
            launched.pop(path, None)
    names = {Path(path).name for path in launched if Path(path).parent == root}
    if root.is_dir():
        names |= {p.name for p in root.iterdir() if p.is_dir() and Run(p).is_locked()}
    return sorted(names)


def check_training_slot(busy: list[str], limits: Limits) -> None:
    """NotAllowedError (naming the cap) when `busy` runs already fill `limits.max_concurrent_trainings`."""
    cap = limits.max_concurrent_trainings
    if cap is None or len(busy) < cap:
        return
    shown = ", ".join(busy[:3]) + (", ..." if len(busy) > 3 else "")
    raise NotAllowedError(f"this demo trains at most {cap} run{'' if cap == 1 else 's'} at a time and "
                          f"{shown} {'is' if len(busy) == 1 else 'are'} training now; "
                          "try again when it has finished")


def launch_training(run: Run, args: list[str], limits: Limits = UNLIMITED) -> subprocess.Popen:
    """Start `python -m gan train` for `run` (gan.runs.start_training), unless the run is training
    already (RunLockedError) or `limits` allow no further training now (NotAllowedError)."""
    guard, launched = _launches()
    with guard:
        busy = active_trainings(run.path.parent)
        if run.name in busy:
            raise RunLockedError(f"run {run.name} is already being trained; stop it first")
        check_training_slot(busy, limits)
        # The trainer reads only inside the app's allowed data folders, the same ones (resolved here).
        roots = os.pathsep.join(str(r) for r in security.allowed_data_roots())
        process = start_training(run.path, args, env={"GAN_CONFINE_DATA": "1", "GAN_DATA_ROOTS": roots})
        launched[str(run.path)] = (process, time.time())
    return process


def check_data(source: str) -> str:
    """Decode a few images of `source` now, so a bad path fails here rather than in the trainer."""
    from gan.data import load_dataset

    data = load_dataset(source, limit=16, roots=security.allowed_data_roots())
    classes = ", ".join(data.class_names[:6]) + (", ..." if data.num_classes > 6 else "")
    return f"{data.num_classes} class(es): {classes}"


def log_tail(run: Run, lines: int = 8) -> str:
    """The end of the run's train.log (where a trainer that died early said why)."""
    try:
        with open(run.log_path, "rb") as f:
            f.seek(max(0, f.seek(0, 2) - 8192))
            text = f.read().decode(errors="replace")
    except OSError:
        return ""
    kept = [line for line in text.replace("\r", "\n").splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


# --- export -------------------------------------------------------------------------------------

MAX_EXPORT = 10_000


def export_cap(limits: Limits = UNLIMITED) -> int:
    """The most images one export may hold: MAX_EXPORT, or the demo's cap when lower."""
    return min(MAX_EXPORT, limits.max_export_images or MAX_EXPORT)


def check_export(n: int, limits: Limits = UNLIMITED) -> None:
    """NotAllowedError (one line) when an export of `n` images is over the cap."""
    limits.check("max_export_images", n)
    if n > MAX_EXPORT:
        raise NotAllowedError(f"at most {MAX_EXPORT:,} images per export (asked for {n:,})")


def export_zip(images: np.ndarray, labels: np.ndarray | None, class_names: list[str]) -> bytes:
    """A .zip of numbered PNGs plus labels.csv (filename, class_id, class_name; blank when unconditional)."""
    import csv
    import io
    import zipfile

    from gan.sampling import png_bytes

    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(["filename", "class_id", "class_name"])
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:  # PNGs are compressed already
        for i, image in enumerate(images):
            name = f"images/{i:05d}.png"
            zf.writestr(name, png_bytes(image))
            if labels is None:
                writer.writerow([name, "", ""])
            else:
                c = int(labels[i])
                writer.writerow([name, c, class_names[c] if c < len(class_names) else ""])
        zf.writestr("labels.csv", table.getvalue())
    return buffer.getvalue()


def export_npz(images: np.ndarray, labels: np.ndarray | None, class_names: list[str]) -> bytes:
    """An .npz with `images` (N, S, S, 3) uint8, and `labels` and `class_names` when conditional
    (the same layout as `python -m gan sample --out FILE.npz`)."""
    import io

    arrays = {"images": images}
    if labels is not None:
        arrays["labels"] = np.asarray(labels, np.int32)
        arrays["class_names"] = np.asarray(class_names)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()
