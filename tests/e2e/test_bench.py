"""`python -m gan bench`: each preset with and without XLA, beside the seeds' own step, one row at a time."""

from __future__ import annotations

import keras
import pytest

from gan.bench import REFERENCE


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the reference step is TensorFlow code")
def test_rows_cover_both_jit_settings_and_the_reference(capsys):
    """Through the command line, as a user runs it: `python -m gan bench --preset tiny ...`."""
    from gan.cli import main

    assert REFERENCE.is_file()
    assert main(["bench", "--preset", "tiny", "--steps", "1", "--batch-size", "16"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("backend tensorflow on ") and "train images/s" in lines[1]
    assert "| tiny | no | 16 |" in out and "| tiny | yes | 16 |" in out
    rows = [line.split("|")[1:-1] for line in lines[3:]]
    assert rows[0][0].strip().startswith("seeds' reference") and float(rows[0][5].replace(",", "")) > 0
    tiny = [row for row in rows if row[1].strip() == "tiny"]
    assert sorted(row[2].strip() for row in tiny) == ["no", "yes"]
    # Exactly one of the two is what training uses by default on this machine (no XLA on a CPU).
    defaults = [row for row in tiny if "default" in row[0]]
    assert len(defaults) == 1 and defaults[0][2].strip() == "no"
    assert all(float(row[5].replace(",", "")) > 0 for row in tiny)
