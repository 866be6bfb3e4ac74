"""Demo mode and confinement: what a public deployment lets strangers do, and which files it may read.

A public GAN Studio (Streamlit Community Cloud) shares one small machine among everyone who
opens the page, and takes file paths and uploads from them. So in demo mode:
- `Limits` caps uploads, images, epochs, exports and concurrent trainings (one at a time);
- data paths are confined to `allowed_data_roots()`: `check_data_path` resolves symlinks and
  `..` first, so a link inside a root that points outside it is refused too;
- model files are checked as archives (`check_model_file`) before Keras opens them;
- messages shown to visitors name files, not where they live on the server (`redact_paths`).

Everything is a pure function of the environment passed in (default `os.environ`); nothing
is cached at import, so tests and the app can change the environment freely.

Demo-mode signal: `GAN_DEMO_MODE=1` / `0` decides when set. Otherwise demo mode is on when
the app looks like it runs on Streamlit Community Cloud, which publishes no official marker;
we use what its containers are known to have: the repository checked out under `/mount/src/`
(the path in its deploy logs), `HOSTNAME=streamlit`, or `STREAMLIT_SHARING_MODE` set (the
older Streamlit sharing). A false positive only adds caps; `GAN_DEMO_MODE=0` removes them.
"""

from __future__ import annotations

import os
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLOUD_SOURCE_ROOT = Path("/mount/src")
TRUE, FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


class NotAllowedError(ValueError):
    """A request outside what this deployment allows; str(e) is one line for the user."""


@dataclass(frozen=True)
class Limits:
    """Caps on what one visitor may ask for; None means no cap."""

    max_upload_mb: int | None = None
    max_images: int | None = None
    max_epochs: int | None = None
    max_export_images: int | None = None
    max_concurrent_trainings: int | None = None
    max_disk_mb: int | None = None  # all runs and uploads together; the oldest idle runs go first

    def check(self, name: str, value: float, unit: str = "") -> None:
        """NotAllowedError when `value` exceeds the cap called `name` (a field of this class)."""
        cap = getattr(self, name)
        if cap is not None and value > cap:
            what = name.removeprefix("max_").replace("_", " ")
            raise NotAllowedError(f"{what} is limited to {cap}{unit} in this demo (asked for {value:g}{unit})")


UNLIMITED = Limits()
# Sized for Community Cloud's ~1 GB of memory and shared CPU: a tiny-preset run of a few
# epochs on at most 10k images finishes in minutes; exports stay small enough to download.
DEMO_LIMITS = Limits(max_upload_mb=50, max_images=10_000, max_epochs=5, max_export_images=256,
                     max_concurrent_trainings=1, max_disk_mb=2048)


def on_streamlit_cloud(environ: Mapping[str, str] | None = None, source: Path = REPO) -> bool:
    """Best-effort: does this process look like Streamlit Community Cloud? (see the module doc)"""
    environ = os.environ if environ is None else environ
    return (source == CLOUD_SOURCE_ROOT or CLOUD_SOURCE_ROOT in source.parents
            or environ.get("HOSTNAME") == "streamlit" or "STREAMLIT_SHARING_MODE" in environ)


def demo_mode(environ: Mapping[str, str] | None = None, source: Path = REPO) -> bool:
    """`GAN_DEMO_MODE` when it is set to a yes/no value, else whether we run on Community Cloud."""
    environ = os.environ if environ is None else environ
    flag = environ.get("GAN_DEMO_MODE", "").strip().lower()
    if flag in TRUE:
        return True
    if flag in FALSE:
        return False
    return on_streamlit_cloud(environ, source)


# An absolute POSIX path of two or more parts, not inside a URL ("https://host/a/b").
_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/~-])/(?:[^\s/'\"(),;:]+/)+([^\s/'\"(),;:]+)")


def redact_paths(text: str) -> str:
    """`text` with every absolute path cut to its last part: a demo's errors and logs say which
    file (`upload.zip`, `status.json`), never where the server keeps it."""
    return _ABSOLUTE_PATH.sub(r"\1", text)


def limits(environ: Mapping[str, str] | None = None, source: Path = REPO) -> Limits:
    return DEMO_LIMITS if demo_mode(environ, source) else UNLIMITED


def runs_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where runs are written: $GAN_RUNS_DIR, else runs/ in the repository (as gan.app_support)."""
    environ = os.environ if environ is None else environ
    return Path(environ.get("GAN_RUNS_DIR") or REPO / "runs")


def allowed_data_roots(environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> tuple[Path, ...]:
    """The directories training data may be read from, resolved; the one place this is configured.

    `GAN_DATA_ROOTS` (colon-separated) replaces the default: the working directory, Keras'
    dataset cache (~/.keras/datasets, where cifar10 is downloaded) and the runs directory.
    The local CIFAR-10 copy named by `GAN_CIFAR10` is always allowed: the owner chose it.
    """
    environ = os.environ if environ is None else environ
    configured = environ.get("GAN_DATA_ROOTS")
    if configured is not None:
        roots = [Path(p).expanduser() for p in configured.split(os.pathsep) if p.strip()]
    else:
        home = Path(environ.get("HOME") or Path.home())
        roots = [cwd or Path.cwd(), home / ".keras" / "datasets", runs_dir(environ)]
    cifar10 = environ.get("GAN_CIFAR10", "").strip()  # the owner's local CIFAR-10 copy is readable by design
    if cifar10:
        roots.append(Path(cifar10).expanduser())
    return tuple(dict.fromkeys(root.resolve() for root in roots))


def check_data_path(path: str | os.PathLike, roots: tuple[Path, ...] | None = None) -> Path:
    """The resolved `path` when it lies inside one of `roots` (default `allowed_data_roots()`).

    Symlinks and `..` are resolved first, so neither a link nor a relative path can step out.
    Raises NotAllowedError (one line) otherwise, or when the path cannot be resolved.
    """
    roots = allowed_data_roots() if roots is None else roots
    text = os.fspath(path)
    if not text or "\x00" in text:
        raise NotAllowedError("not a usable path")
    try:
        resolved = Path(text).expanduser().resolve(strict=True)
    except FileNotFoundError:
        raise NotAllowedError(f"{text}: no such file or directory") from None
    except (OSError, RuntimeError) as e:  # RuntimeError: a symlink loop
        raise NotAllowedError(f"{text}: cannot be resolved ({e.__class__.__name__})") from None
    if not any(resolved == root or root in resolved.parents for root in roots):
        allowed = ", ".join(str(root) for root in roots) or "nowhere"
        raise NotAllowedError(f"{text} is outside the allowed data folders ({allowed})")
    return resolved


def check_data_source(source: str, roots: tuple[Path, ...] | None = None) -> str:
    """A `--data` value made safe: "cifar10" as is, anything else through `check_data_path`."""
    if source == "cifar10":
        return source
    return str(check_data_path(source, roots))


# What a `.keras` archive of ours holds, and how big it may unpack: Keras reads config.json
# whole into memory, so a small file that inflates to gigabytes would take the app down.
KERAS_MEMBERS = {"config.json", "metadata.json", "model.weights.h5"}
MAX_CONFIG_BYTES = 10 * 2**20
MAX_UNPACKED_BYTES = 1 * 2**30


def check_model_file(path: str | os.PathLike) -> Path:
    """Refuse a `.keras` file that is not a plain Keras archive, before Keras parses any of it.

    Checks the zip directory only (no decompression): the expected members and nothing else,
    a bounded config.json and total unpacked size. Safe loading (`safe_mode=True`) then guards
    what the config may name; this guards memory and disk.
    """
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (OSError, zipfile.BadZipFile, ValueError, EOFError):
        raise NotAllowedError(f"{path.name} is not a .keras model archive") from None
    names = [m.filename for m in members]
    unexpected = sorted(set(names) - KERAS_MEMBERS)
    if unexpected or len(names) != len(set(names)) or "config.json" not in names:
        raise NotAllowedError(f"{path.name} is not a plain .keras model (members: {', '.join(sorted(names))[:120]})")
    sizes = {m.filename: m.file_size for m in members}
    if sizes["config.json"] > MAX_CONFIG_BYTES or sum(sizes.values()) > MAX_UNPACKED_BYTES:
        raise NotAllowedError(f"{path.name} unpacks to {sum(sizes.values()) // 2**20} MB; refused")
    return path
