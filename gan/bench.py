"""`python -m gan bench`: training throughput and sampling latency of presets on this machine.

Synthetic uint8 data on the device, so the numbers measure the compiled step alone; the
first steps (compilation) are excluded and the clock stops only after results are fetched.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import statistics
import time
from collections.abc import Iterator, Mapping, Sequence

import numpy as np

from gan.backend import default_jit
from gan.errors import CliError
from gan.files import REPO_ROOT

# Presets that only a GPU can time in reasonable time. `bench --preset strong --steps 50` ran for over 15
# minutes on the 2-core development CPU before anyone stopped it (issue 24): each preset is timed twice
# (with and without XLA), after warm-up steps and an XLA compilation of its own.
GPU_ONLY = {
    "strong": "its ResNet GAN is sized for GPUs: on a 2-core CPU even a quarter-width version took about 3 s a "
              "step, and XLA alone took 80-110 s to compile it (benchmarks/RESULTS.md)",
}
ON_CPU_ENV = "GAN_BENCH_ON_CPU"  # "1": time GPU-only presets on a CPU anyway


def cpu_refusal(presets: Sequence[str], gpu: bool, environ: Mapping[str, str] | None = None) -> str | None:
    """Why `bench` should not time `presets` on this machine (one line), or None when it may.

    The simplest honest rule: a per-preset GPU-only mark, checked before anything is built, rather than a
    time estimate that would itself cost minutes of warm-up on a CPU. $GAN_BENCH_ON_CPU=1 overrides it.
    """
    environ = os.environ if environ is None else environ
    if gpu or environ.get(ON_CPU_ENV) == "1":
        return None
    slow = [preset for preset in dict.fromkeys(presets) if preset in GPU_ONLY]
    if not slow:
        return None
    return (f"{slow[0]} is a GPU-only preset and no GPU is visible: {GPU_ONLY[slow[0]]}; timing it here would take "
            f"far over 15 minutes. Run it on a GPU, or set {ON_CPU_ENV}=1 to time it on this CPU anyway")


def device_name() -> str:
    """The accelerator the backend sees, or the CPU's name."""
    import keras

    if keras.backend.backend() == "jax":
        import jax

        device = jax.devices()[0]
        if device.platform != "cpu":
            return device.device_kind
    elif keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            return tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
    return f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"


def bench_preset(preset: str, steps: int = 20, batch_size: int | None = None, mixed_precision: bool = False,
                 warmup: int = 3, jit: bool | None = None) -> dict:
    from gan.config import TrainConfig

    config = TrainConfig.for_preset(preset, batch_size=batch_size, mixed_precision=mixed_precision, jit=jit)
    return bench_config(config, steps, warmup)


def bench_config(config, steps: int = 20, warmup: int = 3) -> dict:
    """Training images/s and 64-sample latency of one resolved TrainConfig, on synthetic data."""
    import keras
    from keras import ops

    from gan.model import GAN
    from gan.sampling import generate, latents
    from gan.steps import make_train_step

    if config.mixed_precision:
        keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    classes = 10
    per_step = config.d_steps * config.batch_size
    rng = np.random.default_rng(0)
    n = per_step * 4
    images = rng.integers(0, 256, (n, config.image_size, config.image_size, 3), dtype=np.uint8)
    labels = rng.integers(0, classes, n).astype(np.int32)
    gan = GAN(config, classes)
    step = make_train_step(gan, images, labels)
    indices = [rng.permutation(n)[:per_step].reshape(config.d_steps, config.batch_size) for _ in range(4)]

    start = time.perf_counter()
    for i in range(warmup):
        metrics = step(indices[i % 4], 0.0, 0.5)
    ops.convert_to_numpy(metrics["g_loss"])
    compile_s = time.perf_counter() - start

    start = time.perf_counter()
    for i in range(steps):
        metrics = step(indices[i % 4], 0.0, 0.5)
    ops.convert_to_numpy(metrics["g_loss"])
    elapsed = time.perf_counter() - start

    step.sync()
    z = latents(64, config.latent_dim, seed=0)
    sample_labels = np.arange(64) % classes if gan.num_classes else None
    generate(gan.sampler, z, sample_labels)  # warm-up
    times = []
    for _ in range(5):
        t = time.perf_counter()
        generate(gan.sampler, z, sample_labels)
        times.append(time.perf_counter() - t)
    keras.mixed_precision.set_dtype_policy("float32")
    return {
        "preset": config.preset, "jit": config.jit if config.jit is not None else default_jit(),
        "batch": config.batch_size, "d_steps": config.d_steps,
        "imgs_per_s": steps * per_step / elapsed, "step_ms": 1000 * elapsed / steps,
        "compile_s": compile_s, "sample64_ms": 1000 * statistics.median(times),
        "params_g": gan.generator.count_params(), "params_d": gan.discriminator.count_params(),
    }


REFERENCE = REPO_ROOT / "benchmarks" / "seed_reference.py"
HEADER = ("| code | preset | XLA | batch | D steps | train images/s | vs reference | step ms | compile s "
          "| sample 64 ms | G params | D params |")


def reference_images_per_second(steps: int, batch_size: int = 128) -> float | None:
    """The seeds' own step (benchmarks/seed_reference.py) on this machine; None outside a checkout or on JAX."""
    import keras

    if keras.backend.backend() != "tensorflow" or not REFERENCE.is_file():
        return None
    spec = importlib.util.spec_from_file_location("seed_reference", REFERENCE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.reference_images_per_second(steps, batch_size)


def bench_lines(presets: list[str], steps: int, batch_size: int | None, mixed_precision: bool,
                both_jit: bool = True) -> Iterator[str]:
    """The bench table, a line at a time as each measurement finishes (a measurement takes 10-60 s).

    Each preset is timed with and without XLA (`both_jit`), beside the seeds' own step at the
    seed preset's batch size, all in this process on this machine. CliError, before anything is built,
    when a preset is GPU-only and there is no GPU (`cpu_refusal`).
    """
    from gan.backend import has_gpu

    problem = cpu_refusal(presets, has_gpu())
    if problem:  # before the first line is printed or a model is built
        raise CliError(problem)
    import keras

    yield (f"backend {keras.backend.backend()} on {device_name()}, {steps} timed steps, "
           f"{'bfloat16' if mixed_precision else 'float32'}, {time.strftime('%Y-%m-%d')}")
    yield HEADER
    yield "|" + "---|" * (HEADER.count("|") - 1)
    reference = reference_images_per_second(steps)
    if reference is not None:
        yield f"| seeds' reference (tf.function, no XLA) | seed | no | 128 | 1 | {reference:,.0f} | 1.00 | | | | | |"
    for preset in presets:
        for jit in ((False, True) if both_jit else (None,)):
            r = bench_preset(preset, steps, batch_size, mixed_precision, jit=jit)
            comparable = reference and preset == "seed" and r["batch"] == 128
            ratio = f"{r['imgs_per_s'] / reference:.2f}" if comparable else ""
            yield (f"| gan{' (default)' if r['jit'] == default_jit() else ''} | {r['preset']} | "
                   f"{'yes' if r['jit'] else 'no'} | {r['batch']} | {r['d_steps']} | {r['imgs_per_s']:,.0f} | "
                   f"{ratio} | {r['step_ms']:.1f} | {r['compile_s']:.1f} | {r['sample64_ms']:.1f} | "
                   f"{r['params_g']:,} | {r['params_d']:,} |")

