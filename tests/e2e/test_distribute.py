"""`--distribute`: one step on 2 devices is the same update as one step on 1 device (same global batch).

Each backend runs in a subprocess, because the device count is fixed when the backend starts:
TensorFlow splits the CPU into 2 logical devices, JAX is told to expose 2 host devices. The
subprocess builds the tiny preset twice (1 device, then 2 devices), gives both the same initial
values, takes one full training step (a D update, then a G update) on the same 8 indices, and
reports the largest difference of every variable: G, D and both optimizers' moments.

Dropout is off (a mask drawn per replica cannot equal one drawn for the whole batch) and so
are augmentation and instance noise.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import REPO

# One step of the tiny preset (no dropout) on one device and on the replicas `two`, from the same
# initial values and batch; the script that includes it defines `config`, `two` and `extra`.
STEP_BOTH_WAYS = r"""
import keras
import numpy as np
from keras import ops

if os.environ.get("ROW_CONSTANT_NOISE") == "1":
    def row_constant_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
        shape = tuple(shape)
        row = ops.reshape(ops.sin(ops.arange(int(np.prod(shape[1:])), dtype="float32")), shape[1:])
        return ops.broadcast_to(row, shape)
    keras.random.normal = row_constant_normal  # gan.model looks it up at call time

from gan.distribute import SINGLE
from gan.model import GAN
from gan.steps import make_train_step

keras.utils.set_random_seed(0)  # the same single-device model in every process
rng = np.random.default_rng(0)
images = rng.integers(0, 256, (32, 32, 32, 3), dtype=np.uint8)
labels = np.zeros(32, np.int32)
index = rng.permutation(32)[:8].reshape(1, 8)
out, initial = {}, None
for name, replicas in (("one", SINGLE), ("two", two)):
    with replicas.scope():
        gan = GAN(config, 1)
    if initial is None:
        initial = [ops.convert_to_numpy(v.value) for v in gan.variables]
    else:
        for variable, value in zip(gan.variables, initial):
            variable.assign(value)
    step = make_train_step(gan, images, labels, replicas)
    metrics = {k: float(ops.convert_to_numpy(v)) for k, v in step(index, 0.0, 0.0).items()}
    step.sync()
    out[name] = dict(replicas=replicas.count, metrics=metrics,
                     values=[ops.convert_to_numpy(v.value) for v in gan.variables])
report = dict(
    extra,
    replicas=[out["one"]["replicas"], out["two"]["replicas"]],
    metrics=[out["one"]["metrics"], out["two"]["metrics"]],
    paths=[v.path for v in gan.variables],
    diffs=[float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))) if a.size else 0.0
           for a, b in zip(out["one"]["values"], out["two"]["values"])],
    moved=[float(np.max(np.abs(a.astype(np.float64) - i.astype(np.float64)))) if a.size else 0.0
           for a, i in zip(out["one"]["values"], initial)],
)
print("REPORT " + json.dumps(report), flush=True)
"""


# XLA compiles faster unoptimised; every JAX comparison here runs both sides with it.
CHEAP_XLA = "--xla_backend_optimization_level=0"


# Two devices in one process: TensorFlow splits the CPU into 2 logical devices (XLA_FLAGS does it for JAX).
PROBE = r"""
import json, os
if os.environ["KERAS_BACKEND"] == "tensorflow":
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from gan.config import TrainConfig
from gan.distribute import replicas_for

config = TrainConfig.for_preset("tiny", batch_size=8, dropout=0.0, jit=os.environ["PROBE_JIT"] == "1", distribute=True)
two, extra = replicas_for(config), {}
""" + STEP_BOTH_WAYS


def run_probe(backend: str, **env: str) -> dict:
    environment = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2",
                   "PYTHONPATH": str(REPO), **env}
    result = subprocess.run([sys.executable, "-c", PROBE], env=environment, cwd=REPO, capture_output=True,
                            text=True, timeout=400)
    lines = [line for line in result.stdout.splitlines() if line.startswith("REPORT ")]
    assert result.returncode == 0 and lines, result.stderr[-3000:]
    return json.loads(lines[-1][len("REPORT "):])


def check_same_update(report: dict, skip: tuple[str, ...] = ()) -> None:
    assert report["replicas"] == [1, 2]
    one, two = report["metrics"]
    assert one.keys() == two.keys()
    for key in one:
        assert two[key] == pytest.approx(one[key], abs=1e-5), key
    compared = 0
    for path, diff, moved in zip(report["paths"], report["diffs"], report["moved"], strict=True):
        if any(s in path for s in skip):
            continue
        assert diff <= 1e-5 + 1e-4 * moved, f"{path}: 2-device value differs by {diff} (step moved it {moved})"
        compared += 1
    # The step really trained: most variables moved, so equal values are not equal-because-untouched.
    assert sum(m > 0 for m in report["moved"]) > len(report["moved"]) // 2
    assert compared > 50
def test_jax_data_parallel_step_equals_single_device_step():
    """JAX: every variable, with real random latents.

    `jax.jit` compiles one global program and only the shardings differ (GSPMD), so the 2-device
    step must reproduce the 1-device step exactly up to float reduction order: random draws
    (sharding-invariant threefry), BatchNorm statistics over the global batch, the gradient mean.
    """
    report = run_probe("jax", XLA_FLAGS=f"--xla_force_host_platform_device_count=2 {CHEAP_XLA}", PROBE_JIT="1")
    check_same_update(report)
def test_tensorflow_mirrored_step_equals_single_device_step():
    """TensorFlow (MirroredStrategy): every variable, with latents that are the same in every row.

    Under MirroredStrategy each replica runs the step on its half of the batch: it draws its own
    latents (the replica id is folded into the seed, so they differ from the single-device draw)
    and G's BatchNorm uses per-replica batch statistics. Neither can match a single device with
    random latents, so the probe makes `keras.random.normal` return the same latent for every
    row (varying along the latent axis). Then every replica's batch statistics equal the global
    ones, the draws agree, and what is left to compare is exactly what data parallelism must get
    right: the index split, the 1/N loss scaling, the cross-replica gradient sum, the identical
    optimizer update on every replica, and the metric mean. Both sides skip XLA (the mirrored
    step never uses it, see gan/steps/tensorflow.py), which also spares a slow compile.
    """
    report = run_probe("tensorflow", ROW_CONSTANT_NOISE="1", PROBE_JIT="0")
    check_same_update(report, skip=("seed_generator_state",))


# --- several processes (JAX) ---------------------------------------------------------------------
def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def process_env(backend: str, index: int, count: int, port: int, ports: list[int]) -> dict[str, str]:
    """What a launcher sets for process `index` of `count` on localhost, the backend's own way."""
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("XLA_FLAGS", None)  # one CPU device per process
    if backend == "jax":
        env.update(JAX_PLATFORMS="cpu", XLA_FLAGS=CHEAP_XLA, KERAS_DISTRIBUTION_JOB_ADDRESSES=f"localhost:{port}",
                   KERAS_DISTRIBUTION_NUM_PROCESSES=str(count), KERAS_DISTRIBUTION_PROCESS_ID=str(index))
    else:
        env["TF_CONFIG"] = json.dumps({"cluster": {"worker": [f"localhost:{p}" for p in ports]},
                                       "task": {"type": "worker", "index": index}})
    return env


def start_processes(backend: str, run_dir: Path, logs: Path, *args: str, count: int = 2) -> list[subprocess.Popen]:
    """`python -m gan train --run-dir RUN ARGS` on `count` processes, as on `count` hosts."""
    port, ports = free_port(), [free_port() for _ in range(count)]
    processes = []
    for index in range(count):
        with open(logs / f"process{index}.log", "ab") as log:
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "gan", "train", "--run-dir", str(run_dir), "--quiet", *args],
                env=process_env(backend, index, count, port, ports), cwd=REPO, stdout=log, stderr=subprocess.STDOUT))
    return processes


def closing_lines(logs: Path, processes: list[subprocess.Popen], timeout: float = 300) -> list[str]:
    """Each process's exit code must be 0; returns each one's closing `stopped:`/`finished:` line."""
    try:
        codes = [p.wait(timeout=timeout) for p in processes]
    finally:
        for p in processes:
            p.kill()
            p.wait()
    texts = [(logs / f"process{i}.log").read_text() for i in range(len(processes))]
    assert codes == [0] * len(processes), "\n".join(t[-2000:] for t in texts)
    ends = [[line for line in t.splitlines() if line.startswith(("stopped: ", "finished: "))] for t in texts]
    return [e[-1] if e else "" for e in ends]


def stop_one_process(backend: str, tmp_path: Path):
    """Train on two processes until they step, SIGTERM process 1 only, and check what must hold:
    both stopped at the same step, process 0 alone wrote the run. Returns (run, data, steps)."""
    import numpy as np

    from gan.checkpoint import read_meta
    from gan.runs import STOPPED, Run

    rng = np.random.default_rng(0)
    data = tmp_path / "tiny.npz"
    np.savez(data, x=rng.integers(0, 256, (32, 32, 32, 3), dtype=np.uint8))
    run = Run(tmp_path / "run")
    processes = start_processes(backend, run.path, tmp_path, "--data", str(data), "--preset", "tiny",
                                "--batch-size", "8", "--steps", "400", "--checkpoint-every", "50",
                                "--log-every", "1", "--distribute")
    try:
        deadline = time.monotonic() + 300
        while (run.status().step or 0) < 3:
            assert time.monotonic() < deadline, "the processes did not start stepping in time"
            assert all(p.poll() is None for p in processes), (tmp_path / "process0.log").read_text()[-3000:]
            time.sleep(0.05)
        processes[1].send_signal(signal.SIGTERM)
    finally:
        ends = closing_lines(tmp_path, processes)
    assert ends[0] == ends[1] and ends[0].startswith("stopped: "), ends  # a process that stopped alone
    status = run.status()  # would have left the other waiting in the next step's collectives
    steps = status.step
    assert status.state == STOPPED and status.processes == 2 and 3 <= steps < 400
    assert [int(r["step"]) for r in run.metric_rows()] == list(range(1, steps + 1))  # one writer
    assert read_meta(run.checkpoint_path)["step"] == steps
    return run, data, steps
def test_two_jax_processes_train_as_one_write_once_and_stop_together(tmp_path):
    """Two processes (one CPU device each) train one run the way two hosts would: SIGTERM to one
    stops both at the same step, process 0 alone writes, and the checkpoint equals, within float
    tolerance, that of one ordinary process trained for the same number of steps."""
    import numpy as np

    from gan.runs import Run

    run, data, steps = stop_one_process("jax", tmp_path)
    alone = Run(tmp_path / "alone")
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(REPO), "JAX_PLATFORMS": "cpu",
           "XLA_FLAGS": CHEAP_XLA}  # one CPU device, as in each of the two
    result = subprocess.run([sys.executable, "-m", "gan", "train", "--data", str(data), "--preset", "tiny",
                             "--batch-size", "8", "--steps", str(steps), "--log-every", "1", "--run-dir",
                             str(alone.path), "--quiet"], env=env, cwd=REPO, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    with np.load(run.checkpoint_path) as two, np.load(alone.checkpoint_path) as one:
        names = [n for n in one.files if n != "meta"]
        assert sorted(names) == sorted(n for n in two.files if n != "meta")
        worst = max(float(np.max(np.abs(one[n].astype(np.float64) - two[n].astype(np.float64))))
                    for n in names if one[n].size and one[n].dtype.kind == "f")
    print(f"two processes vs one after {steps} steps: largest difference {worst:.2e}")
    assert worst < 1e-3, f"two processes drifted from one by {worst}"


# One of two TensorFlow workers (TF_CONFIG): one device each, replicas on both.
WORKER_PROBE = r"""
import json, os
from gan.config import TrainConfig
from gan.distribute import join_processes, replicas_for

config = TrainConfig.for_preset("tiny", batch_size=8, dropout=0.0, jit=False, distribute=True)
processes = join_processes(config)  # MultiWorkerMirroredStrategy, before any other TensorFlow op
two = replicas_for(config, processes=processes)
extra = dict(process=[processes.index, processes.count],
             votes=[two.any_process(processes.index == 1), two.any_process(False)])
""" + STEP_BOTH_WAYS
def test_two_tensorflow_workers_step_equals_single_device_step():
    """TensorFlow on two worker processes (`TF_CONFIG`, MultiWorkerMirroredStrategy, one CPU each):
    one step equals the single-device step, as on one machine (row-constant latents, see the
    mirrored test), and a stop vote from worker 1 alone reaches worker 0."""
    ports = [free_port(), free_port()]
    workers = [subprocess.Popen([sys.executable, "-c", WORKER_PROBE], cwd=REPO, text=True,
                                env={**process_env("tensorflow", i, 2, 0, ports), "ROW_CONSTANT_NOISE": "1"},
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
               for i in range(2)]
    try:
        outputs = [w.communicate(timeout=300) for w in workers]
    finally:
        for w in workers:
            w.kill()
    for index, (worker, (stdout, stderr)) in enumerate(zip(workers, outputs, strict=True)):
        lines = [line for line in stdout.splitlines() if line.startswith("REPORT ")]
        assert worker.returncode == 0 and lines, stderr[-3000:]
        report = json.loads(lines[-1][len("REPORT "):])
        assert report["process"] == [index, 2] and report["votes"] == [True, False]
        check_same_update(report, skip=("seed_generator_state",))
def test_two_tensorflow_workers_stop_together_write_once_and_resume(tmp_path):
    """The same on TensorFlow workers (`TF_CONFIG`), then `--resume` on both: each resumes at the
    checkpoint the stop left and the run finishes with every metric step logged once."""
    from gan.runs import FINISHED

    run, _, steps = stop_one_process("tensorflow", tmp_path)
    ends = closing_lines(tmp_path, start_processes("tensorflow", run.path, tmp_path, "--resume",
                                                   "--steps", str(steps + 3)))
    assert ends == [f"finished: {run.path} (step {steps + 3})"] * 2
    for index in range(2):
        assert f"resumed run at step {steps}" in (tmp_path / f"process{index}.log").read_text()
    assert run.status().state == FINISHED
    assert [int(r["step"]) for r in run.metric_rows()] == list(range(1, steps + 4))
