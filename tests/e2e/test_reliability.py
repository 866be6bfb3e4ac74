"""Nothing lost, nobody in: real training processes killed at random, failing writes, one writer per run.

The kill test starts `python -m gan train` as the app does, SIGKILLs it at random moments
once it is stepping (and once in the middle of a checkpoint write), resumes it each time, and
checks the run directory after every kill and at the end. See RELIABILITY.md for the results.
"""

from __future__ import annotations

import errno
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import REPO, lock_held_elsewhere, snapshot
from helpers import TINY_IMAGES as IMAGES
from PIL import Image

from gan.checkpoint import read_meta
from gan.files import read_json
from gan.runs import CRASHED, FAILED, FINISHED, RUNNING, Run, RunLockedError, RunStatus

CHECKPOINT_EVERY = 2


BATCH = 8


STEPS = 60  # > 5 kills x (8 steps + the sleep): the kills always land before the end


KILLS = 5


ENV = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO)}


def start_trainer(run_dir: Path, data: Path, resume: bool, log: Path, steps: int = STEPS,
                  preexec_fn=None) -> subprocess.Popen:
    """The trainer as the app starts it. `--no-jit`: an XLA compile costs ~20 s of CPU per start
    here, and what is under test (the files the loop writes) does not depend on it."""
    settings = ["--resume"] if resume else ["--data", str(data), "--preset", "tiny", "--batch-size", str(BATCH)]
    args = [sys.executable, "-m", "gan", "train", *settings, "--checkpoint-every", str(CHECKPOINT_EVERY),
            "--log-every", "1", "--steps", str(steps), "--run-dir", str(run_dir), "--quiet", "--no-jit"]
    with open(log, "ab") as out:
        return subprocess.Popen(args, env=ENV, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                                preexec_fn=preexec_fn)


def wait_until_stepping(run: Run, proc: subprocess.Popen, past_step: int, timeout: float = 120) -> int:
    """Block until `proc` has logged a step beyond `past_step` (read from status.json, written atomically)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = RunStatus.from_json(read_json(run.status_path))
        if status and status.pid == proc.pid and status.state == RUNNING and (status.step or 0) > past_step:
            return status.step
        if proc.poll() is not None:
            pytest.fail(f"trainer exited with {proc.returncode} before stepping")
        time.sleep(0.02)
    pytest.fail("trainer did not start stepping in time")


def kill_mid_checkpoint(run: Run, proc: subprocess.Popen, timeout: float = 20) -> bool:
    """SIGKILL as soon as a checkpoint temp file appears; True when the kill landed mid-write."""
    deadline = time.monotonic() + timeout
    ckpt = run.checkpoint_path.parent
    while time.monotonic() < deadline and proc.poll() is None:
        if ckpt.is_dir() and any(p.name.startswith(".") for p in ckpt.iterdir()):
            proc.send_signal(signal.SIGKILL)
            return True
        time.sleep(0.001)
    proc.send_signal(signal.SIGKILL)
    return False


def metric_steps(run: Run) -> list[int]:
    """The logged steps, checked to parse both ways (Run.metric_rows and pandas)."""
    import pandas as pd

    rows = run.metric_rows()
    frame = pd.read_csv(run.metrics_path)
    steps = [int(r["step"]) for r in rows]
    assert list(frame["step"]) == steps, "pandas and Run.metric_rows disagree: a torn or stray line"
    assert run.metrics()["g_loss"].notna().all()
    return steps


def check_run_directory(run: Run) -> tuple[int, list[int]]:
    """What must hold after any kill: returns (checkpoint step, logged steps)."""
    steps = metric_steps(run)
    assert steps == list(range(1, len(steps) + 1)), f"steps not 1..n without gaps or duplicates: {steps}"
    ckpt_step = 0
    if run.checkpoint_path.exists():
        meta = read_meta(run.checkpoint_path)
        ckpt_step = int(meta["step"])
        with np.load(run.checkpoint_path, allow_pickle=False) as archive:  # every array complete
            shapes = [list(archive[f"v{i:05d}"].shape) for i in range(len(meta["shapes"]))]
        assert shapes == meta["shapes"]
    for path in run.checkpoint_path.parent.glob("*"):  # only latest.npz, or dot-named temp files
        assert path == run.checkpoint_path or path.name.startswith("."), path
    for grid in run.sample_grids():
        with Image.open(grid) as image:
            image.load()
            assert image.size == (8 * 34 + 2, 8 * 34 + 2)
    return ckpt_step, steps
def test_sigkill_at_random_moments_loses_at_most_one_checkpoint_interval(tmp_path, tiny_data):
    run = Run(tmp_path / "run")
    log = tmp_path / "train.log"
    rng = random.Random(os.environ.get("GAN_TEST_SEED", "reliability"))
    ckpt_step, kills, mid_write = 0, [], 0
    for attempt in range(KILLS):
        proc = start_trainer(run.path, tiny_data, resume=attempt > 0, log=log)
        try:
            if attempt == 2:
                wait_until_stepping(run, proc, past_step=ckpt_step)
                mid_write += kill_mid_checkpoint(run, proc)
            else:
                # A random step, then a random instant inside it (a step, its metric row, a grid
                # or a checkpoint write): counted in steps, so a fast machine cannot finish first.
                wait_until_stepping(run, proc, past_step=ckpt_step + rng.randrange(8))
                time.sleep(rng.uniform(0.0, 0.15))
                proc.send_signal(signal.SIGKILL)
        finally:
            proc.kill()
            proc.wait()
        assert proc.returncode == -signal.SIGKILL, "the trainer finished before it could be killed: raise STEPS"

        # A dead trainer is never "running", and its stale lock does not hold anyone out.
        assert read_json(run.status_path)["state"] == RUNNING
        assert run.status().state == CRASHED
        assert run.lock_record()[0] == proc.pid and not run.is_locked()

        previous = ckpt_step
        ckpt_step, steps = check_run_directory(run)
        assert ckpt_step >= previous, "a checkpoint went backwards"
        assert steps[-1] - ckpt_step <= CHECKPOINT_EVERY, f"lost {steps[-1] - ckpt_step} steps"
        kills.append((steps[-1], ckpt_step))

    proc = start_trainer(run.path, tiny_data, resume=True, log=log)
    assert proc.wait(timeout=300) == 0, log.read_text()[-2000:]
    resumed = [int(line.rsplit(" ", 1)[1]) for line in log.read_text().splitlines()
               if line.startswith("resumed run at step ")]
    assert resumed == [c for _, c in kills if c > 0], "each resume starts at the checkpoint the kill left"
    status = run.status()
    assert status.state == FINISHED and status.step == STEPS
    ckpt_step, steps = check_run_directory(run)
    assert ckpt_step == STEPS and steps == list(range(1, STEPS + 1))
    assert len(run.sample_grids()) == STEPS * BATCH // IMAGES
    assert not [p for p in run.path.rglob(".*") if ".tmp" in p.name], "temp files left behind"
    from gan.sampling import load_generator

    assert load_generator(run.generator_path).outputs[0].shape[1:] == (32, 32, 3)
    print(f"kills (last logged step, checkpoint step): {kills}; mid-checkpoint kills: {mid_write}")


# --- write failures ---------------------------------------------------------------------------
def train_in_process(run_dir: Path, data: Path, steps: int, *extra: str) -> int:
    from gan.cli import main

    return main(["train", "--data", str(data), "--preset", "tiny", "--batch-size", str(BATCH), "--log-every", "1",
                 "--checkpoint-every", str(CHECKPOINT_EVERY), "--steps", str(steps), "--run-dir", str(run_dir),
                 "--quiet", "--no-jit", *extra])


class DiskFull:
    """ENOSPC injected into the writes of one training run.

    `np.savez` (the checkpoint) writes half of the archive and raises on its `fail_on`th call;
    with `stays_full`, every later atomic write (status.json, grids, ...) raises too.
    `target` instead fails the first write of one file name, of one `kind`: "atomic" or "append".
    """

    def __init__(self, monkeypatch, fail_on: int = 0, stays_full: bool = False, target: str = "",
                 kind: str = "atomic"):
        import gan.files
        import gan.runs

        self.fail_on, self.stays_full, self.target, self.kind = fail_on, stays_full, target, kind
        self.savez_calls, self.full, self.fired = 0, False, False
        self._savez, self._atomic_write, self._append = np.savez, gan.files.atomic_write, gan.runs.append_bytes
        monkeypatch.setattr(np, "savez", self.savez)
        monkeypatch.setattr(gan.files, "atomic_write", self.atomic_write)  # behind atomic_write_bytes/json
        monkeypatch.setattr(gan.runs, "atomic_write", self.atomic_write)  # generator.keras (Run.write)
        monkeypatch.setattr(gan.runs, "append_bytes", self.append)  # metrics.csv appends

    @staticmethod
    def error(path) -> OSError:
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    def savez(self, file, *args, **kwds):
        self.savez_calls += 1
        if self.savez_calls != self.fail_on:
            return self._savez(file, *args, **kwds)
        import io

        buffer = io.BytesIO()
        self._savez(buffer, *args, **kwds)
        file.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
        self.full = self.fired = True
        raise self.error(file.name)

    def atomic_write(self, path, write, within=None):
        if (self.full and self.stays_full) or self._hit(path, "atomic"):
            raise self.error(path)
        return self._atomic_write(path, write, within)

    def append(self, path, data):
        if self._hit(path, "append"):
            raise self.error(path)
        return self._append(path, data)

    def _hit(self, path, kind: str) -> bool:
        if self.fired or kind != self.kind or Path(path).name != self.target:
            return False
        self.fired = True
        return True


def assert_previous_checkpoint_loads(run: Run, step: int) -> None:
    import keras

    from gan.checkpoint import load_checkpoint
    from gan.model import GAN

    config = run.config()
    keras.utils.set_random_seed(config.seed)
    meta = load_checkpoint(run.checkpoint_path, GAN(config, 1).variables)
    assert meta["step"] == step


def no_temp_files(run: Run) -> bool:
    return not [p for p in run.path.rglob(".*") if ".tmp" in p.name]


@pytest.mark.parametrize("stays_full", [False, True], ids=["one-write-fails", "disk-stays-full"])
def test_failed_checkpoint_write_fails_the_run_and_keeps_the_previous_checkpoint(
        tmp_path, tiny_data, monkeypatch, capsys, stays_full):
    """The 2nd checkpoint (step 4) is cut off half-way by ENOSPC: exit 1, one line, step 2 survives.

    When only that write fails, status.json says "failed" with the error. When the disk stays
    full, not even status.json can be written; the run then reads "stopped unexpectedly" (never
    "running"), and the error is on stderr.
    """
    disk = DiskFull(monkeypatch, fail_on=2, stays_full=stays_full)
    run = Run(tmp_path / "run")
    assert train_in_process(run.path, tiny_data, 8) == 1
    assert disk.fired
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: write failed: No space left on device"), err
    status = run.status()
    if stays_full:
        assert status.state == CRASHED
    else:
        assert status.state == FAILED and status.error in err[0] and "\n" not in status.error
    assert read_meta(run.checkpoint_path)["step"] == CHECKPOINT_EVERY
    assert no_temp_files(run)
    monkeypatch.undo()
    assert_previous_checkpoint_loads(run, CHECKPOINT_EVERY)


@pytest.mark.parametrize(("target", "kind"), [("metrics.csv", "append"), ("status.json", "atomic"),
                                              ("generator.keras", "atomic"), ("epoch_0001.png", "atomic")])
def test_any_failed_write_fails_the_run_with_one_line(tmp_path, tiny_data, monkeypatch, capsys, target, kind):
    """ENOSPC on the first write of each kind of file the loop writes: exit 1, status failed, no temp files."""
    disk = DiskFull(monkeypatch, target=target, kind=kind)
    run = Run(tmp_path / "run")
    assert train_in_process(run.path, tiny_data, 4) == 1
    assert disk.fired, f"no write to {target} was attempted"
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "No space left on device" in err[0] and target in err[0], err
    assert run.status().state == FAILED
    assert no_temp_files(run)


def test_unexpected_error_mid_run_is_recorded_as_failed(tmp_path, tiny_data, monkeypatch, capsys):
    """A bug or an out-of-memory inside the loop is one error line (exit 1), and status.json says why the run
    ended; GAN_DEBUG=1 lets it surface as is."""
    import gan.steps

    real = gan.steps.make_train_step

    def make_failing_step(*args, **kwargs):
        step, calls = real(*args, **kwargs), {"n": 0}

        class Failing:
            def __call__(self, *a):
                calls["n"] += 1
                if calls["n"] == 3:
                    raise MemoryError("out of memory allocating 4.00GiB\nsecond line")
                return step(*a)

            def sync(self):
                step.sync()

        return Failing()

    monkeypatch.setattr(gan.steps, "make_train_step", make_failing_step)
    run = Run(tmp_path / "run")
    assert train_in_process(run.path, tiny_data, 6) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "error: unexpected MemoryError: out of memory allocating 4.00GiB (set GAN_DEBUG=1 for the traceback)")
    status = run.status()
    assert status.state == FAILED and status.error == "MemoryError: out of memory allocating 4.00GiB"
    assert read_meta(run.checkpoint_path)["step"] == CHECKPOINT_EVERY
    monkeypatch.setenv("GAN_DEBUG", "1")
    with pytest.raises(MemoryError):
        train_in_process(tmp_path / "again", tiny_data, 6)


# --- real write failures in a real trainer ----------------------------------------------------
# No mocks here: the kernel refuses the writes. Tests run as root, and root ignores permission
# bits, so the trainer is started without CAP_DAC_OVERRIDE (dropped from its bounding set before
# exec); then a read-only directory binds it as it binds any other user.
def _as_plain_user() -> None:
    """preexec_fn: make permission bits bind the child even when it runs as root."""
    if os.geteuid() != 0:
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def _file_size_limit(limit: int):
    """preexec_fn: no file may grow past `limit` bytes (RLIMIT_FSIZE; Python ignores SIGXFSZ, so
    the write that crosses it fails with EFBIG after the kernel wrote what fitted)."""
    import resource

    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def last_line(log: Path) -> str:
    return [line for line in log.read_text().splitlines() if line.strip()][-1]


def resume_to_the_end(run: Run, data: Path, log: Path, steps: int) -> None:
    """Resume after a failure: it continues from the kept checkpoint, finishes, and leaves no temp file."""
    kept = int(read_meta(run.checkpoint_path)["step"])
    proc = start_trainer(run.path, data, resume=True, log=log, steps=steps)
    assert proc.wait(timeout=300) == 0, log.read_text()[-2000:]
    assert f"resumed run at step {kept}" in log.read_text()
    assert run.status().state == FINISHED
    ckpt_step, logged = check_run_directory(run)
    assert ckpt_step == steps and logged == list(range(1, steps + 1))
    assert no_temp_files(run)
def test_run_directory_made_read_only_mid_run_stops_the_trainer_and_keeps_the_checkpoint(tmp_path, tiny_data):
    probe = tmp_path / "probe"
    probe.mkdir(mode=0o555)
    check = subprocess.run([sys.executable, "-c", f"open({str(probe / 'x')!r}, 'w')"], preexec_fn=_as_plain_user,
                           capture_output=True)
    if check.returncode == 0:
        pytest.skip("cannot make a directory read-only for this user (root without a bounding set to drop)")

    run, log = Run(tmp_path / "run"), tmp_path / "train.log"
    proc = start_trainer(run.path, tiny_data, resume=False, log=log, preexec_fn=_as_plain_user)
    locked: list[Path] = []
    try:
        wait_until_stepping(run, proc, past_step=CHECKPOINT_EVERY)  # so the step-2 checkpoint is on disk
        locked = [run.path, *(p for p in run.path.rglob("*") if p.is_dir())]
        for directory in locked:
            directory.chmod(0o555)
        assert proc.wait(timeout=120) == 1
    finally:
        proc.kill()
        proc.wait()
        for directory in locked:
            directory.chmod(0o755)
    line = last_line(log)  # names the file it could not write: status.json, or a checkpoint or grid
    assert line.startswith("error: write failed: Permission denied (") and line.endswith(")"), line
    # A file of the run; its folder may be one made after the listing above (samples/ at the first epoch's end).
    assert Path(line[line.index("(") + 1 : -1]).is_relative_to(run.path), line
    # status.json could not be written either, so the run reads "stopped unexpectedly", not "running".
    assert run.status().state == CRASHED
    ckpt_step, logged = check_run_directory(run)
    assert ckpt_step >= CHECKPOINT_EVERY and logged[-1] - ckpt_step <= CHECKPOINT_EVERY
    assert_previous_checkpoint_loads(run, ckpt_step)
    resume_to_the_end(run, tiny_data, log, steps=ckpt_step + 4)
def test_checkpoint_cut_short_by_the_kernel_fails_the_run_and_keeps_the_previous_one(tmp_path, tiny_data):
    run, log = Run(tmp_path / "run"), tmp_path / "train.log"
    assert start_trainer(run.path, tiny_data, resume=False, log=log, steps=4).wait(timeout=300) == 0
    size = run.checkpoint_path.stat().st_size
    proc = start_trainer(run.path, tiny_data, resume=True, log=log, steps=8, preexec_fn=_file_size_limit(size // 2))
    assert proc.wait(timeout=300) == 1
    line = last_line(log)
    assert line == f"error: write failed: File too large ({run.checkpoint_path})", line
    status = run.status()
    assert status.state == FAILED and status.error == line[len("error: "):]
    assert read_meta(run.checkpoint_path)["step"] == 4 and no_temp_files(run)
    assert_previous_checkpoint_loads(run, 4)
    resume_to_the_end(run, tiny_data, log, steps=8)


# --- one writer per run -----------------------------------------------------------------------
def test_second_trainer_on_a_locked_run_exits_2_and_writes_nothing(tmp_path, tiny_data):
    from gan.config import TrainConfig

    run = Run(tmp_path / "run")
    run.path.mkdir()
    config = TrainConfig.for_preset("tiny", data=str(tiny_data), batch_size=BATCH, steps=4, jit=False)
    run.config_path.write_text(config.to_json())
    run.write_status(state=RUNNING, pid=None, step=0)
    with lock_held_elsewhere(run.path, env=ENV) as holder:
        before = snapshot(run.path)
        second = subprocess.run([sys.executable, "-m", "gan", "train", "--run-dir", str(run.path), "--resume",
                                 "--quiet"], env=ENV, cwd=REPO, capture_output=True, text=True, timeout=120)
        assert second.returncode == 2, second.stderr
        lines = second.stderr.strip().splitlines()
        assert lines == [f"error: run run is already being trained (pid {holder.pid})"], lines
        assert snapshot(run.path) == before
        assert run.status().state == RUNNING  # the holder is alive: its run is running
    # The holder died without unlocking: the kernel dropped its flock, so the lock is not stale.
    assert run.lock_record()[0] == holder.pid
    assert not run.is_locked() and run.status().state == CRASHED
    with run.lock():
        assert run.lock_record()[0] == os.getpid()


def _probe_lock(path: str, seconds: float) -> None:
    run, end = Run(path), time.monotonic() + seconds
    while time.monotonic() < end:
        run.is_locked()


def test_status_probes_never_lock_a_trainer_out(tmp_path):
    """`Run.status()` (the app polls it) probes the flock; a trainer starting at that instant must still get it."""
    import multiprocessing

    run = Run(tmp_path / "run")
    run.path.mkdir()
    prober = multiprocessing.get_context("spawn").Process(target=_probe_lock, args=(str(run.path), 30))
    prober.start()
    try:
        time.sleep(1.0)  # let the spawned interpreter start probing
        failures = 0
        for _ in range(500):
            try:
                with run.lock():
                    pass
            except RunLockedError:
                failures += 1
        assert failures == 0
    finally:
        prober.kill()
        prober.join()
