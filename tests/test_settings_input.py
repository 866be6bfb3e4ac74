"""Settings from a --config file or a run's config.json that are wrong (issue 25, class 5): one line, exit 2,
and one run with a bad config.json never hides the other runs in the app."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gan.cli import main
from gan.config import ConfigError, TrainConfig


def small_npz(path: Path, count: int = 64) -> Path:
    rng = np.random.default_rng(0)
    np.savez(path, x=rng.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8), y=np.arange(count) % 2)
    return path


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("error:") and "unexpected" not in err[0]
    return err[0]


@pytest.mark.parametrize("key, value", [
    ("mixed_precision", "no"), ("conditional", "yes"), ("epochs", 1e308), ("epochs", None), ("batch_size", "64"),
    ("latent_dim", 12.5), ("d_steps", 100_000), ("seed", [1]), ("holdout", True), ("extra", "wide"), ("preset", 3),
])
def test_a_config_file_with_a_wrong_value_is_one_line_and_exit_2(tmp_path, capsys, key, value):
    """Six wrong types were an unexpected TypeError (exit 1); a truthy "no" trained in bfloat16."""
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"preset": "tiny", key: value}))
    assert main(["train", "--config", str(config), "--run-dir", str(tmp_path / "run")]) == 2
    assert key in one_line_error(capsys)
    assert not (tmp_path / "run" / "config.json").exists()


@pytest.mark.parametrize("holdout", [33, 1_000_000])
def test_a_holdout_larger_than_the_data_allows_is_refused_not_shrunk(tmp_path, capsys, holdout):
    """`"holdout": 1000000` on 64 images silently held out 32."""
    data = small_npz(tmp_path / "d.npz")
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"preset": "tiny", "data": str(data), "holdout": holdout, "steps": 1}))
    assert main(["train", "--config", str(config), "--run-dir", str(tmp_path / "run"), "--quiet"]) == 2
    line = one_line_error(capsys)
    assert "holdout" in line and "64" in line
    assert not (tmp_path / "run" / "config.json").exists()


def test_the_largest_holdout_the_data_allows_is_kept_whole():
    from gan.data import Dataset, holdout_split

    data = Dataset(np.zeros((64, 4, 4, 3), np.uint8), np.arange(64) % 2, ["a", "b"])
    kept, held = holdout_split(data, 32, seed=0)
    assert len(held) == 32 and len(kept.images) == 32


def test_a_config_json_with_null_epochs_is_a_config_error():
    """It was a TypeError from `None >= 1`, which the pages' `except ValueError` did not catch."""
    with pytest.raises(ConfigError, match="epochs"):
        TrainConfig.from_json('{"epochs": null}')


# --- a run whose config.json is wrong hides no other run (the Train page's table, the Evaluate page) ----------

@pytest.fixture
def runs_with_one_bad_config(tmp_path, monkeypatch) -> Path:
    """Two runs the app lists: `good`, and `bad`, whose config.json says `"epochs": null`."""
    from helpers import local_env

    runs = tmp_path / "runs"
    for name in ("good", "bad"):
        (runs / name).mkdir(parents=True)
        (runs / name / "status.json").write_text(json.dumps({"state": "finished", "step": 4}))
    config = json.loads(TrainConfig.for_preset("tiny").to_json())
    (runs / "good" / "config.json").write_text(json.dumps(config))
    (runs / "bad" / "config.json").write_text(json.dumps({**config, "epochs": None}))
    monkeypatch.setenv("GAN_RUNS_DIR", str(runs))
    monkeypatch.setenv("GAN_CHECKPOINTS_DIR", str(tmp_path / "checkpoints"))
    local_env(monkeypatch, tmp_path)
    return runs


@pytest.mark.parametrize("page", ["pages/train.py", "pages/evaluate.py"])
def test_one_run_with_a_bad_config_hides_no_other_run(runs_with_one_bad_config, page):
    """`"epochs": null` in one run's config.json blanked the whole runs table and ended the Evaluate page."""
    pytest.importorskip("streamlit")
    from helpers import REPO
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / page), default_timeout=60).run()
    assert not at.exception
    shown = "\n".join(str(frame.value.to_dict()) for frame in at.dataframe)
    assert "good" in shown and "bad" in shown, shown
