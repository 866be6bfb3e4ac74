"""Memory an input can multiply: sizes a file declares are checked before anything is allocated (issue 25,
class 2). Every fixture is a tiny file built here that declares something huge; where memory is the point,
the load runs in a child process under an address-space cap, so a regression fails the test instead of
taking the machine down.
"""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from helpers import REPO
from PIL import Image

from gan import security
from gan.data import MAX_CLASSES, MAX_PIXELS, DataError, decode_image, load_dataset

CHILD_MEMORY_CAP = 3 * 2**30  # address space of a child: numpy and Pillow need ~0.5 GB of it to start


def run_capped(code: str, *args: str) -> str:
    """Run `code` in a child Python with its address space capped; its stdout (stderr on failure)."""
    prelude = ("import resource, sys\n"
               f"resource.setrlimit(resource.RLIMIT_AS, ({CHILD_MEMORY_CAP}, {CHILD_MEMORY_CAP}))\n"
               "def peak_mb():\n"
               "    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024\n")
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", prelude + code, *args], capture_output=True, text=True,
                          env=env, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


LOAD_IN_CHILD = """
from gan.data import DataError, load_dataset
before = peak_mb()
try:
    load_dataset(sys.argv[1])
    print("loaded", peak_mb() - before)
except DataError as e:
    print(peak_mb() - before, e)
"""


def npz_declaring(path: Path, **arrays: tuple[str, tuple[int, ...]] | np.ndarray) -> Path:
    """An .npz whose members are real arrays or, for (descr, shape), a header declaring that shape and
    then only 100 bytes of data: numpy, trusting the header, allocates the declared size before reading."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, value in arrays.items():
            body = io.BytesIO()
            if isinstance(value, np.ndarray):
                np.lib.format.write_array(body, value, allow_pickle=False)
            else:
                descr, shape = value
                np.lib.format.write_array_header_1_0(body, {"descr": descr, "fortran_order": False,
                                                            "shape": shape})
                body.write(bytes(100))
            zf.writestr(f"{name}.npy", body.getvalue())
    return path


# --- .npz --------------------------------------------------------------------------------------


def test_an_npz_declaring_600_million_labels_is_refused_from_its_header_without_allocating(tmp_path):
    """4.8 GB of int64 labels declared in a few hundred bytes: before, numpy allocated them all."""
    path = npz_declaring(tmp_path / "labels.npz", x=np.zeros((8, 32, 32, 3), np.uint8), y=("<i8", (600_000_000,)))
    grew_mb, _, message = run_capped(LOAD_IN_CHILD, str(path)).partition(" ")
    assert "'y' has shape (600000000,) but 'x' has 8 images" in message, message
    assert int(grew_mb) < 50


def test_an_npz_of_one_30000_pixel_square_image_is_one_line_not_a_memory_error(tmp_path):
    path = npz_declaring(tmp_path / "wide.npz", x=("|u1", (1, 30000, 30000, 3)))
    grew_mb, _, message = run_capped(LOAD_IN_CHILD, str(path)).partition(" ")
    assert message.endswith(f"'x' declares images of 30000x30000 pixels, over the {MAX_PIXELS:,}-pixel limit")
    assert int(grew_mb) < 50


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


def test_a_16_bit_grey_png_at_the_pixel_limit_decodes_in_bounded_memory(tmp_path):
    """4000x4000 16-bit grey (a 31 KB file): rescaling it in float64 before resizing peaked ~400 MB more."""
    path = tmp_path / "deep.png"
    Image.new("I;16", (4000, 4000), 30000).save(path)
    small = tmp_path / "small.png"
    Image.new("I;16", (40, 40), 30000).save(small)
    out = run_capped("from gan.data import decode_image\n"
                     "decode_image(open(sys.argv[2], 'rb').read(), 32)\n"  # warm up: imports, Pillow's plugins
                     "before = peak_mb()\n"
                     "pixels = decode_image(open(sys.argv[1], 'rb').read(), 32)\n"
                     "print(peak_mb() - before, int(pixels.min()), int(pixels.max()))", str(path), str(small))
    grew_mb, low, high = map(int, out.split())
    assert low == high == round(30000 * 255 / 65535)  # and still what a viewer shows
    assert grew_mb < 160, f"decoding took {grew_mb} MB more"


# --- zip and folder sources: as many classes as an .npz -----------------------------------------


def test_a_zip_of_more_class_folders_than_the_cap_is_refused_before_decoding(tmp_path):
    one = png_header_only(2, 2)
    with zipfile.ZipFile(tmp_path / "classes.zip", "w") as zf:
        for c in range(MAX_CLASSES + 1):
            zf.writestr(f"c{c}/0.png", one)
    with pytest.raises(DataError, match=f"{MAX_CLASSES + 1:,} class folders; at most {MAX_CLASSES:,} classes"):
        load_dataset(str(tmp_path / "classes.zip"))


# --- .keras ------------------------------------------------------------------------------------


def test_a_small_keras_file_declaring_hundreds_of_megabytes_is_refused_from_its_directory(tmp_path):
    """Keras copies model.weights.h5 whole into memory before h5py reads it: ~2.6x the declared size."""
    path = tmp_path / "bomb.keras"
    declared = security.MAX_UNPACKED_BYTES + 2**20
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("config.json", json.dumps({"class_name": "Functional"}))
        zf.writestr("metadata.json", "{}")
        with zf.open("model.weights.h5", "w", force_zip64=True) as member:
            zeros = bytes(2**20)
            for _ in range(declared // 2**20):
                member.write(zeros)
    assert path.stat().st_size < 2 * 2**20
    with pytest.raises(security.NotAllowedError) as refused:
        security.check_model_file(path)
    assert f"over the {security.MAX_UNPACKED_BYTES // 2**20} MB limit" in str(refused.value)


def test_the_shipped_models_are_well_inside_the_keras_cap():
    for path in (REPO / "checkpoints").glob("*/*.keras"):
        assert security.check_model_file(path) == path
        assert sum(i.file_size for i in zipfile.ZipFile(path).infolist()) < security.MAX_UNPACKED_BYTES / 10
