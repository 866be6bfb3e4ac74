"""What a public deployment lets strangers do: demo mode, its caps, and what visitors may read of paths.

A public GAN Studio (Streamlit Community Cloud) shares one small machine among everyone who
opens the page, and takes file paths and uploads from them. So in demo mode `Limits` caps
uploads, images, epochs, exports, concurrent trainings and disk; there are no typed paths; and
messages name files, never where the server keeps them (`redact_paths`).

Demo-mode signal: `GAN_DEMO_MODE=1` / `0` decides when set. Otherwise demo mode is on when
the app looks like it runs on Streamlit Community Cloud, which publishes no official marker;
we use what its containers are known to have: the repository checked out under `/mount/src/`
(the path in its deploy logs), `HOSTNAME=streamlit`, or `STREAMLIT_SHARING_MODE` set (the
older Streamlit sharing). A false positive only adds caps; `GAN_DEMO_MODE=0` removes them.
Everything is a pure function of the environment passed in (default `os.environ`).
"""

from __future__ import annotations

import functools
import os
import re
import sys
import sysconfig
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gan.files import REPO_ROOT
from gan.security import NotAllowedError

CLOUD_SOURCE_ROOT = Path("/mount/src")
TRUE, FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Limits:
    """Caps on what one visitor may ask for; None means no cap."""

    max_upload_mb: int | None = None
    max_images: int | None = None
    max_epochs: int | None = None
    max_export_images: int | None = None
    max_workers: int | None = None  # processes beside the server, trainings and evaluations together (~0.7 GB each)
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
                     max_workers=1, max_disk_mb=2048)


def on_streamlit_cloud(environ: Mapping[str, str] | None = None, source: Path = REPO_ROOT) -> bool:
    """Best-effort: does this process look like Streamlit Community Cloud? (see the module doc)"""
    environ = os.environ if environ is None else environ
    return (source == CLOUD_SOURCE_ROOT or CLOUD_SOURCE_ROOT in source.parents
            or environ.get("HOSTNAME") == "streamlit" or "STREAMLIT_SHARING_MODE" in environ)


def demo_mode(environ: Mapping[str, str] | None = None, source: Path = REPO_ROOT) -> bool:
    """`GAN_DEMO_MODE` when it is set to a yes/no value, else whether we run on Community Cloud."""
    environ = os.environ if environ is None else environ
    flag = environ.get("GAN_DEMO_MODE", "").strip().lower()
    if flag in TRUE:
        return True
    if flag in FALSE:
        return False
    return on_streamlit_cloud(environ, source)


# An absolute POSIX path of two or more parts, not inside a URL ("https://host/a/b": each of its
# slashes follows a word character or another slash); after a colon it is a path ("path:/srv/x.zip"),
# and so is a file URL's ("file:///srv/x.zip").
_ABSOLUTE_PATH = re.compile(r"(?:(?<=file://)|(?<![\w./~-]))/(?:[^\s/'\"(),;:<>]+/)+([^\s/'\"(),;:<>]+)")
_NAME_END = r"(?=[/\s'\"(),;:<>]|$)"
_LAST_PART = r"[^\s/'\"(),;:<>]+"


@functools.lru_cache(maxsize=8)
def _server_folder_pattern(runs: str, home: str, cwd: str) -> re.Pattern[str]:
    """Paths under the folders this server is known to keep things in, spaces in folder names included.

    Generic path matching cannot tell where "/srv/My Data/x.png" ends; for these folders it need not:
    everything from the folder to the path's last part goes (a folder name may hold spaces, not end in one).
    """
    folders = {REPO_ROOT, Path(runs), Path(home), Path(cwd), Path(tempfile.gettempdir()), Path(sys.prefix),
               Path(sys.base_prefix), Path(sysconfig.get_paths()["purelib"])}
    names = {str(p) for folder in folders for p in (folder, Path(os.path.realpath(folder)))}
    names = sorted({n.rstrip("/") for n in names} - {""}, key=len, reverse=True)  # "/" is no folder to hide
    alternatives = "|".join(re.escape(n) for n in names)
    return re.compile(rf"(?<![\w.~-])(?:{alternatives}){_NAME_END}"
                      rf"(?:/[^/\n'\"<>]*[^/\s'\"<>](?=/))*(?:/{_LAST_PART})?")


def _last_part(match: re.Match[str]) -> str:
    path = match.group(0).rstrip("/")
    return path.rsplit("/", 1)[-1] if path.count("/") >= 2 else match.group(0)  # "/tmp" alone says nothing


def redact_paths(text: str) -> str:
    """`text` with every absolute path cut to its last part: a demo's errors and logs say which
    file (`upload.zip`, `status.json`), never where the server keeps it.

    The folders the server is known to use (the checkout, runs, home, working and temp folders,
    Python's) go first, whatever their names hold; then any other absolute path.
    """
    from gan.runs import runs_root

    known = _server_folder_pattern(str(runs_root()), str(Path.home()), os.getcwd())
    return _ABSOLUTE_PATH.sub(r"\1", known.sub(_last_part, text))


def limits(environ: Mapping[str, str] | None = None, source: Path = REPO_ROOT) -> Limits:
    return DEMO_LIMITS if demo_mode(environ, source) else UNLIMITED
