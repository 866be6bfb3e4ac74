"""What a fresh Python process sees: light imports (no TensorFlow or Keras where none is needed), one
error line from a real `python -m gan ...`, and the entry points as a user starts them.

Each test starts its own interpreter, since what was imported before cannot be unimported. The tests
come from the modules they check: gan.data, gan.metrics, gan.bench, the model files of gan.sampling,
the Evaluate and Train pages.

One friendly line, whole where it matters (issue 25, class 8): advice is never cut, an error is cut
at a word; skip messages name the file, not a BytesIO; Pillow's EXIF warning never reaches stderr;
Keras' dataset folder is read from one place that honours KERAS_HOME.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile

from helpers import APP, REPO, hand_written_run
from helpers import EVALUATE_PAGE as PAGE
from PIL import Image


def test_import_does_not_load_keras():
    code = "import sys, gan.data; sys.exit(any(m in sys.modules for m in ('keras', 'tensorflow')))"
    assert subprocess.run([sys.executable, "-c", code], check=False, cwd=REPO).returncode == 0


def test_tensorflow_uses_onednn_unless_the_user_said_otherwise():
    """TensorFlow enables oneDNN by default only with AVX-512; importing gan turns it on (the step is ~1.8x
    faster on an AVX2 CPU), and a user's own TF_ENABLE_ONEDNN_OPTS=0 is kept."""
    code = ("import os, gan\nfrom gan.backend import import_keras_quietly\nimport_keras_quietly()\n"
            "from tensorflow.python.util import _pywrap_util_port as port\n"
            "print(os.environ['TF_ENABLE_ONEDNN_OPTS'], port.IsMklEnabled())\n")
    env = {k: v for k, v in os.environ.items() if k not in ("TF_ENABLE_ONEDNN_OPTS", "KERAS_BACKEND")}
    for setting, expected in ((None, "1 True"), ("0", "0 False")):
        extra = {} if setting is None else {"TF_ENABLE_ONEDNN_OPTS": setting}
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO,
                             env={**env, **extra})
        assert out.returncode == 0, out.stderr[-2000:]
        assert out.stdout.split()[-2:] == expected.split()


def test_page_does_not_import_tensorflow(eval_env):
    """Drawing the page reads CSV files only; TensorFlow loads when someone presses Evaluate."""
    hand_written_run(eval_env / "runs" / "scored")
    code = ("import sys\nfrom streamlit.testing.v1 import AppTest\n"
            f"at = AppTest.from_file({PAGE!r}, default_timeout=60); at.run()\n"
            "assert not at.exception, at.exception\n"
            "assert at.get('vega_lite_chart') or at.get('arrow_vega_lite_chart')\n"
            "print('tensorflow' in sys.modules, 'keras' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-2:] == ["False", "False"]


def test_pages_do_not_import_tensorflow_without_a_model(empty_env):
    """Start-up stays fast: TensorFlow loads only when a model is sampled."""
    code = (
        "import sys\n"
        "from streamlit.testing.v1 import AppTest\n"
        f"at = AppTest.from_file({APP!r}, default_timeout=30); at.run()\n"
        "at.switch_page('pages/train.py').run()\n"
        "assert not at.exception, at.exception\n"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ}, cwd=REPO)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-2:] == ["False", "False"]


def test_import_is_light():
    import subprocess

    code = "import gan.metrics, sys; print('keras' in sys.modules or 'tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=REPO)
    assert out.stdout.strip() == "False"


def test_real_process_refuses_the_lambda_model(tmp_path, lambda_model):
    """The same through `python -m gan sample`: exit 2, one line on stderr, no marker, no output."""
    path, marker = lambda_model
    out = tmp_path / "out.png"
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-m", "gan", "sample", "--model", str(path), "--out", str(out)],
                            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 2 and len(errors) == 1 and "Lambda" in errors[0], result.stderr[-2000:]
    assert not marker.exists() and not out.exists() and not list(tmp_path.iterdir())


def test_the_readme_command_as_a_process_without_a_gpu():
    """The exit code and the single line are the contract; no GPU is visible to either backend."""
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(REPO)}
    env.pop("GAN_BENCH_ON_CPU", None)
    result = subprocess.run([sys.executable, "-m", "gan", "bench", "--preset", "strong", "--steps", "50",
                             "--mixed-precision"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().count("\n") == 0 and "GPU-only" in result.stderr


def _jpeg_with_corrupt_exif() -> bytes:
    out = io.BytesIO()
    exif = b"Exif\x00\x00II*\x00\x08\x00\x00\x00\xff\xff" + b"\x01" * 30  # 65535 entries, 30 bytes of them
    Image.new("RGB", (8, 8), (200, 0, 0)).save(out, "JPEG", exif=exif)
    return out.getvalue()


def test_a_corrupt_exif_block_loads_the_image_and_prints_nothing(tmp_path):
    """Pillow warned 'Corrupt EXIF data' with its site-packages path on stderr; the image itself is fine."""
    with zipfile.ZipFile(tmp_path / "exif.zip", "w") as zf:
        zf.writestr("cat/photo.jpg", _jpeg_with_corrupt_exif())
    code = ("import sys\nfrom gan.data import load_dataset\n"
            "d = load_dataset(sys.argv[1])\nprint(len(d.images), d.skipped)")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "exif.zip")], capture_output=True,
                          text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    assert done.returncode == 0 and done.stdout.split() == ["1", "0"], done.stderr
    assert done.stderr == ""
