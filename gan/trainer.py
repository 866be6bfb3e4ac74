"""The training loop: epochs and steps, logging, sample grids, checkpoints, resume.

Backend-neutral: the compiled step comes from `gan.steps`. What a run leaves on disk is the
run-directory contract in DESIGN.md; every write is atomic or append-only, so a kill at any
moment leaves a run that resumes from its last checkpoint with no duplicated metric rows.
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
from gan.files import atomic_write, atomic_write_bytes, atomic_write_json, read_json
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
        with self.run.lock():
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
                if (read_json(self.run.status_path) or {}).get("pid") == os.getpid():
                    first = (str(e).strip().splitlines() or [""])[0][:200]
                    with contextlib.suppress(OSError):
                        self.run.write_status(state=FAILED, error=f"{type(e).__name__}: {first}", pid=None)
                raise

    def _train(self, data, resume: bool, processes, writer: bool) -> tuple[str, int]:
        import keras

        from gan.checkpoint import load_checkpoint, save_checkpoint
        from gan.distribute import replicas_for
        from gan.objective import GAN
        from gan.steps import make_train_step

        config, run = self.config, self.run
        replicas = replicas_for(config, processes=processes)  # one device unless --distribute; gan/distribute.py
        # Decided together: a process that raised alone would leave the others waiting forever.
        found = run.checkpoint_path.exists()
        problem = None if resume else run.new_run_problem()
        if replicas.any_process(problem is not None):
            raise RunError(problem or f"{run.path} is not empty on another process: a new run needs an empty folder")
        saved = run.generator_path.exists() or run.evals_path.exists()  # what a restart from 0 would destroy
        if resume and not replicas.any_process(found) and replicas.any_process(saved):
            raise RunError(f"cannot resume {run.path}: its checkpoint is missing, and starting again would "
                           "overwrite its trained generator; train a new run in a new folder")
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
                atomic_write_json(run.holdout_path, {"count": len(held), "of": len(data.images) + len(held),
                                                     "source": config.data, "seed": config.seed, "indices": held})
        if writer:
            atomic_write_bytes(run.config_path, config.to_json().encode())
            atomic_write_json(run.classes_path, list(data.class_names))

        if config.mixed_precision:
            keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
        keras.utils.set_random_seed(config.seed)
        per_step = config.d_steps * config.batch_size
        steps_per_epoch = max(1, len(data.images) // per_step)
        total = config.steps or config.epochs * steps_per_epoch
        with replicas.scope():
            gan = GAN(config, data.num_classes, total_steps=total)
        step = 0
        if resume and found:
            step = int(load_checkpoint(run.checkpoint_path, gan.variables)["step"])
            log.info("resumed %s at step %d", run.name, step)
        if writer:
            run.truncate_metrics(step)

        train_step = make_train_step(gan, data.images, data.labels, replicas)
        from gan.sampling import grid_layout

        grid_size, grid_columns = grid_layout(gan.num_classes)  # one column per class when conditional
        fixed_z = np.random.default_rng(config.seed).standard_normal((grid_size, config.latent_dim)).astype(np.float32)
        fixed_labels = np.arange(grid_size, dtype=np.int32) % max(gan.num_classes, 1)

        if writer:
            run.write_status(state=RUNNING, pid=os.getpid(), step=step, total_steps=total,
                             epoch=step // steps_per_epoch, steps_per_epoch=steps_per_epoch, error=None,
                             started_at=time.time(), backend=keras.backend.backend(), images=len(data.images),
                             processes=replicas.process_count)
        pending: list[dict] = []
        interval_start, interval_step = time.perf_counter(), step
        order, order_epoch = None, -1
        bar = self._progress_bar(total, step)

        def log_row() -> None:
            nonlocal interval_start, interval_step
            if not pending:
                return
            from keras import ops

            row = {k: float(np.mean(ops.convert_to_numpy(ops.stack([m[k] for m in pending])))) for k in pending[0]}
            pending.clear()
            bad = [k for k, v in row.items() if not math.isfinite(v)]
            if bad:
                raise TrainingError(f"non-finite {', '.join(bad)} at step {step}; the last good checkpoint is kept")
            elapsed = time.perf_counter() - interval_start
            rate = (step - interval_step) * per_step / max(elapsed, 1e-9)
            interval_start, interval_step = time.perf_counter(), step
            bar.set_postfix_str(f"D {row['d_loss_real'] + row['d_loss_fake']:.3f}  G {row['g_loss']:.3f}  "
                                f"{rate:,.0f} img/s", refresh=False)
            if writer:
                run.append_metrics({"step": step, "epoch": step / steps_per_epoch, "time": time.time(), **row,
                                    "imgs_per_s": rate})
                eta = (total - step) * per_step / max(rate, 1e-9)
                run.write_status(step=step, epoch=step // steps_per_epoch, imgs_per_s=rate, eta_s=eta)

        # Every process takes the same branches (sync and sampling are collective on several
        # processes), so nothing below may depend on what one process sees on its disk.
        saved_step, saved = step, found
        prepared_step = -1

        def prepare_sampler():
            """Sync the step's state into the Keras variables, then ready the sampler (once per step)."""
            nonlocal prepared_step
            train_step.sync()
            if prepared_step != step:
                gan.prepare_sampler()
                prepared_step = step
            return gan.sampler

        def save() -> None:
            nonlocal saved_step, saved
            if saved_step == step and saved:
                return
            saved_step, saved = step, True
            prepare_sampler()
            if writer:
                save_checkpoint(run.checkpoint_path, gan.variables, {"step": step})  # config.json has the rest
                atomic_write(run.generator_path, lambda tmp: gan.sampler.save(tmp))

        def save_grid(epoch: int) -> None:
            from gan.sampling import generate, make_grid, save_png

            images = generate(prepare_sampler(), fixed_z, fixed_labels if gan.num_classes else None)
            if writer:
                save_png(run.grid_path(epoch), make_grid(images, grid_columns))

        stopping = False
        with _StopFlag() as stop:
            while step < total and not stopping:
                epoch, position = divmod(step, steps_per_epoch)
                if epoch != order_epoch:
                    order, order_epoch = epoch_order(epoch, len(data.images), per_step, config.seed), epoch
                index = order[position * per_step:(position + 1) * per_step].reshape(config.d_steps, config.batch_size)
                noise = config.instance_noise * max(0.0, 1.0 - step / total)
                ema_decay = min(config.ema or 0.0, (1.0 + step) / (10.0 + step))
                pending.append(train_step(index, noise, ema_decay))
                step += 1
                bar.update(1)
                stopping = replicas.any_process(stop.set)  # SIGTERM may reach one process only
                epoch_done = step % steps_per_epoch == 0 or step == total
                if step % config.log_every == 0 or epoch_done or stopping:
                    log_row()
                if epoch_done:
                    save_grid(math.ceil(step / steps_per_epoch))
                if epoch_done or (config.checkpoint_every and step % config.checkpoint_every == 0):
                    log_row()
                    save()
                if config.eval_every and step % config.eval_every == 0:
                    self._evaluate(prepare_sampler(), data, step, writer)
            log_row()
            save()
        bar.close()
        state = FINISHED if step >= total else STOPPED
        if writer:
            run.write_status(state=state, step=step, pid=None, finished_at=time.time())
        return state, step

    def _evaluate(self, sampler, data, step: int, writer: bool) -> None:
        """A cheap in-training score for the live charts (gan.metrics.live_score); with keep_best, the
        generator that scored lowest so far is kept in best/ (best.json says when and how it scored)."""
        from gan.metrics import live_score

        value = live_score(self.run, sampler, data, step, self.config.eval_metric)
        if not (self.config.keep_best and writer and value is not None):
            return
        best = read_json(self.run.best_path, default=None)
        metric = self.config.eval_metric
        if isinstance(best, dict) and best.get("metric") == metric and best.get("value", 1e99) <= value:
            return
        atomic_write(self.run.best_generator_path, lambda tmp: sampler.save(tmp))
        atomic_write_json(self.run.best_path, {"step": step, "metric": self.config.eval_metric, "value": value})
        log.info("step %d: best %s so far (%.3f), kept in %s", step, self.config.eval_metric, value,
                 self.run.best_generator_path.parent.name)

    def _progress_bar(self, total: int, initial: int):
        from tqdm import tqdm

        return tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True,
                    disable=not (self.progress and sys.stderr.isatty()))
