"""A run directory: the files the trainer writes and the app and CLI read (docs/ARCHITECTURE.md, "The run folder").

The trainer holds an exclusive `flock` on `run.lock` for as long as it lives. The kernel drops
that lock when the process dies, however it dies, so "is anyone training this run?" is
answered by the lock, never by a pid that may have been reused. The lock names its holder by pid
and start time, so Stop signals the trainer and never a process that got its pid later.

No run file is trusted: whoever can write in a run folder may leave a link or a FIFO there. Run
files are read without following links or blocking (`gan.files.open_regular`), written only inside
the real run folder (`Run.write_bytes` and friends), and the trainer refuses a run whose entries
are not what they should be (`Run.check_entries`) before it touches any of them.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import io
import os
import signal
import stat
import subprocess
import sys
import time
import typing
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from gan.config import TrainConfig
from gan.errors import ConfigError
from gan.files import (
    REPO_ROOT,
    UnsafeFileError,
    append_bytes,
    atomic_write,
    atomic_write_bytes,
    atomic_write_json,
    describe_entry,
    make_folder,
    open_regular,
    read_bytes,
    read_json,
    read_text,
    temp_files,
)

if TYPE_CHECKING:
    from collections.abc import Callable

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
    pause_s: float | None = None  # seconds the last epoch end spent on its sample grid, checkpoint and scores

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

    # --- writing inside the run folder, and only there ---------------------------------------------
    def write(self, path: str | Path, write: Callable[[Path], None]) -> None:
        """`gan.files.atomic_write` of a file of this run: never into a link to somewhere else.

        The run folder and every folder down to `path` must be real folders (UnsafeFileError otherwise):
        a `samples/` that links elsewhere would put the grids there.
        """
        atomic_write(path, write, within=self.path)

    def write_bytes(self, path: str | Path, data: bytes) -> None:
        atomic_write_bytes(path, data, within=self.path)

    def write_json(self, path: str | Path, value: Any) -> None:
        atomic_write_json(path, value, within=self.path)

    def _append(self, path: Path, data: bytes) -> None:
        """Append to a file of this run whole or not at all (gan.files.append_bytes), in the real run folder."""
        make_folder(self.path, self.path)
        append_bytes(path, data)

    def check_entries(self) -> None:
        """RunError (one line naming it) when an entry of the run is not what the trainer writes there: a link,
        a FIFO or a device where a file belongs, a link or a file where a folder belongs.

        The trainer calls it before it reads or writes anything of a run, so a linked `run.lock` is not
        overwritten, a FIFO `ckpt/latest.npz` does not hang a resume, and a linked `samples/` gets no grid.
        """
        self.check_not_a_link()
        for folder in (self.path / sub for sub in RUN_FOLDERS):
            mode = _lstat_mode(folder)
            if mode is not None and not stat.S_ISDIR(mode):
                raise RunError(str(UnsafeFileError(folder, describe_entry(mode, folder=True))))
        for path in self.files():
            mode = _lstat_mode(path)
            if mode is not None and not stat.S_ISREG(mode):
                raise RunError(str(UnsafeFileError(path, describe_entry(mode))))

    def check_not_a_link(self) -> None:
        """RunError when the run folder itself is a symbolic link: its files would be written where it points."""
        if _is_link(self.path):
            raise RunError(f"{self.path} is a symbolic link: a run folder must be a real folder, not a link to one")

    def files(self) -> list[Path]:
        """The files the run folder holds by name (docs/ARCHITECTURE.md), present or not."""
        return [self.launch_path, self.config_path, self.classes_path, self.holdout_path, self.status_path,
                self.checkpoint_path, self.lock_path, self.log_path, self.metrics_path, self.evals_path,
                self.best_path, self.generator_path, self.best_generator_path]

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
        self.check_not_a_link()
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
        """config.json, validated; ConfigError (one line naming it) when it is missing, unreadable, a link or a FIFO."""
        try:
            text = read_text(self.config_path)
        except (OSError, UnicodeDecodeError) as e:
            reason = str(e) if isinstance(e, UnsafeFileError) else f"cannot read {self.config_path}: {e.strerror or e}"
            raise ConfigError(reason) from None
        return TrainConfig.from_json(text)

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
            text = read_bytes(self.log_path, limit=8192).decode(errors="replace")
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
        self.write_json(self.status_path, {**current, **fields, "updated_at": time.time()})

    # --- one writer ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, patience: float = 0.5) -> Iterator[None]:
        """Hold the run's lock for the body; RunLockedError if someone else holds it.

        `is_locked()` (every `status()` call, which the app makes once a second) takes the
        flock for a few microseconds to test it; `patience` retries ride over such a probe, so
        a trainer starting at that instant is not turned away. A trainer holds it for hours.
        """
        try:
            make_folder(self.path, self.path)
            fd = open_regular(self.lock_path, os.O_RDWR | os.O_CREAT)
        except UnsafeFileError as e:  # a link to a user's file would get our pid written over it
            raise RunError(str(e)) from None
        try:
            deadline = time.monotonic() + patience
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        words = os.pread(fd, 64, 0).decode(errors="replace").split()
                        holder = words[0] if words else "?"
                        raise RunLockedError(f"run {self.name} is already being trained (pid {holder})") from None
                    time.sleep(0.01)
            os.ftruncate(fd, 0)
            os.pwrite(fd, _lock_text(os.getpid()).encode(), 0)
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
        for folder in (self.checkpoint_path.parent, self.samples_dir):
            if not _is_link(folder):  # never reach through a link to delete someone's files
                stale += temp_files(folder)
        for path in stale:
            path.unlink(missing_ok=True)
        return stale

    def lock_record(self) -> tuple[int, int | None] | None:
        """(pid, start time) that run.lock names (`_lock_text`); None when it names nobody.

        The start time is None for a lock written where /proc is not (or by an older trainer), and -1
        for one that cannot be read as a start time (it then matches no process).
        """
        try:
            words = read_bytes(self.lock_path, limit=None)[:256].decode(errors="replace").split()
        except OSError:
            return None
        if not words or not words[0].isdigit():
            return None
        start = (int(words[1]) if words[1].isdigit() else -1) if len(words) > 1 else None
        return int(words[0]), start

    def lock_holder(self) -> int | None:
        """The pid of the trainer holding the run's lock, or None.

        Only while the lock is held, and only when the process with that pid is the one that wrote the
        lock (the same start time): a pid reused since is somebody else's process.
        """
        record = self.lock_record()
        if record is None or not self.is_locked() or not same_process(*record):
            return None
        return record[0]

    def is_locked(self) -> bool:
        try:
            fd = open_regular(self.lock_path)
        except OSError:  # never trained, deleted under us, or not a lock of ours (a link, a FIFO)
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
        """Append one row; the header is written with the first. Append-only, whole or not at all."""
        new = _is_empty(self.metrics_path)
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=METRIC_COLUMNS, extrasaction="ignore", lineterminator="\n")
        if new:
            writer.writeheader()
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) and k != "time" else v) for k, v in row.items()})
        self._append(self.metrics_path, buffer.getvalue().encode())

    def metric_rows(self) -> list[dict]:
        """Complete rows of metrics.csv; a torn last line (a write cut by a crash) is dropped."""
        try:
            text = read_text(self.metrics_path)
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
        self.write_bytes(self.metrics_path, buffer.getvalue().encode())

    def metrics(self) -> pd.DataFrame:
        """metrics.csv as a pandas DataFrame of numbers (empty when there are none yet).

        The live view rereads it every few seconds while it grows by a row per log interval: pandas'
        C parser reads 200,000 rows in ~0.1 s (csv.DictReader took 2 s). A file it cannot read as clean
        numbers (a torn or odd row, a foreign layout) is read row by row as `metric_rows` reads it.
        """
        import pandas as pd

        try:
            data = read_bytes(self.metrics_path)
        except OSError:
            data = b""
        frame = _clean_metrics(data[:data.rfind(b"\n") + 1])
        if frame is None:
            frame = pd.DataFrame(self.metric_rows(), columns=list(METRIC_COLUMNS)).apply(pd.to_numeric,
                                                                                          errors="coerce")
        return frame

    # --- evals.csv: scores, one row each, and a `<metric>_floor` row beside each score that has a floor ---
    def append_evals(self, step: int, scores: Sequence[Score]) -> None:
        """Append `scores` (header once), in one write: a reader never sees half a measurement."""
        import math

        new = _is_empty(self.evals_path)
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        if new:
            writer.writerow(EVAL_COLUMNS)
        now = f"{time.time():.3f}"
        for s in scores:
            writer.writerow([step, s.metric, f"{s.value:.6g}", s.n, s.reference, s.extractor, now])
            if math.isfinite(s.floor):
                writer.writerow([step, f"{s.metric}_floor", f"{s.floor:.6g}", s.n, s.reference, s.extractor, now])
        self._append(self.evals_path, buffer.getvalue().encode())

    def evals(self) -> pd.DataFrame:
        """evals.csv with numeric step/value/n/time; empty (with its columns) when there is none.

        A last line still being appended, a foreign layout and rows without a number are dropped
        rather than failing whoever reads it (the app reads while the trainer writes).
        """
        import pandas as pd

        empty = pd.DataFrame(columns=list(EVAL_COLUMNS))
        try:
            text = read_text(self.evals_path)
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
        """The grids, by epoch: regular files in a real samples/ folder only (a link is nobody's grid)."""
        if _is_link(self.samples_dir):
            return []
        return sorted((p for p in self.samples_dir.glob("epoch_*.png") if stat.S_ISREG(_lstat_mode(p) or 0)),
                      key=grid_epoch)


RUN_FOLDERS = ("ckpt", "samples", "best")  # the folders inside a run (docs/ARCHITECTURE.md)


def _lstat_mode(path: Path) -> int | None:
    """The mode of what is at `path` itself (a link is not followed); None when nothing is there."""
    try:
        return os.lstat(path).st_mode
    except OSError:
        return None


def _is_link(path: Path) -> bool:
    """Whether `path` is a symbolic link (False when nothing, or nothing reachable, is there)."""
    mode = _lstat_mode(path)
    return mode is not None and stat.S_ISLNK(mode)


def _is_empty(path: Path) -> bool:
    """Whether an append-only file has nothing yet (so the header goes first); links count as missing."""
    try:
        return os.lstat(path).st_size == 0
    except FileNotFoundError:
        return True


def _clean_metrics(data: bytes) -> pd.DataFrame | None:
    """metrics.csv's whole lines as numbers, read by pandas' C parser; None unless every row is clean:
    every field a number, every step a whole number >= 0 (what `append_metrics` writes), so that the
    result is exactly what reading row by row would give."""
    import pandas as pd

    if not data.strip() or data.startswith(b"\xef\xbb\xbf"):  # a BOM: pandas drops it, csv keeps it in `step`
        return None
    try:
        frame = pd.read_csv(io.BytesIO(data), engine="c", index_col=False)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError):  # EmptyDataError is a ValueError
        return None
    if "step" not in frame or frame.empty or frame.isna().any().any() or len(set(frame.columns)) != len(frame.columns):
        return None
    if not all(pd.api.types.is_numeric_dtype(t) and not pd.api.types.is_bool_dtype(t) for t in frame.dtypes):
        return None
    if not pd.api.types.is_integer_dtype(frame["step"]) or frame["step"].min() < 0:
        return None
    return frame.reindex(columns=list(METRIC_COLUMNS))


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
    """Remove a run folder and everything in it; RunLockedError while a trainer holds it.

    A run folder that is a symbolic link is removed as a link: what it points to is left alone.
    """
    import shutil

    if _is_link(run.path):  # a link to a run (or anything): remove the link, never what it points to
        run.path.unlink()
        return
    if run.is_locked():
        raise RunLockedError(f"run {run.name} is being trained: stop it before deleting it")
    if not any((run.path / m).is_file() for m in RUN_MARKERS):
        raise RunError(f"{run.path} is not a run folder")
    shutil.rmtree(run.path)  # links inside are removed, not followed


def start_training(run_dir: str | Path, args: Sequence[str], env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start `python -m gan train --run-dir DIR ARGS` detached from this process.

    A new session keeps the trainer alive across Streamlit reruns and closed tabs; its output
    goes to the run's train.log.
    """
    run = Run(run_dir)
    if run.is_locked():
        raise RunLockedError(f"run {run.name} is already being trained")
    try:
        make_folder(run.path, run.path)
        fd = open_regular(run.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)  # never a link's target
    except UnsafeFileError as e:
        raise RunError(str(e)) from None
    with os.fdopen(fd, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "gan", "train", "--run-dir", str(run.path), *args],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            env={**os.environ, **(env or {})},
            cwd=REPO_ROOT,
        )


def stop_training(run: Run) -> bool:
    """Ask the trainer to checkpoint and exit (SIGTERM). False when nothing was running.

    Only the trainer is signalled: the process that run.lock names, while the lock is held, and only
    if it started when the lock says (its pid may belong to another process by now: the trainer died
    and a child that inherited its lock still holds it, say). The pid in status.json is never used.
    """
    record = run.lock_record()
    if record is None or not run.is_locked():
        return False
    return _terminate(*record)


def _lock_text(pid: int) -> str:
    """What run.lock says about its holder: "<pid> <start time>", or just "<pid>" where /proc is not."""
    start = process_start(pid)
    return f"{pid}" if start is None else f"{pid} {start}"


def process_start(pid: int) -> int | None:
    """When process `pid` started, in clock ticks since boot (field 22 of /proc/<pid>/stat); None when it
    is gone or there is no /proc (not Linux). With the pid, it names one process for good: a pid is
    reused, a (pid, start time) pair is not."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read().decode(errors="replace")
    except OSError:
        return None
    fields = text[text.rfind(")") + 1:].split()  # the name (field 2) may hold spaces and parentheses
    return int(fields[19]) if len(fields) > 19 and fields[19].isdigit() else None  # fields[0] is field 3


def same_process(pid: int, start: int | None) -> bool:
    """Whether process `pid` is the one that started at `start` (`process_start`).

    Where /proc tells start times, a lock without one (written by an older trainer) names nobody for
    sure, so it is not trusted; where it does not (not Linux), the pid is all there is to go by.
    """
    now = process_start(pid)
    if now is None:
        return start is None and not os.path.isdir("/proc/self")
    return now == start


def _terminate(pid: int, start: int | None) -> bool:
    """SIGTERM to process `pid` if it is still the one that started at `start`; False otherwise.

    On Linux the process is pinned with a pidfd before its start time is checked, so it cannot exit
    and have its pid reused between the check and the signal.
    """
    pidfd = None
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return False
    except (AttributeError, OSError):  # not Linux, or a kernel before 5.3: check, then kill
        pidfd = None
    try:
        if not same_process(pid, start):
            return False
        if pidfd is not None:
            signal.pidfd_send_signal(pidfd, signal.SIGTERM)
        else:
            os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    finally:
        if pidfd is not None:
            os.close(pidfd)
    return True
