"""gan.runs: run folders, status, the lock, links inside a run, refused --run-dir and --resume.

Nothing lost, nobody in: real training processes killed at random, failing writes, one writer per run.

No run file is trusted: links, FIFOs and reused pids in a run folder (gan/runs.py, gan/files.py); the
classes, and how each is driven, are described in tests/e2e/test_run_files.py, which holds the tests that
need a child process.


Nothing a user made is overwritten: where a new run may start, what --resume may change, odd --run-dir paths.

Each case runs the real CLI in-process on a tiny .npz and checks the exit code, the single error
line and that the folder is byte for byte what it was.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time

import pytest
from helpers import REPO, last_error_line, one_error_line, snapshot, snapshot_with_links

from gan.cli import main
from gan.files import UnsafeFileError
from gan.runs import (
    FINISHED,
    METRIC_COLUMNS,
    RUNNING,
    Run,
    RunError,
    RunLockedError,
    RunStatus,
    delete_run,
    list_runs,
)

BATCH = 8


def test_refused_resume_leaves_the_old_status_alone(tmp_path, tiny_data, capsys):
    """A resume refused before it owns the run (here: a checkpoint it cannot read) must not mark the run failed."""
    run = Run(tmp_path / "run")
    run.path.mkdir()
    from gan.config import TrainConfig

    run.config_path.write_text(TrainConfig.for_preset("tiny", data=str(tiny_data), batch_size=BATCH, steps=4,
                                                      jit=False).to_json())
    run.write_status(state=FINISHED, pid=None, step=4)
    run.checkpoint_path.parent.mkdir()
    run.checkpoint_path.write_bytes(b"garbage")
    from gan.cli import main

    assert main(["train", "--run-dir", str(run.path), "--resume", "--quiet"]) == 2
    assert "unreadable checkpoint" in capsys.readouterr().err
    assert run.status().state == FINISHED


def test_lock_is_exclusive_within_and_across_processes(tmp_path):
    run = Run(tmp_path / "run")
    with run.lock():
        assert run.is_locked()
        with pytest.raises(RunLockedError, match=f"pid {os.getpid()}"), Run(run.path).lock():
            pass
    assert not run.is_locked()


def test_stale_temp_files_of_the_trainer_are_removed_and_no_others(tmp_path):
    """What a kill mid-write leaves (named as atomic_write names it) goes at the next lock; others' files stay."""
    run = Run(tmp_path / "run")
    (run.path / "ckpt").mkdir(parents=True)
    run.samples_dir.mkdir()
    stale = [run.path / "ckpt" / ".latest.k2j3h4.tmp.npz", run.path / ".generator.a1b2c3.tmp.keras",
             run.samples_dir / ".epoch_0003.zz9.tmp.png", run.path / ".status.q1.tmp.json",
             run.path / ".metrics.q2.tmp.csv"]
    kept = [run.path / ".evals.q3.tmp.csv", run.path / "ckpt" / "latest.npz", run.path / "notes.tmp"]
    for path in stale + kept:
        path.write_bytes(b"x")
    with run.lock():
        assert sorted(run.remove_stale_temp_files()) == sorted(stale)
    assert not any(p.exists() for p in stale) and all(p.exists() for p in kept)


def test_status_json_is_one_object_after_many_writes(tmp_path):
    run = Run(tmp_path / "run")
    for step in range(50):
        run.write_status(state=RUNNING, step=step)
    assert json.loads(run.status_path.read_text())["step"] == 49


# Every file of a run (docs/ARCHITECTURE.md) and how it is reached from a Run.
RUN_FILES = ["launch.json", "config.json", "classes.json", "status.json", "run.lock", "train.log", "metrics.csv",
             "evals.csv", "ckpt/latest.npz", "generator.keras", "best/best.json", "holdout.json"]


RUN_FOLDERS = ["ckpt", "samples", "best"]


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
    before, users = snapshot_with_links(run.path), snapshot_with_links(users_file.parent)
    outside = snapshot_with_links(elsewhere) if elsewhere.exists() else {}
    capsys.readouterr()
    assert main(["train", "--resume", "--run-dir", str(run.path), "--steps", "8", "--quiet"]) == 2
    line = last_error_line(capsys.readouterr().err)
    assert entry in line and "symbolic link" in line, line
    assert snapshot_with_links(run.path) == before and snapshot_with_links(users_file.parent) == users
    assert (snapshot_with_links(elsewhere) if elsewhere.exists() else {}) == outside


def test_training_into_a_run_folder_that_is_a_link_is_refused(tmp_path, capsys):
    from helpers import make_npz

    from gan.cli import main

    data = make_npz(tmp_path / "data.npz")
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    code = main(["train", "--data", str(data), "--preset", "tiny", "--steps", "1", "--batch-size", "16",
                 "--no-jit", "--quiet", "--run-dir", str(tmp_path / "link")])
    assert code == 2
    assert "symbolic link" in last_error_line(capsys.readouterr().err)
    assert list((tmp_path / "real").iterdir()) == []


# --- deleting a run ---------------------------------------------------------------------------------
def test_deleting_a_run_whose_folder_is_a_link_removes_the_link_only(tiny_run_copy, tmp_path):
    runs = tmp_path / "listed"
    runs.mkdir()
    (runs / "alias").symlink_to(tiny_run_copy)
    before = snapshot_with_links(tiny_run_copy)
    [alias] = list_runs(runs)
    delete_run(alias)
    assert not (runs / "alias").exists() and not (runs / "alias").is_symlink()
    assert snapshot_with_links(tiny_run_copy) == before


def test_deleting_a_run_never_follows_a_link_inside_it(tiny_run_copy, tmp_path, users_file):
    (tiny_run_copy / "samples" / "more").symlink_to(users_file.parent)
    delete_run(Run(tiny_run_copy))
    assert not tiny_run_copy.exists() and users_file.read_text() == "three years of work\n"


def test_the_lock_names_the_trainer_by_pid_and_start_time(tmp_path):
    from gan.runs import process_start

    run = Run(tmp_path / "run")
    with run.lock():
        pid, start = run.lock_path.read_text().split()
        assert int(pid) == os.getpid()
        if process_start(os.getpid()) is not None:  # Linux: /proc/<pid>/stat
            assert int(start) == process_start(os.getpid())
        assert run.lock_holder() == os.getpid()


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


TINY = ["--preset", "tiny", "--batch-size", "16", "--log-every", "2", "--no-jit", "--quiet"]


def test_a_copy_of_a_shipped_model_folder_is_refused_untouched(tmp_path, tiny_npz, capsys):
    shipped = next(p for p in (REPO / "checkpoints").iterdir() if (p / "generator.keras").is_file())
    copy = tmp_path / "copy"
    shutil.copytree(shipped, copy)
    before = snapshot(copy)
    assert main(["train", "--data", str(tiny_npz), "--steps", "1", "--run-dir", str(copy), *TINY]) == 2
    assert "already holds a run" in one_error_line(capsys)
    assert snapshot(copy) == before


def test_a_folder_of_the_users_files_is_refused_untouched(tmp_path, tiny_npz, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "holiday.jpg").write_bytes(b"not really a photo")
    assert main(["train", "--data", str(tiny_npz), "--steps", "1", "--run-dir", str(folder), *TINY]) == 2
    assert "holiday.jpg" in one_error_line(capsys)
    assert snapshot(folder) == {"holiday.jpg": hashlib.sha256(b"not really a photo").hexdigest()}


@pytest.mark.parametrize("case", ["empty", "dot", "file", "under a file", "too long", "long name"])
def test_run_dirs_that_cannot_hold_a_run_are_one_line(tmp_path, tiny_npz, capsys, monkeypatch, case):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("x")
    run_dir = {"empty": "", "dot": ".", "file": "a-file", "under a file": "a-file/run",
               "too long": "/".join(["d" * 200] * 25), "long name": "n" * 300}[case]
    before = snapshot(tmp_path)
    assert main(["train", "--data", str(tiny_npz), "--steps", "1", "--run-dir", run_dir, *TINY]) == 2
    one_error_line(capsys)
    assert snapshot(tmp_path) == before and sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


@pytest.mark.parametrize("seed", ["-1", str(2**31), str(10**30)])
def test_out_of_range_seeds_are_one_line(tmp_path, tiny_npz, capsys, seed):
    assert main(["train", "--data", str(tiny_npz), "--steps", "1", "--seed", seed, "--run-dir", str(tmp_path / "r"),
                 *TINY]) == 2
    assert "seed" in one_error_line(capsys)
    assert not (tmp_path / "r").exists()


def test_status_round_trips_and_merges_with_what_is_on_disk(tmp_path):
    run = Run(tmp_path / "run")
    run.path.mkdir()
    run.write_status(state=FINISHED, step=8, total_steps=8, epoch=2, pid=None, imgs_per_s=120.5, backend="jax")
    run.write_status(error="a note")  # merged: the fields written before stay
    status = run.status()
    assert status == RunStatus(FINISHED, step=8, total_steps=8, epoch=2, imgs_per_s=120.5, backend="jax",
                               error="a note", updated_at=status.updated_at)
    assert status.updated_at == pytest.approx(time.time(), abs=60)
    assert set(json.loads(run.status_path.read_text())) == {  # only the keys written, as before RunStatus
        "state", "step", "total_steps", "epoch", "pid", "imgs_per_s", "backend", "error", "updated_at"}


def test_an_unknown_status_field_is_refused_and_nothing_is_written(tmp_path):
    run = Run(tmp_path / "run")
    run.path.mkdir()
    run.write_status(state=RUNNING, step=1)
    before = run.status_path.read_bytes()
    with pytest.raises(TypeError, match="stpe"):
        run.write_status(stpe=2)
    assert run.status_path.read_bytes() == before


def test_hand_edited_status_values_read_as_unknown(tmp_path):
    """Wrong types cost their own field only; unknown keys are ignored; an int serves where a float is meant."""
    run = Run(tmp_path / "run")
    run.path.mkdir()
    run.status_path.write_text(json.dumps({
        "state": "finished", "step": "12", "epoch": True, "total_steps": 3.5, "pid": None, "error": 42,
        "imgs_per_s": 7, "eta_s": "soon", "backend": ["jax"], "images": 48, "comment": "edited by hand"}))
    assert run.status() == RunStatus(FINISHED, imgs_per_s=7.0, images=48)


def test_the_shipped_status_files_read_field_for_field():
    """checkpoints/*/status.json were written before RunStatus: every key they hold is a field and reads back."""
    paths = sorted((REPO / "checkpoints").glob("*/status.json"))
    assert paths
    for path in paths:
        raw = json.loads(path.read_text())
        status = Run(path.parent).status()
        assert {name: getattr(status, name) for name in raw} == raw, path
