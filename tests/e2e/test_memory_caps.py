"""Loads in a child process under an address-space cap or a deadline (gan.data, gan.security).

The child-process halves of tests/gan/test_data.py's memory and hang tests (issue 25, class 2): each
fixture is a tiny file that declares something huge (helpers.npz_declaring), loaded under an address-space
cap or a deadline, so a regression fails the test instead of taking the machine down or stalling CI.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from helpers import REPO, npz_declaring
from PIL import Image

from gan.data import MAX_PIXELS

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


def load_in_child(source: Path, roots: list[Path] | None = None, timeout: int = 60) -> str:
    """Load `source` in a fresh process, printing the image count and classes; fail on a hang."""
    script = textwrap.dedent(f"""
        from pathlib import Path
        from gan.data import load_dataset
        data = load_dataset({str(source)!r}, roots={None if roots is None else [str(r) for r in roots]!r})
        print(len(data.images), ",".join(data.class_names))
    """)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip()


@pytest.mark.parametrize("kind", ["fifo", "device link", "dangling link", "folder named like an image"])
def test_entries_that_are_not_regular_files_are_skipped_not_read(image_folder, kind):
    target = image_folder / "bird" / "trap.png"
    if kind == "fifo":
        os.mkfifo(target)  # reading it would block forever
    elif kind == "device link":
        target.symlink_to("/dev/zero")  # reading it would never end
    elif kind == "dangling link":
        target.symlink_to(image_folder / "missing.png")
    else:
        target.mkdir()
    assert load_in_child(image_folder) == "24 bird,cat,dog"


def test_links_out_of_the_allowed_folders_are_skipped_when_confined(tmp_path, image_folder):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.png").write_bytes((image_folder / "cat" / "00.png").read_bytes())
    (image_folder / "cat" / "leak.png").symlink_to(outside / "secret.png")
    inside = image_folder / "dog" / "alias.png"
    inside.symlink_to(image_folder / "dog" / "00.png")  # a link that stays inside is fine
    assert load_in_child(image_folder, roots=[image_folder]).startswith("25 ")  # 24 + alias, not leak
    assert load_in_child(image_folder).startswith("26 ")  # the CLI is not confined
