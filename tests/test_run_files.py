"""No run file is trusted: links, FIFOs and reused pids in a run folder (gan/runs.py, gan/files.py).

A run folder is written by the trainer and read by the app, the CLI and other trainers; anyone who can
write in it (a careless user, a hostile one, a half-finished copy) may leave a symbolic link where a file
or folder belongs, a FIFO where a file belongs, or a lock naming a pid that now belongs to somebody else.
Each class is driven over every entry of the run it applies to: nothing written through a link, nothing
that hangs (every FIFO case runs in a child process with a deadline), nobody signalled who is not the
trainer, and every refusal one line naming the file.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import REPO

from gan.files import UnsafeFileError, append_bytes, atomic_write, atomic_write_bytes, atomic_write_json, read_json
from gan.runs import METRIC_COLUMNS, Run, RunError, delete_run, list_runs, stop_training

ENV = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
DEADLINE = 120  # seconds a child may take before the test calls it a hang (a TensorFlow import is ~15 s)

# Every file of a run (docs/ARCHITECTURE.md) and how it is reached from a Run.
RUN_FILES = ["launch.json", "config.json", "classes.json", "status.json", "run.lock", "train.log", "metrics.csv",
             "evals.csv", "ckpt/latest.npz", "generator.keras", "best/best.json", "holdout.json"]
RUN_FOLDERS = ["ckpt", "samples", "best"]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(directory: Path) -> dict[str, str]:
    """Every regular file under `directory` (links not followed) by content, and every link by its target."""
    seen = {}
    for p in sorted(directory.rglob("*")):
        if p.is_symlink():
            seen[str(p.relative_to(directory))] = "-> " + os.readlink(p)
        elif p.is_file():
            seen[str(p.relative_to(directory))] = digest(p)
    return seen


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    assert len(lines) >= 1 and lines[-1].startswith("error: "), stderr
    return lines[-1]


def gan(*args: str, timeout: float = DEADLINE) -> subprocess.CompletedProcess:
    """`python -m gan ARGS` in a child: a FIFO that made it block fails the test at `timeout`, not hangs it."""
    return subprocess.run([sys.executable, "-m", "gan", *args], cwd=REPO, env=ENV, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.fixture
def users_file(tmp_path) -> Path:
    """A file of the user's, outside any run, that no run operation may change."""
    path = tmp_path / "users" / "thesis.txt"
    path.parent.mkdir()
    path.write_text("three years of work\n")
    return path


# --- files the project writes honour the umask ----------------------------------------------------


@pytest.fixture(params=[0o022, 0o077, 0o002])
def umask(request):
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def test_every_kind_of_write_honours_the_umask(tmp_path, umask):
    """Like any other tool: 0666 & ~umask (before: 0600 always, from mkstemp, so a group could not read runs)."""
    run = Run(tmp_path / "run")
    atomic_write_bytes(tmp_path / "bytes.bin", b"x")
    atomic_write_json(tmp_path / "a.json", {"a": 1})
    atomic_write(tmp_path / "called.bin", lambda tmp: tmp.write_bytes(b"y"))
    with run.lock():
        run.write_status(state="running", step=1)
        run.append_metrics({"step": 1, "g_loss": 1.0})
        run.append_evals(1, [])
    written = [tmp_path / "bytes.bin", tmp_path / "a.json", tmp_path / "called.bin", run.status_path,
               run.metrics_path, run.evals_path, run.lock_path]
    modes = {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in written}
    assert modes == {p.name: oct(0o666 & ~umask) for p in written}


def test_an_atomic_write_keeps_the_umask_when_it_replaces_a_file(tmp_path, umask):
    path = tmp_path / "status.json"
    path.write_text("{}")
    os.chmod(path, 0o600)
    atomic_write_json(path, {"state": "running"})
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


# --- never write through a link ---------------------------------------------------------------------


def test_a_linked_run_lock_is_refused_and_the_users_file_kept(tmp_path, users_file):
    run = Run(tmp_path / "run")
    run.path.mkdir()
    run.lock_path.symlink_to(users_file)
    with pytest.raises(RunError, match="run.lock") as refused, run.lock():
        pass
    assert "\n" not in str(refused.value) and "symbolic link" in str(refused.value)
    assert users_file.read_text() == "three years of work\n"


@pytest.mark.parametrize("name", [n for n in RUN_FILES if n != "run.lock"])
def test_the_trainers_writes_never_go_through_a_linked_file(tmp_path, users_file, name):
    """Status, metrics, evals, config, generator ...: a link where a run file belongs is replaced or refused,
    never written through: the user's file stays byte for byte."""
    run = Run(tmp_path / "run")
    (run.path / name).parent.mkdir(parents=True, exist_ok=True)
    (run.path / name).symlink_to(users_file)
    for write in (lambda: run.write_status(state="running"), lambda: run.append_metrics({"step": 1}),
                  lambda: run.append_evals(1, []), lambda: run.write_bytes(run.path / name, b"new")):
        try:
            write()
        except (RunError, OSError) as e:
            assert "\n" not in str(e) and name.split("/")[-1] in str(e)
    assert users_file.read_text() == "three years of work\n"


@pytest.mark.parametrize("folder", RUN_FOLDERS + ["."])
def test_a_linked_folder_of_a_run_is_never_written_into(tmp_path, folder):
    """`samples/` linked elsewhere made the grids land there; the same for ckpt/, best/ and the run folder."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("mine")
    run = Run(tmp_path / "runs" / "run")
    run.path.parent.mkdir()
    if folder == ".":
        run.path.symlink_to(elsewhere)
    else:
        run.path.mkdir()
        (run.path / folder).symlink_to(elsewhere)
    target = run.path / ("" if folder == "." else folder) / "epoch_0001.png"
    with pytest.raises(UnsafeFileError) as refused:
        run.write_bytes(target, b"png")
    assert "symbolic link" in str(refused.value) and "\n" not in str(refused.value)
    assert sorted(p.name for p in elsewhere.iterdir()) == ["keep.txt"]


def test_atomic_write_within_a_folder_creates_the_missing_folders_as_real_ones(tmp_path):
    atomic_write_bytes(tmp_path / "run" / "a" / "b" / "f.bin", b"x", within=tmp_path / "run")
    assert (tmp_path / "run" / "a" / "b" / "f.bin").read_bytes() == b"x"
    assert not any(p.is_symlink() for p in (tmp_path / "run").rglob("*"))


def test_an_atomic_write_replaces_a_link_at_the_final_path_and_leaves_its_target(tmp_path, users_file):
    link = tmp_path / "status.json"
    link.symlink_to(users_file)
    atomic_write_json(link, {"state": "new"})
    assert not link.is_symlink() and json.loads(link.read_text()) == {"state": "new"}
    assert users_file.read_text() == "three years of work\n"


def test_an_append_never_goes_through_a_link(tmp_path, users_file):
    link = tmp_path / "metrics.csv"
    link.symlink_to(users_file)
    with pytest.raises(UnsafeFileError, match="metrics.csv"):
        append_bytes(link, b"1,2\n")
    assert users_file.read_text() == "three years of work\n"


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


@pytest.mark.parametrize("entry", ["run.lock", "samples", "ckpt", "status.json", "metrics.csv"])
def test_resume_of_a_run_with_a_linked_entry_refuses_and_changes_nothing(tiny_run_copy, tmp_path, users_file,
                                                                         capsys, entry):
    """`train --resume` with a link in the run: exit 2, one line naming it, the user's files as they were.
    (Before: a linked run.lock was overwritten with the trainer's pid; a linked samples/ received the grids.)"""
    from gan.cli import main

    run = Run(tiny_run_copy)
    elsewhere = tmp_path / "elsewhere"
    if (run.path / entry).is_dir():
        shutil.copytree(run.path / entry, elsewhere)
        shutil.rmtree(run.path / entry)
        (run.path / entry).symlink_to(elsewhere)
    else:
        (run.path / entry).unlink(missing_ok=True)
        (run.path / entry).symlink_to(users_file)
    before, users = snapshot(run.path), snapshot(users_file.parent)
    outside = snapshot(elsewhere) if elsewhere.exists() else {}
    capsys.readouterr()
    assert main(["train", "--resume", "--run-dir", str(run.path), "--steps", "8", "--quiet"]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert entry in line and "symbolic link" in line, line
    assert snapshot(run.path) == before and snapshot(users_file.parent) == users
    assert (snapshot(elsewhere) if elsewhere.exists() else {}) == outside


def test_training_into_a_run_folder_that_is_a_link_is_refused(tmp_path, capsys):
    from helpers import make_npz

    from gan.cli import main

    data = make_npz(tmp_path / "data.npz")
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    code = main(["train", "--data", str(data), "--preset", "tiny", "--steps", "1", "--batch-size", "16",
                 "--no-jit", "--quiet", "--run-dir", str(tmp_path / "link")])
    assert code == 2
    assert "symbolic link" in one_error_line(capsys.readouterr().err)
    assert list((tmp_path / "real").iterdir()) == []


# --- deleting a run ---------------------------------------------------------------------------------


def test_deleting_a_run_whose_folder_is_a_link_removes_the_link_only(tiny_run_copy, tmp_path):
    runs = tmp_path / "listed"
    runs.mkdir()
    (runs / "alias").symlink_to(tiny_run_copy)
    before = snapshot(tiny_run_copy)
    [alias] = list_runs(runs)
    delete_run(alias)
    assert not (runs / "alias").exists() and not (runs / "alias").is_symlink()
    assert snapshot(tiny_run_copy) == before


def test_deleting_a_run_never_follows_a_link_inside_it(tiny_run_copy, tmp_path, users_file):
    (tiny_run_copy / "samples" / "more").symlink_to(users_file.parent)
    delete_run(Run(tiny_run_copy))
    assert not tiny_run_copy.exists() and users_file.read_text() == "three years of work\n"


# --- stop signals the trainer, and only the trainer ------------------------------------------------

HOLD_LOCK = ("import sys, time\nfrom gan.runs import Run\nwith Run(sys.argv[1]).lock():\n"
             "    print('locked', flush=True)\n    time.sleep(120)\n")


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


def test_the_lock_names_the_trainer_by_pid_and_start_time(tmp_path):
    from gan.runs import process_start

    run = Run(tmp_path / "run")
    with run.lock():
        pid, start = run.lock_path.read_text().split()
        assert int(pid) == os.getpid()
        if process_start(os.getpid()) is not None:  # Linux: /proc/<pid>/stat
            assert int(start) == process_start(os.getpid())
        assert run.lock_holder() == os.getpid()


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


def test_append_bytes_writes_everything_in_one_piece(tmp_path):
    path = tmp_path / "log.csv"
    append_bytes(path, b"a\n")
    append_bytes(path, b"b" * 1_000_000 + b"\n")
    assert path.read_bytes() == b"a\n" + b"b" * 1_000_000 + b"\n"


def test_a_failed_append_of_a_fifo_names_it(tmp_path):
    os.mkfifo(tmp_path / "evals.csv")
    with pytest.raises(UnsafeFileError, match="FIFO") as refused:
        append_bytes(tmp_path / "evals.csv", b"x\n")
    assert refused.value.errno in (errno.EINVAL, errno.ENXIO, errno.ELOOP) and "evals.csv" in str(refused.value)


# --- metrics.csv: fast, and the same as before ------------------------------------------------------


def reference_metrics(run: Run):
    """Run.metrics() as it was: csv.DictReader rows through metric_rows(), then numbers."""
    import pandas as pd

    frame = pd.DataFrame(run.metric_rows(), columns=list(METRIC_COLUMNS))
    return frame.apply(pd.to_numeric, errors="coerce")


MESSY = [
    ",".join(METRIC_COLUMNS),
    "1,0.1,100.5,0.5,0.6,0.7,0.1,0.2,0.5,0.5,1000",
    "",  # a blank line
    "2,0.2,101.5,0.5,0.6,0.7,0.1,0.2,0.5,0.5",  # one field short
    "3,0.3,102.5,0.5,0.6,0.7,0.1,0.2,0.5,0.5,1000,extra",  # one too many
    "x,0.3,102.5,0.5,0.6,0.7,0.1,0.2,0.5,0.5,1000",  # not a step
    "-4,0.3,102.5,0.5,0.6,0.7,0.1,0.2,0.5,0.5,1000",
    "5,,102.5,nan,inf,-inf,abc,0.2,0.5,0.5,1000",  # empty and odd numbers
    '6,"0.6",103.5,0.5,0.6,0.7,0.1,0.2,0.5,0.5,1000',  # quoted
    "7,0.7,104.5,NA,null,None,0.1,0.2,0.5,0.5,1e3",
    "8,0.8,105.5,0.5,0.6,0.7,0.1,0.2,0.5,0.5,1000",
    "9,0.9,106",  # torn last line: no newline after it
]


@pytest.mark.parametrize("text", [
    "\n".join(MESSY),
    "\n".join(MESSY[:-1]) + "\n",
    "",
    ",".join(METRIC_COLUMNS) + "\n",
    "step,g_loss\n1,0.5\n2,0.25\n",  # an older, shorter layout
    "g_loss,step,epoch\n0.5,1,0.1\n",  # columns in another order
    "not,a,metrics,file\n1,2,3,4\n",
    "\ufeffstep,g_loss\n1,0.5\n",
])
def test_metrics_reads_as_it_always_did(tmp_path, text):
    import pandas as pd

    run = Run(tmp_path / "run")
    run.path.mkdir()
    run.metrics_path.write_text(text)
    pd.testing.assert_frame_equal(run.metrics(), reference_metrics(run), check_dtype=False)


def test_metrics_of_200_000_rows_reads_in_well_under_a_second(tmp_path):
    """The live view rereads metrics.csv every few seconds; csv.DictReader took 2 s for 200,000 rows."""
    run = Run(tmp_path / "run")
    run.path.mkdir()
    row = "{step},{epoch:.4f},1700000000.5,0.693,0.694,0.701,0.51,0.49,0.6,0.4,1234.5\n"
    run.metrics_path.write_text(",".join(METRIC_COLUMNS) + "\n" + "".join(row.format(step=s, epoch=s / 100)
                                                                           for s in range(1, 200_001)))
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        frame = run.metrics()
        best = min(best, time.perf_counter() - start)
    assert len(frame) == 200_000 and frame["step"].iloc[-1] == 200_000
    assert best < 0.6, f"{best:.2f} s"


def test_read_json_of_a_fifo_is_the_default_at_once(tmp_path):
    os.mkfifo(tmp_path / "status.json")
    assert read_json(tmp_path / "status.json", default="missing") == "missing"
