"""GAN Studio: `streamlit run app.py`.

This file is the router (st.navigation) and the Home page. Every page body runs inside
`friendly_errors`, so a failure shows one readable line, never a traceback.
"""

from __future__ import annotations

import streamlit as st

from studio import policy, upload_guard

upload_guard.enforce(policy.limits())  # first: the server's upload caps hold from this run on

from studio import messages, models, navigation, scores  # noqa: E402

messages.install_redaction()  # demo mode: no element shows a server path, whatever a page draws


def home() -> None:
    st.title("GAN Studio")
    st.write("GAN Studio trains generative adversarial networks on CIFAR-10 or your own images and lets you "
             "watch them learn, live. Then explore what a generator has learned, set its images beside the "
             "real ones, and export as many as you need.")
    device, has_gpu = messages.device_line()
    if has_gpu:
        st.caption(f":material/memory: Computing on **{device}**.")
    else:
        st.caption(":material/memory: Computing on the **CPU**. Sampling is quick; training is 10-100x "
                   "faster on a GPU (`python -m gan train ...` on a GPU box, then copy the run folder here).")
    run = models.pick_model()
    if run is None:
        return
    _model_card(run)
    st.subheader("Fresh samples")
    if st.button("New samples", icon=":material/casino:"):
        st.session_state["home_seed"] = st.session_state.get("home_seed", 0) + 1
    seed = st.session_state.get("home_seed", 0)
    slot = st.empty()
    saved = run.path / "samples.png"  # a shipped model's grid shows at once, while TensorFlow loads
    if seed == 0 and saved.is_file() and "home_model_loaded" not in st.session_state:
        slot.image(str(saved), caption="Samples saved with the model (fresh ones are on their way)", width=720)
    grid = models.class_grid(run, seed=seed)
    st.session_state["home_model_loaded"] = True
    info = models.model_info(run, models.load_model(run))
    caption = f"{len(info.class_names) * 8 if info.num_classes else 64} fresh samples, seed {seed}"
    caption += ": one column per class" if info.num_classes else ""
    slot.image(grid, caption=caption, width=720, output_format="PNG")


def _model_card(run) -> None:
    """Name, preset, conditioning, how far it trained, and scores when it has been evaluated."""
    config = run.config() if run.exists() else None
    st.subheader(run.name, anchor=False)  # a long name wraps here; a metric tile would cut it off
    cols = st.columns(3)
    cols[0].metric("Preset", config.preset if config else "?")
    cols[1].metric("Conditional", ("yes" if config.conditional else "no") if config else "?")
    progress = models.training_progress(run)
    cols[2].metric(progress.label, progress.value, help=progress.detail)
    headlines = scores.headline_scores(run)
    if headlines:
        for col, (label, value, compared, meaning) in zip(st.columns(len(headlines)), headlines, strict=True):
            col.metric(label, value, help=meaning)
            col.caption(compared)
        with st.expander("All scores"):
            summary = scores.evals_summary(run)
            st.dataframe([{"metric": name, "value": value, "real-data floor": floor}
                          for name, (value, floor) in summary.items()], hide_index=True)
            st.caption("Each score is on 10,000 samples unless its name says otherwise; the floor is the same "
                       "score for real images. The Evaluate page explains and compares them.")
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


st.set_page_config(page_title="GAN Studio", page_icon=messages.page_icon(), layout="wide")
models.keep_keras_between_reruns()
page = st.navigation(pages())
navigation.mark_in_app()
navigation.show_wanted_page()
if policy.demo_mode():
    st.sidebar.caption(f":material/shield: {messages.demo_summary(policy.limits())}")
with messages.friendly_errors(page.title):
    page.run()
