"""CLI contract: exit 0 on success, 2 with one line on bad input, nothing written.

Here the commands that need a trained run (trained once per module) or a fresh process.
"""

import subprocess
import sys

import numpy as np
import pytest
from helpers import REPO
from PIL import Image

from gan.cli import main


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    rng = np.random.default_rng(1)
    base = tmp_path_factory.mktemp("cli")
    np.savez(base / "d.npz", x=rng.integers(0, 256, (32, 32, 32, 3), dtype=np.uint8), y=rng.integers(0, 2, 32))
    run = base / "run"
    assert main(["train", "--data", str(base / "d.npz"), "--preset", "tiny", "--batch-size", "16", "--steps", "2",
                 "--conditional", "--no-jit", "--run-dir", str(run), "--quiet"]) == 0
    return run


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("error:")
    return err[0]


def test_sample_png_and_npz(trained_run, tmp_path, capsys):
    assert main(["sample", "--run-dir", str(trained_run), "-n", "10", "--out", str(tmp_path / "g.png")]) == 0
    assert Image.open(tmp_path / "g.png").size == (4 * 34 + 2, 3 * 34 + 2)
    assert main(["sample", "--run-dir", str(trained_run), "-n", "6", "--class", "1", "--seed", "3",
                 "--truncation", "0.5", "--out", str(tmp_path / "g.npz")]) == 0
    with np.load(tmp_path / "g.npz", allow_pickle=False) as f:
        assert f["images"].shape == (6, 32, 32, 3) and f["images"].dtype == np.uint8
        assert (f["labels"] == 1).all()
    main(["sample", "--run-dir", str(trained_run), "-n", "6", "--class", "1", "--seed", "3",
          "--truncation", "0.5", "--out", str(tmp_path / "again.npz")])
    with np.load(tmp_path / "g.npz") as a, np.load(tmp_path / "again.npz") as b:
        np.testing.assert_array_equal(a["images"], b["images"])  # same seed, same images


def test_sample_bad_class_and_out(trained_run, tmp_path, capsys):
    assert main(["sample", "--run-dir", str(trained_run), "--class", "7", "--out", str(tmp_path / "g.png")]) == 2
    assert "class must be in [0, 2)" in one_line_error(capsys)
    assert main(["sample", "--run-dir", str(trained_run), "--out", str(tmp_path / "g.jpg")]) == 2
    assert ".png or .npz" in one_line_error(capsys)
    assert list(tmp_path.iterdir()) == []


def test_info_describes_run_and_model(trained_run, capsys):
    assert main(["info", str(trained_run)]) == 0
    out = capsys.readouterr().out
    assert "tiny" in out and "finished" in out and "classes 2" in out
    assert main(["info", str(trained_run / "generator.keras")]) == 0
    assert "latent 100" in capsys.readouterr().out


def test_help_and_module_entry_point():
    result = subprocess.run([sys.executable, "-m", "gan", "--help"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0
    for command in ("train", "sample", "info", "bench"):
        assert command in result.stdout
    result = subprocess.run([sys.executable, "-m", "gan", "train"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.strip().count("\n") == 0
    assert "--run-dir" in result.stderr


def test_a_huge_bench_batch_is_exit_2_not_a_crash():
    """The exit code itself is the contract (it was 139, a segfault): a real process."""
    result = subprocess.run([sys.executable, "-m", "gan", "bench", "--batch-size", "100000"], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stderr.strip().count("\n") == 0
    assert "--batch-size" in result.stderr and result.stdout == ""
