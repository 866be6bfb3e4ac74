"""One run as the Train page shows it, and the rules of its Stop, Resume and Delete buttons.

The state of a run is pieced together from three places that each know part of it: status.json (what
the trainer last said), the registry of trainers this server started (studio.launch: a trainer that is
still importing TensorFlow, or one that died before writing anything) and train.log (the last words of
one that failed). `run_state` does that once, into a frozen `RunState`; the page only draws it. The
actions raise `Refused` (one line the page shows) instead of drawing anything themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

from gan.config import TrainConfig
from gan.runs import (
    CRASHED,
    FAILED,
    FINISHED,
    RUNNING,
    STOPPED,
    Run,
    RunError,
    RunLockedError,
    RunStatus,
    stop_training,
)
from gan.security import NotAllowedError
from studio import launch
from studio.policy import Limits

STARTING = "starting"  # launched from this app; the trainer has not said anything yet
RESUMABLE = (STOPPED, CRASHED, FAILED, FINISHED)


class Refused(RunError):
    """An action the run does not allow now; str(e) is one line for the page."""


class Busy(Refused):
    """Another process (a terminal's `python -m gan train`) trains the run: nothing is wrong, the page warns."""


@dataclass(frozen=True)
class ResumeLength:
    """How far Resume trains: a run counted in steps resumes to a step, any other to an epoch."""

    unit: str  # "step" or "epoch"
    default: int
    high: int  # the widget's maximum: the setting's bound, or the demo's epoch cap

    @property
    def flag(self) -> str:
        return f"--{self.unit}s"


@dataclass(frozen=True)
class RunState:
    """What the page shows about a run and which of its buttons work."""

    name: str
    state: str  # a gan.runs state (running, stopped, ...) or STARTING
    status: RunStatus
    error: str | None = None  # why it failed or crashed, when anything said so (not redacted yet)
    log_tail: str = ""  # a crashed run's last log lines, when it said nothing else
    can_resume: bool = False
    resume: ResumeLength | None = None  # None: Resume keeps the run's own length (or cannot resume)

    @property
    def can_stop(self) -> bool:
        return self.state in (RUNNING, STARTING)

    @property
    def can_delete(self) -> bool:
        return not self.can_stop

    @property
    def warming_up(self) -> bool:
        """Started, but no training step reported yet: loading the data, building and compiling the model.

        The trainer clears `imgs_per_s` when it starts, so a resumed run's old speed does not count.
        """
        return self.state == STARTING or (self.state == RUNNING and self.status.imgs_per_s is None)

    @property
    def progress(self) -> float | None:
        """The share of the planned steps done, or None before the trainer says how many it plans."""
        step, total = self.status.step, self.status.total_steps
        return None if step is None or not total else min(1.0, step / total)


def run_state(run: Run, limits: Limits) -> RunState:
    """The run's state from status.json, this server's launches and train.log, taken together.

    A trainer this app started that has not written its status yet is "starting"; one that exited with an
    error before it could write status.json has "failed", with its log's error line as the reason.
    """
    status = run.status()
    state, error = status.state, status.error
    process = launch.launched(run)
    if launch.is_starting(run):
        state = STARTING
    elif state != RUNNING and process is not None and process.poll() not in (None, 0):
        said = status.error or run.last_log_error()
        if said and state != FAILED:
            state, error = FAILED, said
    if state == CRASHED and not error:  # it may have said why where status.json could not
        error = run.last_log_error()
    if state not in (FAILED, CRASHED):
        error = None
    tail = launch.log_tail(run) if state == CRASHED and not error else ""
    config = _config(run)
    can_resume = run.checkpoint_path.is_file() and state in RESUMABLE
    if config is not None and config.steps and limits.max_epochs is not None:
        can_resume = False  # a run counted in steps cannot be held to the demo's epoch cap
    length = _resume_length(config, limits) if can_resume and config is not None else None
    return RunState(run.name, state, status, error, tail, can_resume, length)


def _config(run: Run) -> TrainConfig | None:
    try:
        return run.config() if run.exists() else None
    except (OSError, ValueError):
        return None


def _resume_length(config: TrainConfig, limits: Limits) -> ResumeLength:
    from gan.config import spec_of

    if config.steps:
        return ResumeLength("step", int(config.steps), int(spec_of("steps").high))
    high = limits.max_epochs or int(spec_of("epochs").high)
    return ResumeLength("epoch", min(int(config.epochs), high), high)


def stop(run: Run, state: RunState) -> str:
    """Stop a training run; returns what happened, in words. A trainer that has not taken its first step is
    simply ended (nothing to save); a training one checkpoints and exits (SIGTERM)."""
    if state.state == STARTING:
        process = launch.launched(run)
        if process is not None and process.poll() is None:
            process.terminate()
            return f"Cancelled {run.name} before its first step."
    if stop_training(run):
        return f"Stopping {run.name}: saving a checkpoint..."
    raise Refused("That run is not training.")


def resume(run: Run, state: RunState, until: int | None, limits: Limits) -> None:
    """Start the trainer again from the run's checkpoint, to step or epoch `until` (None: the run's own length).

    Refused (one line) when the run cannot resume, is training already, or the demo's caps forbid it.
    """
    if not state.can_resume:
        raise Refused(f"{run.name} cannot be resumed now.")
    args = ["--resume", "--quiet"]
    if until is not None and state.resume is not None:
        args += [state.resume.flag, str(int(until))]
    try:
        if until is not None and state.resume is not None and state.resume.unit == "epoch":
            limits.check("max_epochs", int(until))
        launch.launch_training(run, args, limits)  # checks the run lock and the demo cap, race-free
    except RunLockedError as e:
        raise Busy(f"Not resumed: {e}.") from None
    except (RunError, NotAllowedError) as e:  # the lock, the demo's caps, a link or FIFO where train.log belongs
        raise Refused(f"Not resumed: {e}.") from None


def delete(run: Run, state: RunState) -> None:
    """Remove the run's folder and forget it; Refused while it trains or when it is no run folder."""
    from gan.runs import delete_run

    if not state.can_delete:
        raise Refused(f"{run.name} is training: stop it before deleting it.")
    try:
        delete_run(run)
    except RunError as e:
        raise Refused(str(e)) from None
    launch.forget(run)

