"""The Keras backend as this package uses it: a quiet first import, and per-device defaults.

TensorFlow's C++ libraries print start-up lines on stderr while they load (absl logs before its
log is initialised, so `TF_CPP_MIN_LOG_LEVEL` does not reach them). They would break the CLI's
promise of one `error:` line on bad input, so the first import sends file descriptor 2 to a
temporary file, and shows what was caught only if the import itself fails.
"""

from __future__ import annotations

import os
import sys
import tempfile


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
