"""Tests for gan.data: every source, conversions, bad input, zip safety, real data."""

from __future__ import annotations

import io
import logging
import os
import struct
import subprocess
import sys
import types
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from helpers import REPO
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from gan import data
from gan.data import DataError, Dataset, decode_image, load_dataset

CIFAR_ZIP = Path(
    os.environ.get("GAN_CIFAR_ZIP") or Path(__file__).resolve().parents[2] / "shared/data/cifar10-train.zip"
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


def test_import_does_not_load_keras():
    code = "import sys, gan.data; sys.exit(any(m in sys.modules for m in ('keras', 'tensorflow')))"
    assert subprocess.run([sys.executable, "-c", code], check=False, cwd=REPO).returncode == 0


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
