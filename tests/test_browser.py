"""The real app in a real browser: `streamlit run app.py` + headless Chromium via Playwright.

Visits every page against a tiny trained run and fails on any exception box or traceback
text. With GAN_SCREENSHOTS=1 the screenshots go to docs/screenshots/ (for the README),
otherwise to a temp folder, and the app opens on the shipped checkpoints/ (as a user sees it)
instead of none; GAN_SCREENSHOT_RUNS=DIR shows that runs folder instead of the fixture, and
GAN_SCREENSHOT_DATA=PATH is typed in as the Real vs generated page's data source.
Also reports the start-up time and the server's idle RSS.

Needs /usr/bin/chromium (`apt-get install -y chromium`) and `pip install playwright`;
never `playwright install` (no browser downloads here).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from helpers import REPO

CHROMIUM = "/usr/bin/chromium"
if not Path(CHROMIUM).is_file():
    pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)", allow_module_level=True)
playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is missing (pip install playwright)")

PAGES = {  # screenshot name -> (url path, heading that proves the page rendered)
    "home": ("", "GAN Studio"),
    "train": ("train", "Train"),
    "explore": ("explore", "Latent explorer"),
    "compare": ("compare", "Real vs generated"),
    "export": ("export", "Export"),
    "evaluate": ("evaluate", "Evaluate"),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@pytest.fixture(scope="module")
def server(tmp_path_factory, request):
    """A running `streamlit run app.py` on a free port; yields (url, process, seconds to healthy)."""
    # GAN_SCREENSHOT_RUNS: show a better-trained runs folder than the 4-step fixture (README pictures).
    runs = os.environ.get("GAN_SCREENSHOT_RUNS")
    if not runs:  # the session's tiny run (conftest.py), trained only when it is needed
        runs = str(request.getfixturevalue("tiny_run").parent)
    env = {**os.environ, "GAN_RUNS_DIR": runs, "TF_CPP_MIN_LOG_LEVEL": "2"}
    if os.environ.get("GAN_SCREENSHOTS") != "1":
        env["GAN_CHECKPOINTS_DIR"] = str(tmp_path_factory.mktemp("no_checkpoints"))
    env.pop("GAN_DEFAULT_MODEL", None)
    port = free_port()
    log = open(tmp_path_factory.getbasetemp() / "streamlit.log", "wb")  # noqa: SIM115 (closed below)
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
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
        log.close()


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--disable-dev-shm-usage"],
        )
        yield chromium
        chromium.close()


def screenshot_dir(tmp_path: Path) -> Path:
    if os.environ.get("GAN_SCREENSHOTS") == "1":
        target = REPO / "docs" / "screenshots"
        target.mkdir(parents=True, exist_ok=True)
        return target
    return tmp_path


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


def test_every_page_in_a_real_browser(server, browser, tmp_path):
    url, process, started = server
    shots = screenshot_dir(tmp_path)
    page = browser.new_page(viewport={"width": 1360, "height": 1500})
    page.goto(url)
    page.get_by_role("heading", name="GAN Studio").wait_for(timeout=60_000)
    page.locator('[data-testid="stImage"] img').first.wait_for(timeout=60_000)
    first_render = time.perf_counter() - started
    wait_idle(page)
    idle_rss = rss_mb(process.pid)
    device = page.get_by_text("Computing on").first.inner_text()
    if shutil.which("nvidia-smi") is None and not Path("/proc/driver/nvidia/gpus").exists():
        assert "CPU" in device, device
    print(f"\nstreamlit run -> first home page with samples: {first_render:.1f} s; "
          f"server RSS at idle with a model loaded: {idle_rss:.0f} MB")

    for name, (path, heading) in PAGES.items():
        page.goto(f"{url}/{path}")
        if heading:
            page.get_by_role("heading", name=heading, exact=True).first.wait_for(timeout=60_000)
        wait_idle(page)
        if name == "compare" and os.environ.get("GAN_SCREENSHOT_DATA"):
            page.get_by_test_id("stExpander").get_by_text("Data source").click()
            page.locator('input[aria-label="Training data to compare with"]').fill(os.environ["GAN_SCREENSHOT_DATA"])
            page.keyboard.press("Enter")
            page.wait_for_timeout(500)
            wait_idle(page)
        if name in ("home", "explore", "compare"):
            page.locator('[data-testid="stImage"] img').first.wait_for(timeout=30_000)
        assert_no_errors(page, name)
        page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    assert all((shots / f"{name}.png").stat().st_size > 10_000 for name in PAGES)


def test_new_samples_button_in_the_browser(server, browser):
    url, _, _ = server
    page = browser.new_page()
    page.goto(url)
    page.locator('[data-testid="stImage"] img').first.wait_for(timeout=60_000)
    before = page.locator('[data-testid="stImage"] img').first.get_attribute("src")
    page.get_by_role("button", name="New samples").click()
    page.wait_for_function(
        "src => document.querySelector('[data-testid=\"stImage\"] img')?.getAttribute('src') !== src",
        arg=before, timeout=30_000)
    wait_idle(page)
    assert_no_errors(page, "home after New samples")


def test_a_bad_upload_is_refused_with_one_line(server, browser, tmp_path):
    """The real upload path (in memory, then checked) with a file that only pretends to be a zip."""
    url, _, _ = server
    fake = tmp_path / "images.zip"
    fake.write_bytes(b"this is not a zip archive")
    page = browser.new_page(viewport={"width": 1360, "height": 1500})
    page.goto(f"{url}/train")
    page.get_by_text("Start a new run").click()
    page.get_by_text("Upload a .zip").click()
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(fake))
    page.get_by_text("images.zip").first.wait_for(timeout=30_000)
    page.get_by_role("button", name="Start training").click()
    error = page.locator('[data-testid="stAlertContentError"]').first
    error.wait_for(timeout=30_000)
    assert "not a valid .zip" in error.inner_text()
    assert "Traceback" not in page.locator("body").inner_text()
