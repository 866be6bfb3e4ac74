"""Demo mode's one redaction rule (`studio.policy.redact_paths`), and the one place it is applied to
everything a page draws (`studio.messages.install_redaction`, tables included). Issue 25, class 8."""

from __future__ import annotations

import os

import pandas as pd
import pyarrow as pa
import pytest
from streamlit.dataframe_util import convert_pandas_df_to_arrow_bytes
from streamlit.proto.Dataframe_pb2 import Dataframe
from streamlit.proto.Element_pb2 import Element

from gan.files import REPO_ROOT
from studio.messages import redact_element
from studio.policy import redact_paths


@pytest.fixture
def spaced_runs(tmp_path, monkeypatch):
    """A runs folder whose name, and whose parents' names, hold spaces."""
    runs = tmp_path / "My Server Data" / "gan runs"
    runs.mkdir(parents=True)
    monkeypatch.setenv("GAN_RUNS_DIR", str(runs))
    return runs


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


def _dataframe_proto(frame: pd.DataFrame) -> Element:
    element = Element()
    element.dataframe.CopyFrom(Dataframe())
    element.dataframe.arrow_data.data = convert_pandas_df_to_arrow_bytes(frame)
    return element


def _cells(element: Element) -> list:
    table = pa.ipc.open_stream(element.dataframe.arrow_data.data).read_all()
    return [v for column in table.columns for v in column.to_pylist()]


def test_table_cells_are_redacted_on_the_element_queue(spaced_runs):
    """The runs table's `data` column used to need an explicit `redacted()` in the page."""
    frame = pd.DataFrame({"run": ["a", "b"], "data": [f"{spaced_runs}/.uploads/9f.zip", "cifar10"],
                          "steps": [3, 4]})
    element = _dataframe_proto(frame)
    redact_element(element)
    assert _cells(element) == ["a", "b", "9f.zip", "cifar10", 3, 4]
    assert not any(str(spaced_runs) in str(v) for v in _cells(element))


def test_a_table_without_paths_is_sent_byte_for_byte():
    element = _dataframe_proto(pd.DataFrame({"metric": ["fid"], "value": [1.5]}))
    before = element.dataframe.arrow_data.data
    redact_element(element)
    assert element.dataframe.arrow_data.data == before


def test_text_fields_of_an_element_are_redacted(spaced_runs):
    element = Element()
    element.alert.body = f"Training stopped: {spaced_runs}/x/train.log is a FIFO"
    redact_element(element)
    assert element.alert.body == "Training stopped: train.log is a FIFO"
    assert os.fspath(spaced_runs) not in str(element)
