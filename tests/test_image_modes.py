"""Images decode to what a viewer shows: every mode and bit depth Pillow opens, and EXIF orientation."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from gan.data import decode_image


def encoded(im: Image.Image, fmt: str = "PNG", **kwargs) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


@settings(max_examples=40, deadline=None)
@given(level=st.integers(0, 255))
def test_grey_levels_survive_every_bit_depth(level):
    """One grey picture stored as 8- and 16-bit grey, grey+alpha, palette and RGB: all decode to the same grey."""
    grey8 = Image.new("L", (32, 32), level)
    sixteen = Image.fromarray(np.full((32, 32), level * 257, np.uint16))  # I;16: the same grey at 16 bits
    for im in (grey8, sixteen, grey8.convert("RGB"), grey8.convert("LA"), grey8.convert("P")):
        array = decode_image(encoded(im), 32)
        assert array.shape == (32, 32, 3)
        assert np.abs(array.astype(int) - level).max() <= 1, im.mode


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I;16"])
def test_every_common_mode_decodes_to_rgb(mode):
    base = Image.new("RGB", (40, 30), (200, 100, 50))
    im = base.convert(mode) if mode != "I;16" else Image.fromarray(np.full((30, 40), 40000, np.uint16))
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    array = decode_image(encoded(im, fmt), 32)
    assert array.shape == (32, 32, 3) and array.dtype == np.uint8
    if mode == "I;16":
        assert abs(int(array[0, 0, 0]) - round(40000 * 255 / 65535)) <= 1  # not clipped to white


@pytest.mark.parametrize("orientation,expected_corner", [(1, "red"), (3, "blue"), (6, "yellow"), (8, "green")])
def test_exif_orientation_is_applied(orientation, expected_corner):
    """A camera's upright photo is stored rotated with an orientation tag; we must undo it as viewers do.

    Tag 3 turns the picture half way round; 6 turns it a quarter clockwise, so what shows top-left was
    stored bottom-left; 8 a quarter anticlockwise, so top-left was stored top-right."""
    colours = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255), "yellow": (255, 255, 0)}
    im = Image.new("RGB", (64, 64))
    # Quadrants of the stored pixels: top-left red, top-right green, bottom-left yellow, bottom-right blue.
    for (x, y), name in {(0, 0): "red", (32, 0): "green", (0, 32): "yellow", (32, 32): "blue"}.items():
        im.paste(colours[name], (x, y, x + 32, y + 32))
    exif = Image.Exif()
    exif[0x0112] = orientation
    array = decode_image(encoded(im, "JPEG", exif=exif.tobytes(), quality=95), 32)
    top_left = array[2, 2].astype(int)
    assert np.abs(top_left - colours[expected_corner]).max() < 40, (orientation, top_left)
