"""studio.messages: redaction on the element queue, one friendly line, GPU names, the page icon.

Demo mode's one redaction rule (`studio.policy.redact_paths`), and the one place it is applied to
everything a page draws (`studio.messages.install_redaction`, tables included). Issue 25, class 8.

One friendly line, whole where it matters (issue 25, class 8): advice is never cut, an error is cut
at a word; skip messages name the file, not a BytesIO; Pillow's EXIF warning never reaches stderr;
Keras' dataset folder is read from one place that honours KERAS_HOME.
"""

from __future__ import annotations

import os

import pandas as pd
import pyarrow as pa
import pytest

pytest.importorskip("streamlit")
from helpers import REPO  # noqa: E402
from streamlit.dataframe_util import convert_pandas_df_to_arrow_bytes  # noqa: E402
from streamlit.proto.Dataframe_pb2 import Dataframe  # noqa: E402
from streamlit.proto.Element_pb2 import Element  # noqa: E402

from gan import data  # noqa: E402
from gan.data import DataError  # noqa: E402
from gan.errors import first_line  # noqa: E402
from studio.messages import redact_element  # noqa: E402


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


def test_gpu_names_from_nvidia_smi():
    from studio import messages

    listing = ("GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-0a1b2c3d-aaaa-bbbb-cccc-0123456789ab)\n"
               "GPU 1: NVIDIA GeForce RTX 4090 (UUID: GPU-11111111-2222-3333-4444-555555555555)\n"
               "  MIG 3g.40gb     Device  0: (UUID: MIG-0a1b2c3d)\n")
    assert messages.parse_nvidia_smi(listing) == ["NVIDIA H100 80GB HBM3", "NVIDIA GeForce RTX 4090"]
    assert messages.parse_nvidia_smi("No devices were found\n") == []


def test_the_page_icon_is_served_by_the_app_not_fetched():
    """An image icon is served by Streamlit's own media endpoint; an emoji or :material: icon is not."""
    from PIL import Image
    from streamlit.commands.page_config import _get_favicon_string

    from studio import messages

    icon = messages.page_icon()
    assert isinstance(icon, Image.Image) and icon.size == (32, 32)
    assert not _get_favicon_string(icon).startswith(("emoji:", ":material"))
    assert "page_icon=messages.page_icon()" in (REPO / "app.py").read_text()


def test_advice_survives_an_error_that_wraps_it(failed_download):
    """studio.launch wraps a start failure as 'Could not start: <line>' (raise ... from e)."""
    from studio.messages import friendly_message

    cause = data.cifar10_unavailable()
    try:
        try:
            raise cause
        except DataError as e:
            raise ValueError(f"Could not start: {friendly_message(e)}") from e
    except ValueError as wrapped:
        assert first_line(wrapped).endswith(f"{failed_download}/datasets/")
