"""No run file is trusted: links, FIFOs and reused pids in a run folder (gan/runs.py, gan/files.py).

A run folder is written by the trainer and read by the app, the CLI and other trainers; anyone who can
write in it (a careless user, a hostile one, a half-finished copy) may leave a symbolic link where a file
or folder belongs, a FIFO where a file belongs, or a lock naming a pid that now belongs to somebody else.
Each class is driven over every entry of the run it applies to: nothing written through a link, nothing
that hangs (every FIFO case runs in a child process with a deadline), nobody signalled who is not the
trainer, and every refusal one line naming the file.


Here the cases that need a child process (FIFOs, locks held elsewhere, pids, a full disk).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
from helpers import HOLD_LOCK, REPO
from helpers import last_error_line as one_error_line
from helpers import snapshot_with_links as snapshot

from gan.runs import Run, stop_training

ENV = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}


DEADLINE = 120  # seconds a child may take before the test calls it a hang (a TensorFlow import is ~15 s)


def gan(*args: str, timeout: float = DEADLINE) -> subprocess.CompletedProcess:
    """`python -m gan ARGS` in a child: a FIFO that made it block fails the test at `timeout`, not hangs it."""
    return subprocess.run([sys.executable, "-m", "gan", *args], cwd=REPO, env=ENV, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


# --- never follow a link or block on a FIFO when reading ------------------------------------------
READ_EVERYTHING = """
import json, sys
from gan.runs import Run
run = Run(sys.argv[1])
seen = {}
for name, read in [("status", lambda: run.status().state), ("classes", run.class_names),
                   ("held_out", run.held_out), ("log", run.last_log_error), ("locked", run.is_locked),
                   ("holder", run.lock_holder), ("metric_rows", lambda: len(run.metric_rows())),
                   ("metrics", lambda: len(run.metrics())), ("evals", lambda: len(run.evals())),
                   ("config", lambda: run.config().preset)]:
    try:
        seen[name] = read()
    except Exception as e:
        seen[name] = "error: " + str(e)
print(json.dumps(seen, default=str))
"""


@pytest.mark.parametrize("kind", ["fifo", "link"])
def test_reading_a_run_never_follows_a_link_nor_blocks_on_a_fifo(tiny_run_copy, tmp_path, kind):
    """Every reader of a run (what the app polls each second, what `gan info` prints) with every file of the
    run a FIFO or a link to a user's file: all of it returns within the deadline, and nothing of the user's
    file is shown as the run's."""
    run = Run(tiny_run_copy)
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({"state": "SECRET", "preset": "SECRET"}))
    for name in ("status.json", "classes.json", "holdout.json", "train.log", "run.lock", "metrics.csv",
                 "evals.csv", "config.json"):
        (run.path / name).unlink(missing_ok=True)
        if kind == "fifo":
            os.mkfifo(run.path / name)
        else:
            (run.path / name).symlink_to(secret)
    child = subprocess.run([sys.executable, "-c", READ_EVERYTHING, str(run.path)], env=ENV, cwd=REPO,
                           capture_output=True, text=True, timeout=60)
    assert child.returncode == 0, child.stderr
    seen = json.loads(child.stdout)
    assert "SECRET" not in child.stdout, seen
    assert seen["locked"] is False and seen["holder"] is None and seen["metric_rows"] == 0
    assert seen["config"].startswith("error: ") and "config.json" in seen["config"], seen


def test_gan_info_on_a_run_whose_status_is_a_fifo_ends(tiny_run_copy):
    run = Run(tiny_run_copy)
    run.status_path.unlink()
    os.mkfifo(run.status_path)
    info = gan("info", str(run.path))
    assert info.returncode == 0, info.stderr
    assert "run         tiny" in info.stdout


def test_resume_with_a_fifo_for_a_checkpoint_refuses_in_one_line_and_releases_the_lock(tiny_run_copy):
    run = Run(tiny_run_copy)
    run.checkpoint_path.unlink()
    os.mkfifo(run.checkpoint_path)
    before = snapshot(run.path)
    resumed = gan("train", "--resume", "--run-dir", str(run.path), "--steps", "6", "--quiet")
    assert resumed.returncode == 2, resumed.stderr
    line = one_error_line(resumed.stderr)
    assert "latest.npz" in line and "FIFO" in line, line
    assert snapshot(run.path) == before and not run.is_locked()


# --- stop signals the trainer, and only the trainer ------------------------------------------------


def test_stop_signals_the_process_that_holds_the_lock(tmp_path):
    run = Run(tmp_path / "run")
    run.path.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(run.path)], cwd=REPO, env=ENV,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert stop_training(run) is True
        assert holder.wait(timeout=30) == -signal.SIGTERM
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()


@pytest.mark.parametrize("lock_text", ["{pid}", "{pid} 1", "{pid} nonsense", "{pid} {start_plus_one}"])
def test_stop_never_signals_a_process_that_only_reuses_the_pid_in_the_lock(tmp_path, lock_text):
    """The lock is held (here by a child of a dead trainer, say, that inherited its descriptor), and the pid it
    names now belongs to a bystander: the bystander must live. (Before: SIGTERM to whoever had that pid.)"""
    import fcntl

    from gan.runs import process_start

    run = Run(tmp_path / "run")
    run.path.mkdir()
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    fd = os.open(run.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        start = process_start(bystander.pid)
        text = lock_text.format(pid=bystander.pid, start_plus_one=(start or 0) + 1)
        os.write(fd, text.encode())
        assert run.is_locked()
        assert stop_training(run) is False
        assert bystander.poll() is None  # alive: not signalled
    finally:
        os.close(fd)
        bystander.kill()
        bystander.wait()


def test_process_start_is_none_for_a_process_that_is_gone():
    from gan.runs import process_start

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert process_start(child.pid) is None or sys.platform != "linux"


# --- appends: all or nothing, naming the file ------------------------------------------------------
APPEND_UNDER_A_FILE_SIZE_LIMIT = """
import resource, sys
from dataclasses import dataclass
from gan.runs import Run

@dataclass
class S:
    metric: str = "fid"
    value: float = 1.0
    floor: float = 0.5
    n: int = 10
    reference: str = "x" * 4000
    extractor: str = "e"

limit = int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
try:
    Run(sys.argv[1]).append_evals(3, [S(), S()])
except OSError as e:
    print(f"{e.strerror} ({e.filename})")
    sys.exit(1)
"""


@pytest.mark.parametrize("existing", [True, False])
def test_an_append_that_runs_out_of_space_leaves_the_file_as_it_was(tmp_path, existing):
    """A real short write: RLIMIT_FSIZE lets the kernel write what fits, then EFBIG, as a full disk would.
    The file is what it was (no half row, no 0-byte evals.csv when there was none) and the error names it."""
    run = Run(tmp_path / "run")
    run.path.mkdir()
    if existing:
        run.evals_path.write_text("step,metric,value,n,reference,extractor,time\n1,fid,2,10,r,e,0\n")
    before = run.evals_path.read_bytes() if existing else None
    limit = (len(before) if existing else 0) + 100
    child = subprocess.run([sys.executable, "-c", APPEND_UNDER_A_FILE_SIZE_LIMIT, str(run.path), str(limit)],
                           env=ENV, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert child.returncode == 1, child.stderr
    assert child.stdout.strip() == f"File too large ({run.evals_path})"
    if existing:
        assert run.evals_path.read_bytes() == before
    else:
        assert not run.evals_path.exists()
