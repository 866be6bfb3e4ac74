"""gan.checkpoint: bad checkpoint files are a CheckpointError and change nothing.

Bad model and checkpoint files, systematically: a clear one-line error, exit 2, no code run, nothing written.

Checkpoints go through `load_checkpoint` and `python -m gan train --resume`; how files that carry code
are built, and why "no marker" means "no code ran", is in tests/gan/test_sampling.py's docstring.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from helpers import files_under, run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gan.checkpoint import CheckpointError, load_checkpoint, read_meta, save_checkpoint

FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


# --- checkpoints -------------------------------------------------------------------------------
class Explodes:
    """Pickles to a call that creates `marker`: unpickling it would run code."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def small_variables():
    import keras

    return [keras.Variable(np.zeros((3, 4), np.float32), name="kernel"),
            keras.Variable(np.zeros((4,), np.float32), name="bias"),
            keras.Variable(np.zeros((2,), np.int64), name="seed", dtype="int64")]


def write_npz(path: Path, **arrays) -> Path:
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    return path


def good_arrays() -> dict[str, np.ndarray]:
    return {"v00000": np.ones((3, 4), np.float32), "v00001": np.ones(4, np.float32), "v00002": np.ones(2, np.int64)}


def meta_of(**overrides) -> np.ndarray:
    return np.array(json.dumps({"step": 7, "shapes": [[3, 4], [4], [2]], **overrides}))


def huge_header_npz(path: Path) -> Path:
    """v00000 declares a (10^7, 10^6) float32 array (36 TiB) but holds 64 bytes."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (10**7, 10**6)})
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("v00000.npy", header.getvalue() + b"\0" * 64)
        for name, array in [("v00001", np.ones(4, np.float32)), ("v00002", np.ones(2, np.int64)), ("meta", meta_of())]:
            buffer = io.BytesIO()
            np.save(buffer, array)
            archive.writestr(f"{name}.npy", buffer.getvalue())
    return path


def bad_checkpoints(tmp: Path, marker: Path) -> dict[str, tuple[Path, str]]:
    good = good_arrays()
    bomb = np.array([Explodes(str(marker))] * 12, dtype=object).reshape(3, 4)
    return {
        "pickled object array": (write_npz(tmp / "pickle.npz", **{**good, "v00000": bomb}, meta=meta_of()), "object"),
        "pickled meta": (write_npz(tmp / "pickled_meta.npz", **good, meta=np.array([Explodes(str(marker))])),
                         "meta is not a JSON string"),
        "wrong shape": (write_npz(tmp / "shape.npz", **{**good, "v00000": np.ones((4, 3), np.float32)},
                                  meta=meta_of()), "shape (4, 3)"),
        "wrong count": (write_npz(tmp / "count.npz", v00000=good["v00000"], meta=meta_of(shapes=[[3, 4]])),
                        "1 variables, the model has 3"),
        "strings": (write_npz(tmp / "str.npz", **{**good, "v00001": np.array(list("abcd"))}, meta=meta_of()),
                    "not numbers"),
        "complex": (write_npz(tmp / "complex.npz", **{**good, "v00001": np.ones(4, np.complex64)}, meta=meta_of()),
                    "not numbers"),
        "huge declared array": (huge_header_npz(tmp / "huge.npz"), "shape (10000000, 1000000)"),
        "meta not json": (write_npz(tmp / "nojson.npz", **good, meta=np.array("{step")), "unreadable"),
        "meta a list": (write_npz(tmp / "list.npz", **good, meta=np.array("[7]")), "lacks a step"),
        "meta without step": (write_npz(tmp / "nostep.npz", **good, meta=np.array('{"shapes": [[3,4],[4],[2]]}')),
                              "lacks a step"),
        "no meta": (write_npz(tmp / "nometa.npz", **good), "unreadable"),
        "missing array": (write_npz(tmp / "missing.npz", v00000=good["v00000"], v00001=good["v00001"],
                                    meta=meta_of()), "unreadable"),
        "not a zip": (tmp / "garbage.npz", "unreadable"),
    }


@pytest.mark.parametrize("case", ["pickled object array", "pickled meta", "wrong shape", "wrong count", "strings",
                                  "complex", "huge declared array", "meta not json", "meta a list",
                                  "meta without step", "no meta", "missing array", "not a zip"])
def test_bad_checkpoint_is_a_checkpoint_error_and_changes_nothing(tmp_path, case):
    marker = tmp_path / "code-ran"
    (tmp_path / "garbage.npz").write_bytes(b"PK\x03\x04" + bytes(300))
    path, words = bad_checkpoints(tmp_path, marker)[case]
    variables = small_variables()
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(path, variables)
    assert words in str(error.value) and "\n" not in str(error.value)
    assert all(not np.asarray(v.numpy()).any() for v in variables), "a refused checkpoint changed a variable"
    assert not marker.exists(), "a pickle in the checkpoint was loaded"


def test_the_pickle_bait_is_live(tmp_path):
    """Control: with allow_pickle=True the object array does run code, so the test above means something."""
    marker = tmp_path / "code-ran"
    path, _ = bad_checkpoints(tmp_path, marker)["pickled object array"]
    with np.load(path, allow_pickle=True) as archive:
        archive["v00000"]
    assert marker.exists()


def test_good_checkpoint_round_trips(tmp_path):
    variables = small_variables()
    for variable, value in zip(variables, good_arrays().values(), strict=True):
        variable.assign(value)
    save_checkpoint(tmp_path / "c.npz", variables, {"step": 3, "epoch": 1})
    fresh = small_variables()
    assert load_checkpoint(tmp_path / "c.npz", fresh)["step"] == 3
    assert all(np.array_equal(a.numpy(), b.numpy()) for a, b in zip(variables, fresh, strict=True))


@FUZZ
@given(cut=st.floats(0.0, 0.999))
def test_truncated_checkpoint_is_a_checkpoint_error(tmp_path, cut):
    variables = small_variables()
    save_checkpoint(tmp_path / "c.npz", variables, {"step": 3})
    data = (tmp_path / "c.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: int(cut * len(data))])
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "cut.npz", variables)


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
                    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children,
                                                                                      max_size=4), max_leaves=12)


@FUZZ
@given(meta=JSON | st.fixed_dictionaries({"step": JSON, "shapes": JSON}))
def test_any_json_meta_is_read_or_refused(tmp_path, meta):
    """read_meta returns a dict with an int step and a list of shapes, or raises CheckpointError: nothing else."""
    path = write_npz(tmp_path / "m.npz", **good_arrays(), meta=np.array(json.dumps(meta)))
    try:
        result = read_meta(path)
    except CheckpointError:
        return
    assert isinstance(result["step"], int) and isinstance(result["shapes"], list)


DTYPES = ["float32", "float64", "int64", "int8", "bool", "complex64", "U3", "S2", "object", "f4,i4", "datetime64[s]"]


@FUZZ
@given(dtype=st.sampled_from(DTYPES), shape=st.lists(st.integers(0, 5), max_size=3).map(tuple))
def test_any_array_is_loaded_or_refused_whole(tmp_path, dtype, shape):
    """One array of any dtype/shape in place of the first variable: loaded only if numeric and the right shape."""
    array = np.zeros(shape, dtype=dtype) if dtype != "object" else np.full(shape, None, dtype=object)
    path = write_npz(tmp_path / "a.npz", **{**good_arrays(), "v00000": array}, meta=meta_of())
    variables = small_variables()
    if shape == (3, 4) and np.dtype(dtype).kind in "iuf":
        load_checkpoint(path, variables)
        assert np.asarray(variables[1].numpy()).all()
    else:
        with pytest.raises(CheckpointError):
            load_checkpoint(path, variables)
        assert all(not np.asarray(v.numpy()).any() for v in variables)


# --- checkpoints through `gan train --resume` ----------------------------------------------------
@pytest.fixture
def resumable_run(tmp_path) -> Path:
    """A run directory with a config but the checkpoint each test plants."""
    from gan.config import TrainConfig

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "data.npz", x=rng.integers(0, 256, (16, 32, 32, 3), dtype=np.uint8))
    run = tmp_path / "run"
    (run / "ckpt").mkdir(parents=True)
    config = TrainConfig.for_preset("tiny", data=str(tmp_path / "data.npz"), batch_size=8, steps=2, jit=False)
    (run / "config.json").write_text(config.to_json())
    return run


@pytest.mark.parametrize("case", ["pickled object array", "wrong count", "not a zip"])
def test_resume_from_a_bad_checkpoint_exits_2_and_writes_only_in_the_run(tmp_path, capsys, resumable_run, case):
    marker = tmp_path / "code-ran"
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "garbage.npz").write_bytes(b"PK\x03\x04" + bytes(300))
    source, _ = bad_checkpoints(sources, marker)[case]
    (resumable_run / "ckpt" / "latest.npz").write_bytes(source.read_bytes())
    outside = files_under(tmp_path) - files_under(resumable_run)
    code, err = run_cli(capsys, "train", "--run-dir", str(resumable_run), "--resume", "--quiet")
    assert code == 2 and "checkpoint" in err, err
    assert files_under(tmp_path) - files_under(resumable_run) == outside
    assert not marker.exists()


def test_resume_with_a_checkpoint_of_another_architecture_exits_2(capsys, resumable_run):
    """A checkpoint from a wider model (same variable count, other shapes) is refused, not half-loaded."""
    import keras

    from gan.config import TrainConfig
    from gan.model import GAN

    keras.utils.set_random_seed(0)
    wider = GAN(TrainConfig.for_preset("tiny", latent_dim=64), 1)
    save_checkpoint(resumable_run / "ckpt" / "latest.npz", wider.variables, {"step": 2})
    code, err = run_cli(capsys, "train", "--run-dir", str(resumable_run), "--resume", "--quiet")
    assert code == 2 and "the model expects" in err and "different config" in err, err
