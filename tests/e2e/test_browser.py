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
import re
import shutil
import time
from pathlib import Path

import pytest
from helpers import REPO, assert_no_errors, rss_mb, streamlit_server, wait_idle

CHROMIUM = "/usr/bin/chromium"
if not Path(CHROMIUM).is_file():
    pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)", allow_module_level=True)
playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is missing (pip install playwright)")
pytestmark = pytest.mark.slow  # real servers, and a real trainer in the tour

PAGES = {  # screenshot name -> (url path, heading that proves the page rendered)
    "home": ("", "GAN Studio"),
    "train": ("train", "Train"),
    "explore": ("explore", "Latent explorer"),
    "compare": ("compare", "Real vs generated"),
    "export": ("export", "Export"),
    "evaluate": ("evaluate", "Evaluate"),
}


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
    with streamlit_server(env, tmp_path_factory.getbasetemp() / "streamlit.log") as running:
        yield running


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


@pytest.fixture
def page(browser):
    """A fresh tab, closed after the test: a tab left on the Train page keeps its live view redrawing on the
    server (every 2 s) for as long as it stays open."""
    tab = browser.new_page(viewport={"width": 1360, "height": 1500})
    yield tab
    tab.close()


def screenshot_dir(tmp_path: Path) -> Path:
    if os.environ.get("GAN_SCREENSHOTS") == "1":
        target = REPO / "docs" / "screenshots"
        target.mkdir(parents=True, exist_ok=True)
        return target
    return tmp_path


def test_every_page_in_a_real_browser(server, page, tmp_path):
    url, process, started = server
    shots = screenshot_dir(tmp_path)
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


def test_new_samples_button_in_the_browser(server, page):
    url, _, _ = server
    page.goto(url)
    page.locator('[data-testid="stImage"] img').first.wait_for(timeout=60_000)
    before = page.locator('[data-testid="stImage"] img').first.get_attribute("src")
    page.get_by_role("button", name="New samples").click()
    page.wait_for_function(
        "src => document.querySelector('[data-testid=\"stImage\"] img')?.getAttribute('src') !== src",
        arg=before, timeout=30_000)
    wait_idle(page)
    assert_no_errors(page, "home after New samples")


def test_a_bad_upload_is_refused_with_one_line(server, page, tmp_path):
    """The real upload path (in memory, then checked) with a file that only pretends to be a zip."""
    url, _, _ = server
    fake = tmp_path / "images.zip"
    fake.write_bytes(b"this is not a zip archive")
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


# --- a newcomer's tour, offline: train, watch, stop, resume, explore, compare, evaluate, export, delete ---


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def resident_split(pid: int) -> str:
    """Resident memory split into private (anonymous) pages and pages of mapped files (mostly TensorFlow's
    library, clean: the kernel drops them under memory pressure and reads them back when touched)."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    mb = {key: int(fields[key].split()[0]) / 1024 for key in ("VmRSS", "RssAnon", "RssFile", "RssShmem")}
    return (f"{mb['VmRSS']:.0f} MB, of which {mb['RssAnon']:.0f} MB private and {mb['RssFile']:.0f} MB of mapped "
            f"files (and {mb['RssShmem']:.0f} MB shared memory)")


# The memory budget of the whole app (RELIABILITY.md 2b), checked on the newcomer's tour: the server, and the
# server together with the processes it starts (a trainer, an evaluation worker), peak resident memory.
SERVER_BUDGET_MB = 850  # measured 776-783 MB (2026-12-05); TensorFlow alone is ~630 of it
APP_BUDGET_MB = 1_700


class MemoryWatch:
    """Samples, every 0.1 s in a thread, the resident memory of a process and of all its descendants: a
    trainer or an evaluation worker lives seconds to minutes, so only sampling sees what the app held at
    once. `peaks` is (server MB, workers MB, together MB), each the largest seen."""

    def __init__(self, pid: int):
        import threading

        self.pid, self.peaks, self._stop = pid, (0.0, 0.0, 0.0), threading.Event()
        self.workers: dict[int, tuple[str, float]] = {}  # pid -> (what it runs, its peak MB)
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> MemoryWatch:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _descendants(self) -> list[int]:
        children: dict[int, list[int]] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:  # the process ended while we looked
                continue
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        found, todo = [], [self.pid]
        while todo:
            kids = children.get(todo.pop(), [])
            found += kids
            todo += kids
        return found

    @staticmethod
    def _command(pid: int) -> str:
        try:
            words = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            return "?"
        return " ".join(w for w in words[1:4] if w)  # "-m gan train", "-m gan evaluate"

    def _run(self) -> None:
        def resident(pid: int) -> float:
            try:
                mb = rss_mb(pid)
            except OSError:  # ended between the listing and the read
                return 0.0
            return 0.0 if mb != mb else mb  # a zombie has no VmRSS line (nan)

        while not self._stop.wait(0.1):
            server = resident(self.pid)
            workers = 0.0
            for pid in self._descendants():
                mb = resident(pid)
                workers += mb
                if mb > self.workers.get(pid, ("", 0.0))[1]:
                    self.workers[pid] = (self._command(pid), mb)
            self.peaks = tuple(max(a, b) for a, b in zip(self.peaks, (server, workers, server + workers), strict=True))


def colour_zip(path: Path, per_class: int = 32) -> Path:
    """A small dataset as a user has one: <class>/<n>.png in a zip, three colour classes."""
    import io
    import zipfile

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    with zipfile.ZipFile(path, "w") as zf:
        for c, name in enumerate(("red", "green", "blue")):
            for i in range(per_class):
                pixels = rng.integers(0, 60, (32, 32, 3)).astype(np.uint8)
                pixels[..., c] += 180
                buffer = io.BytesIO()
                Image.fromarray(pixels).save(buffer, format="PNG")
                zf.writestr(f"{name}/{i}.png", buffer.getvalue())
    return path


@pytest.fixture(scope="module")
def offline_server(tmp_path_factory):
    """The app as a newcomer starts it with no internet: shipped checkpoints, an empty runs folder, data
    of their own in an allowed folder, and no CIFAR-10 download possible."""
    base = tmp_path_factory.mktemp("tour")
    data = colour_zip(base / "colours.zip")
    env = {**os.environ, "GAN_RUNS_DIR": str(base / "runs"), "GAN_DATA_ROOTS": f"{base}{os.pathsep}{base / 'runs'}",
           "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"}  # no way out
    for name in ("GAN_DEFAULT_MODEL", "GAN_CHECKPOINTS_DIR", "GAN_CIFAR10", "GAN_DEMO_MODE"):
        env.pop(name, None)
    with streamlit_server(env, base / "streamlit.log") as (url, process, started):
        yield url, process, started, data


@pytest.fixture
def memory(offline_server):
    """The app's memory, sampled for the whole test (MemoryWatch)."""
    watch = MemoryWatch(offline_server[1].pid).start()
    yield watch
    watch.stop()


def choose(page, label: str, option: str) -> None:
    """Pick `option` in the Streamlit selectbox labelled `label`."""
    page.get_by_test_id("stSelectbox").filter(has_text=label).first.click()
    page.get_by_role("option", name=option, exact=True).click()


def test_a_newcomers_tour_offline(offline_server, page, tmp_path, memory):
    url, process, started, data = offline_server
    page.set_default_timeout(120_000)
    main = page.get_by_test_id("stMainBlockContainer")  # not the header's own Stop button
    page.goto(f"{url}/train")  # a bookmark, before anyone opened the app: still the app's page and navigation
    page.get_by_role("heading", name="Train", exact=True).wait_for()
    page.get_by_test_id("stSidebarNav").get_by_text("Latent explorer").wait_for()
    opened = time.perf_counter()
    page.goto(url)
    image = page.locator('[data-testid="stImage"] img').first
    image.wait_for()
    first_images = time.perf_counter() - opened
    wait_idle(page)
    before = image.get_attribute("src")
    clicked = time.perf_counter()
    main.get_by_role("button", name="New samples").click()
    page.wait_for_function("src => document.querySelector('[data-testid=\"stImage\"] img')?.getAttribute('src') "
                           "!== src", arg=before)
    grid_64 = time.perf_counter() - clicked
    assert_no_errors(page, "home")

    # Train on the user's own zip, watch two epochs arrive, stop, resume, stop.
    page.goto(f"{url}/train")
    page.get_by_text("Start a new run").wait_for()
    wait_idle(page)
    if not page.get_by_text("A path on this machine").is_visible():  # open when there is no run yet
        page.get_by_text("Start a new run").click()
    page.get_by_text("A path on this machine").click()
    page.get_by_label("Folder of <class>/<image> files, a .zip of them, or an .npz (x, y)", exact=True).fill(str(data))
    choose(page, "Preset", "tiny")
    page.get_by_label("Epochs", exact=True).fill("500")
    page.get_by_label("Batch size", exact=True).fill("16")
    page.get_by_label("Run name", exact=True).fill("tour")
    main.get_by_role("button", name="Start training").click()
    page.get_by_text("Fixed-noise samples").wait_for()  # the grids appear by themselves, newest first
    page.get_by_text(re.compile(r"^epoch ([2-9]|\d\d+)$")).first.wait_for()  # the caption under the grid
    assert_no_errors(page, "train, live")
    # While the page reruns, Streamlit keeps the last render's buttons beside the new ones until the script
    # ends: the same key, so either one acts, but only an enabled one takes the click.
    main.get_by_role("button", name="Stop", disabled=False).first.click()
    page.get_by_text("stopped", exact=True).first.wait_for()
    main.get_by_role("button", name="Resume", disabled=False).first.click()
    page.get_by_text("running", exact=True).first.wait_for()
    main.get_by_role("button", name="Stop", disabled=False).first.click()
    page.get_by_text("stopped", exact=True).first.wait_for()
    assert_no_errors(page, "train, stopped")

    peaks = {"home and training": peak_rss_mb(process.pid)}  # the server's peak RSS after each stage, MB
    # The new run everywhere else: pick it once, and every page (reached through the app's own navigation,
    # as a user clicks) shows it.
    nav = page.get_by_test_id("stSidebarNav")
    for title, heading in (("Latent explorer", "Latent explorer"), ("Real vs generated", "Real vs generated"),
                           ("Export", "Export"), ("Evaluate", "Evaluate")):
        nav.get_by_text(title, exact=True).click()
        page.get_by_role("heading", name=heading, exact=True).first.wait_for()
        wait_idle(page)
        if title == "Latent explorer":
            choose(page, "Model", "tour (run)")
            wait_idle(page)
        picker = page.get_by_test_id("stSelectbox").filter(has_text="Model").first
        assert "tour (run)" in picker.inner_text() + " ".join(picker.locator("input").evaluate_all(
            "inputs => inputs.map(i => i.value)")), title
        if title in ("Latent explorer", "Real vs generated"):
            page.locator('[data-testid="stImage"] img').first.wait_for()
        if title == "Export":
            main.get_by_role("button", name="Generate").click()
            main.get_by_role("button", name="Download").first.wait_for()
        if title == "Evaluate":
            main.get_by_role("button", name="Evaluate", exact=True).click()
            page.get_by_text("Scored tour in").first.wait_for()  # then saved to the run's evals.csv
        assert_no_errors(page, title)
        page.screenshot(path=str(tmp_path / f"tour-{title}.png"), full_page=True)
        peaks[title] = peak_rss_mb(process.pid)

    nav.get_by_text("Train", exact=True).click()
    main.get_by_role("button", name="Delete").first.click()
    main.get_by_role("button", name="Delete for good").click()
    page.get_by_text("Deleted tour.").wait_for()
    assert_no_errors(page, "train, deleted")
    peak = peak_rss_mb(process.pid)
    memory.stop()
    _, workers, together = memory.peaks
    print(f"\nnewcomer's tour: Home shows samples {first_images:.1f} s after it is opened (the server took "
          f"{opened - started:.1f} s to start and serve /train); a new 64-image grid "
          f"{grid_64:.1f} s; peak resident memory (sampled every 0.1 s): server {peak:.0f} MB, the processes "
          f"it started (trainer, evaluation worker) {workers:.0f} MB, all together {together:.0f} MB "
          f"(budget {SERVER_BUDGET_MB} / {APP_BUDGET_MB} MB); each worker's peak: "
          + ", ".join(f"{what} {mb:.0f}" for what, mb in memory.workers.values()) + "; the server after each stage: "
          + ", ".join(f"{stage} {mb:.0f}" for stage, mb in peaks.items())
          + "; the server's resident memory at the end: " + resident_split(process.pid))
    assert peak <= SERVER_BUDGET_MB, f"the server peaked at {peak:.0f} MB"
    assert together <= APP_BUDGET_MB, f"the app (server and its workers) peaked at {together:.0f} MB"
