"""gan.files: atomic writes, appends, the umask, links and FIFOs, one place for Keras' datasets folder.

No run file is trusted: links, FIFOs and reused pids in a run folder (gan/runs.py, gan/files.py).

One friendly line, whole where it matters (issue 25, class 8): advice is never cut, an error is cut
at a word; skip messages name the file, not a BytesIO; Pillow's EXIF warning never reaches stderr;
Keras' dataset folder is read from one place that honours KERAS_HOME.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path

import pytest

from gan import data, security
from gan.files import (
    UnsafeFileError,
    append_bytes,
    atomic_write,
    atomic_write_bytes,
    atomic_write_json,
    keras_datasets_dir,
    read_json,
)
from gan.runs import (
    Run,
)


def test_a_data_path_written_another_way_is_the_same_source(tmp_path, monkeypatch):
    """`evaluate --data ../x.zip` for a run that recorded /abs/x.zip still finds the run's held-out images."""
    from gan.files import same_path

    data = tmp_path / "d" / "x.zip"
    data.parent.mkdir()
    data.write_bytes(b"")
    monkeypatch.chdir(tmp_path / "d")
    assert same_path("../d/x.zip", str(data)) and same_path("cifar10", "cifar10")
    assert not same_path("cifar10", str(data)) and not same_path("../d/y.zip", str(data))


def test_atomic_write_that_fails_keeps_the_old_file_and_no_temp(tmp_path):
    from gan.files import atomic_write, temp_files

    target = tmp_path / "latest.npz"
    target.write_bytes(b"old")

    def half_then_fail(tmp: Path) -> None:
        tmp.write_bytes(b"ne")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp))

    with pytest.raises(OSError):
        atomic_write(target, half_then_fail)
    assert target.read_bytes() == b"old" and not temp_files(tmp_path)


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


def test_read_json_of_a_fifo_is_the_default_at_once(tmp_path):
    os.mkfifo(tmp_path / "status.json")
    assert read_json(tmp_path / "status.json", default="missing") == "missing"


def test_keras_home_moves_the_dataset_folder_everywhere_it_is_read(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    assert keras_datasets_dir() == tmp_path / "kh" / "datasets"
    assert (tmp_path / "kh" / "datasets").resolve() in security.allowed_data_roots(
        {"HOME": str(tmp_path), "KERAS_HOME": str(tmp_path / "kh")}, cwd=tmp_path)
    assert f"{tmp_path / 'kh' / 'datasets'}/" in data.offline_help()
    monkeypatch.delenv("KERAS_HOME")
    assert keras_datasets_dir({"HOME": "/home/x"}) == Path("/home/x/.keras/datasets")
    assert "~/.keras/datasets/" in data.offline_help()
