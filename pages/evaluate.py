"""Evaluate: each metric over a run's checkpoints, a table comparing runs, and scoring a generator now.

Everything shown is read from the runs' evals.csv (gan.metrics' long format), so scores written by
`python -m gan evaluate` on a GPU box, by the trainer's live FD, or by this page all look the same.
Every score is drawn beside its real-vs-real floor and captioned with how it was measured: a number
without its sample count and reference set invites comparisons that do not hold.

TensorFlow is imported only when "Evaluate now" runs (gan.metrics and studio.scores import it lazily).
"""

from __future__ import annotations

import contextlib
import time

import altair as alt
import pandas as pd
import streamlit as st

from gan import metrics, security
from gan.runs import Run
from studio import launch, messages, models, navigation, policy, scores

navigation.within_app(__file__)  # a first visit straight to this URL goes through app.py

FLASH = "evaluate_flash"  # session_state: the message to show after the rerun that follows a saved evaluation
UNSAVED = "evaluate_unsaved"  # session_state: (run path, results frame, why not saved) of the last unsaved one
MAX_SAMPLES = 50_000
CLI_HINT = "python -m gan evaluate --run-dir {path} --metrics " + metrics.LIVE_METRIC


def sample_cap() -> int | None:
    """Demo mode caps generated samples, so one visitor cannot hold the shared machine for long."""
    return policy.limits().max_export_images if policy.demo_mode() else None


# --- charts -------------------------------------------------------------------------------------


def metric_chart(history: pd.DataFrame, metric: str) -> alt.LayerChart:
    """Value over step (points too: there are often only a few), one colour per sample count, with
    each count's latest real-vs-real floor as a dashed rule of the same colour."""
    data = history.assign(samples=[f"n={int(n):,}" if n == n else "n=?" for n in history["n"]])
    colour = alt.Color("samples:N", legend=alt.Legend(orient="top", title=None))
    lines = alt.Chart(data).mark_line(point=True).encode(
        x=alt.X("step:Q", title="step", axis=alt.Axis(format=",d", tickMinStep=1)),
        y=alt.Y("value:Q", title=None, scale=alt.Scale(zero=False), axis=alt.Axis(format=".4~r")), color=colour,
        tooltip=["step", alt.Tooltip("value:Q", format=".4g"), "n", "reference", "extractor",
                 alt.Tooltip("floor:Q", format=".4g", title="floor")])
    floors = data.dropna(subset=["floor"]).groupby("samples", as_index=False)[["floor"]].last()
    rules = alt.Chart(floors).mark_rule(strokeDash=[6, 4]).encode(
        y="floor:Q", color=colour, tooltip=[alt.Tooltip("floor:Q", format=".4g", title="real-vs-real floor"),
                                            "samples"])
    return alt.layer(lines, rules, title=metric)


def newest_first(names: list[str], latest: dict[str, dict]) -> list[str]:
    """`names` by when each was last measured, newest first (ties keep their order; no time sorts last).

    A shipped model has a dozen scores: in evals.csv's order a metric scored for the first time lands in
    the table's last row, below the fold of its scroll box, right after the user asked for it.
    """
    def when(name: str) -> float:
        try:
            value = float(latest.get(name, {}).get("time"))
        except (TypeError, ValueError):
            return float("-inf")
        return value if value == value else float("-inf")  # NaN: written by hand, without a time

    return sorted(names, key=when, reverse=True)


def history_section(run: Run) -> None:
    st.subheader(f"Scores of {run.name} over training")
    evals = scores.run_evals(run)
    names = scores.score_names(evals)
    if not names:
        st.info(f"**{run.name}** has no scores yet. Score it with **Evaluate now** below, or from a shell "
                f"(faster on a GPU box): `{CLI_HINT.format(path=run.path)}`.", icon=":material/info:")
        return
    latest = scores.latest_scores(evals)
    names = newest_first(names, latest)  # a score just computed is the one wanted: not below a table's fold
    steps = {name: scores.score_history(evals, name)["step"].nunique() for name in names}
    charted = [name for name in names if steps[name] > 1]
    once = [name for name in names if steps[name] <= 1]
    if once:  # one checkpoint: a line of one point says less than a table row
        st.dataframe(pd.DataFrame([{
            "metric": name, "value": latest[name]["value"],
            "real-data floor": latest[name]["floor"] if latest[name]["floor"] == latest[name]["floor"] else None,
            "samples": latest[name]["n"], "step": latest[name]["step"],
            "better": scores.metric_hint(name).split(".")[0],
            "reference": scores.describe_reference(latest[name].get("reference")),
            "features": scores.extractor_words(str(latest[name].get("extractor") or ""))} for name in once]),
            hide_index=True, width="stretch")
        st.caption("The floor is the same score for held-out real images at the same sample count: the best a "
                   "generator can hope for.")
    cols = st.columns(2)
    for i, name in enumerate(charted):
        with cols[i % 2]:
            st.altair_chart(metric_chart(scores.score_history(evals, name), name), width="stretch", height=280)
            st.caption(scores.measured_caption(latest[name]))
    per_class = scores.per_class_scores(evals, run.class_names())
    if not per_class.empty:
        st.markdown("**Per class** (latest): a class far above its real value has collapsed to a few pictures")
        st.dataframe(per_class, hide_index=True, width="stretch")


# --- evaluate now -------------------------------------------------------------------------------


def catalogue_section(catalogue: list[dict]) -> None:
    """What each metric measures, and what this machine lacks for it (with the command that fixes it)."""
    with st.expander("What each metric measures", icon=":material/help:"):
        frame = pd.DataFrame(catalogue).rename(columns={"samples": "default samples"})
        frame["ready"] = ["yes" if row["missing"] is None else "no" for row in catalogue]  # not the frame: pandas
        # 3 stores None in a string column as NaN, which is not None
        st.dataframe(frame[["metric", "measures", "default samples", "features", "ready"]], hide_index=True,
                     width="stretch")
        for row in catalogue:
            if row["missing"]:
                st.caption(f":material/block: {row['missing']}")


def evaluate_form(run: Run, shipped: bool) -> None:
    catalogue = scores.metric_catalogue()
    ready = [row["metric"] for row in catalogue if row["missing"] is None]
    docs = {row["metric"]: row for row in catalogue}
    default = [m for m in (metrics.LIVE_METRIC, "nn_psnr1k") if m in ready][:1]
    cap = sample_cap()
    st.subheader("Evaluate now")
    st.caption("Samples the generator (seed 0), scores it against its training data and, where the folder is "
               "writable, appends the result to its evals.csv. On a CPU this takes a minute or more; the first "
               "time on a dataset also computes its reference statistics (cached afterwards).")
    with st.form("evaluate"):
        chosen = st.multiselect(
            "Metrics", list(docs), default=default, key="evaluate_metrics",
            format_func=lambda m: m if docs[m]["missing"] is None else f"{m} (not available here)",
            help="fd_cifar2k is the cheap one. Each metric's name says its default sample count.")
        placeholder = "each metric's own count" if cap is None else None
        n = st.number_input("Generated samples", 2, cap or MAX_SAMPLES, cap, key="evaluate_n",
                            placeholder=placeholder,
                            help=("Fewer samples: faster, noisier, and a higher FD (the floor shows by how much)."
                                  + (f" Capped at {cap} in this demo." if cap else "")))
        source = None
        if not policy.demo_mode():  # a public deployment reads no server paths
            trained_on = launch.run_data(run) or "cifar10"
            source = st.text_input(
                "Reference data", trained_on, key=f"evaluate_source_{run.name}",
                help="The real images to compare with: cifar10, a folder or .zip of <class>/<image>, or an .npz, "
                     "inside the allowed data folders (GAN_DATA_ROOTS).").strip() or trained_on
        go = st.form_submit_button("Evaluate", type="primary", icon=":material/analytics:")
    catalogue_section(catalogue)
    if go:
        run_evaluation(run, shipped, chosen, None if n is None else int(n), cap, source)


def run_evaluation(run: Run, shipped: bool, names: list[str], n: int | None, cap: int | None,
                   source: str | None = None) -> None:
    """Check, compute (one at a time per server), then save and rerun, or show the scores unsaved."""
    if not names:
        st.warning("Choose at least one metric.")
        return
    trained_on = launch.run_data(run) or "cifar10"  # the run's own data is as trusted as the run
    if source is not None and source != trained_on:
        try:
            source = security.check_data_source(source)
        except security.NotAllowedError as e:
            st.error(f"Cannot use that reference data: {e}.", icon=":material/error:")
            st.caption("The app reads data only inside its allowed folders: "
                       + ", ".join(f"`{r}`" for r in security.allowed_data_roots())
                       + ". The owner sets them with GAN_DATA_ROOTS (colon-separated).")
            return
    if source == "cifar10" and scores.cifar10_problem():
        st.error(f"Cannot evaluate: {scores.cifar10_problem()}", icon=":material/error:")
        return
    if cap is not None:
        n = min(n or cap, cap)
    try:
        metrics.check_available(names)  # a missing classifier or Inception download fails here, in one line
    except metrics.MetricError as e:
        st.error(f"Cannot evaluate: {e}", icon=":material/error:")
        return
    refusal = scores.save_refusal(run, shipped, policy.demo_mode())
    held = contextlib.ExitStack()
    try:  # one evaluation per server; in demo mode none beside a training (each worker ~0.7 GB)
        held.enter_context(launch.evaluation_slot(policy.limits()))
    except security.NotAllowedError as e:
        st.warning(f"{str(e)[:1].upper()}{str(e)[1:]}.")
        return
    with held:
        try:
            started = time.perf_counter()
            what = f"{len(names)} metric{'s' if len(names) > 1 else ''}" + (f" on {n:,} samples" if n else "")
            with st.spinner(f"Scoring {run.name}: {what}. This can take a minute or more on a CPU..."):
                bar = st.empty()

                def progress(done: int, total: int, what: str) -> None:  # Inception: minutes per 1,000 images
                    bar.progress(done / max(total, 1), text=f"{what}: {done:,} of {total:,} images")

                results = scores.evaluate(run, names, n, save=refusal is None, data=source, on_progress=progress)
                bar.empty()
            seconds = time.perf_counter() - started
        except Exception as e:  # MetricError, DataError, ModelError, OSError: all one line for the user
            st.error(f"Could not evaluate: {messages.friendly_message(e)}", icon=":material/error:")
            return
    summary = ", ".join(f"{r.metric} {r.value:.4g}" + (f" (floor {r.floor:.4g})" if r.floor == r.floor else "")
                        for r in results if not r.metric.endswith("_std"))
    if refusal is None:
        st.session_state[FLASH] = f"Scored {run.name} in {messages.duration(seconds)}: {summary}. Saved to evals.csv."
        st.session_state.pop(UNSAVED, None)
        st.rerun()
    frame = pd.DataFrame([{"metric": r.metric, "value": r.value, "floor": r.floor if r.floor == r.floor else None,
                           "n": r.n, "reference": r.reference, "features": r.extractor} for r in results])
    st.session_state[UNSAVED] = (str(run.path), frame, refusal)


def unsaved_results(run: Run) -> None:
    """The last scores that could not be saved (read-only folder, demo), until another run is picked."""
    kept = st.session_state.get(UNSAVED)
    if not kept or kept[0] != str(run.path):
        return
    _, frame, refusal = kept
    st.info(f"Not saved: {refusal}. These scores are shown here only.", icon=":material/lock:")
    st.dataframe(frame, hide_index=True, width="stretch")


# --- compare ------------------------------------------------------------------------------------


def compare_section() -> None:
    st.subheader("Compare runs")
    table = scores.compare_table(scores.compare_choices())
    if table.empty:
        st.caption("No runs to compare yet.")
        return
    metric_columns = [c for c in table.columns if c not in scores.COMPARE_COLUMNS and not c.endswith(" n")]
    shared = table.attrs["shared_metrics"]
    if not st.toggle("Show every metric", key="evaluate_compare_all", value=not shared,
                     help="Off: only the metrics every scored run has, so the runs compare column by column."):
        table = table[[*scores.COMPARE_COLUMNS, *(c for name in shared for c in (name, f"{name} n"))]]
    st.dataframe(table, hide_index=True, width="stretch",
                 column_config={c: st.column_config.NumberColumn(c, format="%.4g")
                                for c in metric_columns if c in table})
    st.caption("The latest score of each metric per run, with the number of generated samples it used (`n`). "
               "Compare runs at the same `n` and reference set: FD-like scores fall as `n` grows.")
    for name, labels in table.attrs["mixed_extractors"].items():
        st.warning(f"`{name}` was measured with different feature networks here ({', '.join(labels)}): "
                   "those values do not compare. Evaluate the older runs again to put them on one scale.")


# --- page ---------------------------------------------------------------------------------------


def empty_state() -> None:
    st.info("Nothing to evaluate yet: train a run on the **Train** page (a few minutes with the `tiny` preset), "
            "or put a pretrained run folder under `checkpoints/`. Its scores appear here.", icon=":material/info:")
    with contextlib.suppress(Exception):  # page_link needs the app's navigation (absent when run on its own)
        st.page_link("pages/train.py", label="Go to Train", icon=":material/model_training:")


def main() -> None:
    st.title("Evaluate")
    st.caption("How close the generated images are to the real ones, per checkpoint. Every score comes with its "
               "floor: what real held-out images get at the same sample count.")
    if FLASH in st.session_state:
        st.success(st.session_state.pop(FLASH), icon=":material/check_circle:")
    choices = models.model_choices()
    if not choices:
        empty_state()
        if scores.compare_choices():  # runs that have not saved a generator yet can still be compared
            compare_section()
        return
    run = models.pick_model()
    shipped = next(c.shipped for c in choices if c.run.path == run.path)
    history_section(run)
    evaluate_form(run, shipped)
    unsaved_results(run)
    compare_section()


main()
