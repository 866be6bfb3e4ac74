"""Starting training from the app: run names, uploads (stored once), disk in demo mode, the start sequence of
a new run (`start_run`), and the one registry of trainers this server started."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

from gan.files import read_bytes
from gan.runs import Run, RunLockedError, list_runs, runs_root, start_training
from gan.security import NotAllowedError, allowed_data_roots
from studio import policy
from studio.policy import UNLIMITED, Limits

if TYPE_CHECKING:
    from gan.config import TrainConfig

RUN_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def validate_run_name(name: str) -> str | None:
    """None when `name` is a usable run name, else the reason it is not."""
    if not name:
        return "Give the run a name."
    if not RUN_NAME.match(name):
        return "Run names may use letters, digits, '-' and '_' only (at most 64 characters)."
    return None


MAX_UPLOAD_BYTES = 200 * 1024 * 1024  # keep in step with server.maxUploadSize in .streamlit/config.toml


MAX_UPLOAD_MEMBERS = 100_000


UPLOADS = ".uploads"  # under the runs folder: each uploaded dataset once, named by its content's hash


def store_upload(raw: bytes) -> tuple[Path, bool]:
    """Save an uploaded zip once, whichever runs train on it: (its path, whether it was new).

    A hundred runs of one 52 MB dataset used to hold a hundred copies of it.
    """
    import hashlib

    from gan.files import atomic_write_bytes

    path = runs_root() / UPLOADS / f"{hashlib.sha256(raw).hexdigest()[:32]}.zip"
    if path.is_file() and path.stat().st_size == len(raw):
        return path.resolve(), False
    atomic_write_bytes(path, raw)
    return path.resolve(), True


def disk_usage(folder: Path) -> int:
    """Bytes of the regular files under `folder` (links not followed)."""
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def free_disk(limits: Limits) -> list[str]:
    """Keep the runs folder under the demo's disk cap: delete the oldest runs nobody is training, then
    uploads no remaining run uses. Returns what was deleted; NotAllowedError when still over the cap."""
    from gan.runs import RunError, delete_run

    cap = limits.max_disk_mb
    if cap is None:
        return []
    root, budget, deleted = runs_root(), cap * 2**20 * 0.8, []  # 20% headroom for the run about to start
    for run in reversed(list_runs(root)):  # oldest first
        if disk_usage(root) <= budget:
            break
        with contextlib.suppress(RunError, OSError):
            delete_run(run)
            deleted.append(run.name)
    used_uploads = {run_data(run) for run in list_runs(root)}
    for upload in sorted((root / UPLOADS).glob("*.zip"), key=lambda p: p.stat().st_mtime):
        if str(upload.resolve()) not in used_uploads and (deleted or disk_usage(root) > budget):
            upload.unlink(missing_ok=True)
            deleted.append(upload.name)
    limits.check("max_disk_mb", round(disk_usage(root) / 2**20), " MB")
    return deleted


def run_data(run: Run) -> str | None:
    """The data source a run trained on (config.json's `data`), or None when its config is unreadable."""
    try:
        return run.config().data
    except (OSError, ValueError):
        return None


def check_upload(data: bytes, limits: Limits = UNLIMITED) -> int:
    """Refuse an uploaded zip that is too big, not a zip, or has no images; returns its image count.

    The general caps (MAX_UPLOAD_BYTES, MAX_UPLOAD_MEMBERS) always hold; `limits` (demo mode:
    studio.policy.limits()) adds its upload size and image count, raising NotAllowedError.
    gan.data enforces the rest (unsafe member names, zip bombs, oversized images) when it reads it.
    """
    import io
    import zipfile

    from gan.data import IMAGE_EXTENSIONS

    if len(data) > MAX_UPLOAD_BYTES:
        raise ValueError(f"the upload is {len(data) / 2**20:.0f} MB; the limit is {MAX_UPLOAD_BYTES // 2**20} MB")
    limits.check("max_upload_mb", round(len(data) / 2**20, 1), " MB")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, ValueError, EOFError):
        raise ValueError("the upload is not a valid .zip file") from None
    if len(names) > MAX_UPLOAD_MEMBERS:
        raise ValueError(f"the zip has {len(names):,} entries; the limit is {MAX_UPLOAD_MEMBERS:,}")
    images = [n for n in names if Path(n).suffix.lower() in IMAGE_EXTENSIONS]
    if not images:
        raise ValueError("the zip holds no images; expected <class>/<image>.png (or .jpg) entries")
    limits.check("max_images", len(images))
    return len(images)


def check_train_limits(config: TrainConfig, limits: Limits) -> None:
    """NotAllowedError when a new run asks for more than `limits` allow (epochs, images, steps)."""
    limits.check("max_epochs", config.epochs)
    if config.limit is not None:
        limits.check("max_images", config.limit)
    if limits.max_epochs is not None and config.steps is not None:
        raise NotAllowedError("this demo counts training in epochs; leave 'Stop after steps' empty")


@st.cache_resource
def _launches() -> tuple[threading.Lock, dict[str, tuple[subprocess.Popen, float]]]:
    """{run path: (process, launch time)} of every trainer this server started, shared by every
    session (browser tab), and the lock that makes check-then-start one step across sessions.

    A trainer takes its run's lock only after importing TensorFlow (seconds), so until then only
    this knows a training is starting; and a trainer that dies at once is seen here by its exit code.
    """
    return threading.Lock(), {}


@st.cache_resource
def _evaluation_lock() -> threading.Lock:
    """Held while an evaluation worker runs: one at a time per server, each takes all the CPU there is."""
    return threading.Lock()


@contextlib.contextmanager
def evaluation_slot(limits: Limits = UNLIMITED):
    """Hold the server's one evaluation slot for the block; NotAllowedError (one line) when another evaluation
    holds it, or when trainings already fill `limits.max_workers` (checked with the launches' lock held, so a
    training and an evaluation cannot both take the last slot)."""
    guard, _ = _launches()
    lock = _evaluation_lock()
    with guard:
        if not lock.acquire(blocking=False):
            raise NotAllowedError("another evaluation is running on this server; try again when it has finished")
        busy = active_trainings()
        if limits.max_workers is not None and len(busy) >= limits.max_workers:
            lock.release()
            raise NotAllowedError(f"this demo runs {limits.max_workers} training or evaluation at a time and "
                                  f"{busy[0]} is training now; evaluate when it has finished")
    try:
        yield
    finally:
        lock.release()


def launched(run: Run) -> subprocess.Popen | None:
    """The last trainer this server started for `run` (alive or not), or None."""
    return _launches()[1].get(str(run.path), (None, 0.0))[0]


def is_starting(run: Run) -> bool:
    """Started from this app, alive, and the trainer has written no status since its launch (it writes
    one only while holding the run's lock, so from then on the lock tells)."""
    process, launched_at = _launches()[1].get(str(run.path), (None, 0.0))
    return process is not None and process.poll() is None and (run.status().updated_at or 0.0) < launched_at


def launched_names(root: Path) -> list[str]:
    """Runs under `root` this server started, including those whose folder holds nothing readable yet."""
    return [Path(path).name for path in list(_launches()[1]) if Path(path).parent == Path(root)]


def forget(run: Run) -> None:
    """Drop a deleted run from the registry."""
    _launches()[1].pop(str(run.path), None)


def active_trainings(root: Path | None = None) -> list[str]:
    """Runs under `root` (default runs_root()) being trained now: a process holds the run's lock,
    or a process started from this app has not reached the point of taking it yet."""
    root = runs_root() if root is None else Path(root)
    names = {name for name in launched_names(root) if is_starting(Run(root / name))}
    if root.is_dir():
        names |= {p.name for p in root.iterdir() if p.is_dir() and Run(p).is_locked()}
    return sorted(names)


def check_training_slot(busy: list[str], limits: Limits) -> None:
    """NotAllowedError (naming the cap) when `busy` runs and a running evaluation already fill
    `limits.max_workers`: each is a process of ~0.7 GB beside the server (RELIABILITY.md, the memory budget)."""
    cap = limits.max_workers
    if cap is None or len(busy) + _evaluation_lock().locked() < cap:
        return
    if not busy:
        raise NotAllowedError(f"this demo runs {cap} training or evaluation at a time and an evaluation is "
                              "running now; try again when it has finished")
    shown = ", ".join(busy[:3]) + (", ..." if len(busy) > 3 else "")
    raise NotAllowedError(f"this demo trains at most {cap} run{'' if cap == 1 else 's'} at a time and "
                          f"{shown} {'is' if len(busy) == 1 else 'are'} training now; "
                          "try again when it has finished")


def launch_training(run: Run, args: list[str], limits: Limits = UNLIMITED) -> subprocess.Popen:
    """Start `python -m gan train` for `run` (gan.runs.start_training), unless the run is training
    already (RunLockedError) or `limits` allow no further training now (NotAllowedError)."""
    guard, launched = _launches()
    with guard:
        busy = active_trainings(run.path.parent)
        if run.name in busy:
            raise RunLockedError(f"run {run.name} is already being trained; stop it first")
        check_training_slot(busy, limits)
        # The trainer reads only inside the app's allowed data folders, the same ones (resolved here).
        roots = os.pathsep.join(str(r) for r in allowed_data_roots())
        process = start_training(run.path, args, env={"GAN_CONFINE_DATA": "1", "GAN_DATA_ROOTS": roots})
        launched[str(run.path)] = (process, time.time())
    return process


def launch_new_run(run: Run, config: TrainConfig, limits: Limits = UNLIMITED) -> subprocess.Popen:
    """Start a new run from a validated config: the one path from the Train page to the trainer is
    `python -m gan train --config <run>/launch.json` (the settings, as the form asked for them)."""
    from gan.files import atomic_write_json

    atomic_write_json(run.launch_path, dataclasses.asdict(config))
    return launch_training(run, ["--config", str(run.launch_path), "--quiet"], limits)


def check_data(source: str) -> str:
    """Decode a few images of `source` now, so a bad path fails here rather than in the trainer."""
    from gan.data import load_dataset

    data = load_dataset(source, limit=16, roots=allowed_data_roots())
    classes = ", ".join(data.class_names[:6]) + (", ..." if data.num_classes > 6 else "")
    return f"{data.num_classes} class(es): {classes}"


def log_tail(run: Run, lines: int = 8) -> str:
    """The end of the run's train.log (where a trainer that died early said why); "" when unreadable.

    Bounded and non-blocking like every read of a run file: a FIFO or link named train.log reads as nothing.
    """
    try:
        text = read_bytes(run.log_path, limit=8192).decode(errors="replace")
    except OSError:
        return ""
    kept = [line for line in text.replace("\r", "\n").splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


# --- a new run from the Train page's form ---------------------------------------------------------

CIFAR10, PATH, UPLOAD = "cifar10", "path", "upload"  # where a new run's images come from
ROOTS_HINT = ("The app reads training data only inside its allowed folders: {roots}. The owner sets them "
              "with GAN_DATA_ROOTS (colon-separated).")


class StartError(ValueError):
    """Why a new run did not start: one line for the page, and `hint` (a second line) where one helps."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


def start_run(name: str, settings: dict, source: str, path: str | None = None, upload: bytes | None = None) -> str:
    """Check everything about a new run, then start its trainer; returns what its data holds, in words.

    The cheap checks come first (name, settings, the demo's caps, a free training slot), the costly ones
    (disk, the data itself) last, so a refusal costs little. `settings` are TrainConfig.for_preset's
    keyword arguments; `source` is CIFAR10, PATH (`path`, inside the allowed data folders) or UPLOAD (the
    zip's bytes, stored once). StartError, one line, when it does not start: nothing of it stays behind.
    """
    from gan import security
    from gan.config import TrainConfig
    from studio.messages import friendly_message

    problem = validate_run_name(name)
    if problem:
        raise StartError(problem)
    run = Run(runs_root() / name)
    if run.path.exists():
        raise StartError(f"A run named '{name}' already exists: pick another name, or resume it under Runs.")
    if source == PATH and not (path or "").strip():
        raise StartError("Enter the path of a folder, .zip or .npz to train on.")
    if source == UPLOAD and upload is None:
        raise StartError("Choose a .zip file to upload first.")
    limits = policy.limits()
    try:  # TrainConfig validates every setting, before anything is saved
        config = TrainConfig.for_preset(**settings)
        check_train_limits(config, limits)
    except ValueError as e:
        raise StartError(f"Check the settings: {e}") from None
    try:  # refuse early, before an upload is saved; launching checks again, race-free
        check_training_slot(active_trainings(), limits)
    except NotAllowedError as e:
        raise StartError(f"Not started: {e}.") from None
    if source == PATH:
        if policy.demo_mode():  # the page does not offer it; a stale session state must not either
            raise StartError("This demo reads no paths on the server: upload a .zip instead.")
        try:
            path = security.check_data_source(path.strip())
        except NotAllowedError as e:
            roots = ", ".join(f"`{r}`" for r in security.allowed_data_roots())
            raise StartError(f"Cannot use that path: {e}.", hint=ROOTS_HINT.format(roots=roots)) from None
    upload_path, new_upload, summary = None, False, "CIFAR-10"
    try:
        free_disk(limits)  # demo mode: the oldest idle runs make room; refuses when nothing can
        if source == CIFAR10:
            from gan.data import cifar10_unavailable

            error = cifar10_unavailable()
            if error:
                raise error  # a DataError: friendly_message keeps its advice whole
            data = "cifar10"
        else:
            if source == UPLOAD:
                check_upload(upload, limits)
                upload_path, new_upload = store_upload(upload)  # once, however many runs use it
                path = str(upload_path)
            data = path
            summary = check_data(data)
        launch_new_run(run, dataclasses.replace(config, data=data), limits)
    except Exception as e:
        shutil.rmtree(run.path, ignore_errors=True)  # it did not exist before: anything there is ours
        if new_upload:  # refused: nothing of it stays on the server
            upload_path.unlink(missing_ok=True)
        raise StartError(f"Could not start: {friendly_message(e)}") from e
    return summary
