"""Plain helpers shared by the test modules: `from helpers import REPO, ...` (tests/ is on sys.path).

Not a test module and holds no fixtures: the fixtures (tiny_run and friends) are in conftest.py,
which builds on these. Nothing here imports Streamlit or Keras at import time.
"""

from __future__ import annotations

import contextlib
import io
import os
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
APP = str(REPO / "app.py")
CLASSES = ["red", "green", "blue"]  # the classes of make_npz and noisy_colours, in label order


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


# --- the app's pages and run folders (tests/pages, tests/studio, tests/e2e) --------------------------------


def use_runs(runs: Path, tmp_path: Path, monkeypatch) -> None:
    """The app lists the runs in `runs`, has tmp_path/checkpoints (empty until a test fills it), no demo mode."""
    monkeypatch.setenv("GAN_RUNS_DIR", str(runs))
    monkeypatch.setenv("GAN_CHECKPOINTS_DIR", str(tmp_path / "checkpoints"))
    local_env(monkeypatch, tmp_path)


def page(name: str):
    """pages/<name> on its own, run once (an AppTest): fast, no Home."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / "pages" / name), default_timeout=120)
    at.run()
    return at


def texts(at) -> str:
    """The page's markdown, captions and info boxes, one a line."""
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [i.value for i in at.info]
    return "\n".join(str(p) for p in parts)


def errors(at) -> str:
    return "\n".join(e.value for e in at.error)


def train_page():
    """The app's Train page, reached from Home, with no error on it."""
    at = app()
    at.switch_page("pages/train.py").run()
    assert_clean(at)
    return at


def fill_form(at, data: Path, name: str) -> None:
    at.radio(key="train_source").set_value("A path on this machine").run()
    at.text_input(key="train_data_path").input(str(data))
    at.text_input(key="train_run_name").input(name)
    at.number_input(key="train_epochs").set_value(1000)
    at.number_input(key="train_batch_size").set_value(16)
    at.number_input(key="train_log_every").set_value(1)
    at.selectbox(key="train_conditional").set_value("yes")
    at.selectbox(key="train_jit").select("off")


def submit(at) -> None:
    next(b for b in at.button if b.label == "Start training").click().run()


class FakeProcess:
    """A trainer as the registry sees it: alive (returncode None) or exited with `returncode`."""

    def __init__(self, returncode: int | None = None):
        self.returncode, self.terminated = returncode, False

    def poll(self) -> int | None:
        return self.returncode

    def terminate(self) -> None:
        self.terminated, self.returncode = True, -15


class Finished:
    """What a recorder returns instead of a Popen: a process that has already exited."""

    def poll(self) -> int:
        return 0

    def terminate(self) -> None:
        pass


def stopped_run(folder: Path, steps: int | None = None, checkpoint: bool = True):
    """A run that trained 3 epochs and was stopped, with its checkpoint (never loaded here): a gan.runs.Run."""
    import json

    from gan.config import TrainConfig
    from gan.runs import Run

    folder.mkdir(parents=True)
    config = TrainConfig.for_preset("tiny", epochs=3, steps=steps, data="x.npz")
    (folder / "config.json").write_text(config.to_json())
    (folder / "status.json").write_text(json.dumps({"state": "stopped", "step": 12, "total_steps": 12,
                                                    "epoch": 3, "updated_at": time.time() - 60}))
    if checkpoint:
        (folder / "ckpt").mkdir()
        (folder / "ckpt" / "latest.npz").write_bytes(b"placeholder")
    return Run(folder)


def write_stopped_run(run_dir: Path) -> None:
    """A tiny run stopped after 3 epochs, with a checkpoint (never loaded by the page), in run_dir."""
    import json

    from gan.config import TrainConfig

    (run_dir / "ckpt").mkdir(parents=True)
    (run_dir / "ckpt" / "latest.npz").write_bytes(b"placeholder")
    (run_dir / "config.json").write_text(TrainConfig.for_preset("tiny", epochs=3, data="x.npz").to_json())
    (run_dir / "status.json").write_text(json.dumps({"state": "stopped", "step": 12, "total_steps": 12, "epoch": 3}))


def hand_run(path: Path, state: str, epochs: int = 2):
    """A run folder as the trainer leaves it (config, status, a checkpoint file), without training: a Run."""
    from gan.config import TrainConfig
    from gan.runs import Run

    run = Run(path)
    path.mkdir(parents=True)
    run.config_path.write_text(TrainConfig(preset="tiny", epochs=epochs).to_json())
    run.checkpoint_path.parent.mkdir()
    run.checkpoint_path.write_bytes(b"placeholder: only its presence is read here")
    run.write_status(state=state, pid=None, step=1, total_steps=10, epoch=0)
    return run


def run_folder(folder: Path, status: dict | None, best: dict | None = None, **config):
    """A run folder with a config (tiny preset, `config` overriding), an optional status.json and best.json."""
    import json

    from gan.config import TrainConfig
    from gan.runs import Run

    folder.mkdir(parents=True)
    (folder / "config.json").write_text(TrainConfig(preset="tiny", **config).to_json())
    if status is not None:
        (folder / "status.json").write_text(json.dumps(status))
    if best is not None:
        (folder / "best.json").write_text(json.dumps(best))
    return Run(folder)


def png(colour: tuple[int, int, int]) -> bytes:
    """A 32x32 PNG of one colour."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def zip_of(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


# --- the Evaluate page and scores (tests/pages/test_evaluate.py, tests/studio/test_scores.py, tests/e2e) ---

EVALUATE_PAGE = str(REPO / "pages" / "evaluate.py")
HEADER = "step,metric,value,n,reference,extractor,time\n"  # evals.csv's
EVALS = HEADER + (  # two checkpoints scored at 2k samples, a live score at 64, a metric without a floor
    "100,fd_cifar2k,80.5,2000,cifar10:50000,cifar,1\n"
    "100,fd_cifar2k_floor,2.5,2000,cifar10:50000,cifar,1\n"
    "200,fd_cifar64,95,64,cifar10:50000,cifar,2\n"
    "200,fd_cifar64_floor,30,64,cifar10:50000,cifar,2\n"
    "300,fd_cifar2k,61.25,2000,cifar10:50000,cifar,3\n"
    "300,fd_cifar2k_floor,2.75,2000,cifar10:50000,cifar,3\n"
    "300,class_acc10k,0.5,10000,cifar10:50000,cifar,3\n"
)


def hand_written_run(folder: Path, evals: str | None = EVALS, step: int = 300) -> Path:
    """A run folder with a config, a status, a placeholder generator (never loaded here) and scores."""
    import json

    from gan.config import TrainConfig

    folder.mkdir(parents=True)
    (folder / "config.json").write_text(TrainConfig(preset="tiny", conditional=True, epochs=3).to_json())
    (folder / "status.json").write_text(json.dumps({"state": "finished", "step": step, "epoch": 3}))
    (folder / "generator.keras").write_bytes(b"placeholder: the page only loads it to evaluate")
    if evals is not None:
        (folder / "evals.csv").write_text(evals)
    return folder


def evaluate_page():
    """The Evaluate page on its own: fast (Home would load and sample a model first)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(EVALUATE_PAGE, default_timeout=120)
    at.run()
    return at


def charts(at) -> list:
    return list(at.get("arrow_vega_lite_chart")) + list(at.get("vega_lite_chart"))


def single_point_table(at):
    """The table of metrics measured at one checkpoint only: the one with a `real-data floor` column."""
    return next(d.value for d in at.dataframe if "real-data floor" in d.value.columns)


def compare_table(at):
    """The "Compare runs" dataframe: the one with a `run` column."""
    return next(d.value for d in at.dataframe if "run" in d.value.columns)


# --- the gan package's tests (tests/gan, and their slow halves in tests/e2e) ----------------------------------

TINY_IMAGES = 32  # conftest.py's tiny_data: 4 steps per epoch at a batch of 8


def npz_declaring(path: Path, **arrays: tuple[str, tuple[int, ...]] | np.ndarray) -> Path:
    """An .npz whose members are real arrays or, for (descr, shape), a header declaring that shape and
    then only 100 bytes of data: numpy, trusting the header, allocates the declared size before reading."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, value in arrays.items():
            body = io.BytesIO()
            if isinstance(value, np.ndarray):
                np.lib.format.write_array(body, value, allow_pickle=False)
            else:
                descr, shape = value
                np.lib.format.write_array_header_1_0(body, {"descr": descr, "fortran_order": False,
                                                            "shape": shape})
                body.write(bytes(100))
            zf.writestr(f"{name}.npy", body.getvalue())
    return path


def cifar_like_zip(path: Path, classes=None, per_class: int = 2) -> Path:
    """A .zip laid out like the CIFAR-10 one: train/<class>/<i>.png, for `classes` (default: CIFAR-10's ten)."""
    from PIL import Image

    if classes is None:
        from gan.data import CIFAR10_CLASSES as classes
    with zipfile.ZipFile(path, "w") as zf:
        for k, name in enumerate(classes):
            for i in range(per_class):
                buffer = io.BytesIO()
                Image.new("RGB", (32, 32), (20 * k, 5 * i, 100)).save(buffer, format="PNG")
                zf.writestr(f"train/{name}/{i}.png", buffer.getvalue())
    return path


def noisy_colours(n_per_class: int = 24, classes: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(images, labels): each class a noisy solid colour, learnable in a few steps."""
    rng = np.random.default_rng(seed)
    colours = np.array([[220, 40, 40], [40, 220, 40], [40, 40, 220]])[:classes]
    labels = np.repeat(np.arange(classes), n_per_class).astype(np.int32)
    images = colours[labels][:, None, None, :] + rng.normal(0, 20, (len(labels), 32, 32, 3))
    return np.clip(images, 0, 255).astype(np.uint8), labels


def digest(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(directory: Path) -> dict[str, str]:
    """Every regular file under `directory` by its content."""
    return {str(p.relative_to(directory)): digest(p) for p in sorted(directory.rglob("*")) if p.is_file()}


def snapshot_with_links(directory: Path) -> dict[str, str]:
    """Every regular file under `directory` (links not followed) by content, and every link by its target."""
    seen = {}
    for p in sorted(directory.rglob("*")):
        if p.is_symlink():
            seen[str(p.relative_to(directory))] = "-> " + os.readlink(p)
        elif p.is_file():
            seen[str(p.relative_to(directory))] = digest(p)
    return seen


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def run_cli(capsys, *argv: str) -> tuple[int, str]:
    """`python -m gan <argv>` in this process: (exit code, its one error line or "")."""
    from gan.cli import main

    code = main(list(argv))
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) <= 1, err
    return code, err[0] if err else ""


def one_error_line(capsys) -> str:
    """The one line the command wrote to stderr, an error."""
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def last_error_line(stderr: str) -> str:
    """The last line of a process' stderr, an error."""
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    assert len(lines) >= 1 and lines[-1].startswith("error: "), stderr
    return lines[-1]


def marker_lambda(marker: Path):
    """A Python lambda whose bytecode creates `marker` when it runs (Keras serialises it as marshal'd code)."""
    return eval(f"lambda x: (open({str(marker)!r}, 'w').close(), x)[1]")  # noqa: S307 - building the bait


# --- the `strong` preset's models (tests/gan/models/test_strong.py, tests/e2e/test_strong.py) --------------

STRONG_TINY = {"g_channels": 16, "d_channels": 16}  # 16 channels wide: fast on 2 CPU cores


def tiny_config(extra: dict | None = None, **overrides):
    """The `strong` preset at STRONG_TINY's widths and a batch of 8: a gan.config.TrainConfig."""
    from gan.config import TrainConfig

    return TrainConfig.for_preset("strong", extra={**STRONG_TINY, **(extra or {})}, batch_size=8, **overrides)


def g_inputs(batch: int, labels=None, seed: int = 0):
    import keras

    z = keras.ops.convert_to_tensor(np.random.default_rng(seed).standard_normal((batch, 128)).astype(np.float32))
    return z if labels is None else [z, keras.ops.convert_to_tensor(np.asarray(labels, np.int32))]


def layers_of(model, kind: type) -> list:
    return [layer for layer in model.layers if isinstance(layer, kind)]


def perturb_cbn(model, seed: int = 0) -> None:
    """Give every conditional BN a class-dependent gain and bias, as training would (they start at 0)."""
    from gan.layers import ConditionalBatchNorm

    rng = np.random.default_rng(seed)
    for layer in layers_of(model, ConditionalBatchNorm):
        for kernel in (layer.gain_kernel, layer.bias_kernel):
            kernel.assign(rng.normal(0, 1, kernel.shape).astype(np.float32))
