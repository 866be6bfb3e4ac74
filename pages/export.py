"""Export: many generated images at once, as a .zip of PNGs (with labels.csv) or an .npz.

The images are built in memory in batches with a progress bar; the cap (MAX_EXPORT, lower in
demo mode: studio.policy.limits().max_export_images) keeps one request from tying up the server
for minutes.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from gan import sampling
from gan.config import INT32
from gan.security import NotAllowedError
from studio import export, models, navigation, policy, scores

navigation.within_app(__file__)  # a first visit straight to this URL goes through app.py

FORMATS = {"zip": ".zip of PNGs + labels.csv", "npz": ".npz (images, labels)"}
BATCH = 256
RESULT = "export_result"  # session_state: (file name, bytes, mime, summary) of the last export
NOTE = "export_note"  # session_state: what the last export used instead of what was typed, if anything


def generate_all(model, n: int, seed: int, truncation: float | None, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """`n` images; conditional models get an equal share of each class, in class order."""
    z = sampling.latents(n, sampling.latent_dim(model), seed, truncation)
    labels = np.sort(np.arange(n, dtype=np.int32) % classes) if classes else np.zeros(n, np.int32)
    bar = st.progress(0.0, text=f"Generating 0 of {n:,} images...")
    parts = []
    for start in range(0, n, BATCH):
        stop = min(n, start + BATCH)
        parts.append(sampling.generate(model, z[start:stop], labels[start:stop] if classes else None))
        bar.progress(stop / n, text=f"Generating {stop:,} of {n:,} images...")
    bar.empty()
    return np.concatenate(parts), labels


def main() -> None:
    st.title("Export")
    run, model, info = models.pick_loaded_model()
    limits = policy.limits()
    cap = export.export_cap(limits)
    demo = " in this demo" if cap < export.MAX_EXPORT else ""
    with st.form("export"):
        c1, c2, c3 = st.columns(3)
        # No max_value (export.within says why): a number past the cap is clamped, and the page says so.
        if info.num_classes:
            most = max(1, cap // info.num_classes)
            asked = int(c1.number_input("Images per class", value=min(10, most), step=1, key="export_per_class",
                                        help=f"{info.num_classes} classes: at most {most:,} per class, "
                                             f"{cap:,} images in all{demo}."))
            per_class, note = export.within(asked, most, "Images per class")
            n = per_class * info.num_classes
        else:
            asked = int(c1.number_input("Images", value=min(100, cap), step=1, key="export_n",
                                        help=f"At most {cap:,}{demo}."))
            n, note = export.within(asked, cap, "Images")
        seed, seed_note = export.within(int(c2.number_input("Seed", value=0, step=1, key="export_seed",
                                                            help=f"0 to {INT32:,}.")), INT32, "Seed", least=0)
        note = " ".join(filter(None, (note, seed_note))) or None
        fmt = c3.radio("Format", list(FORMATS), format_func=FORMATS.__getitem__, key="export_format")
        truncation = st.slider("Truncation (0 = off)", 0.0, 2.0, 0.0, 0.05, key="export_truncation",
                               help="Redraw latent values beyond +-t: cleaner but less varied images.")
        go = st.form_submit_button("Generate", type="primary", icon=":material/auto_awesome:")
    value = scores.training_value(run)
    with st.container(border=True):
        st.markdown("**Are these images worth training on?**")
        for line in value:
            st.markdown(line)
        if not value:
            st.caption("Not measured for this model yet: `python -m gan evaluate --run-dir ... --metrics "
                       "cas,aug_gain` trains small classifiers on its images and tests them on real images it "
                       "never saw (a few minutes on a CPU).")
    if go:
        try:
            export.check_export(n, limits)
        except NotAllowedError as e:
            st.error(f"Not exported: {e}.")
            return
        st.session_state[NOTE] = note
        if note:  # shown while the images are made, and kept beside their download below
            st.warning(note, icon=":material/warning:")
        images, labels = generate_all(model, n, seed, truncation or None, info.num_classes)
        kept = labels if info.num_classes else None
        build = export.export_zip if fmt == "zip" else export.export_npz
        with st.spinner("Packing..."):
            blob = build(images, kept, info.class_names)
        mime = "application/zip" if fmt == "zip" else "application/octet-stream"
        st.session_state[RESULT] = (f"{run.name}-{n}-seed{seed}.{fmt}", blob, mime,
                                    f"{n:,} images from {run.name}, {len(blob) / 2**20:.1f} MB")
    if RESULT in st.session_state:
        name, blob, mime, summary = st.session_state[RESULT]
        st.success(summary)
        if st.session_state.get(NOTE) and not go:
            st.warning(st.session_state[NOTE], icon=":material/warning:")
        st.download_button(f"Download {name}", blob, name, mime, type="primary", icon=":material/download:",
                           key="export_download")


main()
