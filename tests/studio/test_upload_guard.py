"""The upload limit Streamlit enforces (.streamlit/config.toml) is the app's (studio.launch, studio.policy).

Demo mode and data-path confinement in the app (studio.policy and gan.security wired into the pages), with AppTest.
"""

from __future__ import annotations

import tomllib

import pytest

pytest.importorskip("streamlit")
from helpers import REPO  # noqa: E402

from studio import launch  # noqa: E402
from studio.policy import DEMO_LIMITS  # noqa: E402


# --- configuration ------------------------------------------------------------------------------
def test_streamlit_upload_limit_matches_the_app():
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] * 2**20 == launch.MAX_UPLOAD_BYTES  # Streamlit counts MB as 2**20 bytes
    assert DEMO_LIMITS.max_upload_mb <= config["server"]["maxUploadSize"]
    assert config["client"]["showErrorDetails"] == "none"  # never a traceback
