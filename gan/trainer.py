"""The training loop: epochs and steps, logging, sample grids, checkpoints, resume.

Backend-neutral: the compiled step comes from `gan.steps`. What a run leaves on disk is the
run-directory contract in docs/ARCHITECTURE.md ("The run folder"); every write is atomic or append-only,
so a kill at any moment leaves a run that resumes from its last checkpoint with no duplicated metric rows.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gan.config import TrainConfig
from gan.errors import first_line
from gan.files import make_folder, read_json
from gan.runs import FAILED, FINISHED, RUNNING, STOPPED, Run, RunError

log = logging.getLogger("gan.trainer")


class TrainingError(RuntimeError):
    """Training cannot go on (non-finite loss, failed write); str(e) is one line for the user."""


class _StopFlag:
    """Set by SIGTERM/SIGINT; the loop checkpoints and exits at the next step boundary."""

    def __init__(self):
        self.set = False
        self._previous = {}

    def __enter__(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        self.set = True

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _saved_config(run: Run) -> TrainConfig | None:
    """The config the run was started (or last resumed) with, or None when it cannot be read."""
    try:
        return run.config()
    except (OSError, ValueError):
        return None


def epoch_order(epoch: int, n: int, per_step: int, seed: int) -> np.ndarray:
    """The image order of one epoch: a permutation seeded by (seed, epoch), so resume replays it.

    Tiny datasets smaller than one step are tiled so every step still gets full batches.
    """
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(n)
    while len(order) < per_step:
        order = np.concatenate([order, rng.permutation(n)])
    return order


class Trainer:
    def __init__(self, config: TrainConfig, run_dir: str | Path, progress: bool = True,
                 data_roots: Sequence[Path] | None = None):
        self.config = config
        self.run = Run(run_dir)
        self.progress = progress
        self.data_roots = data_roots  # the app's allowed data folders: files linking outside them are skipped
        self.held: np.ndarray | None = None  # indices of the images held out of training (config.holdout)

    def train(self, resume: bool = False) -> tuple[str, int]:
        """Train until done or stopped; returns (final state, step). Raises RunLockedError if busy.

        The data is loaded before anything is written, so a bad source leaves no run behind.
        In a multi-process run (gan.distribute.join_processes) every process trains, and only
        process 0 takes the lock and writes the run folder.
        """
        from gan.data import holdout_split, load_dataset
        from gan.distribute import join_processes

        config = self.config
        processes = join_processes(config)  # before anything touches a device
        data = load_dataset(config.data, config.image_size, config.limit, config.seed, roots=self.data_roots)
        self.held = None
        if config.holdout:  # test images for gan.metrics' CAS and augmentation gain: never trained on
            data, self.held = holdout_split(data, config.holdout, config.seed)
        if processes.index > 0:
            return self._train(data, resume, processes, writer=False)
        self.run.check_entries()  # a link or FIFO in the run: refused before even run.lock is touched
        with self.run.lock():
            self.run.check_entries()  # and again now that nobody else may change the run
            self.run.remove_stale_temp_files()  # left by a trainer killed mid-write
            try:
                return self._train(data, resume, processes, writer=True)
            except TrainingError as e:
                with contextlib.suppress(OSError):  # the disk may be what failed
                    self.run.write_status(state=FAILED, error=str(e), pid=None)
                raise
            except OSError as e:
                message = f"write failed: {e.strerror or e} ({e.filename or self.run.path})"
                with contextlib.suppress(OSError):
                    self.run.write_status(state=FAILED, error=message, pid=None)
                raise TrainingError(message) from None
            except Exception as e:  # a bug, an out-of-memory: let it surface, but record why the run ended
                # Only once the status is ours (our pid): a refused resume must not mark someone's run failed.
                if self.run.status().pid == os.getpid():
                    with contextlib.suppress(OSError):
                        self.run.write_status(state=FAILED, error=f"{type(e).__name__}: {first_line(e)}", pid=None)
                raise

    def _train(self, data, resume: bool, processes, writer: bool) -> tuple[str, int]:
        """Check the folder, build the GAN (from the checkpoint when resuming), then run the loop."""
        import keras

        from gan.backend import cpu_computes_bfloat16, has_gpu, set_random_seed
        from gan.checkpoint import load_checkpoint
        from gan.distribute import replicas_for
        from gan.model import GAN

        config, run = self.config, self.run
        replicas = replicas_for(config, processes=processes)  # one device unless --distribute; gan/distribute.py
        steps_per_epoch = max(1, len(data.images) // (config.d_steps * config.batch_size))
        total = config.steps or config.epochs * steps_per_epoch
        found = self._open_run(data, resume, replicas, writer, first_save=min(steps_per_epoch, total))
        if config.mixed_precision:
            if not has_gpu() and not cpu_computes_bfloat16():
                log.warning("this CPU has no bfloat16 arithmetic (AVX-512 BF16 or AMX), so --mixed-precision is "
                            "emulated and many times slower than float32; train without it")
            keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
        set_random_seed(config.seed)
        with replicas.scope():
            gan = GAN(config, data.num_classes, total_steps=total)
        step = 0
        if resume and found:
            step = int(load_checkpoint(run.checkpoint_path, gan.variables)["step"])
            log.info("resumed %s at step %d", run.name, step)
        if writer:
            run.truncate_metrics(step)
            run.write_status(state=RUNNING, pid=os.getpid(), step=step, total_steps=total,
                             epoch=step // steps_per_epoch, steps_per_epoch=steps_per_epoch, error=None,
                             started_at=time.time(), backend=keras.backend.backend(), images=len(data.images),
                             processes=replicas.process_count, imgs_per_s=None, eta_s=None,
                             pause_s=None)  # no speed until a step, no pause until an epoch end
        loop = _Loop(self, gan, data, replicas, writer, step, total, steps_per_epoch, saved=found)
        state, step = loop.train()
        if writer:
            run.write_status(state=state, step=step, pid=None, finished_at=time.time())
        return state, step

    def _open_run(self, data, resume: bool, replicas, writer: bool, first_save: int) -> bool:
        """Refuse what would lose a user's work, write config.json, classes.json and holdout.json for a
        new run; returns whether there is a checkpoint to resume from.

        Decided together: a process that raised alone would leave the others waiting forever.
        """
        config, run = self.config, self.run
        found = run.checkpoint_path.exists()
        problem = None if resume else run.new_run_problem()
        if replicas.any_process(problem is not None):
            raise RunError(problem or f"{run.path} is not empty on another process: a new run needs an empty folder")
        saved = run.generator_path.exists() or run.evals_path.exists()  # what a restart from 0 would destroy
        if resume and not replicas.any_process(found) and replicas.any_process(saved):
            raise RunError(f"cannot resume {run.path}: its checkpoint is missing, and starting again would "
                           "overwrite its trained generator; train a new run in a new folder")
        trained = self._checkpointed_step(first_save) if resume else None
        if resume and not replicas.any_process(found) and replicas.any_process(trained is not None):
            raise RunError(f"cannot resume {run.path}: ckpt/latest.npz and generator.keras are missing, though it "
                           f"trained to step {trained if trained is not None else '?'}; starting again at step 0 "
                           "would rewrite its history: train a new run in a new folder")
        if resume and not found:
            log.info("%s stopped before its first checkpoint: starting it from step 0", run.name)
        if resume and replicas.any_process(found) and replicas.any_process(not found):
            raise RunError(f"some processes cannot read {run.checkpoint_path}: the run folder must be on a "
                           "filesystem every process sees")
        if self.held is not None:
            held = [int(i) for i in self.held]
            if resume and found and run.held_out() != held:
                raise RunError(f"the data of {run.name} changed since it started: its held-out images differ")
            if writer and not (resume and found):
                run.write_json(run.holdout_path, {"count": len(held), "of": len(data.images) + len(held),
                                                     "source": config.data, "seed": config.seed, "indices": held})
        if writer:
            run.write_bytes(run.config_path, config.to_json().encode())
            run.write_json(run.classes_path, list(data.class_names))
        return found

    def _checkpointed_step(self, first_save: int) -> int | None:
        """The step the run's records reach when they show it was checkpointed since (so a missing checkpoint
        was deleted, not never written), else None.

        A trainer killed before its first checkpoint leaves status "running" and metric rows up to the step
        it reached, at most `first_save` (the first epoch end, the end of the run, or checkpoint_every under
        the old settings or the new); restarting it redoes those steps and loses nothing. Records past that,
        or a run that ended cleanly (it saves before it says "finished" or "stopped"), mean work to lose.
        """
        run = self.run
        configs = (self.config, _saved_config(run))
        saves = [first_save, *(c.checkpoint_every for c in configs if c is not None and c.checkpoint_every)]
        status = read_json(run.status_path, default=None)
        status = status if isinstance(status, dict) else {}
        steps = [int(r["step"]) for r in run.metric_rows()]
        step = status.get("step") if isinstance(status.get("step"), int) else 0
        reached = max([step, *steps])
        if reached > min(saves) or (reached > 0 and status.get("state") in (FINISHED, STOPPED)):
            return reached
        return None

    def _evaluate(self, sampler, data, step: int, writer: bool) -> None:
        """A cheap in-training score for the live charts (gan.metrics.live_score), appended to evals.csv;
        with keep_best, the generator that scored lowest so far is kept in best/ (best.json says when and
        how it scored)."""
        from gan.metrics import live_score

        start = time.perf_counter()
        results = live_score(sampler, data, step, self.config.eval_metric)
        if results is None:
            return
        score = results[0]
        if writer:
            self.run.append_evals(step, results)
        log.info("step %d: %s %.3f (floor %.3f, %d samples, %.1f s)", step, score.metric, score.value, score.floor,
                 score.n, time.perf_counter() - start)
        value = score.value
        if not (self.config.keep_best and writer):
            return
        best = read_json(self.run.best_path, default=None)
        metric = self.config.eval_metric
        if isinstance(best, dict) and best.get("metric") == metric and best.get("value", 1e99) <= value:
            return
        self.run.write(self.run.best_generator_path, lambda tmp: sampler.save(tmp))
        self.run.write_json(self.run.best_path, {"step": step, "metric": self.config.eval_metric, "value": value})
        log.info("step %d: best %s so far (%.3f), kept in %s", step, self.config.eval_metric, value,
                 self.run.best_generator_path.parent.name)

    def _progress_bar(self, total: int, initial: int):
        from tqdm import tqdm

        return tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True,
                    disable=not (self.progress and sys.stderr.isatty()))


class _Loop:
    """The training loop, per step, per log interval and per epoch, and what it keeps between steps.

    Every process of a multi-process run takes the same branches (syncing and sampling are collective),
    so nothing here may depend on what one process sees on its disk; only the `writer` writes.
    """

    def __init__(self, trainer: Trainer, gan, data, replicas, writer: bool, step: int, total: int,
                 steps_per_epoch: int, saved: bool):
        from gan.sampling import grid_layout
        from gan.steps import make_train_step

        self.trainer, self.gan, self.data, self.replicas, self.writer = trainer, gan, data, replicas, writer
        self.config, self.run = trainer.config, trainer.run
        self.step, self.total, self.steps_per_epoch = step, total, steps_per_epoch
        self.per_step = self.config.d_steps * self.config.batch_size
        self.train_step = make_train_step(gan, data.images, data.labels, replicas)
        self.pending: list[dict] = []  # per-step metrics since the last log row
        self.interval_start, self.interval_step = time.perf_counter(), step
        # Seconds of the current log interval spent on grids, checkpoints and scores, not training: images/s
        # counts training only (it read ~11 after each epoch end), and the ETA adds the pauses to come.
        self.paused, self.epoch_pause = 0.0, 0.0
        self.order, self.order_epoch = None, -1
        self.saved_step, self.saved, self.prepared_step = step, saved, -1
        grid_size, self.grid_columns = grid_layout(gan.num_classes)  # one column per class when conditional
        self.fixed_z = np.random.default_rng(self.config.seed).standard_normal(
            (grid_size, self.config.latent_dim)).astype(np.float32)
        self.fixed_labels = np.arange(grid_size, dtype=np.int32) % max(gan.num_classes, 1)
        self.bar = trainer._progress_bar(total, step)

    def train(self) -> tuple[str, int]:
        config, stopping = self.config, False
        with _StopFlag() as stop:
            while self.step < self.total and not stopping:
                self.pending.append(self.train_step(*self.next_batch()))
                self.step += 1
                self.bar.update(1)
                stopping = self.replicas.any_process(stop.set)  # SIGTERM may reach one process only
                epoch_done = self.step % self.steps_per_epoch == 0 or self.step == self.total
                if self.step % config.log_every == 0 or epoch_done or stopping:
                    self.log_row()
                pause_start = time.perf_counter()
                if epoch_done:
                    self.save_grid(math.ceil(self.step / self.steps_per_epoch))
                if epoch_done or (config.checkpoint_every and self.step % config.checkpoint_every == 0):
                    self.save()
                if config.eval_every and self.step % config.eval_every == 0:
                    self.trainer._evaluate(self.sampler(), self.data, self.step, self.writer)
                self.pause_done(time.perf_counter() - pause_start, epoch_done)
            self.log_row()
            self.save()
        self.bar.close()
        return (FINISHED if self.step >= self.total else STOPPED), self.step

    def next_batch(self) -> tuple[np.ndarray, float, float]:
        """(image indices of this step, instance-noise std, EMA decay): the data order replays on resume."""
        config, step = self.config, self.step
        epoch, position = divmod(step, self.steps_per_epoch)
        if epoch != self.order_epoch:
            self.order, self.order_epoch = epoch_order(epoch, len(self.data.images), self.per_step, config.seed), epoch
        index = self.order[position * self.per_step:(position + 1) * self.per_step]
        noise = config.instance_noise * max(0.0, 1.0 - step / self.total)
        ema_decay = min(config.ema or 0.0, (1.0 + step) / (10.0 + step))
        return index.reshape(config.d_steps, config.batch_size), noise, ema_decay

    def log_row(self) -> None:
        """Average the metrics since the last row into metrics.csv and status.json; stop on a non-finite loss."""
        if not self.pending:
            return
        from keras import ops

        pending, step = self.pending, self.step
        row = {k: float(np.mean(ops.convert_to_numpy(ops.stack([m[k] for m in pending])))) for k in pending[0]}
        pending.clear()
        bad = [k for k, v in row.items() if not math.isfinite(v)]
        if bad:
            raise TrainingError(f"non-finite {', '.join(bad)} at step {step}; the last good checkpoint is kept")
        elapsed = time.perf_counter() - self.interval_start - self.paused
        rate = (step - self.interval_step) * self.per_step / max(elapsed, 1e-9)
        self.interval_start, self.interval_step, self.paused = time.perf_counter(), step, 0.0
        self.bar.set_postfix_str(f"D {row['d_loss_real'] + row['d_loss_fake']:.3f}  G {row['g_loss']:.3f}  "
                                 f"{rate:,.0f} img/s", refresh=False)
        if self.writer:
            self.run.append_metrics({"step": step, "epoch": step / self.steps_per_epoch, "time": time.time(), **row,
                                     "imgs_per_s": rate})
            epoch_ends = math.ceil(self.total / self.steps_per_epoch) - step // self.steps_per_epoch
            eta = (self.total - step) * self.per_step / max(rate, 1e-9) + epoch_ends * self.epoch_pause
            self.run.write_status(step=step, epoch=step // self.steps_per_epoch, imgs_per_s=rate, eta_s=eta)

    def pause_done(self, seconds: float, epoch_end: bool) -> None:
        """Count `seconds` of saving and scoring out of the training speed; remember an epoch end's for the ETA."""
        self.paused += seconds
        if epoch_end:
            self.epoch_pause = seconds
            log.info("epoch %d: sample grid and checkpoint took %.1f s (not counted in images/s)",
                     math.ceil(self.step / self.steps_per_epoch), seconds)
            if self.writer:
                self.run.write_status(pause_s=seconds)

    def sampler(self):
        """The EMA generator, synced from the step's state and BatchNorm re-estimated (once per step)."""
        self.train_step.sync()
        if self.prepared_step != self.step:
            self.gan.prepare_sampler()
            self.prepared_step = self.step
        return self.gan.sampler

    def save(self) -> None:
        """Checkpoint and generator.keras, once per step (the end of the run may ask twice)."""
        from gan.checkpoint import save_checkpoint

        if self.saved_step == self.step and self.saved:
            return
        self.log_row()
        self.saved_step, self.saved = self.step, True
        sampler = self.sampler()
        if self.writer:
            make_folder(self.run.checkpoint_path.parent, self.run.path)  # ckpt/ is a real folder of the run
            save_checkpoint(self.run.checkpoint_path, self.gan.variables, {"step": self.step})  # config.json: the rest
            self.run.write(self.run.generator_path, lambda tmp: sampler.save(tmp))

    def save_grid(self, epoch: int) -> None:
        """The fixed-noise grid of this epoch: the same latents all run long, one column per class."""
        from gan.sampling import generate, make_grid, png_bytes

        images = generate(self.sampler(), self.fixed_z, self.fixed_labels if self.gan.num_classes else None)
        if self.writer:
            self.run.write_bytes(self.run.grid_path(epoch), png_bytes(make_grid(images, self.grid_columns)))
