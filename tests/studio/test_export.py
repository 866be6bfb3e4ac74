"""studio.export: the export cap.

What a newcomer meets in their second ten minutes (issue 24): how far a model trained, where a new score
shows, an export past its cap, and Real vs generated without real data.

Hand-written run folders where the page only reads files; the session's tiny trained run (conftest.py)
where a page samples a generator. Pages are driven headless with AppTest, each on its own (no Home).
"""

from __future__ import annotations

import pytest

pytest.importorskip("streamlit")
from studio import export  # noqa: E402


# --- B15: an export past the cap is clamped, and says so ------------------------------------------------
def test_within_clamps_and_says_what_was_used():
    assert export.within(5, 1000, "Images per class") == (5, None)
    assert export.within(5000, 1000, "Images per class") == (
        1000, "Images per class: asked for 5,000, the most is 1,000; used 1,000.")
    assert export.within(0, 1000, "Images") == (1, "Images: asked for 0, the least is 1; used 1.")


def test_within_takes_another_least():
    assert export.within(-3, 10, "Seed", least=0) == (0, "Seed: asked for -3, the least is 0; used 0.")
    assert export.within(0, 10, "Seed", least=0) == (0, None)
