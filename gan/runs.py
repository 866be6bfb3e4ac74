"""A run directory: the files the trainer writes and the app and CLI read (see DESIGN.md).

The trainer holds an exclusive `flock` on `run.lock` for as long as it lives. The kernel drops
that lock when the process dies, however it dies, so "is anyone training this run?" is
answered by the lock, never by a pid that may have been reused.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import io
import os
import signal
import subprocess
import sys
import time
import typing
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from gan.config import TrainConfig
from gan.files import REPO_ROOT, atomic_write_bytes, atomic_write_json, read_json, temp_files

if TYPE_CHECKING:
    import pandas as pd

RUNNING, STOPPED, FINISHED, FAILED, CRASHED = "running", "stopped", "finished", "failed", "stopped unexpectedly"

EVAL_COLUMNS = ("step", "metric", "value", "n", "reference", "extractor", "time")  # evals.csv, long format
METRIC_COLUMNS = (
    "step", "epoch", "time", "d_loss_real", "d_loss_fake", "g_loss",
    "d_real_mean", "d_fake_mean", "real_acc", "fake_acc", "imgs_per_s",
)


def runs_root(environ: Mapping[str, str] | None = None) -> Path:
    """Where the app writes runs: $GAN_RUNS_DIR, else runs/ in the project folder."""
    environ = os.environ if environ is None else environ
    return Path(environ.get("GAN_RUNS_DIR") or REPO_ROOT / "runs")


class Score(Protocol):
    """What evals.csv records of one measurement (gan.metrics.Result is one)."""

    metric: str
    value: float
    floor: float  # the same measurement on real images; nan where it has no meaning
    n: int
    reference: str
    extractor: str


@dataclass(frozen=True)
class RunStatus:
    """status.json, typed: what the trainer last said about the run. Every field but `state` may be unknown (None)."""

    state: str  # RUNNING, STOPPED, FINISHED, FAILED; Run.status() adds CRASHED and "new"
    step: int | None = None  # optimizer steps done
    total_steps: int | None = None  # steps the run is to train in all
    epoch: int | None = None  # whole epochs done (step // steps_per_epoch)
    steps_per_epoch: int | None = None
    pid: int | None = None  # the trainer's process while it runs; None once it has ended
    error: str | None = None  # one line: why the run failed
    started_at: float | None = None  # time.time() when this trainer started (or resumed) the run
    finished_at: float | None = None  # when it stopped or finished
    updated_at: float | None = None  # when status.json was last written
    backend: str | None = None  # the Keras backend it trains on: "tensorflow" or "jax"
    images: int | None = None  # training images (without the held-out ones)
    processes: int | None = None  # trainer processes working as one (--distribute)
    imgs_per_s: float | None = None  # training speed over the last log interval
    eta_s: float | None = None  # seconds left at that speed

    @classmethod
    def from_json(cls, obj: Any) -> RunStatus | None:
        """The status in a parsed status.json; None when it is not an object with a string `state`.

        The file may be hand-edited or corrupt: a value of the wrong type reads as None and an unknown
        key is ignored, so one bad field costs that field, not the app's view of the run.
        """
        if not isinstance(obj, dict) or not isinstance(obj.get("state"), str):
            return None
        return cls(**{name: _typed(obj.get(name), hint) for name, hint in STATUS_TYPES.items()})


def _typed(value: Any, hint: Any) -> Any:
    """`value` if it has the type `hint` names (`int | None`: an int), else None; an int serves for a float."""
    kind = (typing.get_args(hint) or (hint,))[0]
    if isinstance(value, bool):  # a bool is an int to Python, but `true` is no step count
        return None
    if kind is float and isinstance(value, int):
        return float(value)
    return value if isinstance(value, kind) else None


STATUS_TYPES = typing.get_type_hints(RunStatus)  # {field name: its type}, the keys status.json may hold


class RunError(ValueError):
    """A run directory used the wrong way (exists already, nothing to resume); one line for the user."""


class RunLockedError(RunError):
    """Another process is training this run."""


# What may already be in a folder a new run starts in: the app's launcher writes the settings it starts
# the trainer with (launch.json) and opens train.log first, and the trainer's own lock comes first.
# Training overwrites none of them, so a folder holding only them counts as empty.
LAUNCHER_FILES = frozenset({"train.log", "run.lock", "launch.json"})
MAX_PATH_BYTES = 4000  # below Linux's PATH_MAX (4096), leaving room for the files inside a run


class Run:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    @property
    def name(self) -> str:
        return self.path.name

    # The files of a run (docs/ARCHITECTURE.md): settings, then state, then what training produces.
    launch_path = property(lambda self: self.path / "launch.json")
    config_path = property(lambda self: self.path / "config.json")
    classes_path = property(lambda self: self.path / "classes.json")
    holdout_path = property(lambda self: self.path / "holdout.json")
    status_path = property(lambda self: self.path / "status.json")
    checkpoint_path = property(lambda self: self.path / "ckpt" / "latest.npz")
    lock_path = property(lambda self: self.path / "run.lock")
    log_path = property(lambda self: self.path / "train.log")
    metrics_path = property(lambda self: self.path / "metrics.csv")
    evals_path = property(lambda self: self.path / "evals.csv")
    best_path = property(lambda self: self.path / "best" / "best.json")
    samples_dir = property(lambda self: self.path / "samples")
    generator_path = property(lambda self: self.path / "generator.keras")
    best_generator_path = property(lambda self: self.path / "best" / "generator.keras")

    def held_out(self) -> list[int]:
        """Indices (into the run's data as loaded with its config) of the images it never trained on."""
        record = read_json(self.holdout_path, default=None)
        indices = record.get("indices") if isinstance(record, dict) else None
        return [int(i) for i in indices] if isinstance(indices, list) else []

    def exists(self) -> bool:
        return self.config_path.is_file()

    def foreign_entries(self) -> list[str]:
        """Names in the folder that a new run could clobber: everything but LAUNCHER_FILES."""
        try:
            return sorted(p.name for p in self.path.iterdir() if p.name not in LAUNCHER_FILES)
        except FileNotFoundError:
            return []

    def new_run_problem(self) -> str | None:
        """Why a new run may not start in this folder (it holds a run or other files), or None."""
        foreign = self.foreign_entries()
        if not foreign:
            return None
        if self.checkpoint_path.exists():
            return f"{self.path} already holds a run: pass --resume to continue it, or choose a new --run-dir"
        what = "a run" if self.exists() else f"other files ({', '.join(foreign[:3])})"
        return f"{self.path} already holds {what}: a new run needs a new or empty folder"

    def check_usable(self) -> None:
        """RunError (one line) when the path cannot hold a run: empty, a file, under a file, too long."""
        text = str(self.path)
        if not text.strip() or text.strip() == ".":
            raise RunError("--run-dir must name a folder for the run, not be empty or '.'")
        if len(os.fsencode(self.path.absolute())) > MAX_PATH_BYTES:
            raise RunError(f"--run-dir is too long ({len(text)} characters)")
        if any(len(os.fsencode(part)) > 255 for part in self.path.parts):
            raise RunError("--run-dir has a folder name longer than 255 bytes")
        if self.path.exists() and not self.path.is_dir():
            raise RunError(f"{self.path} is a file, not a folder")
        for folder in (self.path.absolute(), *self.path.absolute().parents):
            if folder.exists():
                if not folder.is_dir():
                    raise RunError(f"{folder} is a file, so {self.path} cannot be a folder")
                if not os.access(folder, os.W_OK | os.X_OK):
                    raise RunError(f"cannot write in {folder}: permission denied")
                break

    def config(self) -> TrainConfig:
        return TrainConfig.load(self.config_path)

    def class_names(self) -> list[str]:
        """classes.json's names; [] when it is missing or not a list of strings (it may be hand-edited)."""
        names = read_json(self.classes_path, default=[])
        return names if isinstance(names, list) and all(isinstance(n, str) for n in names) else []

    # --- status -----------------------------------------------------------------------------
    def status(self) -> RunStatus:
        """status.json, with a dead trainer's "running" reported as "stopped unexpectedly".

        A status.json that is not a JSON object with a state (hand-edited, corrupt) reads as no status
        at all: "stopped" for a run with a config, else "new" (or "failed", when train.log says why).
        """
        status = RunStatus.from_json(read_json(self.status_path, default=None))
        if status is None and not self.exists():
            error = self.last_log_error()  # a trainer that failed before writing anything said why in its log
            return RunStatus(FAILED, error=error) if error else RunStatus("new")
        status = status or RunStatus(STOPPED)
        if status.state == RUNNING and not self.is_locked():
            status = replace(status, state=CRASHED)
        return status

    def last_log_error(self) -> str | None:
        """Why the last trainer ended, when its last words in train.log were an "error: ..." line.

        Only the final line counts: an older error followed by a later trainer's output (one that
        was killed, say) is not the reason the run stopped this time.
        """
        try:
            with open(self.log_path, "rb") as f:
                f.seek(max(0, f.seek(0, 2) - 8192))
                text = f.read().decode(errors="replace")
        except OSError:
            return None
        lines = [line.strip() for line in text.replace("\r", "\n").splitlines() if line.strip()]
        last = lines[-1] if lines else ""
        return last[len("error:"):].strip() if last.startswith("error:") else None

    def write_status(self, **fields: Any) -> None:
        """Merge `fields` into status.json, atomically, stamping updated_at.

        Only RunStatus's fields: a misspelt name is a TypeError here, not a new key no reader knows.
        """
        unknown = sorted(set(fields) - STATUS_TYPES.keys())
        if unknown:
            raise TypeError(f"write_status() got unknown status fields: {', '.join(unknown)}")
        current = read_json(self.status_path, default={})
        current = current if isinstance(current, dict) else {}
        atomic_write_json(self.status_path, {**current, **fields, "updated_at": time.time()})

    # --- one writer ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, patience: float = 0.5) -> Iterator[None]:
        """Hold the run's lock for the body; RunLockedError if someone else holds it.

        `is_locked()` (every `status()` call, which the app makes once a second) takes the
        flock for a few microseconds to test it; `patience` retries ride over such a probe, so
        a trainer starting at that instant is not turned away. A trainer holds it for hours.
        """
        self.path.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            deadline = time.monotonic() + patience
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                        raise RunLockedError(f"run {self.name} is already being trained (pid {holder})") from None
                    time.sleep(0.01)
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            yield
        finally:
            os.close(fd)  # closing releases the flock

    def remove_stale_temp_files(self) -> list[Path]:
        """Delete the temp files a trainer killed mid-write left behind; call only while holding the lock.

        Only the lock holder writes these files (config, classes, status, metrics, generator,
        ckpt/, samples/), so while we hold it any temp file of theirs belongs to a dead writer.
        A checkpoint temp file of the seed preset is ~50 MB, so they add up over many kills.
        """
        stems = ("config", "classes", "status", "metrics", "generator")
        stale = [p for stem in stems for p in temp_files(self.path, stem)]
        stale += temp_files(self.checkpoint_path.parent) + temp_files(self.samples_dir)
        for path in stale:
            path.unlink(missing_ok=True)
        return stale

    def lock_holder(self) -> int | None:
        """The pid of the process holding the run's lock (a live trainer), or None."""
        try:
            text = self.lock_path.read_text().strip()
        except OSError:
            return None
        return int(text) if text.isdigit() and self.is_locked() else None

    def is_locked(self) -> bool:
        try:
            fd = os.open(self.lock_path, os.O_RDONLY)
        except FileNotFoundError:  # never trained, or the run was deleted under us
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    # --- metrics ------------------------------------------------------------------------------
    def append_metrics(self, row: dict) -> None:
        """Append one row; the header is written with the first. Append-only, one write call."""
        new = not self.metrics_path.exists() or self.metrics_path.stat().st_size == 0
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=METRIC_COLUMNS, extrasaction="ignore", lineterminator="\n")
        if new:
            writer.writeheader()
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) and k != "time" else v) for k, v in row.items()})
        with open(self.metrics_path, "a") as f:
            f.write(buffer.getvalue())
            f.flush()
            os.fsync(f.fileno())

    def metric_rows(self) -> list[dict]:
        """Complete rows of metrics.csv; a torn last line (a write cut by a crash) is dropped."""
        try:
            text = self.metrics_path.read_text()
        except OSError:
            return []
        lines = text.splitlines(keepends=True)
        if lines and not lines[-1].endswith("\n"):
            lines = lines[:-1]
        rows = list(csv.DictReader(lines))
        return [r for r in rows if None not in r.values() and None not in r and r.get("step", "").isdigit()]

    def truncate_metrics(self, last_step: int) -> None:
        """Drop rows past `last_step` (logged after the checkpoint we resume from), atomically."""
        rows = [r for r in self.metric_rows() if int(r["step"]) <= last_step]
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=METRIC_COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_bytes(self.metrics_path, buffer.getvalue().encode())

    def metrics(self):
        """metrics.csv as a pandas DataFrame of numbers (empty when there are none yet)."""
        import pandas as pd

        frame = pd.DataFrame(self.metric_rows(), columns=list(METRIC_COLUMNS))
        return frame.apply(pd.to_numeric, errors="coerce")

    # --- evals.csv: scores, one row each, and a `<metric>_floor` row beside each score that has a floor ---
    def append_evals(self, step: int, scores: Sequence[Score]) -> None:
        """Append `scores` (header once), in one write: a reader never sees half a measurement."""
        import math

        new = not self.evals_path.exists() or self.evals_path.stat().st_size == 0
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        if new:
            writer.writerow(EVAL_COLUMNS)
        now = f"{time.time():.3f}"
        for s in scores:
            writer.writerow([step, s.metric, f"{s.value:.6g}", s.n, s.reference, s.extractor, now])
            if math.isfinite(s.floor):
                writer.writerow([step, f"{s.metric}_floor", f"{s.floor:.6g}", s.n, s.reference, s.extractor, now])
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.evals_path, "a") as f:
            f.write(buffer.getvalue())
            f.flush()
            os.fsync(f.fileno())

    def evals(self) -> pd.DataFrame:
        """evals.csv with numeric step/value/n/time; empty (with its columns) when there is none.

        A last line still being appended, a foreign layout and rows without a number are dropped
        rather than failing whoever reads it (the app reads while the trainer writes).
        """
        import pandas as pd

        empty = pd.DataFrame(columns=list(EVAL_COLUMNS))
        try:
            text = self.evals_path.read_text()
        except (OSError, UnicodeDecodeError):
            return empty
        text = text[:text.rfind("\n") + 1]  # whole lines only
        try:
            frame = pd.read_csv(io.StringIO(text), dtype={"metric": str, "reference": str, "extractor": str})
        except Exception:  # empty or foreign file
            return empty
        if not {"step", "metric", "value"} <= set(frame.columns):
            return empty
        for column in EVAL_COLUMNS:
            if column not in frame:
                frame[column] = None
        for column in ("step", "value", "n", "time"):
            frame[column] = pd.to_numeric(frame[column], errors="coerce")
        return frame.dropna(subset=["step", "metric", "value"]).reset_index(drop=True)

    # --- sample grids: samples/epoch_<NNN>.png, one per epoch --------------------------------------
    def grid_path(self, epoch: int) -> Path:
        return self.samples_dir / f"epoch_{epoch:04d}.png"

    def sample_grids(self) -> list[Path]:
        return sorted(self.samples_dir.glob("epoch_*.png"), key=grid_epoch)


def grid_epoch(path: str | Path) -> int:
    """The epoch a sample grid shows, from its name (`grid_path`); -1 for a name of another form."""
    digits = Path(path).stem.removeprefix("epoch_")
    return int(digits) if digits.isdigit() else -1


RUN_MARKERS = ("config.json", "status.json", "train.log")  # any one makes a folder a run (maybe a failed one)


def list_runs(root: str | Path) -> list[Run]:
    """Runs under `root`, newest first, including runs that failed before writing their config."""
    root = Path(root)
    if not root.is_dir():
        return []

    def started(run: Run) -> float:
        times = [(run.path / m).stat().st_mtime for m in RUN_MARKERS if (run.path / m).is_file()]
        return min(times) if times else 0.0

    runs = [Run(p) for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")
            and any((p / m).is_file() for m in RUN_MARKERS)]
    return sorted(runs, key=started, reverse=True)


def delete_run(run: Run) -> None:
    """Remove a run folder and everything in it; RunLockedError while a trainer holds it."""
    import shutil

    if run.is_locked():
        raise RunLockedError(f"run {run.name} is being trained: stop it before deleting it")
    if not any((run.path / m).is_file() for m in RUN_MARKERS):
        raise RunError(f"{run.path} is not a run folder")
    shutil.rmtree(run.path)


def start_training(run_dir: str | Path, args: Sequence[str], env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start `python -m gan train --run-dir DIR ARGS` detached from this process.

    A new session keeps the trainer alive across Streamlit reruns and closed tabs; its output
    goes to the run's train.log.
    """
    run = Run(run_dir)
    if run.is_locked():
        raise RunLockedError(f"run {run.name} is already being trained")
    run.path.mkdir(parents=True, exist_ok=True)
    with open(run.log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "gan", "train", "--run-dir", str(run.path), *args],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            env={**os.environ, **(env or {})},
            cwd=REPO_ROOT,
        )


def stop_training(run: Run) -> bool:
    """Ask the trainer to checkpoint and exit (SIGTERM). False when nothing was running.

    Only the process that holds the run's lock is signalled: the pid in status.json may have
    been reused by another process since, and the lock file names its holder, which the kernel
    vouches for while the flock is held.
    """
    holder = run.lock_holder()
    if holder is None:
        return False
    try:
        os.kill(holder, signal.SIGTERM)
    except ProcessLookupError:
        return False
    return True
