"""A tiny training run end to end: finite losses, metrics, grids, checkpoints, exact resume.

The `sngan-cpu` preset trains without classes (a subprocess; its model tests are
tests/gan/models/test_sngan_cpu.py).
"""

import os
import subprocess
import sys

import numpy as np
import pytest
from helpers import REPO
from PIL import Image

from gan import losses
from gan.checkpoint import read_meta
from gan.cli import main
from gan.runs import FAILED, FINISHED, Run


@pytest.fixture(scope="module")
def tiny_npz(tmp_path_factory):
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("data") / "tiny.npz"
    np.savez(path, x=rng.integers(0, 256, (64, 32, 32, 3), dtype=np.uint8), y=rng.integers(0, 3, 64))
    return path


def train(run_dir, data, *extra):
    """A tiny run in-process. Tests about files and states pass `--no-jit`: XLA compiling costs ~4 s a run
    here; the valid-run and exact-resume tests keep the default compiled step."""
    settings = [] if "--resume" in extra else ["--data", str(data), "--preset", "tiny", "--batch-size", "16"]
    return main(["train", *settings, "--log-every", "2", "--run-dir", str(run_dir), "--quiet", *extra])


def generator_weights(run_dir):
    from gan.sampling import load_generator

    return load_generator(Run(run_dir).generator_path).get_weights()


def test_tiny_run_leaves_a_valid_run_directory(tmp_path, tiny_npz):
    assert train(tmp_path / "r", tiny_npz, "--epochs", "2", "--conditional") == 0
    run = Run(tmp_path / "r")
    assert run.status().state == FINISHED
    assert run.status().step == 8  # 64 images / 16 per step = 4 steps per epoch
    frame = run.metrics()
    assert list(frame["step"]) == [2, 4, 6, 8]
    for column in ("d_loss_real", "d_loss_fake", "g_loss", "d_real_mean", "d_fake_mean", "imgs_per_s"):
        assert np.isfinite(frame[column]).all(), column
    assert [p.name for p in run.sample_grids()] == ["epoch_0001.png", "epoch_0002.png"]
    grid = Image.open(run.sample_grids()[-1])
    assert grid.size == (3 * 34 + 2, 8 * 34 + 2)  # one column per class (3), eight rows
    assert read_meta(run.checkpoint_path)["step"] == 8
    assert run.config().conditional is True and run.class_names() == ["0", "1", "2"]
    assert not list(run.path.rglob("*.tmp*"))


def test_resume_continues_exactly(tmp_path, tiny_npz):
    """Stopping at step 4 and resuming to 8 gives the same weights as training 8 steps straight."""
    assert train(tmp_path / "straight", tiny_npz, "--steps", "8") == 0
    assert train(tmp_path / "split", tiny_npz, "--steps", "4") == 0
    split = Run(tmp_path / "split")
    # A crash after logging but before the next checkpoint leaves rows the resumed run will redo.
    split.append_metrics({"step": 6, "epoch": 1.5, "g_loss": 9.0})
    with open(split.metrics_path, "a") as f:
        f.write("8,2,12")  # torn last line
    assert train(tmp_path / "split", tiny_npz, "--steps", "8", "--resume") == 0
    assert split.status().step == 8
    steps = [int(r["step"]) for r in split.metric_rows()]
    assert steps == [2, 4, 6, 8]
    for a, b in zip(generator_weights(tmp_path / "straight"), generator_weights(tmp_path / "split"), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_non_finite_loss_fails_and_keeps_the_last_good_checkpoint(tmp_path, tiny_npz, monkeypatch, capsys):
    assert train(tmp_path / "r", tiny_npz, "--steps", "4", "--no-jit") == 0
    from keras import ops

    monkeypatch.setitem(losses.D_LOSSES, "bce", lambda real, fake, s: (ops.mean(real) * np.nan, ops.mean(fake)))
    assert train(tmp_path / "r", tiny_npz, "--steps", "8", "--resume", "--no-jit") == 1
    run = Run(tmp_path / "r")
    status = run.status()
    assert status.state == FAILED and "non-finite" in status.error
    assert "non-finite" in capsys.readouterr().err
    assert read_meta(run.checkpoint_path)["step"] == 4
    assert generator_weights(tmp_path / "r")  # the shipped generator still loads


def test_images_per_second_counts_training_only_and_the_eta_counts_the_pauses(tmp_path, tiny_npz, monkeypatch):
    """A slow epoch end (here 3 s more for the grid) read as a drop to ~11 images/s in the next row; status.json
    keeps the pause apart, as pause_s."""
    import time

    from gan import trainer

    save_grid = trainer._Loop.save_grid
    monkeypatch.setattr(trainer._Loop, "save_grid", lambda loop, epoch: time.sleep(3) or save_grid(loop, epoch))
    written = []
    write_status = Run.write_status
    monkeypatch.setattr(Run, "write_status", lambda run, **kw: written.append(kw) or write_status(run, **kw))
    assert train(tmp_path / "r", tiny_npz, "--epochs", "2", "--no-jit") == 0
    frame = Run(tmp_path / "r").metrics()
    rates = dict(zip(frame["step"], frame["imgs_per_s"], strict=True))
    assert rates[6] > 16, rates  # 32 images after the pause: at most 10.7 images/s if the 3 s counted
    eta_at_6 = next(fields["eta_s"] for fields in written if fields.get("step") == 6 and "eta_s" in fields)
    assert eta_at_6 > 3  # one epoch end to come, and the last one took over 3 s
    assert written[0]["imgs_per_s"] is None and written[0]["pause_s"] is None  # nothing measured yet
    assert Run(tmp_path / "r").status().pause_s > 3  # the page says how long each epoch end pauses


def test_existing_run_needs_resume(tmp_path, tiny_npz, capsys):
    assert train(tmp_path / "r", tiny_npz, "--steps", "2", "--no-jit") == 0
    assert train(tmp_path / "r", tiny_npz, "--steps", "2", "--no-jit") == 2
    assert "--resume" in capsys.readouterr().err


@pytest.mark.skipif(sys.platform != "linux", reason="signals as on Linux")
def test_sigterm_checkpoints_and_stops(tmp_path, tiny_npz):
    run = Run(tmp_path / "r")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    process = subprocess.Popen(
        [sys.executable, "-m", "gan", "train", "--data", str(tiny_npz), "--preset", "tiny", "--batch-size", "16",
         "--steps", "100000", "--log-every", "1", "--no-jit", "--run-dir", str(run.path), "--quiet"],
        cwd=REPO, env=env, stderr=subprocess.PIPE, text=True,
    )
    try:
        for _ in range(600):
            if len(run.metric_rows()) >= 3:
                break
            assert process.poll() is None, process.stderr.read()
            import time

            time.sleep(0.1)
        process.terminate()
        assert process.wait(timeout=60) == 0
    finally:
        process.kill()
    status = run.status()
    assert status.state == "stopped"
    assert read_meta(run.checkpoint_path)["step"] == status.step >= 3
def test_jax_backend_trains(tmp_path, tiny_npz):
    """The default preset (sngan-cpu: spectral norm, conditional BN, mode seeking, EMA) trains on JAX, and
    what it saves loads under TensorFlow."""
    pytest.importorskip("jax", reason="JAX is not installed; the JAX step is tested where it is")
    env = {**os.environ, "KERAS_BACKEND": "jax",
           "XLA_FLAGS": "--xla_backend_optimization_level=0"}  # cheaper compiling on 2 cores
    result = subprocess.run(
        [sys.executable, "-m", "gan", "train", "--data", str(tiny_npz), "--batch-size", "8",
         "--steps", "4", "--log-every", "2", "--run-dir", str(tmp_path / "r"), "--quiet"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    run = Run(tmp_path / "r")
    assert run.status().backend == "jax" and run.status().state == FINISHED
    assert run.config().preset == "sngan-cpu" and run.config().conditional
    frame = run.metrics()
    assert list(frame["step"]) == [2, 4] and np.isfinite(frame["g_loss"]).all()
    assert run.generator_path.is_file()  # saved under JAX, loaded below under TensorFlow
    assert generator_weights(run.path)


TRAIN = [sys.executable, "-m", "gan", "train", "--preset", "sngan-cpu", "--batch-size", "8", "--steps", "4",
         "--log-every", "2", "--quiet"]
def test_trains_without_classes(tmp_path):
    """Unconditional on TensorFlow; conditional on JAX is test_jax_backend_trains, above."""
    from gan.runs import Run

    backend, flags = "tensorflow", ["--unconditional"]

    rng = np.random.default_rng(0)
    data = tmp_path / "tiny.npz"
    np.savez(data, x=rng.integers(0, 256, (32, 32, 32, 3), dtype=np.uint8), y=rng.integers(0, 3, 32))
    env = {**os.environ, "KERAS_BACKEND": backend,
           "XLA_FLAGS": "--xla_backend_optimization_level=0"}  # cheaper compiling on 2 cores
    result = subprocess.run([*TRAIN, "--data", str(data), "--run-dir", str(tmp_path / "run"), *flags],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    run = Run(tmp_path / "run")
    assert run.status().backend == backend and run.status().state == "finished"
    frame = run.metrics()
    assert list(frame["step"]) == [2, 4] and np.isfinite(frame["g_loss"]).all()
    assert run.config().conditional == (not flags)


def test_mixed_precision_on_a_cpu_without_bfloat16_warns(tmp_path, tiny_npz, monkeypatch, caplog):
    """bfloat16 on such a CPU is emulated (15 against 256 images/s, benchmarks/RESULTS.md): say so in the log."""
    import keras

    import gan.backend

    monkeypatch.setattr(gan.backend, "cpu_computes_bfloat16", lambda cpuinfo=None: False)
    try:
        assert train(tmp_path / "r", tiny_npz, "--steps", "1", "--mixed-precision", "--no-jit") == 0
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    assert any("no bfloat16 arithmetic" in r.getMessage() for r in caplog.records if r.levelname == "WARNING")
