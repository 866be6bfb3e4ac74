"""Fixtures for the gan package's tests (tests/gan/). Those shared with tests/e2e (tiny_data, tiny_npz,
lambda_model, classifier_workspace, offline, ...) are in tests/conftest.py; plain helpers in helpers.py."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def users_file(tmp_path) -> Path:
    """A file of the user's, outside any run, that no run operation may change."""
    path = tmp_path / "users" / "thesis.txt"
    path.parent.mkdir()
    path.write_text("three years of work\n")
    return path
