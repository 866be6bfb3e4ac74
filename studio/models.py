"""Which models the app offers and how it loads them: shipped checkpoints and runs, the shared picker,
cached generators and sample grids.

TensorFlow is imported only when a model is first loaded, so the Train page and an empty app start fast.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import streamlit as st

from gan.files import REPO_ROOT
from gan.runs import Run, list_runs, runs_root

if TYPE_CHECKING:
    import keras


MODEL_KEY = "model_path"  # session_state: the chosen model's run directory, shared by all pages


def checkpoints_root() -> Path:
    """Where shipped pretrained models live: $GAN_CHECKPOINTS_DIR, else checkpoints/."""
    return Path(os.environ.get("GAN_CHECKPOINTS_DIR") or REPO_ROOT / "checkpoints")


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


def keep_keras_between_reruns() -> None:
    """Streamlit clears Keras's session after every script run, for apps that build a model in the script,
    and that clean-up forces a full garbage collection: about 0.25 s of CPU per rerun once a model is
    loaded, on every slider move and every 2 s on the Train page's live view, while a trainer wants the
    same cores. Our models live in `st.cache_resource` and no page builds layers, so the app replaces that
    clean-up with `_after_each_run`. Safe to call on every run.
    """
    from streamlit.runtime.scriptrunner import script_runner

    if hasattr(script_runner, "_clean_problem_modules"):
        script_runner._clean_problem_modules = _after_each_run


def _after_each_run() -> None:
    """Collect the young garbage a run left (well under a millisecond; the server's peak memory on the
    browser tour: 906 MB, against 884 MB with Streamlit's full collection and 943 MB with none), and close
    matplotlib figures as Streamlit does."""
    import gc
    import sys

    gc.collect(1)
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close("all")


@st.cache_resource(max_entries=4, show_spinner="Loading the model (TensorFlow starts once)...")
def _load_generator(path: str, mtime: float) -> keras.Model:
    from gan.sampling import load_generator

    return load_generator(path)


def load_model(run: Run) -> keras.Model:
    """The run's generator, loaded once per file version (a retrained run reloads)."""
    return _load_generator(str(run.generator_path), _mtime(run.generator_path))


@dataclass(frozen=True)
class Progress:
    """How far a model trained, in words for a metric tile: `label` over `value`, `detail` on hover."""

    label: str  # "Trained", "Best checkpoint" or "Planned"
    value: str  # "epoch 70 of 120"
    detail: str

    @property
    def sentence(self) -> str:
        """One line for running text: "best checkpoint, epoch 70 of 120"."""
        return self.value if self.label == "Trained" else f"{self.label.lower()}, {self.value}"


SHIPPED_BEST = "best.json"  # beside a shipped generator.keras: it is the run's best/ generator, not its last


def training_progress(run: Run) -> Progress:
    """How far the model in `run` trained, out of how far its run went.

    A shipped model is the best-scoring checkpoint of a longer run (its `best.json` says which step), so
    "epoch 70" alone reads as a run cut short when its card says 120 epochs. The total comes from the
    config (epochs) or status.json (steps); when neither says, no total is claimed.
    """
    from gan.files import read_json

    status = run.status()
    try:
        config = run.config() if run.exists() else None
    except ValueError:  # a broken config.json: the model still samples, the total is unknown
        config = None
    per_epoch = status.steps_per_epoch
    total_steps = status.total_steps or (config.steps if config else None)
    total_epochs = config.epochs if config and not config.steps else None
    of_epochs = f" of {total_epochs:,}" if total_epochs else ""
    of_steps = f" of {total_steps:,}" if total_steps else ""

    def position(step: int, epoch: int | None) -> str:  # a run planned in steps reads best in steps
        if epoch is not None and (total_epochs or not total_steps):
            return f"epoch {epoch:,}{of_epochs}"
        return f"step {step:,}{of_steps}"

    best = read_json(run.path / SHIPPED_BEST, default=None)
    best_step = best.get("step") if isinstance(best, dict) else None
    if isinstance(best_step, int) and not isinstance(best_step, bool):
        epoch = best_step // per_epoch if per_epoch else (status.epoch if status.step == best_step else None)
        score = best.get("value")
        scored = (f" ({best.get('metric')} {score:.4g})" if isinstance(score, int | float) and best.get("metric")
                  else "")
        detail = f"The checkpoint that scored best during training{scored}: step {best_step:,}{of_steps}"
        if total_epochs:
            detail += f"; the run was planned for {total_epochs:,} epochs"
        return Progress("Best checkpoint", position(best_step, epoch), f"{detail}; state {status.state}.")
    if status.step is not None:
        return Progress("Trained", position(status.step, status.epoch),
                        f"Step {status.step:,}{of_steps}; state {status.state}.")
    planned = f"{total_epochs:,} epochs" if total_epochs else f"{total_steps:,} steps" if total_steps else "unknown"
    return Progress("Planned", planned, "No training status was saved with this model: this is its planned length.")


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


def pick_loaded_model() -> tuple[Run, keras.Model, ModelInfo]:
    """`pick_model()`, its generator and what it is: the opening of every page that samples.
    With no model at all, the empty state is drawn and the page stops there."""
    run = pick_model()
    if run is None:
        st.stop()
    model = load_model(run)
    return run, model, model_info(run, model)


@st.cache_data(max_entries=64, show_spinner="Sampling...")
def _grid(path: str, mtime: float, n: int, seed: int, columns: int) -> np.ndarray:
    """A grid of `n` samples, cached per model version and arguments: a big generator takes seconds for
    64 images on a CPU, and page revisits or unrelated widget changes should not pay that again."""
    from gan import sampling

    images, _ = sampling.sample(_load_generator(path, mtime), n, seed)
    return sampling.make_grid(images, columns)


def class_grid(run: Run, seed: int = 0) -> np.ndarray:
    """A grid of fresh samples, one labelled column per class for a conditional model (8 x 8 otherwise)."""
    from gan import sampling

    info = model_info(run, load_model(run))
    n, columns = sampling.grid_layout(info.num_classes)
    images = _grid(str(run.generator_path), _mtime(run.generator_path), n, seed, columns)
    if columns == info.num_classes:
        return sampling.label_columns(images, info.class_names)
    return images
