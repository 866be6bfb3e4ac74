"""Train: start a run in a detached process, watch it live, stop and resume it.

The page never trains in the Streamlit process: it launches `python -m gan train` and from
then on only reads the run directory, so closing the tab or rerunning the page does not
touch the training.

A typed data path must lie inside the allowed data folders (gan.security, GAN_DATA_ROOTS). In
demo mode (studio.policy.demo_mode) there is no path at all, and uploads, images, epochs and
concurrent trainings are capped by studio.policy.limits().
"""

from __future__ import annotations

import time

import altair as alt
import pandas as pd
import streamlit as st

from gan.config import spec_of
from gan.presets import DEFAULT_PRESET, preset_description, preset_names
from gan.runs import CRASHED, FAILED, FINISHED, RUNNING, STOPPED, Run, grid_epoch, list_runs, runs_root
from studio import control, launch, messages, navigation, policy, scores

navigation.within_app(__file__)  # a first visit straight to this URL goes through app.py

SOURCES = ("CIFAR-10", "A path on this machine", "Upload a .zip")  # demo mode drops the path
REFUSED = "train_refused"  # session_state: {run name: (why Resume was refused, when, busy)}, shown for a while


# --- new run ------------------------------------------------------------------------------------


def new_run_form() -> None:
    demo, limits = policy.demo_mode(), policy.limits()  # app.py's sidebar says what demo mode caps
    offered = [s for s in SOURCES if not (demo and s == SOURCES[1])]
    source = st.radio("Training data", offered, horizontal=True, key="train_source")
    presets = preset_names()
    if st.session_state.pop("train_fresh_name", False) or "train_run_name" not in st.session_state:
        st.session_state["train_run_name"] = time.strftime("run-%Y%m%d-%H%M%S")  # set before the widget exists
    with st.form("new_run", border=True):
        data_path, upload = None, None
        if source == SOURCES[0]:
            st.caption(scores.cifar10_caption())
        elif source == SOURCES[1]:
            data_path = st.text_input("Folder of <class>/<image> files, a .zip of them, or an .npz (x, y)",
                                      key="train_data_path", placeholder="/data/my-images.zip")
        else:
            upload_mb = limits.max_upload_mb or launch.MAX_UPLOAD_BYTES // 2**20
            images = f" and {limits.max_images:,} images" if limits.max_images else ""
            upload = st.file_uploader("A .zip of class folders (<class>/<image>.png)", type=["zip"],
                                      key="train_upload", max_upload_size=upload_mb,
                                      help=f"At most {upload_mb} MB{images}; saved into the run's folder.")
        c1, c2, c3, c4 = st.columns(4)
        preset = c1.selectbox("Preset", presets, index=presets.index(DEFAULT_PRESET), key="train_preset",
                              help="\n\n".join(f"**{name}**: {preset_description(name)}" for name in presets))
        epochs = setting_input(c2, "Epochs", "epochs", min(10, limits.max_epochs or 10), cap=limits.max_epochs)
        batch_size = setting_input(c3, "Batch size", "batch_size", placeholder="preset default")
        latent_dim = setting_input(c4, "Latent size", "latent_dim", placeholder="preset default")
        c1, c2, c3, c4 = st.columns(4)
        g_lr = setting_input(c1, "G learning rate", "g_lr", format="%.5f", step=1e-4, placeholder="preset default")
        d_lr = setting_input(c2, "D learning rate", "d_lr", format="%.5f", step=1e-4, placeholder="preset default")
        beta1 = setting_input(c3, "Adam beta1", "beta1", step=0.1, placeholder="preset default")
        conditional = c4.selectbox("Conditional", ("preset default", "yes", "no"), key="train_conditional",
                                   help=spec_of("conditional").usage())
        c1, c2, c3 = st.columns(3)
        label_smoothing = setting_input(c1, "Label smoothing", "label_smoothing", 0.0, step=0.05)
        instance_noise = setting_input(c2, "Instance noise", "instance_noise", 0.0, step=0.05)
        name = c3.text_input("Run name", key="train_run_name", max_chars=64, help="Letters, digits, '-' and '_'.")
        with st.expander("Advanced"):
            c1, c2, c3, c4 = st.columns(4)
            steps = None if demo else setting_input(c1, "Stop after steps", "steps", placeholder="all epochs")
            limit = setting_input(c2, "Use at most N images", "limit", cap=limits.max_images,
                                  placeholder=f"all, up to {limits.max_images:,}" if limits.max_images else "all")
            log_every = setting_input(c3, "Log every N steps", "log_every", 50)
            jit = c4.selectbox("XLA compile", ("auto", "on", "off"), key="train_jit", help=spec_of("jit").usage())
        submitted = st.form_submit_button("Start training", type="primary", icon=":material/play_arrow:")
    if submitted:
        _start_new(source, data_path, upload, dict(
            preset=preset, epochs=int(epochs), steps=_int(steps), batch_size=_int(batch_size),
            latent_dim=_int(latent_dim), g_lr=g_lr, d_lr=d_lr, beta1=beta1,
            conditional={"yes": True, "no": False}.get(conditional), label_smoothing=label_smoothing or None,
            instance_noise=instance_noise or None, limit=_int(limit) or limits.max_images, log_every=int(log_every),
            jit={"on": True, "off": False}.get(jit),
        ), name.strip())


def setting_input(col, label: str, name: str, value: float | None = None, cap: int | None = None, **kwargs):
    """A number input (key `train_<name>`) for TrainConfig's setting `name`, bounded and explained by its Spec,
    the one declaration the CLI's flags use too; `cap` is a lower maximum (demo mode's). An open bound (a
    learning rate of 0) is left to TrainConfig, which refuses it in words when the form is sent."""
    spec = spec_of(name)
    high = spec.high if cap is None else min(cap, spec.high)
    note = f" At most {cap:,} in this demo." if cap is not None else ""
    return col.number_input(label, spec.kind(spec.low), spec.kind(high), value, key=f"train_{name}",
                            help=spec.usage() + note, **kwargs)


def _int(value) -> int | None:
    return None if value is None else int(value)


def _start_new(source: str, data_path: str | None, upload, fields: dict, name: str) -> None:
    """Start the run (studio.launch.start_run checks everything first), then watch it."""
    kind = {SOURCES[0]: launch.CIFAR10, SOURCES[1]: launch.PATH, SOURCES[2]: launch.UPLOAD}[source]
    try:
        with st.spinner("Checking the data and starting..."):
            summary = launch.start_run(name, fields, kind, data_path, None if upload is None else upload.getvalue())
    except launch.StartError as e:
        st.error(str(e))
        if e.hint:
            st.caption(e.hint)
        return
    st.session_state["train_watch_next"] = name  # the monitor above switches to it on the rerun
    st.session_state["train_fresh_name"] = True  # the next form gets a new default name
    st.session_state[STARTED] = (name, summary)  # the live view says so until the first step
    st.rerun()


# --- monitoring ---------------------------------------------------------------------------------


def _run_names() -> list[str]:
    names = [run.name for run in list_runs(runs_root())]
    names += [n for n in launch.launched_names(runs_root()) if n not in names and (runs_root() / n).is_dir()]
    return names


BADGES = {RUNNING: "blue", FINISHED: "green", STOPPED: "orange", FAILED: "red", CRASHED: "red"}


def monitor() -> None:
    st.subheader("Runs")
    names = _run_names()
    if not names:
        st.info("No runs yet: start one below.")
        return
    if "train_watch_next" in st.session_state:
        st.session_state["train_monitor"] = st.session_state.pop("train_watch_next")
    if st.session_state.get("train_monitor") not in names:
        st.session_state["train_monitor"] = names[0]
    name = st.selectbox("Watch run", names, key="train_monitor")
    live(name)
    grids(name)
    with st.expander("All runs", expanded=False):
        runs_table()


@st.fragment(run_every=2)
def live(name: str) -> None:
    """Status, progress, controls and charts of one run; redrawn every 2 s from its files."""
    with messages.friendly_errors("The live view"):
        _live(Run(runs_root() / name))


def _live(run: Run) -> None:
    view = control.run_state(run, policy.limits())
    st.markdown(f"**{run.name}** :{BADGES.get(view.state, 'gray')}-badge[{view.state}]")
    _started_banner(view)
    if view.state == control.STARTING:
        st.caption("Starting: loading the data and building the model...")
    if view.error:
        st.error(f"Training stopped: {view.error}")
    elif view.state == CRASHED:
        st.warning("The trainer stopped without saying why (killed, or out of memory). Resume continues from "
                   "its last checkpoint.")
        if view.log_tail:
            st.code(view.log_tail, language=None)
    _controls(run, view)  # above the numbers: a chart's hover toolbar covers what sits just above it
    _progress(view)
    frame = run.metrics()
    if frame.empty:
        if view.state in (RUNNING, control.STARTING):
            st.caption("Charts appear after the first logged step.")
        return
    _charts(frame)


STARTED = "train_started"  # session_state: (run name, what its data holds) of the run this session started


def _started_banner(view: control.RunState) -> None:
    """"Started ..." while the run this session started warms up; gone at its first step, or once it stops."""
    name, summary = st.session_state.get(STARTED, (None, ""))
    if name != view.name:
        return
    if not view.warming_up:
        st.session_state.pop(STARTED, None)
        return
    st.success(f"Started **{name}** on {summary}. The first step takes a little while "
               "(loading the data, building the model).")


def _progress(view: control.RunState) -> None:
    status = view.status
    if view.progress is None:
        return
    step, total = status.step, status.total_steps
    cols = st.columns(4)
    cols[0].metric("Step", f"{step:,}", help=f"of {total:,} steps")  # "a / b" gets cut off in a quarter column
    cols[1].metric("Epoch", status.epoch or 0)
    eta = status.eta_s if view.state == RUNNING else None
    cols[2].metric("ETA", messages.duration(eta))
    rate = status.imgs_per_s
    cols[3].metric("Images/s", f"{rate:,.0f}" if rate else "-", help=SPEED_HELP)
    if status.pause_s is not None:  # the epoch-end pause, measured apart from the speed
        cols[3].caption(f"pauses about {messages.duration(max(1.0, status.pause_s))} at each epoch end")
    st.progress(view.progress, text=f"epoch {status.epoch or 0} - step {step} of {total}"
                + (f" - {messages.duration(eta)} left" if eta else ""))


SPEED_HELP = ("Training speed over the last logged steps. The sample grid and checkpoint at each epoch end pause "
              "training for a few seconds: not counted here, counted in the ETA (train.log says how long each took).")


def _controls(run: Run, view: control.RunState) -> None:
    c1, c2, c3, c4 = st.columns([1, 1, 2, 1])
    if c1.button("Stop", icon=":material/stop:", disabled=not view.can_stop, key="train_stop",
                 help="The trainer saves a checkpoint and exits; Resume continues exactly there."):
        try:
            st.toast(control.stop(run, view))
        except control.Refused as e:
            st.info(str(e))
    length, until = view.resume, None
    if length is not None:
        until = c3.number_input(f"Train until {length.unit}", 1, length.high, length.default,
                                key=f"train_resume_{length.unit}s")
    if c2.button("Resume", icon=":material/play_arrow:", disabled=not view.can_resume, key="train_resume",
                 help="Continue from the last checkpoint."):
        try:
            control.resume(run, view, None if until is None else int(until), policy.limits())
        except control.Refused as e:
            busy = isinstance(e, control.Busy)  # another process trains it: a warning, not an error
            st.session_state.setdefault(REFUSED, {})[run.name] = (str(e), time.time(), busy)
        else:
            st.session_state.get(REFUSED, {}).pop(run.name, None)
            st.rerun()  # redraw at once as "starting"
    if c4.button("Delete", icon=":material/delete:", disabled=not view.can_delete, key="train_delete",
                 help="Remove this run's folder: its checkpoints, samples and scores."):
        st.session_state[CONFIRM_DELETE] = run.name
    if st.session_state.get(CONFIRM_DELETE) == run.name:
        _confirm_delete(run, view)
    refused, when, busy = st.session_state.get(REFUSED, {}).get(run.name, (None, 0.0, False))
    if refused and time.time() - when < 20:  # the live view redraws every 2 s; keep the reason readable
        (st.warning if busy else st.error)(refused)


CONFIRM_DELETE = "train_confirm_delete"  # session_state: the run whose Delete button was pressed


def _confirm_delete(run: Run, view: control.RunState) -> None:
    """A second, explicit click: a deleted run cannot come back."""
    st.warning(f"Delete **{run.name}** and everything in its folder? This cannot be undone.")
    yes, no, _ = st.columns([1, 1, 3])
    if no.button("Keep it", key="train_delete_cancel"):
        st.session_state.pop(CONFIRM_DELETE, None)
        st.rerun()
    if yes.button("Delete for good", type="primary", key="train_delete_confirm"):
        st.session_state.pop(CONFIRM_DELETE, None)
        try:
            control.delete(run, view)
        except control.Refused as e:
            st.error(str(e))
            return
        st.session_state["train_flash"] = f"Deleted {run.name}."
        st.rerun(scope="app")


CHARTS = (
    ("Losses", {"d_loss_real": "D loss (real)", "d_loss_fake": "D loss (fake)", "g_loss": "G loss"}),
    ("Discriminator outputs", {"d_real_mean": "mean D(x)", "d_fake_mean": "mean D(G(z))"}),
    ("Throughput", {"imgs_per_s": "images/s"}),
)


PALETTE = ["#1f77b4", "#d62728", "#2ca02c"]  # blue, red, green: no two series of a chart look alike


def _charts(frame: pd.DataFrame) -> None:
    cols = st.columns(len(CHARTS))
    for col, (title, series) in zip(cols, CHARTS, strict=True):
        present = [k for k in series if k in frame and frame[k].notna().any()]
        if not present:
            continue
        long = frame[["step", *present]].rename(columns=series).melt("step", var_name="series", value_name="value")
        names = [series[k] for k in present]
        chart = (alt.Chart(long, title=title).mark_line(point=len(frame) < 30)
                 .encode(x=alt.X("step:Q", title="step"), y=alt.Y("value:Q", title=None),
                         color=alt.Color("series:N", legend=alt.Legend(orient="top", title=None),
                                         scale=alt.Scale(domain=names, range=PALETTE[:len(names)])),
                         tooltip=["step", "series", alt.Tooltip("value:Q", format=".4f")]))
        col.altair_chart(chart, width="stretch", height=300)  # Streamlit's theme pads: the plot gets ~200 px


@st.fragment(run_every=5)
def grids(name: str) -> None:
    """The fixed-noise grid after each epoch, with a slider and an animated GIF of them all."""
    with messages.friendly_errors("The sample grids"):
        run = Run(runs_root() / name)
        paths = run.sample_grids()
        if not paths:
            return
        st.markdown("**Fixed-noise samples** (the same latents every epoch; one column per class when "
                    "the model is conditional)")
        epochs = [grid_epoch(p) for p in paths]
        key, pinned = f"train_grid_epoch_{name}", f"train_grid_pinned_{name}"
        if len(paths) > 1:
            if not st.session_state.get(pinned) or st.session_state.get(key) not in epochs:
                st.session_state[key] = epochs[-1]  # follow the newest epoch until the user picks one
            epoch = st.select_slider("Epoch", epochs, key=key, on_change=_pin_epoch, args=(key, pinned, epochs[-1]),
                                     help="Follows the newest epoch; drag to look back, drag to the end to follow "
                                     "again.")
        else:
            epoch = epochs[0]
        c1, c2 = st.columns([2, 1])
        c1.image(str(paths[epochs.index(epoch)]), caption=f"epoch {epoch}", width=480)
        c2.caption(EXPECT)
        gif = _grids_gif(tuple(str(p) for p in paths), paths[-1].stat().st_mtime)
        if gif:
            c2.download_button("Download GIF of all epochs", data=gif, file_name=f"{name}.gif", mime="image/gif",
                               icon=":material/gif:", key=f"train_gif_{name}")


EXPECT = ("What to expect on a 2-core CPU with the default sngan-cpu preset (about 2.5 minutes an epoch of CIFAR-10 "
          "on a CPU with AVX-512, about 3.5 on one with AVX2 only): after epoch 5 (10-20 minutes), blobs in each "
          "class's colours and the first airplane and car outlines; after epoch 25-30 (1-1.5 hours), cars, ships, "
          "trucks and airplanes in most samples and horses often, other animals vague; the full recipe (50 epochs, "
          "2-3 hours) is the shipped model: a little sharper, more birds and horses, cats, dogs and frogs still "
          "mostly colour and shape. Measured in benchmarks/PILOT.md round 5; the model card says how.")


def _pin_epoch(key: str, pinned: str, newest: int) -> None:
    """The user moved the slider: stay on their epoch, unless they moved it back to the newest."""
    st.session_state[pinned] = st.session_state.get(key) != newest


MAX_GRID_SIDE = 4096  # pixels; a run's grids are a few hundred a side, and run files are not trusted


@st.cache_data(max_entries=4, show_spinner=False)
def _grids_gif(paths: tuple[str, ...], newest_mtime: float) -> bytes | None:
    """The GIF, made when a grid appears (not on click: a lazily made download came empty on its first click).

    A grid over MAX_GRID_SIDE a side is left out before it is decoded; None when no grid is left.
    """
    import numpy as np
    from PIL import Image

    from gan.explore import gif_bytes

    frames = []
    for p in paths[-200:]:
        with Image.open(p) as image:  # reads the header only
            if max(image.size) <= MAX_GRID_SIDE:
                frames.append(np.asarray(image.convert("RGB")))
    return gif_bytes(frames, duration_ms=300) if frames else None


@st.fragment(run_every=5)
def runs_table() -> None:
    with messages.friendly_errors("The runs table"):
        rows = []
        for run in list_runs(runs_root()):
            status = run.status()
            try:
                config = run.config()
                preset, data = config.preset, messages.redacted(config.data)  # before it is cut to 40 characters
            except ValueError:
                preset, data = "?", "?"
            rows.append({
                "run": run.name, "state": status.state, "step": status.step,
                "of": status.total_steps, "epoch": status.epoch, "preset": preset,
                "data": data if len(data) < 40 else "..." + data[-37:],
                "updated": pd.to_datetime(status.updated_at, unit="s") if status.updated_at else None,
            })
        if rows:
            st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


st.title("Train")
st.caption("Training runs as its own process: it carries on if you close this tab. Everything shown here is "
           f"read from the run folders under `{runs_root()}`.")
if "train_flash" in st.session_state:
    st.success(st.session_state.pop("train_flash"))
monitor()
with st.expander("Start a new run", expanded=not list_runs(runs_root()), icon=":material/add:"):
    new_run_form()
