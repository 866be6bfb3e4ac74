"""Demo mode's upload caps hold on the server, for a client that never draws the page (issue 25, class 1).

A real `streamlit run app.py` in demo mode; the test speaks Streamlit's own protocol: a websocket to
get a session (its id comes in the first script run's NewSession message), then plain HTTP PUTs to
`/_stcore/upload_file/<session>/<file>`, as a script would, skipping the widget's browser-side cap.
XSRF protection is off in the server under test: a script can fetch the cookie anyway, and it is
not what is being tested.
"""

from __future__ import annotations

import http.client
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import REPO
from streamlit import config
from streamlit.runtime.memory_uploaded_file_manager import MemoryUploadedFileManager
from streamlit.runtime.uploaded_file_manager import UploadedFileRec

from studio import upload_guard
from studio.policy import DEMO_LIMITS, UNLIMITED

CAP = DEMO_LIMITS.max_upload_mb * 2**20
MB = 2**20


def _rec(file_id: str, size: int) -> UploadedFileRec:
    return UploadedFileRec(file_id, f"{file_id}.zip", "application/zip", b"\0" * size)


# --- the pieces, in process --------------------------------------------------------------------


def test_a_session_that_went_away_loses_its_files_after_the_grace_period_and_an_active_one_keeps_them():
    manager = MemoryUploadedFileManager("/upload")
    manager.add_file("here", _rec("a", MB))
    manager.add_file("gone", _rec("b", 2 * MB))
    seen: dict[str, float] = {}
    active = {"here"}.__contains__
    assert upload_guard.sweep(manager, active, seen, now=100.0) == []  # just noticed it is gone
    assert upload_guard.sweep(manager, active, seen, now=100.0 + upload_guard.GRACE_S - 1) == []
    assert upload_guard.sweep(manager, active, seen, now=100.0 + upload_guard.GRACE_S) == ["gone"]
    assert list(manager.file_storage) == ["here"] and seen == {"here": 100.0 + upload_guard.GRACE_S}
    assert manager.get_stats()["cache_memory_bytes"][0].byte_length == MB  # Streamlit's own count agrees


def test_a_session_back_within_the_grace_period_keeps_its_files():
    manager = MemoryUploadedFileManager("/upload")
    manager.add_file("blip", _rec("a", MB))
    seen: dict[str, float] = {}
    upload_guard.sweep(manager, lambda _: False, seen, now=0.0)
    upload_guard.sweep(manager, lambda _: True, seen, now=upload_guard.GRACE_S - 1)  # reconnected
    assert upload_guard.sweep(manager, lambda _: False, seen, now=upload_guard.GRACE_S + 1) == []
    assert list(manager.file_storage) == ["blip"]


def test_room_for_a_file_counts_the_file_the_session_and_the_server():
    storage = {"s": {"a": _rec("a", 6), "a2": _rec("a2", 6)}, "t": {"b": _rec("b", 10)}}
    assert upload_guard.check_room(storage, "s", "new", 11, cap_bytes=10).startswith("file too large")
    assert upload_guard.check_room(storage, "s", "new", 10, cap_bytes=10) == "this session already holds its uploads"
    assert upload_guard.check_room(storage, "s", "a", 10, cap_bytes=10) is None  # a replaced file counts once
    assert upload_guard.check_room(storage, "u", "new", 10, cap_bytes=10) is None  # 32 of 40
    storage["v"] = {"c": _rec("c", 10)}
    assert "too many uploads" in upload_guard.check_room(storage, "u", "new", 10, cap_bytes=10)


def test_a_guarded_manager_refuses_with_413_and_is_guarded_once():
    from starlette.exceptions import HTTPException

    manager = MemoryUploadedFileManager("/upload")
    assert upload_guard.guard_manager(manager, lambda _: True, cap_bytes=4 * MB)
    assert not upload_guard.guard_manager(manager, lambda _: True, cap_bytes=4 * MB)
    manager.add_file("s", _rec("a", 4 * MB))
    with pytest.raises(HTTPException) as refused:
        manager.add_file("s", _rec("b", 4 * MB + 1))
    assert refused.value.status_code == 413
    assert list(manager.file_storage["s"]) == ["a"]


def test_enforce_lowers_the_servers_cap_in_demo_mode_and_never_raises_it():
    before = config.get_option("server.maxUploadSize")
    try:
        config.set_option("server.maxUploadSize", 200)
        upload_guard.enforce(UNLIMITED)
        assert config.get_option("server.maxUploadSize") == 200
        upload_guard.enforce(DEMO_LIMITS)
        assert config.get_option("server.maxUploadSize") == DEMO_LIMITS.max_upload_mb
        config.set_option("server.maxUploadSize", 20)
        upload_guard.enforce(DEMO_LIMITS)
        assert config.get_option("server.maxUploadSize") == 20
    finally:
        config.set_option("server.maxUploadSize", before)



def test_a_page_visited_first_lowers_the_cap_too(monkeypatch):
    """A first request straight to /train runs the page before app.py: its first line holds the cap too."""
    from studio import navigation

    before = config.get_option("server.maxUploadSize")
    monkeypatch.setenv("GAN_DEMO_MODE", "1")
    try:
        config.set_option("server.maxUploadSize", 200)
        navigation.within_app(str(REPO / "pages" / "train.py"))  # no script run here: hands over to nothing
        assert config.get_option("server.maxUploadSize") == DEMO_LIMITS.max_upload_mb
    finally:
        config.set_option("server.maxUploadSize", before)


# --- a real server -------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(port: int, path: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        conn.close()


def _rss_bytes(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.M).group(1)) * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[int, subprocess.Popen]]:
    """A demo-mode app server on a free port, with no models (nothing loads TensorFlow)."""
    home = tmp_path_factory.mktemp("server")
    port = _free_port()
    env = {**os.environ, "GAN_DEMO_MODE": "1", "GAN_RUNS_DIR": str(home / "runs"),
           "GAN_CHECKPOINTS_DIR": str(home / "checkpoints"), "PYTHONUNBUFFERED": "1"}
    log = (home / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1",
         "--server.enableXsrfProtection", "false", "--browser.gatherUsageStats", "false"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                pytest.skip(f"Streamlit cannot start here (exit {process.returncode}): "
                            f"{(home / 'server.log').read_text(errors='replace')[-300:]}")
            try:
                if _get(port, "/_stcore/health")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.skip("Streamlit did not answer /_stcore/health within 90 s")
            time.sleep(0.3)
        yield port, process
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _open_session(port: int):
    """(websocket, session id) after one full run of app.py, as a browser tab would start."""
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    from websockets.sync.client import connect

    ws = connect(f"ws://127.0.0.1:{port}/_stcore/stream", subprotocols=["streamlit"], max_size=None,
                 open_timeout=30)
    rerun = BackMsg()
    rerun.rerun_script.query_string = ""
    ws.send(rerun.SerializeToString())
    session_id, deadline = None, time.monotonic() + 60
    while time.monotonic() < deadline:
        message = ForwardMsg()
        message.ParseFromString(ws.recv(timeout=60))
        kind = message.WhichOneof("type")
        if kind == "new_session":
            session_id = message.new_session.initialize.session_id
        elif kind == "script_finished" and session_id:
            return ws, session_id
    ws.close()
    raise AssertionError("app.py did not finish its first run within 60 s")


def _put(port: int, session_id: str, size: int) -> int | None:
    """Upload `size` bytes as one multipart file; the HTTP status, or None when the server hung up."""
    boundary = uuid.uuid4().hex
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.zip\"\r\n"
            "Content-Type: application/zip\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.putrequest("PUT", f"/_stcore/upload_file/{session_id}/{uuid.uuid4()}")
        conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
        conn.putheader("Content-Length", str(len(head) + size + len(tail)))
        conn.endheaders()
        try:
            conn.send(head)
            chunk = b"\0" * 2**20
            for start in range(0, size, len(chunk)):
                conn.send(chunk[: min(len(chunk), size - start)])
            conn.send(tail)
        except OSError:  # the server refused before reading it all; its answer may still be there
            pass
        try:
            return conn.getresponse().status
        except (OSError, http.client.HTTPException):
            return None
    finally:
        conn.close()


def _held_upload_bytes(port: int) -> int:
    """What Streamlit's metrics say its upload manager holds, in bytes."""
    _, text = _get(port, "/_stcore/metrics")
    return sum(int(float(m.group(1))) for m in
               re.finditer(r'^cache_memory_bytes\{[^}]*UploadedFileManager[^}]*\} (\S+)$', text, re.M))


@pytest.mark.slow
def test_demo_uploads_over_the_cap_are_refused_by_the_server_and_gone_sessions_free_their_files(server):
    port, process = server
    ws, session_id = _open_session(port)
    try:
        assert _put(port, session_id, CAP + 2 * 2**20) in (413, None)  # over the advertised 50 MB
        assert _put(port, session_id, 10 * 2**20) == 204  # under it
        # Nor may a session pile up files under the cap: it holds at most two files' worth (100 MB).
        assert _put(port, session_id, 40 * 2**20) == 204
        assert _put(port, session_id, 40 * 2**20) == 204
        assert _put(port, session_id, 40 * 2**20) in (413, None)
        held = _held_upload_bytes(port)
        assert held == 90 * 2**20, held
        rss_holding = _rss_bytes(process.pid)
    finally:
        ws.close()
    deadline = time.monotonic() + upload_guard.GRACE_S + 3 * upload_guard.SWEEP_S + 30
    while _held_upload_bytes(port) and time.monotonic() < deadline:
        time.sleep(1)
    assert _held_upload_bytes(port) == 0
    assert _rss_bytes(process.pid) < rss_holding - 60 * 2**20  # the 90 MB it held went back to the system
