"""Fixtures for the studio package's tests (tests/studio/). The app's environments shared with tests/pages and
tests/e2e (launch_env, started, demo_env, run_env, ...) are in tests/conftest.py."""

from __future__ import annotations

import pytest


@pytest.fixture
def spaced_runs(tmp_path, monkeypatch):
    """A runs folder whose name, and whose parents' names, hold spaces."""
    runs = tmp_path / "My Server Data" / "gan runs"
    runs.mkdir(parents=True)
    monkeypatch.setenv("GAN_RUNS_DIR", str(runs))
    return runs
