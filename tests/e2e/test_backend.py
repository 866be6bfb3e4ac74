"""gan.backend: the backend's C++ start-up lines stay off stderr, and a failed import still explains itself."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from helpers import REPO

QUIET_IMPORT = "from gan.backend import import_keras_quietly; import_keras_quietly(); print('imported')"


def _run_with_fake_keras(tmp_path: Path, body: str) -> subprocess.CompletedProcess:
    """Run the quiet import against a stand-in `keras` package that writes to fd 2 as a C library would."""
    fake = tmp_path / "keras"
    fake.mkdir()
    (fake / "__init__.py").write_text("import os\nos.write(2, b'I0000 port.cc:153] chatter\\n')\n" + body)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)])}
    return subprocess.run([sys.executable, "-c", QUIET_IMPORT], env=env, capture_output=True, text=True, timeout=60)


def test_start_up_lines_written_to_fd_2_do_not_reach_stderr(tmp_path):
    result = _run_with_fake_keras(tmp_path, "")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "imported"
    assert result.stderr == ""


def test_a_failing_import_shows_what_it_printed(tmp_path):
    result = _run_with_fake_keras(tmp_path, "raise ImportError('no backend here')\n")
    assert result.returncode != 0
    assert "chatter" in result.stderr and "no backend here" in result.stderr


def test_the_cli_prints_one_error_line_from_a_fresh_process(tmp_path):
    """The real backend, unsilenced by the environment: bad input is still one line."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run([sys.executable, "-m", "gan", "info", str(tmp_path / "missing.keras")],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"error: no model file at {tmp_path / 'missing.keras'}"]


def test_the_tensorflow_backend_leaves_out_what_it_never_uses():
    """TensorFlow's tf.lite imports JAX and Keras imports OpenCV when installed (~130 MB in the app's server):
    the first import leaves them out, and afterwards they import normally for whoever needs them."""
    code = ("import sys; from gan.backend import import_keras_quietly; import_keras_quietly(); "
            "print(sorted(m for m in ('jax', 'cv2') if m in sys.modules)); import jax; print('jax', bool(jax.numpy))")
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=180)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["[]", "jax True"]


def test_a_jax_run_prints_only_our_lines_and_never_loads_tensorflow(tmp_path):
    """Under JAX, Keras' set_random_seed would import TensorFlow (its C++ start-up lines, ~600 MB) only to
    seed tf.data, and JAX logs "Unable to initialize backend 'tpu'" at INFO, our CLI's level."""
    import numpy as np

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "data.npz", x=rng.integers(0, 255, (32, 32, 32, 3), dtype=np.uint8), y=np.arange(32) % 2)
    code = ("import sys, runpy; sys.argv = ['gan'] + sys.argv[1:]\n"
            "try:\n    runpy.run_module('gan', run_name='__main__')\n"
            "finally:\n    print('tensorflow' in sys.modules, file=sys.stdout)\n")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env.update(KERAS_BACKEND="jax", PYTHONPATH=str(REPO))
    result = subprocess.run([sys.executable, "-c", code, "train", "--data", str(tmp_path / "data.npz"), "--preset",
                             "tiny", "--epochs", "1", "--batch-size", "16", "--run-dir", str(tmp_path / "run")],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.stdout.strip().splitlines()[-1] == "False", result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    noise = [line for line in result.stderr.splitlines() if not line.startswith(("epoch ", "finished: "))]
    assert noise == [], result.stderr
