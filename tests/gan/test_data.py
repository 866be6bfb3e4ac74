"""Tests for gan.data: every source, conversions, bad input, zip safety, real data.

Images decode to what a viewer shows: every mode and bit depth Pillow opens, and EXIF orientation.

Memory an input can multiply: sizes a file declares are checked before anything is allocated (issue 25,
class 2). Every fixture is a tiny file built here that declares something huge; where memory is the point,
the load runs in a child process under an address-space cap, so a regression fails the test instead of
taking the machine down.

Inputs that used to hang, exhaust memory or escape the allowed folders: each now ends, bounded, in one line.

Hangs are tested in a child process with a deadline, so a regression fails the test instead of stalling CI.

CIFAR-10 without the internet: a local copy named once (GAN_CIFAR10), a failed download remembered,
and the app suggesting only what it will accept.

One friendly line, whole where it matters (issue 25, class 8): advice is never cut, an error is cut
at a word; skip messages name the file, not a BytesIO; Pillow's EXIF warning never reaches stderr;
Keras' dataset folder is read from one place that honours KERAS_HOME.
"""

from __future__ import annotations

import io
import json
import logging
import os
import struct
import sys
import types
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from helpers import cifar_like_zip, npz_declaring
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from gan import data
from gan.cli import main
from gan.data import CIFAR10_CLASSES, MAX_CLASSES, MAX_PIXELS, DataError, Dataset, decode_image, load_dataset
from gan.errors import MAX_ERROR_CHARS, first_line

CIFAR_ZIP = Path(
    os.environ.get("GAN_CIFAR_ZIP") or Path(__file__).resolve().parents[3] / "shared/data/cifar10-train.zip"
)


def encode(im: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt)
    return buf.getvalue()


def solid(colour=(10, 120, 240), size=(8, 8), mode="RGB") -> Image.Image:
    return Image.new(mode, size, colour)


def assert_rgb(ds: Dataset, n: int, size: int = 32) -> None:
    assert ds.images.shape == (n, size, size, 3)
    assert ds.images.dtype == np.uint8
    assert ds.labels.shape == (n,)
    assert ds.labels.dtype == np.int32
    assert ds.labels.min() >= 0 and ds.labels.max() < ds.num_classes


def assert_labels_match_colours(ds: Dataset, colours: dict) -> None:
    """Each image's mean colour is nearest to its own class colour (fixtures are solid)."""
    names = list(colours)
    base = np.array([colours[n] for n in names], float)
    means = ds.images.reshape(len(ds.images), -1, 3).mean(axis=1)
    nearest = np.abs(means[:, None, :] - base[None]).sum(axis=2).argmin(axis=1)
    assert [names[i] for i in nearest] == [ds.class_names[label] for label in ds.labels]


def error_of(source, **kwargs) -> str:
    with pytest.raises(DataError) as info:
        load_dataset(str(source), **kwargs)
    message = str(info.value)
    assert "\n" not in message and message
    return message


# --- the three file sources ---------------------------------------------------
def test_folder_loads(image_folder, synth_colours):
    ds = load_dataset(str(image_folder))
    assert_rgb(ds, 24)
    assert ds.class_names == ("bird", "cat", "dog") and ds.num_classes == 3
    assert np.bincount(ds.labels).tolist() == [8, 8, 8]
    assert ds.skipped == 0 and ds.source == str(image_folder)
    assert_labels_match_colours(ds, synth_colours)
    assert len({im.tobytes() for im in ds.images}) == 24  # all distinct, none dropped


def test_zip_loads_like_folder(image_zip, image_folder, synth_colours):
    ds = load_dataset(str(image_zip))
    assert_rgb(ds, 24)
    assert ds.class_names == ("bird", "cat", "dog")
    assert ds.labels.tolist() == load_dataset(str(image_folder)).labels.tolist()
    assert_labels_match_colours(ds, synth_colours)


def test_npz_loads(image_npz, synth_colours):
    ds = load_dataset(str(image_npz))
    assert_rgb(ds, 24)
    assert ds.class_names == ("bird", "cat", "dog")
    assert np.bincount(ds.labels).tolist() == [8, 8, 8]
    assert_labels_match_colours(ds, synth_colours)


def test_npz_optional_arrays_and_channels(tmp_path):
    gray = np.full((5, 16, 16), 77, np.uint8)
    np.savez(tmp_path / "gray.npz", x=gray)
    ds = load_dataset(str(tmp_path / "gray.npz"), image_size=16)
    assert_rgb(ds, 5, 16)
    assert ds.class_names == ("all",) and not ds.labels.any()
    assert (ds.images == 77).all()

    rgba = np.zeros((4, 32, 32, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 0  # fully transparent red: alpha is dropped
    np.savez(tmp_path / "rgba.npz", x=rgba, y=np.array([0, 2, 1, 2], np.uint8))
    ds = load_dataset(str(tmp_path / "rgba.npz"))
    assert_rgb(ds, 4)
    assert ds.class_names == ("0", "1", "2")
    assert ds.labels.tolist() == [0, 2, 1, 2]
    assert (ds.images[..., 0] == 200).all() and (ds.images[..., 1:] == 0).all()


def test_npz_is_resized(tmp_path, caplog):
    np.savez(tmp_path / "big.npz", x=np.full((3, 64, 64, 3), 90, np.uint8))
    with caplog.at_level(logging.INFO, logger="gan.data"):
        ds = load_dataset(str(tmp_path / "big.npz"))
    assert_rgb(ds, 3)
    assert np.abs(ds.images.astype(int) - 90).max() <= 1
    assert "resized 3" in caplog.text


def test_flat_folder_is_one_class(tmp_path):
    for i in range(3):
        solid((i, i, i)).save(tmp_path / f"{i}.png")
    (tmp_path / "notes.txt").write_text("not an image")
    ds = load_dataset(str(tmp_path), image_size=8)
    assert_rgb(ds, 3, 8)
    assert ds.class_names == ("all",) and ds.labels.tolist() == [0, 0, 0]


def test_modes_and_sizes_become_rgb(tmp_path, caplog):
    """Grayscale, palette, RGBA, CMYK and non-32x32 images all come out 32x32 RGB."""
    d = tmp_path / "mixed" / "things"
    d.mkdir(parents=True)
    solid(120, (32, 32), "L").save(d / "gray.png")
    solid((10, 20, 30, 0), (32, 32), "RGBA").save(d / "rgba.png")
    solid((200, 100, 0), (32, 32)).convert("P").save(d / "palette.gif")
    palette = solid((0, 100, 200), (32, 32)).convert("P")
    palette.info["transparency"] = 0
    palette.save(d / "palette_transparent.png")
    solid((0, 0, 0, 0), (32, 32), "CMYK").save(d / "cmyk.jpg")
    solid((5, 5, 5), (64, 48)).save(d / "wide.JPEG")
    solid((9, 9, 9), (16, 16)).save(d / "small.bmp")
    solid((50, 60, 70), (40, 40)).save(d / "photo.webp", lossless=True)
    with caplog.at_level(logging.INFO, logger="gan.data"):
        ds = load_dataset(str(tmp_path / "mixed"))
    assert_rgb(ds, 8)
    assert ds.class_names == ("things",) and ds.skipped == 0
    by_name = dict(zip(sorted(p.name for p in d.iterdir()), ds.images, strict=True))
    assert (by_name["gray.png"] == 120).all()
    assert (by_name["rgba.png"] == [10, 20, 30]).all()  # alpha dropped, colour kept
    assert (by_name["cmyk.jpg"] > 240).all()  # CMYK 0,0,0,0 is white
    assert np.abs(by_name["photo.webp"].astype(int) - [50, 60, 70]).max() <= 1
    assert "resized 3 of 8 images to 32x32" in caplog.text


def test_non_square_is_center_cropped(tmp_path):
    im = Image.new("RGB", (64, 48), (0, 0, 255))
    im.paste((255, 0, 0), (0, 0, 8, 48))  # left and right 8 px bands fall outside the
    im.paste((255, 0, 0), (56, 0, 64, 48))  # central 48x48 square
    im.save(tmp_path / "wide.png")
    ds = load_dataset(str(tmp_path), image_size=16)
    assert_rgb(ds, 1, 16)
    assert (ds.images[0] == [0, 0, 255]).all()


def test_image_size_option(image_zip):
    ds = load_dataset(str(image_zip), image_size=16)
    assert_rgb(ds, 24, 16)


# --- limit ----------------------------------------------------------------------
def test_limit_is_deterministic_and_keeps_all_class_names(image_folder):
    a = load_dataset(str(image_folder), limit=5, seed=3)
    b = load_dataset(str(image_folder), limit=5, seed=3)
    c = load_dataset(str(image_folder), limit=5, seed=4)
    assert_rgb(a, 5)
    assert a.class_names == ("bird", "cat", "dog")
    assert np.array_equal(a.images, b.images) and np.array_equal(a.labels, b.labels)
    assert not np.array_equal(a.images, c.images)
    assert len(load_dataset(str(image_folder), limit=1000).images) == 24


def test_limit_decodes_only_kept_images(image_zip, monkeypatch):
    calls = []
    real = data._decode
    monkeypatch.setattr(data, "_decode", lambda b, s: calls.append(1) or real(b, s))
    ds = load_dataset(str(image_zip), limit=4)
    assert len(ds.images) == 4 and len(calls) == 4


def test_limit_on_npz(image_npz):
    ds = load_dataset(str(image_npz), limit=7, seed=1)
    assert_rgb(ds, 7)
    assert ds.class_names == ("bird", "cat", "dog")


# --- unreadable files -----------------------------------------------------------
def make_small_set(root: Path, n: int) -> None:
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        solid((i % 256, 0, 0)).save(root / ("a", "b")[i % 2] / f"{i:04d}.png")


def test_few_corrupt_files_are_skipped(tmp_path, caplog):
    make_small_set(tmp_path, 300)
    (tmp_path / "a" / "garbage.png").write_bytes(b"definitely not a png")
    good = encode(solid())
    (tmp_path / "b" / "truncated.png").write_bytes(good[: len(good) // 2])
    (tmp_path / "b" / "empty.jpg").write_bytes(b"")
    with caplog.at_level(logging.WARNING, logger="gan.data"):
        ds = load_dataset(str(tmp_path), image_size=8)  # 3 of 303 failed: under 1%
    assert_rgb(ds, 300, 8)
    assert ds.skipped == 3
    assert "skipped 3 unreadable" in caplog.text


def test_too_many_corrupt_files_fail(tmp_path):
    make_small_set(tmp_path, 10)
    (tmp_path / "a" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    message = error_of(tmp_path, image_size=8)
    assert "1 of 11" in message and "could not be read" in message and "bad.png" in message


def test_all_corrupt_fails(tmp_path):
    (tmp_path / "x.jpg").write_bytes(b"nope")
    assert "1 of 1" in error_of(tmp_path)


def test_decompression_bomb_is_refused():
    """A PNG header claiming 5000x5000 pixels is refused before anything is decoded."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 5000, 5000, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"\x00" * 100))
        + chunk(b"IEND", b"")
    )
    with pytest.raises(DataError, match="pixels"):
        decode_image(png, 32)


# --- bad sources ------------------------------------------------------------------
def test_missing_and_unknown_sources(tmp_path):
    assert "not found" in error_of(tmp_path / "nope")
    assert "not found" in error_of("imagenet")
    (tmp_path / "data.csv").write_text("a,b\n")
    message = error_of(tmp_path / "data.csv")
    assert "unsupported" in message and "cifar10" in message


def test_empty_sources(tmp_path):
    (tmp_path / "empty").mkdir()
    assert "no images" in error_of(tmp_path / "empty")
    (tmp_path / "text" / "cls").mkdir(parents=True)
    (tmp_path / "text" / "cls" / "readme.txt").write_text("hi")
    assert "no images" in error_of(tmp_path / "text")
    with zipfile.ZipFile(tmp_path / "empty.zip", "w") as zf:
        zf.writestr("train/cat/", b"")  # a directory entry only
        zf.writestr("train/cat/readme.md", b"no images here")
    assert "no images" in error_of(tmp_path / "empty.zip")


def test_bad_arguments(image_folder):
    assert "limit" in error_of(image_folder, limit=0)
    assert "image_size" in error_of(image_folder, image_size=0)


def test_not_a_zip(tmp_path):
    (tmp_path / "fake.zip").write_bytes(b"this is plain text, not a zip archive")
    assert "not a valid zip" in error_of(tmp_path / "fake.zip")


def _record_unpickling(flag: str) -> str:  # would only run if the npz were unpickled
    Path(flag).write_text("unpickled!")
    return flag


class Trap:
    def __init__(self, flag: str) -> None:
        self.flag = flag

    def __reduce__(self):
        return (_record_unpickling, (self.flag,))


def test_npz_object_array_is_refused_not_unpickled(tmp_path):
    flag = tmp_path / "flag"
    np.savez(tmp_path / "evil.npz", x=np.array([Trap(str(flag))], dtype=object))
    message = error_of(tmp_path / "evil.npz")
    assert "object" in message and "pickle" in message
    assert not flag.exists()


@pytest.mark.parametrize(
    ("arrays", "words"),
    [
        ({"images": np.zeros((2, 8, 8, 3), np.uint8)}, ["no 'x'"]),
        ({"x": np.zeros((2, 8, 8, 3), np.float32)}, ["'x'", "float32", "uint8"]),
        ({"x": np.zeros((2, 8), np.uint8)}, ["'x'", "shape", "(2, 8)"]),
        ({"x": np.zeros((2, 8, 8, 2), np.uint8)}, ["'x'", "shape"]),
        ({"x": np.zeros((0, 8, 8, 3), np.uint8)}, ["no images"]),
        (
            {"x": np.zeros((3, 8, 8, 3), np.uint8), "y": np.zeros(2, int)},
            ["'y'", "3 images"],
        ),
        (
            {"x": np.zeros((2, 8, 8, 3), np.uint8), "y": np.zeros((2, 1), int)},
            ["'y'", "shape"],
        ),
        (
            {"x": np.zeros((2, 8, 8, 3), np.uint8), "y": np.zeros(2, float)},
            ["'y'", "integers"],
        ),
        ({"x": np.zeros((2, 8, 8, 3), np.uint8), "y": np.array([0, -1])}, ["negative"]),
        (
            {
                "x": np.zeros((2, 8, 8, 3), np.uint8),
                "y": np.array([0, 2]),
                "class_names": np.array(["a", "b"]),
            },
            ["label 2", "2 class names"],
        ),
        (
            {
                "x": np.zeros((2, 8, 8, 3), np.uint8),
                "y": np.array([0, 1]),
                "class_names": np.array([1, 2]),
            },
            ["class_names"],
        ),
    ],
)
def test_bad_npz(tmp_path, arrays, words):
    np.savez(tmp_path / "bad.npz", **arrays)
    message = error_of(tmp_path / "bad.npz")
    for word in words:
        assert word in message


def test_corrupt_npz(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 not really")
    assert "not a valid .npz" in error_of(tmp_path / "junk.npz")


@pytest.mark.parametrize("shape", [(10**6, 1024, 1024, 3), (3000, 1024, 1024, 3)], ids=["2.9TiB", "9GiB"])
def test_npz_whose_header_declares_a_huge_array_is_a_data_error(tmp_path, shape):
    """The header promises terabytes or gigabytes (the data then ends after 100 bytes): refused from the
    header alone, in one DataError line naming the limit, before numpy allocates anything."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False, "shape": shape})
    with zipfile.ZipFile(tmp_path / "huge.npz", "w") as zf:
        zf.writestr("x.npy", header.getvalue() + bytes(100))
    assert f"{shape[0]:,} images of 1024x1024" in error_of(tmp_path / "huge.npz")
    assert "over the 4 GB limit" in error_of(tmp_path / "huge.npz")


# --- zip safety -------------------------------------------------------------------
def test_unsafe_zip_members_are_skipped_and_never_written(tmp_path):
    work = tmp_path / "deep" / "work"
    work.mkdir(parents=True)
    path = work / "evil.zip"
    png = encode(solid())
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(5):
            zf.writestr(f"cls/{i}.png", png)
        zf.writestr("../evil/x.png", png)
        zf.writestr("/abs_evil/x.png", png)
        zf.writestr("cls/../../evil2.png", png)
        zf.writestr("__MACOSX/cls/._0.png", b"resource fork, not an image")
        zf.writestr("cls/.hidden.png", b"not an image either")
        zf.writestr(".git/cls/x.png", png)  # a hidden folder: skipped, as on disk
    names = zipfile.ZipFile(path).namelist()
    assert "../evil/x.png" in names and "/abs_evil/x.png" in names  # kept as crafted
    before = sorted(p for p in tmp_path.rglob("*"))
    ds = load_dataset(str(path), image_size=8)
    assert_rgb(ds, 5, 8)
    assert ds.class_names == ("cls",)
    assert ds.skipped == 3
    assert sorted(p for p in tmp_path.rglob("*")) == before  # nothing extracted anywhere
    assert not (tmp_path / "deep" / "evil").exists() and not Path("/abs_evil").exists()


def test_zip_member_with_bad_crc_is_skipped(tmp_path):
    path = tmp_path / "crc.zip"
    png = encode(solid((3, 4, 5)))
    with zipfile.ZipFile(path, "w") as zf:  # stored, so the bytes can be patched
        for i in range(150):
            zf.writestr(f"cls/{i:03d}.png", png)
        zf.writestr("cls/zzz.png", png)
    raw = bytearray(path.read_bytes())
    last = raw.rindex(png)  # the data of cls/zzz.png
    raw[last + len(png) - 1] ^= 0xFF
    path.write_bytes(bytes(raw))
    ds = load_dataset(str(path), image_size=8)
    assert_rgb(ds, 150, 8)
    assert ds.skipped == 1


def _zip_with_declared_size(path: Path, size: int) -> None:
    """Write a one-member zip, then patch the central directory's uncompressed size."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("cls/big.png", encode(solid()))
    raw = bytearray(path.read_bytes())
    central = raw.index(b"PK\x01\x02")
    raw[central + 24 : central + 28] = struct.pack("<I", size)
    path.write_bytes(bytes(raw))


def test_zip_member_with_huge_declared_size_is_refused(tmp_path):
    path = tmp_path / "bomb.zip"
    _zip_with_declared_size(path, 3_000_000_000)
    assert zipfile.ZipFile(path).getinfo("cls/big.png").file_size == 3_000_000_000
    message = error_of(path)
    assert "cls/big.png" in message and "20 MB" in message


def test_zip_member_that_lies_about_its_size_is_never_inflated(tmp_path):
    """200 MB of zeros deflate to ~200 KB; the archive then claims the member is 1,000 bytes. Reading
    must stop at 1,000 bytes (the CRC check then refuses it), not inflate 200 MB first."""
    import tracemalloc

    path = tmp_path / "liar.zip"
    png = encode(solid())
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(150):
            zf.writestr(f"cls/{i:03d}.png", png)
        zf.writestr("cls/zzz.png", bytes(200 * 2**20))
    raw = bytearray(path.read_bytes())
    central = raw.rindex(b"PK\x01\x02")  # the last member's central directory record
    assert raw[central + 46 : central + 57] == b"cls/zzz.png"
    raw[central + 24 : central + 28] = struct.pack("<I", 1000)
    path.write_bytes(bytes(raw))
    assert zipfile.ZipFile(path).getinfo("cls/zzz.png").file_size == 1000
    tracemalloc.start()
    try:
        ds = load_dataset(str(path), image_size=8)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert_rgb(ds, 150, 8)
    assert ds.skipped == 1
    assert peak < 20 * 2**20, f"peak {peak / 2**20:.0f} MB: the member was inflated"


def test_oversized_file_in_a_folder_is_skipped_unread(tmp_path, caplog):
    make_small_set(tmp_path, 200)
    with open(tmp_path / "a" / "huge.png", "wb") as f:  # sparse: 30 MB on paper, nothing on disk
        f.truncate(30 * 2**20)
    with caplog.at_level(logging.WARNING, logger="gan.data"):
        ds = load_dataset(str(tmp_path), image_size=8)
    assert_rgb(ds, 200, 8)
    assert ds.skipped == 1 and "huge.png: file is 31,457,280 bytes, over the 20 MB" in caplog.text


def test_zip_entry_and_total_caps(image_zip, monkeypatch):
    monkeypatch.setattr(data, "MAX_ZIP_ENTRIES", 10)
    assert "24 entries" in error_of(image_zip)
    monkeypatch.setattr(data, "MAX_ZIP_ENTRIES", 500_000)
    monkeypatch.setattr(data, "MAX_TOTAL_BYTES", 1000)
    assert "uncompressed bytes" in error_of(image_zip)


PART = st.one_of(st.sampled_from(["..", ".", "", "cls", "C:", "__MACOSX", "a\\..\\b", ".hidden.png"]),
                 st.text("abc./\\:", min_size=1, max_size=6))


MEMBER = st.tuples(
    st.lists(PART, min_size=1, max_size=5).map("/".join).map(lambda n: n + st_suffix(n)),
    st.sampled_from(["png", "junk", "empty"]),
)


def st_suffix(name: str) -> str:
    return "" if name.endswith((".png", "/")) else ".png"


@pytest.mark.filterwarnings("ignore:Duplicate name")
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(MEMBER, min_size=1, max_size=8))
@example([("...png", "png"), ("./:.png", "png")])  # found by it: a class named "."
def test_any_member_names_load_safely_or_fail_in_one_line(tmp_path_factory, members):
    """Hypothesis writes zips of crafted member names (``..``, absolute, drive letters, backslashes,
    hidden files) holding images, junk or nothing: the loader returns plain class names or one
    DataError line, and creates nothing on disk."""
    work = tmp_path_factory.mktemp("zips") / "deep" / "work"
    work.mkdir(parents=True)
    path = work / "crafted.zip"
    payload = {"png": encode(solid()), "junk": b"not an image", "empty": b""}
    with zipfile.ZipFile(path, "w") as zf:
        for name, kind in members:
            zf.writestr(name, payload[kind])
    root = work.parent.parent
    before = sorted(root.rglob("*"))
    try:
        ds = load_dataset(str(path), image_size=8)
    except DataError as e:
        assert "\n" not in str(e) and str(e)
        event("refused")
    else:
        event("loaded")
        assert len(ds.images) >= 1
        for name in ds.class_names:
            assert name and not name.startswith(".") and not set("/\\") & set(name), ds.class_names
    assert sorted(root.rglob("*")) == before


# --- decode_image never fails in an unexpected way ---------------------------------
VALID = [
    encode(solid((1, 2, 3), (32, 32)), "PNG"),
    encode(solid((200, 2, 3), (40, 24)), "JPEG"),
    encode(solid(7, (5, 9), "L"), "PNG"),
    encode(solid((1, 2, 3), (12, 12)), "GIF"),
    encode(solid((1, 2, 3), (12, 12)), "BMP"),
]


# Inputs on which Pillow raises ValueError (found by fuzzing), not OSError.
TRUNCATED_IHDR = VALID[0][:11] + b"\x07" + VALID[0][12:]


BAD_GIF_TILE = (
    b"GIF87a\x0c\x00\x0c\x00\x81\x00\x00\x00\x00\x00\x00\x00\x00/\x00\x00\x00"
    b"\x00\x00,\x00\x00\x00\x00\x00\x00\x0c\x00\x00\x05\x16"
)


@example(TRUNCATED_IHDR)
@example(BAD_GIF_TILE)
@example(b"")
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.binary(max_size=512),
        st.builds(lambda b, cut: b[:cut], st.sampled_from(VALID), st.integers(0, 2000)),
        st.builds(
            lambda b, i, v: b[:i] + bytes([v]) + b[i + 1 :],
            st.sampled_from(VALID),
            st.integers(0, 300),
            st.integers(0, 255),
        ),
    )
)
def test_decode_image_returns_rgb_or_raises_data_error(blob):
    try:
        arr = decode_image(blob, 32)
    except DataError:
        return
    assert arr.shape == (32, 32, 3) and arr.dtype == np.uint8


def test_decode_image_valid_bytes():
    for blob in VALID:
        arr = decode_image(blob, 32)
        assert arr.shape == (32, 32, 3) and arr.dtype == np.uint8


# --- cifar10 (Keras is faked: no download, no TensorFlow import in the suite) ---------
def fake_keras(monkeypatch, load_data) -> None:
    cifar10 = types.SimpleNamespace(load_data=load_data)
    monkeypatch.setitem(
        sys.modules,
        "keras",
        types.SimpleNamespace(datasets=types.SimpleNamespace(cifar10=cifar10)),
    )


def test_cifar10_offline_gives_data_error(monkeypatch):
    def offline():
        raise ConnectionError(
            "URL fetch failure on https://www.cs.toronto.edu/...: None -- [Errno -3]\nTemporary failure"
        )

    fake_keras(monkeypatch, offline)
    message = error_of("cifar10")
    assert "CIFAR-10" in message and ".zip" in message and "folder" in message


def test_cifar10_uses_keras_arrays(monkeypatch):
    x = np.random.default_rng(0).integers(0, 256, (20, 32, 32, 3), dtype=np.uint8)
    y = (np.arange(20) % 10).reshape(20, 1).astype(np.uint8)
    fake_keras(monkeypatch, lambda: ((x, y), (x[:2], y[:2])))
    ds = load_dataset("cifar10", limit=12)
    assert_rgb(ds, 12)
    assert ds.class_names == data.CIFAR10_CLASSES and ds.class_names[0] == "airplane"
    assert ds.source == "cifar10"
    keep = [int(np.flatnonzero((x == im).all(axis=(1, 2, 3)))[0]) for im in ds.images]
    assert ds.labels.tolist() == [int(y[k, 0]) for k in keep]


# --- real CIFAR-10 zip (shared dev data; never committed) ------------------------------
def test_real_cifar_zip_limit():
    if not CIFAR_ZIP.is_file():
        pytest.skip(f"CIFAR-10 zip not found at {CIFAR_ZIP} (set GAN_CIFAR_ZIP to its path)")
    ds = load_dataset(str(CIFAR_ZIP), limit=300, seed=0)
    assert_rgb(ds, 300)
    assert ds.class_names == data.CIFAR10_CLASSES
    assert ds.class_names == (
        "airplane", "automobile", "bird", "cat", "deer",
        "dog", "frog", "horse", "ship", "truck",
    )  # fmt: skip
    assert ds.skipped == 0
    assert len(np.unique(ds.labels)) == 10  # 300 random picks cover every class
    assert ds.images.std() > 20 and ds.images.mean() > 50  # real photos, not blank


@pytest.mark.parametrize(("arrays", "words"), [
    ({"x": ("|u1", (200_000, 128, 128, 3))}, "200,000 images of 128x128, 9.2 GB as RGB, over the 4 GB limit"),
    ({"x": ("|u1", (600_000, 64, 64))}, "600,000 images of 64x64, 6.9 GB as RGB"),  # grey counts as RGB
    ({"x": np.zeros((2, 8, 8, 3), np.uint8), "y": np.zeros(2, np.int8),
      "class_names": ("<U4", (10**9,))}, f"at most {MAX_CLASSES:,} classes"),
    ({"x": np.zeros((2, 8, 8, 3), np.uint8), "y": np.zeros(2, np.int8),
      "class_names": ("<U100000000", (2,))}, "names of up to 100,000,000 characters"),
])
def test_declared_npz_sizes_over_a_limit_are_refused_in_one_line(tmp_path, arrays, words):
    with pytest.raises(DataError) as refused:
        load_dataset(str(npz_declaring(tmp_path / "big.npz", **arrays)))
    assert words in str(refused.value) and "\n" not in str(refused.value)


def test_an_npz_member_stored_without_the_npy_suffix_is_checked_too(tmp_path):
    body = io.BytesIO()
    np.lib.format.write_array_header_1_0(body, {"descr": "|u1", "fortran_order": False, "shape": (1, 30000, 30000)})
    with zipfile.ZipFile(tmp_path / "bare.npz", "w") as zf:
        zf.writestr("x", body.getvalue() + bytes(100))
    with pytest.raises(DataError, match="30000x30000 pixels"):
        load_dataset(str(tmp_path / "bare.npz"))


# --- images ------------------------------------------------------------------------------------
def png_header_only(width: int, height: int, bit_depth: int = 8, colour: int = 2) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, colour, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 100)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("side", [4001, 30000], ids=["just over", "far over (Pillow's own bomb check)"])
def test_an_image_declaring_too_many_pixels_says_the_limit_in_one_line(side):
    with pytest.raises(DataError) as refused:
        decode_image(png_header_only(side, side), 32)
    assert f"over the {MAX_PIXELS:,}-pixel limit" in str(refused.value)
    assert "DecompressionBomb" not in str(refused.value)


def test_pillow_refuses_what_we_refuse_everywhere_in_the_process():
    assert Image.MAX_IMAGE_PIXELS == MAX_PIXELS


# --- zip and folder sources: as many classes as an .npz -----------------------------------------
def test_a_zip_of_more_class_folders_than_the_cap_is_refused_before_decoding(tmp_path):
    one = png_header_only(2, 2)
    with zipfile.ZipFile(tmp_path / "classes.zip", "w") as zf:
        for c in range(MAX_CLASSES + 1):
            zf.writestr(f"c{c}/0.png", one)
    with pytest.raises(DataError, match=f"{MAX_CLASSES + 1:,} class folders; at most {MAX_CLASSES:,} classes"):
        load_dataset(str(tmp_path / "classes.zip"))


@pytest.mark.parametrize("label", [MAX_CLASSES, 10**9, 2**62])
def test_an_npz_declaring_huge_labels_is_one_error_without_allocating(tmp_path, label):
    path = tmp_path / "tiny.npz"
    y = np.zeros(8, np.int64)
    y[3] = label
    np.savez(path, x=np.zeros((8, 32, 32, 3), np.uint8), y=y)
    with pytest.raises(DataError, match="classes are supported"):
        load_dataset(str(path))


@pytest.mark.parametrize("source", ["", "   "])
def test_an_empty_data_source_is_refused(tmp_path, monkeypatch, image_folder, source):
    monkeypatch.chdir(image_folder)  # an empty path used to mean "every image under here"
    with pytest.raises(DataError, match="empty"):
        load_dataset(source)


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


def test_the_local_copy_is_cifar10(tmp_path, monkeypatch):
    monkeypatch.setenv(data.CIFAR10_ENV, str(cifar_like_zip(tmp_path / "cifar.zip")))
    loaded = load_dataset("cifar10")
    assert loaded.class_names == CIFAR10_CLASSES and len(loaded.images) == 20
    assert np.bincount(loaded.labels).tolist() == [2] * 10


def test_a_local_copy_of_something_else_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv(data.CIFAR10_ENV, str(cifar_like_zip(tmp_path / "pets.zip", classes=("cat", "dog"))))
    with pytest.raises(DataError, match="not CIFAR-10's"):
        load_dataset("cifar10")
    monkeypatch.setenv(data.CIFAR10_ENV, str(tmp_path / "missing.zip"))
    with pytest.raises(DataError, match="does not exist"):
        load_dataset("cifar10")


def test_a_failed_download_is_remembered_and_says_what_works(offline):
    with pytest.raises(DataError, match=data.CIFAR10_ENV):
        load_dataset("cifar10")
    for _ in range(3):  # reruns of a page, trainers started by the app: no new attempt
        with pytest.raises(DataError, match="failed .* ago"):
            load_dataset("cifar10")
    assert len(offline) == 1


def test_the_download_is_tried_again_later(offline, monkeypatch):
    with pytest.raises(DataError):
        load_dataset("cifar10")
    monkeypatch.setattr(data, "RETRY_DOWNLOAD_S", 0)
    with pytest.raises(DataError):
        load_dataset("cifar10")
    assert len(offline) == 2


def test_the_offline_advice_is_never_cut_however_long_the_problem(failed_download):
    error = data.cifar10_unavailable()
    assert isinstance(error, DataError)
    long_problem = DataError("could not download CIFAR-10 (" + "URLError: name resolution failed " * 12 + ")",
                             advice=error.advice)
    for e in (error, long_problem):
        line = first_line(e)
        assert line.endswith(f"put Keras' cifar-10-python.tar.gz into {failed_download}/datasets/"), line
        assert "\n" not in line
    assert len(first_line(long_problem)) > MAX_ERROR_CHARS  # the advice is whole; the problem was cut
    assert "..." in first_line(long_problem)


def test_keras_cache_under_keras_home_counts_as_cifar10_being_here(failed_download):
    assert data.cifar10_unavailable() is not None
    (failed_download / "datasets" / "cifar-10-batches-py").mkdir(parents=True)
    assert data.cifar10_unavailable() is None


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 10, 10)).save(out, "PNG")
    return out.getvalue()


def test_a_skipped_file_is_named_by_its_member_not_a_bytesio(tmp_path, caplog):
    with zipfile.ZipFile(tmp_path / "d.zip", "w") as zf:
        for i in range(200):
            zf.writestr(f"cat/{i:03d}.png", _png())
        zf.writestr("cat/broken.png", b"this is not an image")
    with caplog.at_level(logging.WARNING, logger="gan.data"):
        assert load_dataset(str(tmp_path / "d.zip")).skipped == 1
    text = caplog.text
    assert "cat/broken.png: unreadable image (not a PNG, JPEG, BMP, GIF or WebP image)" in text
    assert "BytesIO" not in text and " at 0x" not in text


def small_npz(path: Path, count: int = 64) -> Path:
    rng = np.random.default_rng(0)
    np.savez(path, x=rng.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8), y=np.arange(count) % 2)
    return path


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("error:") and "unexpected" not in err[0]
    return err[0]


@pytest.mark.parametrize("holdout", [33, 1_000_000])
def test_a_holdout_larger_than_the_data_allows_is_refused_not_shrunk(tmp_path, capsys, holdout):
    """`"holdout": 1000000` on 64 images silently held out 32."""
    data = small_npz(tmp_path / "d.npz")
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"preset": "tiny", "data": str(data), "holdout": holdout, "steps": 1}))
    assert main(["train", "--config", str(config), "--run-dir", str(tmp_path / "run"), "--quiet"]) == 2
    line = one_line_error(capsys)
    assert "holdout" in line and "64" in line
    assert not (tmp_path / "run" / "config.json").exists()


def test_the_largest_holdout_the_data_allows_is_kept_whole():
    from gan.data import Dataset, holdout_split

    data = Dataset(np.zeros((64, 4, 4, 3), np.uint8), np.arange(64) % 2, ["a", "b"])
    kept, held = holdout_split(data, 32, seed=0)
    assert len(held) == 32 and len(kept.images) == 32
