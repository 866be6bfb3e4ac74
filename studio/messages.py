"""What the app says: one-line error messages, server paths redacted in demo mode, durations, the device line."""

from __future__ import annotations

import contextlib
import logging
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import streamlit as st

from gan.errors import first_line
from gan.runs import RunLockedError
from studio.policy import Limits, demo_mode, redact_paths

log = logging.getLogger("studio")


def demo_summary(limits: Limits) -> str:
    """What demo mode allows, in one sentence for the pages (studio.policy.demo_mode decides whether it is on)."""
    return (f"Demo mode: uploads up to {limits.max_upload_mb} MB and {limits.max_images:,} images, at most "
            f"{limits.max_epochs} epochs, {limits.max_workers} training or evaluation at a time, exports of "
            f"up to {limits.max_export_images:,} images; no paths on the server.")


def redacted(text: str) -> str:
    """What a visitor may see of an error or log text: in demo mode, file names but no server paths.

    Pages need not call it for what they draw: `install_redaction` applies the same rule to every
    element (text, captions, code, table cells) on its way to the browser. It is for text that leaves
    another way.
    """
    return redact_paths(text) if demo_mode() else text


def friendly_message(error: BaseException) -> str:
    """One line a user can act on (our own error types already carry one); no server paths in demo mode."""
    return redacted(_one_line(error))


def _one_line(error: BaseException) -> str:
    from gan.config import ConfigError
    from gan.sampling import ModelError

    known = (ConfigError, ModelError, RunLockedError, ValueError)
    with contextlib.suppress(ImportError):
        from gan.data import DataError

        known = (DataError, *known)
    if isinstance(error, known):
        return first_line(error)
    if isinstance(error, MemoryError):
        return "Out of memory: try fewer images or a smaller batch."
    if isinstance(error, OSError):
        return f"File problem: {error.strerror or error} ({error.filename or ''})"
    first = first_line(error)
    return f"Something went wrong ({type(error).__name__}{': ' + first if first != type(error).__name__ else ''})."


# Proto fields that hold text a visitor reads (markdown bodies, captions, labels, help, messages, code).
# Ids, URLs and chart specs are left alone: a media URL looks like an absolute path.
TEXT_FIELDS = frozenset({"body", "label", "help", "caption", "placeholder", "text", "code_text", "message",
                         "stack_trace", "description"})


def redact_arrow(data: bytes) -> bytes:
    """An Arrow IPC stream (a table's or dataframe's cells) with every string cell through `redact_paths`."""
    import pyarrow as pa

    table = pa.ipc.open_stream(data).read_all()
    columns, changed = [], False
    for column in table.columns:
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            values = column.to_pylist()
            redacted_values = [redact_paths(v) if isinstance(v, str) else v for v in values]
            if redacted_values != values:
                column, changed = pa.array(redacted_values, type=column.type), True
        columns.append(column)
    if not changed:
        return data
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(pa.Table.from_arrays(columns, schema=table.schema))
    return sink.getvalue().to_pybytes()


def redact_element(proto) -> None:
    """Pass every text field of an element's proto, nested ones too, and the string cells of its
    tables, through `redact_paths`."""
    if proto.DESCRIPTOR.name == "ArrowData" and proto.data:
        proto.data = redact_arrow(proto.data)
    for field, value in proto.ListFields():
        repeated = field.is_repeated
        if field.type == field.TYPE_MESSAGE:
            for item in (value if repeated else [value]):
                redact_element(item)
        elif field.type == field.TYPE_STRING and field.name in TEXT_FIELDS:
            if repeated:
                value[:] = [redact_paths(v) for v in value]
            else:
                setattr(proto, field.name, redact_paths(value))


def install_redaction() -> None:
    """In demo mode, every element any page draws has its text redacted on its way to the browser.

    The one redaction mechanism, below every page: Streamlit queues each element through
    `DeltaGenerator._enqueue` (captions, alerts, metrics, code, image captions, table and dataframe
    cells, errors alike), so nothing drawn can forget `redacted()`. Installed once per server, first
    thing in app.py; demo mode is a property of the deployment, not of a session.
    """
    from streamlit.delta_generator import DeltaGenerator

    enqueue = DeltaGenerator._enqueue
    if getattr(enqueue, "redacts_paths", False) or not demo_mode():
        return

    def redacting_enqueue(self, delta_type, element_proto, *args, **kwargs):
        if demo_mode():
            redact_element(element_proto)
        return enqueue(self, delta_type, element_proto, *args, **kwargs)

    redacting_enqueue.redacts_paths = True
    DeltaGenerator._enqueue = redacting_enqueue


@contextlib.contextmanager
def friendly_errors(what: str = "This page") -> Iterator[None]:
    """Turn any exception in the body into an `st.error` line instead of a traceback.

    Streamlit's own control flow (st.rerun, st.stop, page switches) derives from
    BaseException and passes through untouched.
    """
    install_redaction()
    try:
        yield
    except Exception as e:
        log.exception("%s failed", what)
        st.error(f"{what} could not finish: {friendly_message(e)}", icon=":material/error:")


def page_icon():
    """A 4x4 grid of colour swatches, drawn here: an emoji or icon-font favicon is fetched from the internet."""
    from PIL import Image

    colours = np.array([[66, 133, 244], [219, 68, 55], [244, 180, 0], [15, 157, 88]], np.uint8)
    cells = colours[(np.arange(16).reshape(4, 4) + np.arange(4)[:, None]) % 4]
    return Image.fromarray(np.kron(cells, np.ones((8, 8, 1), np.uint8)))


@st.cache_data(ttl=3600, show_spinner=False)
def gpu_names() -> list[str]:
    """GPU names from `nvidia-smi -L` or /proc/driver/nvidia, without importing TensorFlow."""
    smi = shutil.which("nvidia-smi")
    if smi:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            names = parse_nvidia_smi(subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=3).stdout)
            if names:
                return names
    names = []
    for info in sorted(Path("/proc/driver/nvidia/gpus").glob("*/information")):
        with contextlib.suppress(OSError):
            found = re.search(r"^Model:\s*(.+)$", info.read_text(), re.M)
            if found:
                names.append(found.group(1).strip())
    return names


def parse_nvidia_smi(listing: str) -> list[str]:
    """GPU names from `nvidia-smi -L` lines like 'GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-...)'."""
    return [m.group(1).strip() for m in re.finditer(r"^GPU \d+: (.+?)(?: \(UUID:.*\))?\s*$", listing, re.M)]


def device_line() -> tuple[str, bool]:
    """(what computes, has a GPU) for the Home page."""
    names = gpu_names()
    if names:
        return (names[0] if len(names) == 1 else f"{len(names)} GPUs: {', '.join(names)}"), True
    return "CPU", False


def duration(seconds: float | None) -> str:
    """'1 h 02 min', '3 min 05 s', '12 s' or '-'."""
    if seconds is None or not np.isfinite(seconds) or seconds < 0:
        return "-"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"
