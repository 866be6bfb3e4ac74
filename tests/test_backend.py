"""gan.backend: the backend's C++ start-up lines stay off stderr, and a failed import still explains itself."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from helpers import REPO

QUIET_IMPORT = "from gan.backend import import_keras_quietly; import_keras_quietly(); print('imported')"


def _run_with_fake_keras(tmp_path: Path, body: str) -> subprocess.CompletedProcess:
    """Run the quiet import against a stand-in `keras` package that writes to fd 2 as a C library would."""
    fake = tmp_path / "keras"
    fake.mkdir()
    (fake / "__init__.py").write_text("import os\nos.write(2, b'I0000 port.cc:153] chatter\\n')\n" + body)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)])}
    return subprocess.run([sys.executable, "-c", QUIET_IMPORT], env=env, capture_output=True, text=True, timeout=60)


def test_start_up_lines_written_to_fd_2_do_not_reach_stderr(tmp_path):
    result = _run_with_fake_keras(tmp_path, "")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "imported"
    assert result.stderr == ""


def test_a_failing_import_shows_what_it_printed(tmp_path):
    result = _run_with_fake_keras(tmp_path, "raise ImportError('no backend here')\n")
    assert result.returncode != 0
    assert "chatter" in result.stderr and "no backend here" in result.stderr


def test_the_cli_prints_one_error_line_from_a_fresh_process(tmp_path):
    """The real backend, unsilenced by the environment: bad input is still one line."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run([sys.executable, "-m", "gan", "info", str(tmp_path / "missing.keras")],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"error: no model file at {tmp_path / 'missing.keras'}"]
