"""Inputs that used to hang, exhaust memory or escape the allowed folders: each now ends, bounded, in one line.

Hangs are tested in a child process with a deadline, so a regression fails the test instead of stalling CI.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from helpers import REPO
from hypothesis import given, settings
from hypothesis import strategies as st

from gan.data import MAX_CLASSES, DataError, load_dataset
from gan.sampling import latents


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


@settings(max_examples=30, deadline=None)
@given(t=st.floats(min_value=1e-30, max_value=5.0), n=st.integers(1, 64))
def test_truncation_always_finishes_within_bounds(t, n):
    z = latents(n, 16, seed=0, truncation=t)
    assert z.shape == (n, 16) and np.abs(z).max() <= np.float32(t)


@pytest.mark.parametrize("t", [float("inf"), 1e308, 10.5, 0.0, -1.0, float("nan")])
def test_truncation_outside_its_range_is_a_value_error_not_an_overflow(t):
    """1e308 and inf overflowed in numpy's uniform draw (exit 1, "unexpected OverflowError")."""
    with pytest.raises(ValueError, match="truncation must be in"):
        latents(4, 16, seed=0, truncation=t)


def test_truncation_keeps_the_truncated_normal_for_ordinary_values():
    z = latents(2000, 64, seed=0, truncation=1.0)
    # A normal truncated at 1 has std 0.538; a uniform on [-1, 1] would have 0.577.
    assert abs(z.std() - 0.538) < 0.01


@pytest.mark.parametrize("flags,message", [
    (["-n", "1000000000"], "[1, 100000]"), (["--truncation", "nan"], "truncation"),
    (["--truncation", "-1"], "truncation"),
    (["--truncation", "inf"], "truncation"), (["--truncation", "1e308"], "truncation"),
])
def test_sample_refuses_unbounded_requests_in_one_line(tmp_path, capsys, flags, message):
    from gan.cli import main

    model = next((REPO / "checkpoints").glob("*/generator.keras"))
    assert main(["sample", "--model", str(model), "--out", str(tmp_path / "x.png"), *flags]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and not (tmp_path / "x.png").exists()


def test_sample_out_naming_a_folder_is_one_line(tmp_path, capsys):
    from gan.cli import main

    (tmp_path / "grid.png").mkdir()
    model = next((REPO / "checkpoints").glob("*/generator.keras"))
    assert main(["sample", "--model", str(model), "-n", "4", "--out", str(tmp_path / "grid.png")]) == 2
    assert "is a folder" in capsys.readouterr().err


def test_a_model_file_beside_its_classes_json_knows_its_class_names(tmp_path, capsys):
    from gan.cli import main

    model = next(p for p in (REPO / "checkpoints").glob("*/generator.keras") if (p.parent / "classes.json").is_file())
    out = tmp_path / "horses.npz"
    assert main(["sample", "--model", str(model), "-n", "6", "--class", "horse", "--out", str(out)]) == 0
    with np.load(out, allow_pickle=False) as saved:
        assert set(saved["labels"].tolist()) == {7}


# --- writes that fail: one line, exit 1, and nothing half-written or lost -------------------------------


def test_sample_into_a_folder_that_cannot_exist_is_one_line_and_writes_nothing(tiny_run, tmp_path, capsys):
    from gan.cli import main

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    for out in (blocker / "grid.png", blocker / "more" / "images.npz"):
        assert main(["sample", "--run-dir", str(tiny_run), "-n", "4", "--out", str(out)]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and "Traceback" not in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"] and blocker.read_text() == "not a folder"


def test_evaluate_that_cannot_save_still_prints_its_scores_and_says_why_in_one_line(tiny_run_copy, capsys):
    from gan.cli import main
    from gan.runs import Run

    run = Run(tiny_run_copy)
    run.evals_path.unlink(missing_ok=True)
    run.evals_path.mkdir()  # evals.csv cannot be appended to (as on a read-only mount, which root ignores)
    assert main(["evaluate", "--run-dir", str(run.path), "--metrics", "nn_psnr1k", "--n", "8"]) == 1
    out, err = capsys.readouterr()
    assert "nn_psnr1k" in out, "the scores computed before the failed save are shown"
    err_lines = err.strip().splitlines()
    assert len(err_lines) == 1 and err_lines[0].startswith("error: ") and "evals.csv" in err_lines[0]
