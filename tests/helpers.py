"""Plain helpers shared by the test modules: `from helpers import REPO, ...` (tests/ is on sys.path).

Not a test module and holds no fixtures: the fixtures (tiny_run and friends) are in conftest.py,
which builds on these. Nothing here imports Streamlit or Keras at import time.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
APP = str(REPO / "app.py")
CLASSES = ["red", "green", "blue"]  # the classes of make_npz, in label order


# --- data and runs ------------------------------------------------------------------------------


def make_npz(path: Path, n: int = 64) -> Path:
    """n 32x32 images in 3 colour classes (CLASSES), with class names."""
    rng = np.random.default_rng(0)
    y = np.arange(n) % 3
    x = rng.integers(0, 60, (n, 32, 32, 3)).astype(np.uint8)
    for c in range(3):
        x[y == c, :, :, c] += 180
    np.savez(path, x=x, y=y, class_names=np.array(CLASSES))
    return path


def make_tiny_run(base: Path) -> Path:
    """A finished 4-step conditional `tiny` run in base/runs/tiny, trained on base/data.npz (make_npz).

    Takes a few seconds: tests use the session's `tiny_run` fixture (conftest.py) rather than this.
    """
    from gan.cli import main

    run_dir = base / "runs" / "tiny"
    base.mkdir(parents=True, exist_ok=True)
    data = make_npz(base / "data.npz")
    code = main(["train", "--data", str(data), "--preset", "tiny", "--steps", "4", "--batch-size", "16",
                 "--conditional", "--no-jit", "--log-every", "2", "--quiet", "--run-dir", str(run_dir)])
    assert code == 0
    return run_dir


HOLD_LOCK = ("import sys, time\nfrom gan.runs import Run\nwith Run(sys.argv[1]).lock():\n"
             "    print('locked', flush=True)\n    time.sleep(120)\n")


@contextlib.contextmanager
def lock_held_elsewhere(run_dir: Path, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen]:
    """Another process holds the run's lock, as a live trainer does, until the block ends.

    Yields that process once it holds the lock; it is killed (if still alive) when the block ends.
    """
    env = env if env is not None else {**os.environ, "PYTHONPATH": str(REPO)}
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(run_dir)], cwd=REPO, env=env,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        yield holder
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()


# --- the Streamlit app (AppTest) ----------------------------------------------------------------


def local_env(monkeypatch, tmp_path: Path) -> None:
    """Not demo mode (whatever machine runs the tests), with typed data paths allowed under tmp_path."""
    monkeypatch.setenv("GAN_DEMO_MODE", "0")
    monkeypatch.setenv("GAN_DATA_ROOTS", str(tmp_path))
    monkeypatch.delenv("GAN_DEFAULT_MODEL", raising=False)


def app():
    """The app's Home page, run once (an AppTest)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    return at


def assert_clean(at) -> None:
    """No exception and no error box on the page."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


# --- the real app in a real browser (tests/e2e/test_browser.py) ------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@contextlib.contextmanager
def streamlit_server(env: dict[str, str], log_path: Path) -> Iterator[tuple[str, subprocess.Popen, float]]:
    """`streamlit run app.py` on a free port until the block ends: (url, process, time.perf_counter() at start)."""
    import urllib.request

    port = free_port()
    started = time.perf_counter()
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port",
             str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.time() + 60
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                        if response.status == 200:
                            break
                except OSError:
                    pass
                assert process.poll() is None and time.time() < deadline, "streamlit did not start"
                time.sleep(0.25)
            yield url, process, started
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


def wait_idle(page, timeout_s: float = 60) -> None:
    """Until Streamlit's "running" indicator has stayed away for a moment (the script finished)."""
    deadline = time.time() + timeout_s
    quiet_since = None
    while time.time() < deadline:
        running = page.locator('[data-testid="stStatusWidget"]').count() > 0
        if running:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.time()
        elif time.time() - quiet_since > 0.8:
            return
        page.wait_for_timeout(100)


def assert_no_errors(page, name: str) -> None:
    text = page.locator("body").inner_text()
    assert "Traceback" not in text, f"{name}: traceback on the page"
    assert page.locator('[data-testid="stException"]').count() == 0, f"{name}: exception box"
    assert page.locator('[data-testid="stAlertContentError"]').count() == 0, (
        f"{name}: error box: {page.locator('[data-testid=stAlertContentError]').first.inner_text()}")
