"""studio.policy (demo-mode detection and caps) and gan.security (data-path confinement, model-archive checks)."""

from __future__ import annotations

import dataclasses
import os
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gan.security import NotAllowedError, allowed_data_roots, check_data_path, check_data_source, check_model_file
from studio.policy import DEMO_LIMITS, UNLIMITED, Limits, demo_mode, limits, on_streamlit_cloud

LOCAL = Path("/home/me/gan-studio")


# --- demo mode ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("environ", "source", "expected"), [
    ({}, LOCAL, False),
    ({"GAN_DEMO_MODE": "1"}, LOCAL, True),
    ({"GAN_DEMO_MODE": "true"}, LOCAL, True),
    ({"HOSTNAME": "streamlit"}, LOCAL, True),
    ({"STREAMLIT_SHARING_MODE": "streamlit"}, LOCAL, True),
    ({}, Path("/mount/src/gan-studio"), True),
    ({"GAN_DEMO_MODE": "0", "HOSTNAME": "streamlit"}, Path("/mount/src/gan-studio"), False),  # explicit wins
    ({"GAN_DEMO_MODE": "off"}, Path("/mount/src/gan-studio"), False),
    ({"GAN_DEMO_MODE": "maybe"}, LOCAL, False),  # not a yes/no value: falls back to detection
    ({"HOSTNAME": "laptop"}, Path("/mount/srcs/x"), False),  # a look-alike path is not the cloud
])
def test_demo_mode(environ, source, expected):
    assert demo_mode(environ, source) is expected
    assert limits(environ, source) == (DEMO_LIMITS if expected else UNLIMITED)


def test_cloud_detection_reads_only_what_it_is_given():
    assert not on_streamlit_cloud({}, LOCAL)
    assert on_streamlit_cloud({}, Path("/mount/src"))


def test_limits_are_frozen_and_explain_themselves():
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEMO_LIMITS.max_epochs = 100  # type: ignore[misc]
    assert DEMO_LIMITS.max_concurrent_trainings == 1
    DEMO_LIMITS.check("max_epochs", 5)
    with pytest.raises(NotAllowedError, match=r"^epochs is limited to 5 in this demo \(asked for 6\)$"):
        DEMO_LIMITS.check("max_epochs", 6)
    with pytest.raises(NotAllowedError, match="upload mb is limited to 50 MB"):
        DEMO_LIMITS.check("max_upload_mb", 51.5, " MB")
    UNLIMITED.check("max_images", 10**9)
    assert Limits(max_images=3) != UNLIMITED


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


@pytest.mark.parametrize(("text", "expected"), [
    ("write failed: Permission denied (/srv/app/runs/r1/status.json)",
     "write failed: Permission denied (status.json)"),
    ('File "/usr/lib/python3.11/zipfile.py", line 3', 'File "zipfile.py", line 3'),
    ("3 of 10 files could not be read in /mount/src/app/runs/r1/upload.zip; first: cls/a.png: bad",
     "3 of 10 files could not be read in upload.zip; first: cls/a.png: bad"),
    ("see https://example.com/a/b.png and cls/a/b.png", "see https://example.com/a/b.png and cls/a/b.png"),
    ("/tmp alone, ~/x/y and 50/50", "/tmp alone, ~/x/y and 50/50"),
])
def test_redact_paths_keeps_file_names_only(text, expected):
    from studio.policy import redact_paths

    assert redact_paths(text) == expected
