"""Fixtures for the pages' tests (tests/pages/): the Streamlit app, driven headless with streamlit.testing's AppTest.

One tiny conditional run is trained once per session (4 steps, no XLA: tests/conftest.py's tiny_run) and
every page is rendered against it and against an empty app. No test here trains: `studio.launch.start_training`
is replaced by a recorder (tests/conftest.py's `launches`), so a refusal is proven by nothing being launched,
and an acceptance by the exact command line that would have been. A run "in training" is faked the way
the trainer makes one: status.json says running and the run's lock (flock on run.lock) is held, here by the
test itself.

Hand-written run folders where a page only reads files; the session's tiny trained run where a page samples a
generator. Pages are driven headless with AppTest, each on its own (no Home), where they can be.

The environments shared with tests/studio and tests/e2e (run_env, empty_env, demo_env, allowed, ...) are in
tests/conftest.py; the plain helpers (use_runs, page, texts, ...) in helpers.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import local_env


@pytest.fixture
def demo_run_env(tiny_run, demo_env, monkeypatch) -> Path:
    """Demo mode on, with the tiny trained run as the only model."""
    monkeypatch.setenv("GAN_RUNS_DIR", str(tiny_run.parent))
    return tiny_run


@pytest.fixture
def tiny_env(tiny_run, tmp_path, monkeypatch) -> Path:
    """The session's tiny run (3 classes) as the app's only model; read, never written."""
    monkeypatch.setenv("GAN_RUNS_DIR", str(tiny_run.parent))
    monkeypatch.setenv("GAN_CHECKPOINTS_DIR", str(tmp_path / "checkpoints"))
    local_env(monkeypatch, tmp_path)
    return tiny_run
