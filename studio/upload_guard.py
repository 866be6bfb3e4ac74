"""The server's side of the upload caps: what a client that skips the page still cannot do.

Streamlit checks `server.maxUploadSize` on every PUT to `/_stcore/upload_file/...` (read at request
time), but a file_uploader's `max_upload_size` only in the browser. It keeps every uploaded file's
bytes in memory, per session, with no cap on how many files a session holds, and frees them only
when the session is shut down, which a closed tab's session never is (it leaves the reconnect store
after two minutes without a shutdown). So, once per server (`enforce`, first thing in app.py):

- in demo mode `server.maxUploadSize` itself becomes the advertised cap;
- in demo mode one session may hold at most two files' worth (a replaced file overlaps its
  successor for a moment) and the server `SERVER_FILES` files' worth, else 413;
- in every mode a sweeper drops the files of sessions that have been gone for `GRACE_S`.

The session id a PUT needs reaches a client only when a script run starts, so from the first run's
first line on the caps hold; before it, Streamlit's own 200 MB per file holds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, MutableMapping
from typing import Any

from studio.policy import Limits

SWEEP_S = 5.0  # how often the sweeper looks for files of sessions that went away
GRACE_S = 15.0  # a session gone this long loses its files: a network blip reconnects within seconds
SESSION_FILES = 2  # files of the cap's size one session may hold (a replaced file overlaps its successor)
SERVER_FILES = 4  # files of the cap's size all sessions together may hold


def _held(storage: MutableMapping[str, dict[str, Any]], session_id: str | None = None, skip: str = "") -> int:
    """Bytes held by one session (or by all, when `session_id` is None), not counting file `skip`."""
    sessions = [storage.get(session_id, {})] if session_id is not None else list(storage.values())
    return sum(len(rec.data) for files in sessions for rec in list(files.values()) if rec.file_id != skip)


def check_room(storage: MutableMapping[str, dict[str, Any]], session_id: str, file_id: str, size: int,
               cap_bytes: int) -> str | None:
    """Why a new file of `size` bytes may not be held (None when it may), for a per-file cap of `cap_bytes`."""
    if size > cap_bytes:
        return f"file too large (over {cap_bytes // 2**20} MB)"
    if _held(storage, session_id, file_id) + size > SESSION_FILES * cap_bytes:
        return "this session already holds its uploads"
    if _held(storage, skip=file_id) + size > SERVER_FILES * cap_bytes:
        return "the server holds too many uploads now; try again in a minute"
    return None


def sweep(manager: Any, is_active: Callable[[str], bool], last_seen: dict[str, float], now: float) -> list[str]:
    """Drop the files of sessions not active for `GRACE_S` (per `last_seen`, updated here); returns their ids."""
    dropped = []
    for session_id in list(manager.file_storage):
        if is_active(session_id):
            last_seen[session_id] = now
        elif now - last_seen.setdefault(session_id, now) >= GRACE_S:
            manager.remove_session_files(session_id)
            last_seen.pop(session_id, None)
            dropped.append(session_id)
    for session_id in set(last_seen) - set(manager.file_storage):
        last_seen.pop(session_id, None)
    return dropped


def guard_manager(manager: Any, is_active: Callable[[str], bool], cap_bytes: int | None) -> bool:
    """Cap what `manager` (Streamlit's MemoryUploadedFileManager) holds and start its sweeper, once.

    False (and nothing changed) when the manager is not the in-memory kind this knows.
    """
    if getattr(manager, "gan_guarded", False) or not hasattr(manager, "file_storage"):
        return False
    add_file = manager.add_file

    def guarded_add_file(session_id: str, file: Any) -> None:
        if cap_bytes is not None:
            reason = check_room(manager.file_storage, session_id, file.file_id, len(file.data), cap_bytes)
            if reason:
                from starlette.exceptions import HTTPException

                raise HTTPException(status_code=413, detail=reason)
        add_file(session_id, file)

    def sweep_forever() -> None:
        last_seen: dict[str, float] = {}
        while True:
            time.sleep(SWEEP_S)
            try:
                sweep(manager, is_active, last_seen, time.monotonic())
            except Exception:  # a Streamlit internals change must not kill the server; the sweep just stops
                return

    manager.add_file = guarded_add_file
    manager.gan_guarded = True
    threading.Thread(target=sweep_forever, name="gan-upload-sweeper", daemon=True).start()
    return True


def enforce(limits: Limits) -> None:
    """Make the server hold what `limits` advertise (see the module doc); cheap on every rerun."""
    from streamlit import config, runtime

    cap_mb = limits.max_upload_mb
    if cap_mb is not None and config.get_option("server.maxUploadSize") > cap_mb:  # never raised
        config.set_option("server.maxUploadSize", cap_mb)
    if runtime.exists():
        instance = runtime.get_instance()
        guard_manager(instance.uploaded_file_mgr, instance.is_active_session,
                      None if cap_mb is None else cap_mb * 2**20)
