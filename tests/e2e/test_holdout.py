"""`train --holdout N`: N images, spread over the classes, are never trained on, and the run records which.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from gan.cli import main
from gan.data import load_dataset
from gan.runs import Run

TINY = ["--preset", "tiny", "--batch-size", "8", "--no-jit", "--quiet"]


@pytest.fixture
def unique_npz(tmp_path):
    """60 images, each with a pixel pattern of its own (so any image can be found by its bytes), 3 classes."""
    rng = np.random.default_rng(0)
    path = tmp_path / "unique.npz"
    np.savez(path, x=rng.integers(0, 256, (60, 32, 32, 3), dtype=np.uint8), y=np.arange(60) % 3)
    return path


def test_held_out_images_are_never_part_of_the_training_data(tmp_path, unique_npz, monkeypatch):
    import gan.steps

    trained_on = []
    real_make = gan.steps.make_train_step

    def spy(gan_, images, labels, *args, **kwargs):
        trained_on.append(np.array(images))
        return real_make(gan_, images, labels, *args, **kwargs)

    monkeypatch.setattr(gan.steps, "make_train_step", spy)
    run_dir = tmp_path / "run"
    assert main(["train", "--data", str(unique_npz), "--holdout", "12", "--steps", "2", "--run-dir", str(run_dir),
                 *TINY]) == 0
    record = json.loads(Run(run_dir).holdout_path.read_text())
    held = Run(run_dir).held_out()
    assert record["count"] == len(held) == 12 and record["of"] == 60
    full = load_dataset(str(unique_npz))
    assert np.bincount(full.labels[held]).tolist() == [4, 4, 4]  # spread over the classes
    [images] = trained_on
    assert len(images) == 48
    training = {image.tobytes() for image in images}
    assert not any(full.images[i].tobytes() in training for i in held)
    assert all(full.images[i].tobytes() in training for i in set(range(60)) - set(held))
    assert Run(run_dir).status().images == 48


def test_resume_keeps_the_same_held_out_images(tmp_path, unique_npz):
    run_dir = tmp_path / "run"
    assert main(["train", "--data", str(unique_npz), "--holdout", "12", "--steps", "2", "--run-dir", str(run_dir),
                 *TINY]) == 0
    before = Run(run_dir).held_out()
    assert main(["train", "--resume", "--run-dir", str(run_dir), "--steps", "4", "--quiet"]) == 0
    assert Run(run_dir).held_out() == before
    record = json.loads(Run(run_dir).holdout_path.read_text())
    record["indices"] = record["indices"][::-1][:11] + [59]  # the data (or the file) changed under the run
    Run(run_dir).holdout_path.write_text(json.dumps(record))
    assert main(["train", "--resume", "--run-dir", str(run_dir), "--steps", "6", "--quiet"]) == 2


def test_no_holdout_writes_no_record(tmp_path, unique_npz):
    run_dir = tmp_path / "run"
    assert main(["train", "--data", str(unique_npz), "--steps", "1", "--run-dir", str(run_dir), *TINY]) == 0
    assert not Run(run_dir).holdout_path.exists() and Run(run_dir).held_out() == []
