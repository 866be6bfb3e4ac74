"""Synthetic datasets for download: a zip of PNGs with labels.csv, or an .npz, capped in size."""

from __future__ import annotations

import numpy as np

from gan.security import NotAllowedError
from studio.policy import UNLIMITED, Limits

MAX_EXPORT = 10_000


def export_cap(limits: Limits = UNLIMITED) -> int:
    """The most images one export may hold: MAX_EXPORT, or the demo's cap when lower."""
    return min(MAX_EXPORT, limits.max_export_images or MAX_EXPORT)


def check_export(n: int, limits: Limits = UNLIMITED) -> None:
    """NotAllowedError (one line) when an export of `n` images is over the cap."""
    limits.check("max_export_images", n)
    if n > MAX_EXPORT:
        raise NotAllowedError(f"at most {MAX_EXPORT:,} images per export (asked for {n:,})")


def within(asked: int, most: int, what: str, least: int = 1) -> tuple[int, str | None]:
    """`asked` clamped to [least, most], and a line saying what was used instead, if anything.

    The page's number fields have no maximum on purpose: past a field's maximum the browser only turns it
    red and keeps sending the previous value, so Generate would silently make a different number of images.
    """
    used = min(max(asked, least), most)
    if used == asked:
        return used, None
    bound = f"the most is {most:,}" if asked > most else f"the least is {least:,}"
    return used, f"{what}: asked for {asked:,}, {bound}; used {used:,}."


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
