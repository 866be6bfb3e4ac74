"""The Keras backend as this package uses it: a quiet first import, and per-device defaults.

TensorFlow's C++ libraries print start-up lines on stderr while they load (absl logs before its
log is initialised, so `TF_CPP_MIN_LOG_LEVEL` does not reach them). They would break the CLI's
promise of one `error:` line on bad input, so the first import sends file descriptor 2 to a
temporary file, and shows what was caught only if the import itself fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator

# Optional imports that TensorFlow and Keras make when the package is installed, and that nothing here uses
# with the TensorFlow backend: tf.lite imports JAX (~100 MB resident), Keras' bounding-box drawing imports
# OpenCV (~30 MB). With the dev install (JAX for the jax backend, OpenCV under the FID extra) they took the
# app's server from 783 to 919 MB (tests/e2e/test_browser.py, the newcomer's tour).
UNUSED_WITH_TENSORFLOW = ("jax", "cv2")


def import_keras_quietly() -> None:
    """Import keras (and so its backend) with the C++ start-up chatter kept off the terminal."""
    if "keras" in sys.modules:
        return
    # 3, not 2: TensorFlow's graph optimizer logs a harmless "remapper failed" ERROR line when it first
    # compiles the train step on a CPU, into every terminal and train.log. Python exceptions still show.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            with _without(UNUSED_WITH_TENSORFLOW if configured_backend() == "tensorflow" else ()):
                import keras  # noqa: F401
        except BaseException:
            os.dup2(saved, 2)
            caught.seek(0)
            sys.stderr.buffer.write(caught.read())
            sys.stderr.flush()
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def configured_backend() -> str:
    """The backend Keras will pick, without importing it: $KERAS_BACKEND, else keras.json's, else tensorflow."""
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    from gan.files import keras_home

    try:
        with open(keras_home() / "keras.json") as f:
            return str(json.load(f).get("backend", "tensorflow"))
    except (OSError, ValueError, AttributeError):
        return "tensorflow"


@contextlib.contextmanager
def _without(modules: tuple[str, ...]) -> Iterator[None]:
    """Make `import <module>` fail (ImportError) inside the block, for modules not imported yet; TensorFlow
    and Keras treat them as optional. Afterwards they import normally again (the jax backend's tests do)."""
    blocked = [name for name in modules if name not in sys.modules]
    sys.modules.update(dict.fromkeys(blocked))
    try:
        yield
    finally:
        for name in blocked:
            if sys.modules.get(name, ...) is None:
                del sys.modules[name]


def set_random_seed(seed: int) -> None:
    """keras.utils.set_random_seed, except that under another backend it leaves TensorFlow unimported: Keras
    imports it when installed only to seed tf.data, which nothing here uses (in a JAX run that cost ~600 MB
    and TensorFlow's C++ start-up lines on the terminal)."""
    import keras

    with _without(() if keras.backend.backend() == "tensorflow" else ("tensorflow",)):
        keras.utils.set_random_seed(seed)


def has_gpu() -> bool:
    """Whether the backend computes on a GPU (imports the backend)."""
    import keras

    if keras.backend.backend() == "jax":
        import jax

        return jax.devices()[0].platform == "gpu"
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU"))
    return False


def cpu_computes_bfloat16(cpuinfo: str | None = None) -> bool:
    """Whether this CPU has bfloat16 arithmetic (AVX-512 BF16 or AMX); True where it cannot tell.

    Without it, bfloat16 is emulated: the sngan-cpu step ran at 15 images/s against 256 in float32 on an
    AVX2 EPYC (benchmarks/RESULTS.md), so the trainer warns before a user waits hours for nothing.
    """
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo") as f:
                cpuinfo = f.read(1 << 20)
        except OSError:
            return True
    flags = next((line.split(":", 1)[1].split() for line in cpuinfo.splitlines() if line.startswith("flags")), None)
    if flags is None:
        return True
    return bool({"avx512_bf16", "amx_bf16"} & set(flags))


def default_jit() -> bool:
    """Whether to XLA-compile the train step when the config leaves it open (`jit: null`).

    Measured (benchmarks/RESULTS.md): on a CPU, TensorFlow without XLA is faster for every preset,
    because XLA's CPU convolutions do not use oneDNN; on a GPU XLA fuses the small ops and wins.
    A JAX step without `jax.jit` runs op by op, far slower everywhere.
    """
    import keras

    if keras.backend.backend() == "jax":
        return True
    return has_gpu()
