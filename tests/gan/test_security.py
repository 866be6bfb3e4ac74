"""gan.security (data-path confinement, model-archive checks).

Memory an input can multiply: sizes a file declares are checked before anything is allocated (issue 25,
class 2). Every fixture is a tiny file built here that declares something huge; where memory is the point,
the load runs in a child process under an address-space cap, so a regression fails the test instead of
taking the machine down.

CIFAR-10 without the internet: a local copy named once (GAN_CIFAR10), a failed download remembered,
and the app suggesting only what it will accept.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import pytest
from helpers import REPO, cifar_like_zip
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gan import data, security
from gan.security import NotAllowedError, allowed_data_roots, check_data_path, check_data_source, check_model_file


# --- data roots and confinement ----------------------------------------------------------------
def test_default_roots_are_the_working_dir_the_keras_cache_and_the_runs(tmp_path):
    environ = {"HOME": str(tmp_path / "home"), "GAN_RUNS_DIR": str(tmp_path / "runs")}
    roots = allowed_data_roots(environ, cwd=tmp_path / "work")
    assert roots == ((tmp_path / "work").resolve(), (tmp_path / "home/.keras/datasets").resolve(),
                     (tmp_path / "runs").resolve())


def test_gan_data_roots_replaces_the_defaults_but_keeps_the_runs(tmp_path):
    """The runs folder stays: the app stores uploads in runs/.uploads, and its trainers read them from there."""
    runs = {"GAN_RUNS_DIR": str(tmp_path / "runs")}
    roots = os.pathsep.join([f"{tmp_path}/a", f"{tmp_path}/b/../a", "", f"{tmp_path}/c"])
    environ = {**runs, "GAN_DATA_ROOTS": roots}
    assert allowed_data_roots(environ, cwd=Path("/")) == ((tmp_path / "a").resolve(), (tmp_path / "c").resolve(),
                                                          (tmp_path / "runs").resolve())
    assert allowed_data_roots({**runs, "GAN_DATA_ROOTS": ""}) == ((tmp_path / "runs").resolve(),)  # only the runs
    upload = tmp_path / "runs" / ".uploads" / "9f.zip"
    upload.parent.mkdir(parents=True)
    upload.write_bytes(b"PK")
    assert check_data_path(upload, allowed_data_roots({**runs, "GAN_DATA_ROOTS": f"{tmp_path}/a"})) == upload.resolve()


@pytest.fixture
def tree(tmp_path) -> dict[str, Path]:
    """root/ (allowed) with data, a link out, a link loop; outside/ with a secret; root-evil/ beside root."""
    root, outside, evil = tmp_path / "root", tmp_path / "outside", tmp_path / "root-evil"
    for d in (root / "sub", outside, evil):
        d.mkdir(parents=True)
    (root / "sub" / "data.npz").write_bytes(b"x")
    (outside / "secret").write_text("s")
    (evil / "data.npz").write_bytes(b"x")
    (root / "link-out").symlink_to(outside)
    (root / "link-in").symlink_to(root / "sub")
    (outside / "link-to-root").symlink_to(root / "sub" / "data.npz")
    (root / "loop").symlink_to(root / "loop")
    return {"root": root.resolve(), "outside": outside, "evil": evil, "tmp": tmp_path}


def test_paths_inside_the_roots_resolve(tree):
    roots = (tree["root"],)
    data = tree["root"] / "sub" / "data.npz"
    assert check_data_path(data, roots) == data
    assert check_data_path(tree["root"] / "link-in" / "data.npz", roots) == data
    assert check_data_path(tree["outside"] / "link-to-root", roots) == data  # a link from outside into a root
    assert check_data_path(tree["root"], roots) == tree["root"]


@pytest.mark.parametrize(("relative", "words"), [
    ("outside/secret", "outside the allowed data folders"),
    ("root/link-out/secret", "outside the allowed data folders"),  # a symlink inside the root pointing out
    ("root/sub/../../outside/secret", "outside the allowed data folders"),
    ("root-evil/data.npz", "outside the allowed data folders"),  # a string prefix of the root is not inside it
    ("root/missing.npz", "no such file"),
    ("root/loop", "cannot be resolved"),
])
def test_paths_outside_the_roots_are_refused_in_one_line(tree, relative, words):
    with pytest.raises(NotAllowedError, match=words) as error:
        check_data_path(tree["tmp"] / relative, (tree["root"],))
    assert "\n" not in str(error.value)


def test_unusable_paths_are_refused(tree):
    for path in ("", "a\x00b"):
        with pytest.raises(NotAllowedError, match="not a usable path"):
            check_data_path(path, (tree["root"],))
    with pytest.raises(NotAllowedError, match="nowhere"):
        check_data_path(tree["root"] / "sub" / "data.npz", ())


def test_data_source_lets_cifar10_through_and_checks_paths(tree):
    assert check_data_source("cifar10", ()) == "cifar10"
    assert check_data_source(str(tree["root"] / "sub" / "data.npz"), (tree["root"],)).endswith("data.npz")
    with pytest.raises(NotAllowedError):
        check_data_source(str(tree["outside"] / "secret"), (tree["root"],))


PARTS = st.sampled_from(["..", ".", "sub", "data.npz", "link-out", "link-in", "secret", "outside", "root", "loop"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(PARTS, min_size=1, max_size=6))
def test_no_path_walks_out_of_a_root(tree, parts):
    """Whatever mix of `..`, links and names: accepted means really inside the root, refused means not."""
    candidate = tree["root"].joinpath(*parts)
    try:
        accepted = check_data_path(candidate, (tree["root"],))
    except NotAllowedError:
        try:
            real = Path(os.path.realpath(candidate, strict=True))
        except OSError:
            return  # missing, or a loop
        assert real != tree["root"] and tree["root"] not in real.parents
        return
    assert accepted == tree["root"] or tree["root"] in accepted.parents
    assert accepted == Path(os.path.realpath(candidate))


# --- model archives ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def generator_file(tmp_path_factory) -> Path:
    from gan.config import TrainConfig
    from gan.models import build_models

    path = tmp_path_factory.mktemp("model") / "generator.keras"
    build_models(TrainConfig.for_preset("tiny"), 0)[0].save(path)
    return path


def copy_with(source: Path, target: Path, **extra: bytes) -> Path:
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            if item.filename not in extra:
                zout.writestr(item, zin.read(item))
        for name, data in extra.items():
            zout.writestr(name, data)
    return target


def test_a_plain_keras_archive_passes(generator_file):
    assert check_model_file(generator_file) == generator_file


@pytest.mark.parametrize(("name", "extra", "words"), [
    ("extra.keras", {"payload.py": b"import os"}, "not a plain .keras model"),
    ("bomb.keras", {"config.json": b" " * (11 * 2**20)}, "unpacks to"),  # ~11 KB on disk, 11 MB of JSON
])
def test_odd_archives_are_refused(tmp_path, generator_file, name, extra, words):
    path = copy_with(generator_file, tmp_path / name, **extra)
    assert path.stat().st_size < 2 * generator_file.stat().st_size
    with pytest.raises(NotAllowedError, match=words):
        check_model_file(path)


def test_non_archives_are_refused(tmp_path):
    (tmp_path / "x.keras").write_bytes(b"not a zip")
    with pytest.raises(NotAllowedError, match="not a .keras model archive"):
        check_model_file(tmp_path / "x.keras")
    with pytest.raises(NotAllowedError):
        check_model_file(tmp_path / "missing.keras")


# --- .keras ------------------------------------------------------------------------------------
def test_a_small_keras_file_declaring_hundreds_of_megabytes_is_refused_from_its_directory(tmp_path):
    """Keras copies model.weights.h5 whole into memory before h5py reads it: ~2.6x the declared size."""
    path = tmp_path / "bomb.keras"
    declared = security.MAX_UNPACKED_BYTES + 2**20
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("config.json", json.dumps({"class_name": "Functional"}))
        zf.writestr("metadata.json", "{}")
        with zf.open("model.weights.h5", "w", force_zip64=True) as member:
            zeros = bytes(2**20)
            for _ in range(declared // 2**20):
                member.write(zeros)
    assert path.stat().st_size < 2 * 2**20
    with pytest.raises(security.NotAllowedError) as refused:
        security.check_model_file(path)
    assert f"over the {security.MAX_UNPACKED_BYTES // 2**20} MB limit" in str(refused.value)


def test_the_shipped_models_are_well_inside_the_keras_cap():
    for path in (REPO / "checkpoints").glob("*/*.keras"):
        assert security.check_model_file(path) == path
        assert sum(i.file_size for i in zipfile.ZipFile(path).infolist()) < security.MAX_UNPACKED_BYTES / 10


def test_the_app_accepts_the_local_copy_it_suggests(tmp_path, monkeypatch):
    (tmp_path / "elsewhere").mkdir()
    copy = cifar_like_zip(tmp_path / "elsewhere" / "cifar.zip")
    monkeypatch.setenv("GAN_DATA_ROOTS", str(tmp_path / "runs"))
    monkeypatch.setenv(data.CIFAR10_ENV, str(copy))
    assert copy.resolve() in allowed_data_roots()
    assert check_data_source(str(copy)) == str(copy.resolve())
