"""Real vs generated: the training data beside the generator's images, and nearest neighbours.

The real images come from the run's own data source (config.json's `data`), at most 5,000
of them, loaded once per source. A generated image whose nearest training image has a very
high PSNR is a hint that the generator copies rather than invents.

Another source can be typed in (not in demo mode); it must lie inside the allowed data folders
(gan.security.check_data_source, GAN_DATA_ROOTS). The run's own `data` is used as recorded: the
Train page checked it when the run started, or the owner chose it on the command line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import streamlit as st

from gan import explore, sampling, security
from gan.runs import Run
from gan.security import NotAllowedError
from studio import models, navigation, policy

if TYPE_CHECKING:
    from gan.data import Dataset

navigation.within_app(__file__)  # a first visit straight to this URL goes through app.py

DATA_LIMIT = 5000
PER_CLASS = 8


@st.cache_resource(max_entries=2, show_spinner="Loading the training data (CIFAR-10 is downloaded once, 170 MB)...")
def training_data(source: str, image_size: int):
    """At most DATA_LIMIT images of `source`; errors are not cached, so a fixed path works on retry."""
    from gan.data import load_dataset

    return load_dataset(source, image_size, limit=DATA_LIMIT, roots=security.allowed_data_roots())


def _data_or_help(run: Run) -> tuple[Dataset | None, list[str] | None]:
    """(the run's training data, None) or (None, [why it is missing, how to fix it...]) for the real half."""
    from gan.data import DataError

    config = run.config()
    source = config.data
    demo = policy.demo_mode()
    if not demo:  # a public deployment must not read arbitrary server paths
        with st.expander("Data source", expanded=False):
            source = st.text_input("Training data to compare with", config.data, key=f"compare_source_{run.name}",
                                   help="cifar10, a folder or .zip of <class>/<image>, or an .npz, inside the "
                                   "allowed data folders (GAN_DATA_ROOTS).").strip() or config.data
    if source != config.data:
        try:
            source = security.check_data_source(source)
        except NotAllowedError as e:
            return None, [f"The training data is not available: {e}.",
                          "The app reads data only inside its allowed folders: "
                          + ", ".join(f"`{r}`" for r in security.allowed_data_roots())
                          + ". The owner sets them with GAN_DATA_ROOTS (colon-separated)."]
    try:
        return training_data(source, config.image_size), None
    except DataError as e:
        why = [f"The training data is not available: {e}"]
        elsewhere = "" if demo else " Or enter where the data is now under **Data source** above."
        if source.lower() != "cifar10":
            why.append(f"This model was trained on `{config.data}`, which this machine cannot read." + elsewhere)
        return None, why


def _real(data, class_ids: list[int] | None, seed: int, n: int) -> np.ndarray:
    """`n` random real images, or PER_CLASS per class in `class_ids` (one row each)."""
    rng = np.random.default_rng(seed)
    if class_ids is None:
        return data.images[rng.choice(len(data.images), min(n, len(data.images)), replace=False)]
    if len(set(class_ids)) == 1:  # one class: as many different images of it as there are slots
        pool = np.flatnonzero(data.labels == class_ids[0])
        return data.images[rng.choice(pool, min(n, len(pool)), replace=False)] if len(pool) else data.images[:0]
    rows = []
    for c in class_ids:
        pool = np.flatnonzero(data.labels == c)
        picked = data.images[rng.choice(pool, min(PER_CLASS, len(pool)), replace=False)] if len(pool) else []
        row = np.full((PER_CLASS, *data.images.shape[1:]), 255, np.uint8)
        row[: len(picked)] = picked
        rows.append(row)
    return np.concatenate(rows)


def _generated(model, class_ids: list[int] | None, seed: int, n: int) -> np.ndarray:
    z = sampling.latents(n if class_ids is None else PER_CLASS * len(class_ids), sampling.latent_dim(model), seed)
    labels = None if class_ids is None else np.repeat(np.asarray(class_ids, np.int32), PER_CLASS)
    return sampling.generate(model, z, labels)


def _shuffle_button(column, label: str, key: str) -> int:
    if column.button(label, icon=":material/shuffle:", key=f"{key}_button"):
        st.session_state[key] = st.session_state.get(key, 0) + 1
    return st.session_state.get(key, 0)


def main() -> None:
    st.title("Real vs generated")
    run, model, info = models.pick_loaded_model()
    data, missing = _data_or_help(run)

    class_ids: list[int] | None = None
    if info.num_classes:
        options = [-1, *range(info.num_classes)]
        chosen = st.selectbox("Classes", options, key="compare_class",
                              format_func=lambda c: "all classes, one row each" if c < 0 else info.class_names[c])
        class_ids = list(range(info.num_classes)) if chosen < 0 else [chosen] * 8
    left, right = st.columns(2)
    real_seed = _shuffle_button(left, "Reshuffle real", "compare_real_seed")
    fake_seed = _shuffle_button(right, "Reshuffle generated", "compare_fake_seed")
    real = _real(data, class_ids, real_seed, 64) if data is not None else None
    if missing:  # in the half that would show the real images, so it is not a blank beside the generated ones
        left.warning(f"No real images to show. {missing[0]}", icon=":material/hide_image:")
        for hint in missing[1:]:
            left.caption(hint)
    elif real is not None and not len(real):
        left.info("The loaded training images hold none of this class.")
    elif real is not None:
        left.image(sampling.make_grid(real, 8), caption=f"real ({data.source}, {len(data.images):,} loaded)",
                   width="stretch")
    fakes = _generated(model, class_ids, 1000 + fake_seed, 64)
    right.image(sampling.make_grid(fakes, 8), caption=f"generated ({run.name})", width="stretch")
    if data is not None:
        neighbours(fakes, data)


def neighbours(fakes: np.ndarray, data) -> None:
    st.subheader("Nearest training images")
    st.caption("PSNR between the chosen generated image and each loaded training image (higher = closer). "
               "Values above ~30 dB suggest the generator reproduces training images.")
    c1, c2 = st.columns([1, 4])
    index = int(c1.number_input("Generated image # (row by row)", 1, len(fakes), 1, key="compare_nn_index")) - 1
    query = fakes[index]
    if data.images.shape[1:] != query.shape:
        st.info("The training images have a different size than the generated ones; no comparison possible.")
        return
    top, distances = explore.nearest_neighbours(query, data.images, k=8)
    c1.image(sampling.png_bytes(query, scale=4), caption="generated", width=128)
    # One column per neighbour: a list of fixed-width images in one element wraps (7 + 1) on a narrow window.
    for cell, i, s in zip(c2.columns(len(top), gap="small"), top, distances, strict=True):
        name = f" - {data.class_names[data.labels[i]]}" if data.num_classes > 1 else ""
        cell.image(sampling.png_bytes(data.images[i], scale=4), caption=f"{s:.1f} dB{name}", width="stretch")


main()
