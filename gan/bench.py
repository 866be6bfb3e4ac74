"""`python -m gan bench`: training throughput and sampling latency of presets on this machine.

Synthetic uint8 data on the device, so the numbers measure the compiled step alone; the
first steps (compilation) are excluded and the clock stops only after results are fetched.
"""

from __future__ import annotations

import platform
import statistics
import time

import numpy as np


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
    import os

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

    from gan.backend import default_jit
    from gan.objective import GAN
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


def bench_table(presets: list[str], steps: int, batch_size: int | None, mixed_precision: bool) -> str:
    import keras

    rows = [bench_preset(p, steps, batch_size, mixed_precision) for p in presets]
    header = (f"backend {keras.backend.backend()} on {device_name()}, {steps} timed steps, "
              f"{'bfloat16' if mixed_precision else 'float32'}, {time.strftime('%Y-%m-%d')}")
    lines = [header,
             "| preset | batch | D steps | train images/s | step ms | compile s | sample 64 ms | G params | D params |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['preset']} | {r['batch']} | {r['d_steps']} | {r['imgs_per_s']:,.0f} | {r['step_ms']:.1f} | "
                     f"{r['compile_s']:.1f} | {r['sample64_ms']:.1f} | {r['params_g']:,} | {r['params_d']:,} |")
    return "\n".join(lines)
