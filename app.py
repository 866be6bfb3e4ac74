"""GAN Studio: `streamlit run app.py`.

This file is the router (st.navigation) and the Home page. Every page body runs inside
`friendly_errors`, so a failure shows one readable line, never a traceback.
"""

from __future__ import annotations

import streamlit as st

from gan import app_support as ui
from gan import security


def home() -> None:
    st.title("GAN Studio")
    st.write("GAN Studio trains generative adversarial networks on CIFAR-10 or your own images and lets you "
             "watch them learn, live. Then explore what a generator has learned, set its images beside the "
             "real ones, and export as many as you need.")
    device, has_gpu = ui.device_line()
    if has_gpu:
        st.caption(f":material/memory: Computing on **{device}**.")
    else:
        st.caption(":material/memory: Computing on the **CPU**. Sampling is quick; training is 10-100x "
                   "faster on a GPU (`python -m gan train ...` on a GPU box, then copy the run folder here).")
    run = ui.pick_model()
    if run is None:
        return
    _model_card(run)
    st.subheader("Fresh samples")
    if st.button("New samples", icon=":material/casino:"):
        st.session_state["home_seed"] = st.session_state.get("home_seed", 0) + 1
    seed = st.session_state.get("home_seed", 0)
    grid = ui.sample_grid(run, 64, seed=seed)
    info = ui.model_info(run, ui.load_model(run))
    caption = f"64 samples, seed {seed}"
    if info.num_classes:
        caption += " - classes take turns, cell by cell: " + ", ".join(info.class_names[:10])
    st.image(grid, caption=caption, width=420, output_format="PNG")


def _model_card(run) -> None:
    """Name, preset, conditioning, how far it trained, and scores when it has been evaluated."""
    config = run.config() if run.exists() else None
    status = run.status()
    cols = st.columns(4)
    cols[0].metric("Model", run.name)
    cols[1].metric("Preset", config.preset if config else "?")
    cols[2].metric("Conditional", ("yes" if config.conditional else "no") if config else "?")
    step, total = status.get("step"), status.get("total_steps")
    planned = f"{config.steps} steps" if config and config.steps else f"{config.epochs} epochs" if config else "?"
    trained = f"epoch {status.get('epoch', '?')}" if step is not None else planned
    cols[3].metric("Trained", trained, help=f"step {step} of {total}; planned {planned}; state {status.get('state')}"
                   if step is not None else "The shipped checkpoint's planned length.")
    scores = ui.evals_summary(run)
    if scores:
        score_cols = st.columns(min(len(scores), 6))
        for col, (name, (value, floor)) in zip(score_cols, list(scores.items())[:6], strict=False):
            col.metric(name, f"{value:.4g}", help=None if floor is None else
                       f"Real-vs-real floor at the same sample count: {floor:.4g}")
    else:
        st.caption("No evaluation scores yet (`python -m gan evaluate --run-dir ...` writes evals.csv).")


def pages() -> list:
    return [
        st.Page(home, title="Home", icon=":material/home:", default=True),
        st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
        st.Page("pages/explore.py", title="Latent explorer", icon=":material/explore:"),
        st.Page("pages/compare.py", title="Real vs generated", icon=":material/compare:"),
        st.Page("pages/evaluate.py", title="Evaluate", icon=":material/analytics:"),
        st.Page("pages/export.py", title="Export", icon=":material/download:"),
    ]


st.set_page_config(page_title="GAN Studio", page_icon=":material/auto_awesome:", layout="wide")
page = st.navigation(pages())
if security.demo_mode():
    st.sidebar.caption(f":material/shield: {ui.demo_summary(security.limits())}")
with ui.friendly_errors(page.title):
    page.run()
