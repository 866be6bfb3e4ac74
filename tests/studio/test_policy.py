"""studio.policy: demo-mode detection, limits and path redaction.

Demo mode's one redaction rule (`studio.policy.redact_paths`), and the one place it is applied to
everything a page draws (`studio.messages.install_redaction`, tables included). Issue 25, class 8.

studio.policy (demo-mode detection and caps) and gan.security (data-path confinement, model-archive checks).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from gan.files import REPO_ROOT
from gan.security import NotAllowedError
from studio.policy import DEMO_LIMITS, UNLIMITED, Limits, demo_mode, limits, on_streamlit_cloud, redact_paths


@pytest.mark.parametrize(("text", "shown"), [
    ("path:/srv/secret/data.zip is not a zip", "path:data.zip is not a zip"),  # a path right after a colon
    ("data=/srv/a/b.npz", "data=b.npz"),
    ("open file:///srv/secret/x.png", "open file://x.png"),
    ("(/srv/a/b/status.json)", "(status.json)"),
    ('File "/usr/lib/python3/site-packages/PIL/Image.py", line 3', 'File "Image.py", line 3'),
])
def test_absolute_paths_are_cut_to_their_last_part(text, shown):
    assert redact_paths(text) == shown


@pytest.mark.parametrize("text", [
    "see https://example.com/a/b/c.png", "http://localhost:8501/media/ab/cd.png", "docs/ARCHITECTURE.md",
    "~/.keras/datasets/", "3/4 done, 1/2 left", "a/b",
])
def test_urls_and_relative_names_are_left_alone(text):
    assert redact_paths(text) == text


def test_the_servers_own_folders_go_whatever_their_names_hold(spaced_runs):
    text = f"cannot write {spaced_runs}/run 1/status.json: Permission denied"
    assert redact_paths(text) == "cannot write status.json: Permission denied"
    two = f"{spaced_runs}/a b/x.png and {spaced_runs}/c.png"
    assert redact_paths(two) == "x.png and c.png"
    assert redact_paths(f"runs live in {spaced_runs}") == "runs live in gan runs"
    assert "My Server Data" not in redact_paths(f"data:{spaced_runs}/u/up load.zip")


def test_home_working_folder_and_checkout_are_hidden(monkeypatch, tmp_path):
    odd_home = tmp_path / "home of me"
    odd_home.mkdir()
    monkeypatch.setenv("HOME", str(odd_home))
    monkeypatch.chdir(odd_home)
    for folder in (odd_home, REPO_ROOT):
        shown = redact_paths(f"failed: {folder}/some folder/train.log (see it)")
        assert shown == "failed: train.log (see it)", shown


LOCAL = Path("/home/me/gan-studio")


# --- demo mode ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("environ", "source", "expected"), [
    ({}, LOCAL, False),
    ({"GAN_DEMO_MODE": "1"}, LOCAL, True),
    ({"GAN_DEMO_MODE": "true"}, LOCAL, True),
    ({"HOSTNAME": "streamlit"}, LOCAL, True),
    ({"STREAMLIT_SHARING_MODE": "streamlit"}, LOCAL, True),
    ({}, Path("/mount/src/gan-studio"), True),
    ({"GAN_DEMO_MODE": "0", "HOSTNAME": "streamlit"}, Path("/mount/src/gan-studio"), False),  # explicit wins
    ({"GAN_DEMO_MODE": "off"}, Path("/mount/src/gan-studio"), False),
    ({"GAN_DEMO_MODE": "maybe"}, LOCAL, False),  # not a yes/no value: falls back to detection
    ({"HOSTNAME": "laptop"}, Path("/mount/srcs/x"), False),  # a look-alike path is not the cloud
])
def test_demo_mode(environ, source, expected):
    assert demo_mode(environ, source) is expected
    assert limits(environ, source) == (DEMO_LIMITS if expected else UNLIMITED)


def test_cloud_detection_reads_only_what_it_is_given():
    assert not on_streamlit_cloud({}, LOCAL)
    assert on_streamlit_cloud({}, Path("/mount/src"))


def test_limits_are_frozen_and_explain_themselves():
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEMO_LIMITS.max_epochs = 100  # type: ignore[misc]
    assert DEMO_LIMITS.max_workers == 1
    DEMO_LIMITS.check("max_epochs", 5)
    with pytest.raises(NotAllowedError, match=r"^epochs is limited to 5 in this demo \(asked for 6\)$"):
        DEMO_LIMITS.check("max_epochs", 6)
    with pytest.raises(NotAllowedError, match="upload mb is limited to 50 MB"):
        DEMO_LIMITS.check("max_upload_mb", 51.5, " MB")
    UNLIMITED.check("max_images", 10**9)
    assert Limits(max_images=3) != UNLIMITED


@pytest.mark.parametrize(("text", "expected"), [
    ("write failed: Permission denied (/srv/app/runs/r1/status.json)",
     "write failed: Permission denied (status.json)"),
    ('File "/usr/lib/python3.11/zipfile.py", line 3', 'File "zipfile.py", line 3'),
    ("3 of 10 files could not be read in /mount/src/app/runs/r1/upload.zip; first: cls/a.png: bad",
     "3 of 10 files could not be read in upload.zip; first: cls/a.png: bad"),
    ("see https://example.com/a/b.png and cls/a/b.png", "see https://example.com/a/b.png and cls/a/b.png"),
    ("/tmp alone, ~/x/y and 50/50", "/tmp alone, ~/x/y and 50/50"),
])
def test_redact_paths_keeps_file_names_only(text, expected):
    from studio.policy import redact_paths

    assert redact_paths(text) == expected
