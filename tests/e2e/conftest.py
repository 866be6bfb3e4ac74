"""End-to-end tests: everything here is `slow`, by location.

A test belongs in tests/e2e/ when it starts a subprocess (`python -m gan ...`, a Streamlit server,
a process holding a lock), runs the real trainer for actual steps, drives a browser, kills a
process, or serves real HTTP. Every test collected under this folder gets the `slow` marker here,
so the quick loop is `python -m pytest -m "not slow"`; no test needs `@pytest.mark.slow` by hand.
"""

from __future__ import annotations

from pathlib import Path

import pytest

E2E = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if E2E in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.slow)
