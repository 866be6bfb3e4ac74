"""gan.sampling: bad model files, run folders whose files disagree, truncation.

Bad model and checkpoint files, systematically: a clear one-line error, exit 2, no code run, nothing written.

Model files go through `python -m gan sample --model X --out Y.png` and `python -m gan info X`
(in-process through `gan.cli.main`, once as a real subprocess); checkpoints through
`load_checkpoint` and `python -m gan train --resume`. Files that carry code (a Lambda layer, a
pickled object) are built so that running that code would create a marker file, and the test
first proves the marker appears when the file is loaded unsafely: so "no marker" means "no code
ran", not "the code was broken". The data loaders (gan.data) have their own tests.


Inputs that used to hang, exhaust memory or escape the allowed folders: each now ends, bounded, in one line.

Hangs are tested in a child process with a deadline, so a regression fails the test instead of stalling CI.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from helpers import REPO, files_under, run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gan.cli import main
from gan.sampling import ModelError, latents, load_generator

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


@settings(max_examples=30, deadline=None)
@given(t=st.floats(min_value=1e-30, max_value=5.0), n=st.integers(1, 64))
def test_truncation_always_finishes_within_bounds(t, n):
    z = latents(n, 16, seed=0, truncation=t)
    assert z.shape == (n, 16) and np.abs(z).max() <= np.float32(t)


@pytest.mark.parametrize("t", [float("inf"), 1e308, 10.5, 0.0, -1.0, float("nan")])
def test_truncation_outside_its_range_is_a_value_error_not_an_overflow(t):
    """1e308 and inf overflowed in numpy's uniform draw (exit 1, "unexpected OverflowError")."""
    with pytest.raises(ValueError, match="truncation must be in"):
        latents(4, 16, seed=0, truncation=t)


def test_truncation_keeps_the_truncated_normal_for_ordinary_values():
    z = latents(2000, 64, seed=0, truncation=1.0)
    # A normal truncated at 1 has std 0.538; a uniform on [-1, 1] would have 0.577.
    assert abs(z.std() - 0.538) < 0.01


def test_a_model_file_beside_its_classes_json_knows_its_class_names(tmp_path, capsys):
    from gan.cli import main

    model = next(p for p in (REPO / "checkpoints").glob("*/generator.keras") if (p.parent / "classes.json").is_file())
    out = tmp_path / "horses.npz"
    assert main(["sample", "--model", str(model), "-n", "6", "--class", "horse", "--out", str(out)]) == 0
    with np.load(out, allow_pickle=False) as saved:
        assert set(saved["labels"].tolist()) == {7}
