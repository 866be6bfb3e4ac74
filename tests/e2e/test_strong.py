"""The `strong` preset trains: real `gan.steps` train steps on TensorFlow, on JAX in a subprocess, and a
saved generator loaded in a fresh process.

The `strong` preset (gan.models.strong, gan.layers): shapes, switches, training on both backends, saving.

Models are 16 channels wide so that the whole file runs in well under a minute on 2 CPU cores.
Training tests run the real `gan.steps` train steps; the JAX one runs in a subprocess because the
Keras backend is fixed per process.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
from helpers import REPO, g_inputs, perturb_cbn, tiny_config

from gan.models import build_models
from gan.sampling import num_classes

CLASSES = 10


def start_script(script: str, backend: str, log: Path) -> subprocess.Popen:
    """Start `script` in a fresh Python with KERAS_BACKEND=`backend`, its output going to `log`."""
    env = {**os.environ, "KERAS_BACKEND": backend,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    # Cheaper XLA compilation: on a 2-core CPU, LLVM optimisation is most of a jitted step's first call.
    env["XLA_FLAGS"] = " ".join(filter(None, [env.get("XLA_FLAGS"), "--xla_backend_optimization_level=0"]))
    with open(log, "w") as out:
        return subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)], env=env, cwd=REPO,
                                stdout=out, stderr=subprocess.STDOUT)


def finish_script(process: subprocess.Popen, log: Path, timeout: int = 300) -> str:
    """Wait for a started script; fail the test with the end of its output unless it exits cleanly."""
    try:
        process.wait(timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    output = log.read_text()
    assert process.returncode == 0, output[-5000:]
    return output


def run_script(script: str, backend: str, log: Path) -> str:
    return finish_script(start_script(script, backend, log), log)


# The same check, run in-process on TensorFlow and in a subprocess on JAX: two real train steps, finite
# losses, and spectral norm's power-iteration vector `u` updated (on JAX, threaded through the jitted step).
TRAIN_SCRIPT = """
    import keras, numpy as np
    from gan.config import TrainConfig
    from gan.model import GAN
    from gan.steps import make_train_step

    def train_two_steps(jit):
        config = TrainConfig.for_preset("strong", extra={"g_channels": 16, "d_channels": 16}, batch_size=4,
                                        d_steps=1, jit=jit)
        gan = GAN(config, 10)
        rng = np.random.default_rng(0)
        images = rng.integers(0, 256, (16, 32, 32, 3), dtype=np.uint8)
        labels = rng.integers(0, 10, 16).astype(np.int32)
        sn = next(layer for layer in gan.discriminator.layers if isinstance(layer, keras.layers.SpectralNormalization))
        u_before = keras.ops.convert_to_numpy(sn.vector_u).copy()
        step = make_train_step(gan, images, labels)
        for _ in range(2):
            metrics = step(rng.integers(0, 16, (config.d_steps, config.batch_size)), 0.05, 0.999)
            losses = {k: float(v) for k, v in metrics.items()}
            assert all(np.isfinite(v) for v in losses.values()), losses
        step.sync()
        assert not np.allclose(keras.ops.convert_to_numpy(sn.vector_u), u_before), "u was not updated"
        return gan, losses
"""


JAX_TEST = "test_two_train_steps_on_jax_in_a_subprocess"


@pytest.fixture(scope="module", autouse=True)
def jax_training(request, tmp_path_factory):
    """Start the JAX training subprocess with the first test of this file, not with its own test,
    so that its slow first (compiling) step overlaps the in-process tests on the second core."""
    selected = any(item.originalname == JAX_TEST for item in request.session.items)
    if not selected or importlib.util.find_spec("jax") is None:
        yield None
        return
    log = tmp_path_factory.mktemp("jax") / "train.log"
    process = start_script(TRAIN_SCRIPT + """
    assert keras.backend.backend() == "jax"
    gan, losses = train_two_steps(jit=True)
    print("OK", losses)
    """, "jax", log)
    yield process, log
    if process.poll() is None:
        process.kill()
        process.wait()
@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the TensorFlow step")
def test_two_train_steps_on_tensorflow():
    namespace: dict = {}
    exec(textwrap.dedent(TRAIN_SCRIPT), namespace)
    # Graph mode without XLA: XLA (the trainer's default) takes minutes to compile this step on a 2-core CPU.
    gan, losses = namespace["train_two_steps"](jit=False)
    assert set(losses) >= {"d_loss_real", "d_loss_fake", "g_loss"}
    # CBN starts class-blind (gain 1, bias 0); one G update is enough to make the label matter.
    a = keras.ops.convert_to_numpy(gan.generator(g_inputs(2, [0, 0]), training=False))
    b = keras.ops.convert_to_numpy(gan.generator(g_inputs(2, [7, 7]), training=False))
    assert np.abs(a - b).max() > 0
    assert gan.ema_generator is not None and num_classes(gan.ema_generator) == CLASSES


def test_keras_file_round_trip_in_a_fresh_process(tmp_path):
    generator, discriminator = build_models(tiny_config(), CLASSES)
    perturb_cbn(generator)
    z, labels = g_inputs(3, [0, 4, 9])
    images = generator([z, labels], training=False)
    logits = discriminator([images, labels], training=False)
    generator.save(tmp_path / "g.keras")
    discriminator.save(tmp_path / "d.keras")
    np.savez(tmp_path / "expected.npz", z=keras.ops.convert_to_numpy(z), labels=keras.ops.convert_to_numpy(labels),
             images=keras.ops.convert_to_numpy(images), logits=keras.ops.convert_to_numpy(logits))
    out = run_script(f"""
        import keras, numpy as np
        import gan.layers  # registers the custom layers; nothing else from gan is needed to load
        from gan.sampling import num_classes

        folder = {str(tmp_path)!r}
        expected = np.load(folder + "/expected.npz")
        g = keras.saving.load_model(folder + "/g.keras", safe_mode=True, compile=False)
        d = keras.saving.load_model(folder + "/d.keras", safe_mode=True, compile=False)
        labels = keras.ops.convert_to_tensor(expected["labels"])
        images = g([keras.ops.convert_to_tensor(expected["z"]), labels], training=False)
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(images), expected["images"])
        logits = d([keras.ops.convert_to_tensor(expected["images"]), labels], training=False)
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(logits), expected["logits"])
        assert num_classes(g) == 10
        print("OK")
    """, keras.backend.backend(), tmp_path / "load.log")
    assert "OK" in out


def test_two_train_steps_on_jax_in_a_subprocess(jax_training):
    if jax_training is None:
        pytest.skip("jax is not installed")
    process, log = jax_training
    assert "OK" in finish_script(process, log)
