"""Bad model and checkpoint files, systematically: a clear one-line error, exit 2, no code run, nothing written.

Model files go through `python -m gan sample --model X --out Y.png` and `python -m gan info X`
(in-process through `gan.cli.main`, once as a real subprocess); checkpoints through
`load_checkpoint` and `python -m gan train --resume`. Files that carry code (a Lambda layer, a
pickled object) are built so that running that code would create a marker file, and the test
first proves the marker appears when the file is loaded unsafely: so "no marker" means "no code
ran", not "the code was broken". The data loaders (gan.data) have their own tests.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from helpers import REPO
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gan.checkpoint import CheckpointError, load_checkpoint, read_meta, save_checkpoint
from gan.cli import main
from gan.sampling import ModelError, load_generator

FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


# --- fixtures: a good generator, and hostile variants of it -------------------------------------


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """A valid tiny generator and discriminator, plus model files that are wrong in one way each."""
    import keras

    from gan.config import TrainConfig
    from gan.models import build_models

    base = tmp_path_factory.mktemp("models")
    generator, discriminator = build_models(TrainConfig.for_preset("tiny"), 0)
    generator.save(base / "generator.keras")
    discriminator.save(base / "discriminator.keras")
    z = keras.Input((100,))
    keras.Model(z, keras.layers.Dense(10)(z)).save(base / "not_an_image.keras")
    keras.Model(z, keras.layers.Reshape((2, 2, 25))(z)).save(base / "wrong_channels.keras")
    three = [keras.Input((100,)), keras.Input(()), keras.Input(())]
    keras.Model(three, keras.layers.Dense(3)(three[0])).save(base / "three_inputs.keras")
    return {p.stem: p for p in base.glob("*.keras")}


def marker_lambda(marker: Path):
    """A Python lambda whose bytecode creates `marker` when it runs (Keras serialises it as marshal'd code)."""
    return eval(f"lambda x: (open({str(marker)!r}, 'w').close(), x)[1]")  # noqa: S307 - building the bait


@pytest.fixture(scope="module")
def lambda_model(tmp_path_factory) -> tuple[Path, Path]:
    """(model file, marker): a generator-shaped model with a code-carrying Lambda layer."""
    import keras

    base = tmp_path_factory.mktemp("lambda")
    marker = base / "code-ran"
    z = keras.Input((100,))
    h = keras.layers.Lambda(marker_lambda(marker))(z)
    image = keras.layers.Reshape((32, 32, 3))(keras.layers.Dense(32 * 32 * 3, activation="tanh")(h))
    keras.Model(z, image).save(base / "lambda.keras")
    marker.unlink()  # building the model ran the lambda once
    return base / "lambda.keras", marker


def rewrite_config(source: Path, target: Path, edit) -> Path:
    """A copy of `source` whose config.json is `edit(config)`."""
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item)
            if item.filename == "config.json":
                data = json.dumps(edit(json.loads(data))).encode()
            zout.writestr(item, data)
    return target


def layer(config: dict, class_name: str) -> dict:
    return next(item for item in config["config"]["layers"] if item["class_name"] == class_name)


def run_cli(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) <= 1, err
    return code, err[0] if err else ""


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


# --- model files through the CLI ---------------------------------------------------------------


def hostile_models(models: dict[str, Path], lambda_model, tmp: Path) -> dict[str, tuple[Path, str]]:
    """name -> (file, words the error must contain)."""
    good = models["generator"]
    data = good.read_bytes()
    (tmp / "random.keras").write_bytes(np.random.default_rng(0).bytes(4096))
    (tmp / "empty.keras").write_bytes(b"")
    (tmp / "truncated.keras").write_bytes(data[: len(data) // 2])
    (tmp / "model.h5").write_bytes(data)
    lambda_path, marker = lambda_model

    def os_activation(config):
        layer(config, "Dense")["config"]["activation"] = {"module": "os", "class_name": "function",
                                                          "config": "system", "registered_name": None}
        return config

    def unsafe_switch(config):
        # CVE-2025-9906 shape: a config that calls keras.config.enable_unsafe_deserialization, then a Lambda.
        layer(config, "Lambda")["config"]["arguments"] = {
            "flag": {"module": "keras.config", "class_name": "function",
                     "config": "enable_unsafe_deserialization", "registered_name": None}}
        return config

    def get_file(config):
        layer(config, "Dense")["config"]["activation"] = {"module": "keras.utils", "class_name": "function",
                                                          "config": "get_file", "registered_name": None}
        return config

    return {
        "random bytes": (tmp / "random.keras", "cannot load"),
        "empty": (tmp / "empty.keras", "cannot load"),
        "truncated": (tmp / "truncated.keras", "cannot load"),
        "wrong suffix": (tmp / "model.h5", "expected a .keras"),
        "directory": (tmp, "not a run directory"),
        "lambda layer": (lambda_path, "Lambda"),
        "os.system activation": (rewrite_config(good, tmp / "os.keras", os_activation), "cannot load"),
        "enable unsafe deserialization": (rewrite_config(lambda_path, tmp / "unsafe.keras", unsafe_switch),
                                          "cannot load"),
        "get_file activation": (rewrite_config(good, tmp / "get_file.keras", get_file), "cannot load"),
        "three inputs": (models["three_inputs"], "not a generator"),
    }


CASES = ["random bytes", "empty", "truncated", "wrong suffix", "directory", "lambda layer", "os.system activation",
         "enable unsafe deserialization", "get_file activation", "three inputs"]


# `sample --model` with a directory is not a model-file case: directories go to `--run-dir`.
COMMAND_CASES = [(command, case) for command in ("sample", "info") for case in CASES
                 if (command, case) != ("sample", "directory")]


@pytest.mark.parametrize(("command", "case"), COMMAND_CASES)
def test_bad_model_file_exits_2_runs_no_code_writes_nothing(tmp_path, capsys, models, lambda_model, case, command):
    work = tmp_path / "work"
    work.mkdir()
    path, words = hostile_models(models, lambda_model, work)[case]
    before = files_under(tmp_path)
    out = tmp_path / "out.png"
    argv = ["sample", "--model", str(path), "--out", str(out)] if command == "sample" else ["info", str(path)]
    code, err = run_cli(capsys, *argv)
    assert code == 2 and err.startswith("error:") and words in err, err
    assert files_under(tmp_path) == before and not out.exists()
    assert not lambda_model[1].exists(), "code from the model file ran"


def test_the_lambda_bait_is_live(lambda_model, tmp_path):
    """Control: loaded unsafely, the Lambda model does run its code; so the marker test above means something."""
    import keras

    path, marker = lambda_model
    try:
        keras.saving.load_model(path, safe_mode=False)
        assert marker.exists()
    finally:
        marker.unlink(missing_ok=True)


# Model files that are valid Keras but break the generator contract (z (B, d) [+ int label (B,)] ->
# one (B, S, S, 3) image): refused by `load_generator` from their declared shapes, before any sampling.
@pytest.mark.parametrize("command", ["sample", "info"])
@pytest.mark.parametrize("name", ["discriminator", "not_an_image", "wrong_channels"])
def test_model_that_is_not_a_generator_exits_2(tmp_path, capsys, models, name, command):
    out = tmp_path / "out.png"
    argv = ["sample", "--model", str(models[name]), "--out", str(out)] if command == "sample" \
        else ["info", str(models[name])]
    try:
        code, err = run_cli(capsys, *argv)
    except Exception as e:  # an uncaught error is a traceback and exit 1 for the user
        pytest.fail(f"uncaught {type(e).__name__}: {e}")
    assert code == 2 and err.startswith("error:") and "not a generator" in err, err
    assert not out.exists()


@pytest.fixture(scope="module")
def mismatched_run(tmp_path_factory) -> Path:
    """A run folder whose files disagree: config.json says latent 64 and unconditional, classes.json
    names ten classes, generator.keras is a conditional tiny generator with latent 100 and 3 classes."""
    from gan.config import TrainConfig
    from gan.models import build_models

    run = tmp_path_factory.mktemp("mismatched")
    generator, _ = build_models(TrainConfig.for_preset("tiny", conditional=True), 3)
    generator.save(run / "generator.keras")
    (run / "config.json").write_text(TrainConfig.for_preset("tiny", latent_dim=64, conditional=False).to_json())
    (run / "classes.json").write_text(json.dumps([f"name{i}" for i in range(10)]))
    return run


@pytest.mark.parametrize(("extra", "code", "words"), [
    ([], 0, "wrote 6 images"),  # the generator file is the truth: its own latent size and classes
    (["--class", "2"], 0, "wrote 6 images"),
    (["--class", "5"], 2, "class must be in [0, 3)"),
    (["--class", "name1"], 2, "classes.json names 10 classes but its generator has 3"),
])
def test_run_whose_files_disagree_samples_from_the_generator_or_exits_2(tmp_path, capsys, mismatched_run,
                                                                         extra, code, words):
    out = tmp_path / "out.npz"
    assert main(["sample", "--run-dir", str(mismatched_run), "-n", "6", "--out", str(out), *extra]) == code
    captured = capsys.readouterr()
    assert words in (captured.out if code == 0 else captured.err)
    if code == 0:
        with np.load(out, allow_pickle=False) as arrays:
            assert arrays["images"].shape == (6, 32, 32, 3) and arrays["labels"].max() < 3
    else:
        assert len(captured.err.strip().splitlines()) == 1 and not out.exists()


@pytest.mark.parametrize("classes_json", ['{"a": 1}', "[1, 2, 3]", "not json", '"abc"'])
def test_a_hand_edited_classes_json_is_ignored_not_a_crash(tmp_path, capsys, mismatched_run, classes_json):
    from gan.runs import Run
    from gan.sampling import load_generator

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    for name in ("generator.keras", "config.json"):
        (run_dir / name).write_bytes((mismatched_run / name).read_bytes())
    (run_dir / "classes.json").write_text(classes_json)
    assert Run(run_dir).class_names() == []
    code, err = run_cli(capsys, "sample", "--run-dir", str(run_dir), "-n", "3", "--class", "cat",
                        "--out", str(tmp_path / "x.png"))
    assert code == 2 and err == "error: unknown class 'cat'"
    from studio.models import model_info

    info = model_info(Run(run_dir), load_generator(run_dir / "generator.keras"))
    assert (info.latent_dim, info.num_classes, info.class_names) == (100, 3, ["class 0", "class 1", "class 2"])


def test_real_process_refuses_the_lambda_model(tmp_path, lambda_model):
    """The same through `python -m gan sample`: exit 2, one line on stderr, no marker, no output."""
    path, marker = lambda_model
    out = tmp_path / "out.png"
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-m", "gan", "sample", "--model", str(path), "--out", str(out)],
                            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 2 and len(errors) == 1 and "Lambda" in errors[0], result.stderr[-2000:]
    assert not marker.exists() and not out.exists() and not list(tmp_path.iterdir())


@FUZZ
@given(data=st.binary(max_size=2048), zip_magic=st.booleans())
def test_fuzzed_bytes_are_a_model_error(tmp_path, data, zip_magic):
    path = tmp_path / "fuzz.keras"
    path.write_bytes((b"PK\x03\x04" if zip_magic else b"") + data)
    with pytest.raises(ModelError):
        load_generator(path)


@FUZZ
@given(fraction=st.floats(0.0, 0.999), flips=st.lists(st.tuples(st.floats(0.0, 0.999), st.integers(1, 255)),
                                                       max_size=3))
def test_cut_or_flipped_generator_loads_whole_or_is_a_model_error(tmp_path, models, fraction, flips):
    """Truncated anywhere: ModelError. Bytes flipped anywhere: ModelError, or (CRC-checked zip) a whole generator."""
    data = bytearray(models["generator"].read_bytes())
    path = tmp_path / "broken.keras"
    if flips:
        for where, xor in flips:
            data[int(where * len(data))] ^= xor
    else:
        data = data[: int(fraction * len(data))]
    path.write_bytes(bytes(data))
    try:
        model = load_generator(path)
    except ModelError as e:
        assert "\n" not in str(e)
        return
    assert model.outputs[0].shape[1:] == (32, 32, 3)


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
