"""Latent explorer: move one sample along learned directions, and walk between two samples.

Everything here samples a handful of images, so it stays interactive on a CPU.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from gan import explore, sampling
from gan.config import INT32
from gan.runs import Run
from studio import export, models, navigation

navigation.within_app(__file__)  # a first visit straight to this URL goes through app.py

N_DIRECTIONS = 6
PCA, RAW = "Principal directions (GANSpace)", "Raw latent axes"


@st.cache_data(max_entries=16, show_spinner="Finding the principal directions...")
def directions(run_path: str, mtime: float, kind: str, class_id: int | None) -> np.ndarray:
    """Cached per model file version and class; `mtime` is part of the key so retraining refreshes it."""
    model = models.load_model(Run(run_path))
    if kind == RAW:
        return explore.raw_directions(sampling.latent_dim(model), N_DIRECTIONS)
    return explore.principal_directions(model, N_DIRECTIONS, class_id=class_id)


def seed_input(where, label: str, default: int, key: str) -> int:
    """A seed field without bounds (past a bound the browser turns it red and keeps the old seed): a seed
    out of range is clamped, and the caption under it says so."""
    seed, note = export.within(int(where.number_input(label, value=default, step=1, key=key, help=f"0 to {INT32:,}.")),
                               INT32, label, least=0)
    if note:
        where.caption(note)
    return seed


def controls(info: models.ModelInfo) -> tuple[int, float | None, int | None]:
    """Sidebar: seed, truncation and class, shared by both sections of the page."""
    side = st.sidebar
    seed = seed_input(side, "Seed", 0, "explore_seed")
    truncation = None
    if side.checkbox("Truncation", False, key="explore_truncate",
                     help="Redraw latent values beyond +-t: cleaner but less varied images."):
        truncation = side.slider("t", 0.25, 2.0, 1.0, 0.05, key="explore_truncation")
    class_id = None
    if info.num_classes:
        class_id = side.selectbox("Class", range(info.num_classes), format_func=info.class_names.__getitem__,
                                  key="explore_class", on_change=_carry_class, args=(info.num_classes,))
    return seed, truncation, class_id


def _carry_class(num_classes: int) -> None:
    """A new class in the sidebar becomes interpolation's class A (and the next one class B)."""
    chosen = st.session_state["explore_class"]
    st.session_state["explore_class_a"] = chosen
    st.session_state["explore_class_b"] = (chosen + 1) % num_classes


def _reset_sliders() -> None:
    for i in range(N_DIRECTIONS):
        st.session_state[f"explore_dir_{i}"] = 0.0


def _labels(class_id: int | None, n: int) -> np.ndarray | None:
    return None if class_id is None else np.full(n, class_id, np.int32)


def directions_section(run: Run, model, seed: int, truncation: float | None, class_id: int | None) -> None:
    st.subheader("Directions")
    kind = st.radio("Directions", (PCA, RAW), horizontal=True, key="explore_kind", label_visibility="collapsed",
                    help="GANSpace: principal components of the generator's first-layer features, mapped back "
                         "to the latent space. They are ordered by how much they change the image.")
    dirs = directions(str(run.path), run.generator_path.stat().st_mtime, kind, class_id)
    st.button("Reset sliders", icon=":material/restart_alt:", on_click=_reset_sliders)
    left, right = st.columns([1, 1])
    amounts = []
    with left:
        for i in range(len(dirs)):
            label = f"Component {i + 1}" if kind == PCA else f"z[{i}]"
            # The value lives in session state alone (no default argument), so Reset may set it without warnings.
            st.session_state.setdefault(f"explore_dir_{i}", 0.0)
            amounts.append(st.slider(label, -4.0, 4.0, step=0.25, key=f"explore_dir_{i}"))
    z = sampling.latents(1, sampling.latent_dim(model), seed, truncation)
    image = sampling.generate(model, explore.move(z, dirs, amounts), _labels(class_id, 1))[0]
    right.image(sampling.png_bytes(image, scale=8), caption=f"seed {seed}", width=256)

    st.markdown("**One direction, from -3 to +3**")
    c1, c2 = st.columns([1, 3])
    which = c1.selectbox("Direction", range(len(dirs)), format_func=lambda i: f"{i + 1}", key="explore_sweep_dir")
    steps = c1.slider("Frames", 3, 15, 7, 2, key="explore_sweep_steps")
    frames = sampling.generate(model, explore.sweep(explore.move(z, dirs, amounts)[0], dirs[which], 3.0, steps),
                               _labels(class_id, steps))
    c2.image(sampling.png_bytes(explore.strip(frames), scale=3), width="content")
    c1.download_button("GIF", explore.gif_bytes(frames, 150, scale=4, bounce=True), f"direction-{which + 1}.gif",
                       "image/gif", icon=":material/gif:", key="explore_sweep_gif")


def interpolation_section(model, info: models.ModelInfo, truncation: float | None, class_id: int | None) -> None:
    st.subheader("Interpolation")
    c1, c2, c3, c4 = st.columns(4)
    seed_a = seed_input(c1, "Seed A", 1, "explore_seed_a")
    seed_b = seed_input(c2, "Seed B", 2, "explore_seed_b")
    method = c3.radio("Path", ("slerp", "lerp"), horizontal=True, key="explore_method",
                      help="slerp follows the sphere where Gaussian latents live; lerp cuts straight across.")
    steps = int(c4.slider("Steps", 2, 24, 10, key="explore_steps"))
    class_a = class_b = None
    if info.num_classes:
        c1, c2 = st.columns(2)
        names = info.class_names.__getitem__
        st.session_state.setdefault("explore_class_a", class_id or 0)
        st.session_state.setdefault("explore_class_b", ((class_id or 0) + 1) % info.num_classes)
        class_a = c1.selectbox("Class A", range(info.num_classes), format_func=names, key="explore_class_a")
        class_b = c2.selectbox("Class B", range(info.num_classes), format_func=names, key="explore_class_b")
    frames = explore.interpolation(model, seed_a, seed_b, steps, method, class_a, class_b, truncation)
    st.image(sampling.png_bytes(explore.strip(frames), scale=3), width="content")
    st.download_button("Download GIF", explore.gif_bytes(frames, 120, scale=4, bounce=True),
                       f"interpolation-{seed_a}-{seed_b}.gif", "image/gif", icon=":material/gif:",
                       key="explore_interp_gif")


def main() -> None:
    st.title("Latent explorer")
    run, model, info = models.pick_loaded_model()
    seed, truncation, class_id = controls(info)
    directions_section(run, model, seed, truncation, class_id)
    interpolation_section(model, info, truncation, class_id)


main()
