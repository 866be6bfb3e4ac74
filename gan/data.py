"""Load image datasets into memory as uint8 arrays.

One job: turn a data source into ``(images, labels, class_names)``. Sources are
``"cifar10"`` (Keras download), a folder of ``<class>/<image>`` files, a ``.zip``
of such files, or an ``.npz`` with ``x`` / ``y`` / ``class_names`` arrays.

Every input is treated as untrusted: zip members are read in memory (never
extracted), unsafe member names are skipped, zip bombs and decompression bombs
are refused, and ``.npz`` files are opened with ``allow_pickle=False``.
Anything wrong with a source becomes a :class:`DataError` with a one-line
message, which the CLI prints as is.

Keras is imported lazily (only for ``"cifar10"``) so importing this module
stays cheap for the Streamlit app.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import os
import re
import stat
import time
import warnings
import zipfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from gan.files import keras_datasets_dir, npy_header

log = logging.getLogger("gan.data")

CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"})
# Pillow format ids matching IMAGE_EXTENSIONS (MPO: multi-picture camera JPEGs).
# Restricting Image.open to these keeps exotic plugins (EPS -> Ghostscript, ...)
# away from untrusted bytes.
_PIL_FORMATS = ("JPEG", "MPO", "PNG", "BMP", "GIF", "WEBP")

MAX_PIXELS = 16_000_000  # per image, checked from the header before decoding (files and .npz alike)
MAX_ZIP_ENTRIES = 500_000
MAX_MEMBER_BYTES = 20 * 1024 * 1024  # declared uncompressed size of one member
MAX_TOTAL_BYTES = 4 * 1024**3  # declared uncompressed size of the whole archive
MAX_FAILED_FRACTION = 0.01  # more unreadable images than this -> DataError
MAX_CLASSES = 10_000  # classes of any source: each costs memory in the models and the metrics
MAX_CLASS_NAME_CHARS = 1_000  # per class name an .npz declares
_CHUNK = 512  # images per thread-pool task

# Pillow's own decompression-bomb check, for every image this process opens, at our limit; and its
# warnings silenced: over MAX_PIXELS we refuse with our own line, and a corrupt EXIF block only loses
# the orientation, so a warning naming Pillow's site-packages file would tell a user nothing.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
warnings.filterwarnings("ignore", message=r"(Possibly )?[Cc]orrupt EXIF", category=UserWarning, module=r"PIL\.")


class DataError(ValueError):
    """Bad data source; ``str(e)`` is one clear line for the user, ending in ``advice`` when given
    (what to do: `gan.errors.first_line` never cuts it)."""

    def __init__(self, message: str, advice: str = "") -> None:
        self.advice = " ".join(advice.split())
        full = f"{message}; {self.advice}" if self.advice else str(message)
        super().__init__(" ".join(full.split()))  # force a single line


@dataclass(frozen=True)
class Dataset:
    """Images ``(N, S, S, 3)`` uint8 with int32 labels in ``[0, num_classes)``."""

    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    skipped: int = 0  # unreadable files and unsafe zip members that were left out
    source: str = ""

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def stratified_split(labels: np.ndarray, val_size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Train/validation indices with each class held out in proportion to its size.

    Stratified so a held-out score is not skewed by an unlucky class mix. Used for the classifier's
    validation set and for the images a training run holds out (`--holdout`).
    """
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    val_size = min(val_size, len(labels) // 2)
    train, val = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        k = int(round(val_size * len(idx) / len(labels)))
        val.append(idx[:k])
        train.append(idx[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def holdout_split(data: Dataset, count: int, seed: int) -> tuple[Dataset, np.ndarray]:
    """(the training part of `data`, the sorted indices of the `count` images held out of it).

    At most half the images: stratified_split would quietly hold out fewer, and the run would record
    a test set smaller than the one asked for.
    """
    if count > len(data.labels) // 2:
        raise DataError(f"holdout {count:,} is more than half of the {len(data.labels):,} images of "
                        f"{data.source or 'the data'}; hold out at most {len(data.labels) // 2:,}")
    train, held = stratified_split(data.labels, count, seed)
    kept = Dataset(data.images[train], data.labels[train], data.class_names, data.skipped, data.source)
    return kept, held


def load_dataset(source: str, image_size: int = 32, limit: int | None = None, seed: int = 0,
                 roots: Sequence[Path] | None = None) -> Dataset:
    """Load ``source`` as ``image_size`` square RGB images.

    With ``limit``, at most ``limit`` images are kept, picked by a random
    permutation seeded with ``seed``; only the kept files are decoded.
    ``class_names`` always lists every class of the source, so labels mean the
    same thing with or without ``limit``.
    With ``roots`` (the app's allowed data folders), files of a folder source whose
    real path (symlinks resolved) lies outside every root are skipped, never read.
    """
    if not source.strip():
        raise DataError("the data source is empty: give 'cifar10', an image folder, a .zip or an .npz file")
    if image_size < 1:
        raise DataError(f"image_size must be positive, got {image_size}")
    if limit is not None and limit < 1:
        raise DataError(f"limit must be positive, got {limit}")
    if source.strip().lower() == "cifar10":
        return _load_cifar10(image_size, limit, seed)
    path = Path(source).expanduser()
    if not path.exists():
        raise DataError(
            f"data source '{source}' not found: expected 'cifar10', an image folder, a .zip or an .npz file"
        )
    if path.is_dir():
        return _load_folder(path, image_size, limit, seed, roots)
    suffix = path.suffix.lower()
    if suffix == ".zip":
        return _load_zip(path, image_size, limit, seed)
    if suffix == ".npz":
        return _load_npz(path, image_size, limit, seed)
    raise DataError(f"unsupported data source '{source}': expected 'cifar10', an image folder, a .zip or an .npz file")


def decode_image(data: bytes, image_size: int) -> np.ndarray:
    """Decode one image file's bytes to a uint8 ``(S, S, 3)`` RGB array.

    Raises :class:`DataError` for anything that is not a readable, reasonably
    sized PNG/JPEG/BMP/GIF/WebP image.
    """
    return _decode(data, image_size)[0]


# --- decoding ---------------------------------------------------------------


@functools.cache
def _formats() -> tuple[str, ...]:
    """The allowed Pillow formats this Pillow build can actually open."""
    Image.init()
    return tuple(f for f in _PIL_FORMATS if f in Image.OPEN)


def _square(im: Image.Image) -> Image.Image:
    """The centred square crop (crop first: resize(box=...) would let the filter see pixels outside)."""
    w, h = im.size
    if w == h:
        return im
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    return im.crop((left, top, left + side, top + side))


def _fit(im: Image.Image, size: int) -> Image.Image:
    """Center-crop to a square and resize to ``size`` (no-op when already right)."""
    if im.size == (size, size):
        return im
    return _square(im).resize((size, size), Image.Resampling.BICUBIC)


def _to_rgb(im: Image.Image, size: int) -> Image.Image:
    """Any mode -> 8-bit RGB as a viewer shows it, fitted to ``size``. Alpha is dropped (not composited):
    pixels keep their colour.

    Pillow's own convert() clips 16-bit grey to 255 (a 16-bit photo turns white); it is rescaled from
    its bit depth here instead, after fitting in 32-bit floats: 4 bytes a pixel once, where rescaling
    the full image in float64 first cost ~30 (a 16-megapixel grey PNG peaked near 500 MB).
    """
    if im.mode.startswith("I;16") or im.mode in ("I", "F"):  # 16-bit grey (PNG), as Pillow opens it
        small = _fit(_square(im).convert("F"), size)
        values = np.asarray(small, dtype=np.float32) * np.float32(255.0 / 65535.0)
        return Image.fromarray(np.clip(values, 0, 255).round().astype(np.uint8), "L").convert("RGB")
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")  # avoids Pillow's palette-transparency warning
    return _fit(im if im.mode == "RGB" else im.convert("RGB"), size)


_OBJECT_REPR = re.compile(r"\s*<[\w.]+ object at 0x[0-9a-fA-F]+>")


def _reason(error: Exception) -> str:
    """Why Pillow could not read an image, in words a user can act on (never an object's repr)."""
    if isinstance(error, UnidentifiedImageError):
        return "not a PNG, JPEG, BMP, GIF or WebP image"
    if isinstance(error, Image.DecompressionBombError):
        return f"over the {MAX_PIXELS:,}-pixel limit"
    text = _OBJECT_REPR.sub("", str(error)).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _decode(data: bytes, size: int) -> tuple[np.ndarray, bool]:
    """Decode bytes; also report whether the image had to be resized.

    The size an image declares is checked before it is decoded (Pillow opens lazily).
    """
    try:
        im = Image.open(io.BytesIO(data), formats=_formats())
        w, h = im.size
        if w < 1 or h < 1 or w * h > MAX_PIXELS:
            raise DataError(f"image is {w}x{h} pixels, over the {MAX_PIXELS:,}-pixel limit")
        if min(w, h) >= 2 * size:
            im.draft("RGB", (size, size))  # JPEG: libjpeg downscales big images cheaply
        im = ImageOps.exif_transpose(im)  # a phone photo's EXIF orientation: upright, as viewers show it
        arr = np.asarray(_to_rgb(im, size), dtype=np.uint8)
    except DataError:
        raise
    except Exception as e:  # untrusted bytes: Pillow raises many types
        raise DataError(f"unreadable image ({_reason(e)})") from e
    if arr.shape != (size, size, 3):
        raise DataError(f"unreadable image (decoded to shape {arr.shape})")
    return arr, (w, h) != (size, size)


def _read(read: Callable[[str], bytes], key: str) -> bytes:
    """``read(key)``, with any failure turned into a per-file DataError."""
    try:
        return read(key)
    except DataError:
        raise
    except Exception as e:  # bad CRC, encrypted or unsupported zip member, I/O error...
        raise DataError(f"unreadable file ({type(e).__name__}: {e})") from e


def _decode_many(
    keys: Sequence[str], read: Callable[[str], bytes], size: int
) -> tuple[np.ndarray, np.ndarray, int, list[str]]:
    """Read and decode ``keys`` in chunks on a thread pool.

    Pillow releases the GIL while decoding and resizing, which pays off for
    photos; for tiny CIFAR JPEGs Pillow's Python-side header parsing dominates.
    Returns (images, ok mask, number resized, error messages).
    """
    n = len(keys)
    out = np.zeros((n, size, size, 3), np.uint8)
    ok = np.zeros(n, bool)
    _formats()  # initialise Pillow plugins once, before the threads start

    def work(start: int) -> tuple[int, list[str]]:
        resized, errors = 0, []
        for i in range(start, min(start + _CHUNK, n)):
            try:
                out[i], was_resized = _decode(_read(read, keys[i]), size)
            except DataError as e:
                errors.append(f"{keys[i]}: {e}")
                continue
            ok[i] = True
            resized += was_resized
        return resized, errors

    workers = max(2, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(work, range(0, n, _CHUNK)))
    errors = [e for _, errs in results for e in errs]
    return out, ok, sum(r for r, _ in results), errors


# --- file sources (folder, zip) ----------------------------------------------


def _is_image_name(name: str) -> bool:
    """Image extension, and not a hidden / macOS resource-fork file."""
    base = name.rsplit("/", 1)[-1]
    return not base.startswith(".") and os.path.splitext(base)[1].lower() in IMAGE_EXTENSIONS


def _from_files(
    entries: list[tuple[str, str]],
    read: Callable[[str], bytes],
    image_size: int,
    limit: int | None,
    seed: int,
    source: str,
    skipped: int = 0,
) -> Dataset:
    """Build a Dataset from ``(key, class)`` entries; class "" means no class folder."""
    if not entries:
        raise DataError(f"no images ({', '.join(sorted(IMAGE_EXTENSIONS))}) found in {source}")
    entries.sort()
    if all(cls == "" for _, cls in entries):
        entries = [(key, "all") for key, _ in entries]
    elif any(cls == "" for _, cls in entries):
        loose = sum(cls == "" for _, cls in entries)
        log.warning("ignoring %d images outside class folders in %s", loose, source)
        entries = [e for e in entries if e[1] != ""]
    class_names = tuple(sorted({cls for _, cls in entries}))
    if len(class_names) > MAX_CLASSES:
        raise DataError(f"{source} has {len(class_names):,} class folders; "
                        f"at most {MAX_CLASSES:,} classes are supported")
    index = {name: i for i, name in enumerate(class_names)}
    keys = [key for key, _ in entries]
    labels = np.array([index[cls] for _, cls in entries], np.int32)

    if limit is not None and limit < len(keys):
        keep = np.sort(np.random.default_rng(seed).permutation(len(keys))[:limit])
        keys, labels = [keys[i] for i in keep], labels[keep]

    images, ok, resized, errors = _decode_many(keys, read, image_size)
    failed = len(errors)
    if failed and (failed > MAX_FAILED_FRACTION * len(keys) or failed == len(keys)):
        raise DataError(
            f"{failed} of {len(keys)} image files could not be read in {source} "
            f"(more than {MAX_FAILED_FRACTION:.0%} allowed); first error: {errors[0]}"
        )
    if failed:
        log.warning(
            "skipped %d unreadable image files in %s, e.g. %s",
            failed,
            source,
            errors[0],
        )
    if resized:
        log.info(
            "resized %d of %d images to %dx%d",
            resized,
            len(keys),
            image_size,
            image_size,
        )
    return Dataset(images[ok], labels[ok], class_names, skipped + failed, source)


def _inside(path: str, roots: Sequence[Path]) -> bool:
    real = Path(os.path.realpath(path))
    return any(real == root or root in real.parents for root in roots)


def _load_folder(root: Path, image_size: int, limit: int | None, seed: int,
                 roots: Sequence[Path] | None = None) -> Dataset:
    """``root/<class>/<image>``; class = parent folder name ("all" if all are in root).

    Only regular files count: a named pipe or a link to a device would block or never end.
    """
    entries, outside = [], 0
    resolved_roots = [Path(os.path.realpath(r)) for r in roots] if roots is not None else None
    for dirpath, dirnames, filenames in os.walk(root):  # does not follow symlinked dirs
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        cls = "" if Path(dirpath) == root else Path(dirpath).name
        for name in filenames:
            full = os.path.join(dirpath, name)
            if not _is_image_name(name) or not os.path.isfile(full):  # isfile: regular, links followed
                continue
            if resolved_roots is not None and not _inside(full, resolved_roots):
                outside += 1
                continue
            entries.append((full, cls))
    if outside:
        log.warning("skipped %d files in %s that link outside the allowed data folders", outside, root)
    return _from_files(entries, _read_file, image_size, limit, seed, str(root))


def _read_file(path: str) -> bytes:
    """The file's bytes, refusing anything but a regular file of at most MAX_MEMBER_BYTES.

    Opened without blocking and checked on the open descriptor, so a file swapped for a pipe
    after the folder was listed cannot hang the read.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise DataError("not a regular file")
        if info.st_size > MAX_MEMBER_BYTES:
            raise DataError(f"file is {info.st_size:,} bytes, over the {MAX_MEMBER_BYTES // 2**20} MB per-image limit")
        return f.read(MAX_MEMBER_BYTES + 1)[:MAX_MEMBER_BYTES]


def _unsafe_member(name: str) -> bool:
    """Absolute paths, drive letters and ``..`` parts: never trusted, never followed."""
    name = name.replace("\\", "/")
    return name.startswith("/") or (len(name) > 1 and name[1] == ":") or ".." in name.split("/")


def _check_zip_limits(zf: zipfile.ZipFile, path: Path) -> None:
    """Refuse zip bombs using the sizes the archive declares (reads never exceed them)."""
    infos = zf.infolist()
    if len(infos) > MAX_ZIP_ENTRIES:
        raise DataError(f"{path} has {len(infos):,} entries, over the {MAX_ZIP_ENTRIES:,} limit")
    big = next((i for i in infos if i.file_size > MAX_MEMBER_BYTES), None)
    if big is not None:
        raise DataError(
            f"{path}: member '{big.filename}' declares {big.file_size:,} bytes, "
            f"over the {MAX_MEMBER_BYTES // 2**20} MB per-file limit"
        )
    total = sum(i.file_size for i in infos)
    if total > MAX_TOTAL_BYTES:
        raise DataError(f"{path} declares {total:,} uncompressed bytes, over the {MAX_TOTAL_BYTES // 2**30} GB limit")


def _load_zip(path: Path, image_size: int, limit: int | None, seed: int) -> Dataset:
    """Members ``[anything/]<class>/<image>``, read in memory; class = parent dir name."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        raise DataError(f"{path} is not a valid zip file ({e})") from e
    with zf:
        _check_zip_limits(zf, path)
        entries, unsafe = [], 0
        for info in zf.infolist():
            name = info.filename
            if info.is_dir() or "__MACOSX" in name.split("/"):
                continue
            if _unsafe_member(name):
                unsafe += 1
                continue
            parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]  # "./a//b" is "a/b"
            hidden = any(p.startswith(".") for p in parts[:-1])  # skipped, as the folder loader skips them
            if _is_image_name("/".join(parts)) and not hidden:
                entries.append((name, parts[-2] if len(parts) > 1 else ""))
        if unsafe:
            log.warning("skipped %d zip members with absolute or '..' paths in %s", unsafe, path)
        return _from_files(entries, lambda name: _read_member(zf, name), image_size, limit, seed, str(path), unsafe)


def _read_member(zf: zipfile.ZipFile, name: str) -> bytes:
    """A member's bytes, never inflating past its declared size (checked against the limits):
    `ZipFile.read` inflates a whole compressed chunk at once, so a member that lies about its
    size could expand to gigabytes before the CRC check refuses it. Reading exactly the declared
    size stops there, and the CRC check still runs."""
    info = zf.getinfo(name)
    with zf.open(info) as member:
        return member.read(info.file_size)


# --- array sources (npz, cifar10) ---------------------------------------------


def _fit_array(x: np.ndarray, image_size: int) -> np.ndarray:
    """Resize a uint8 (N, H, W, 3) array to square ``image_size`` images if needed."""
    if x.shape[1:3] == (image_size, image_size):
        return x
    log.info("resized %d of %d images to %dx%d", len(x), len(x), image_size, image_size)
    return np.stack([np.asarray(_fit(Image.fromarray(im), image_size)) for im in x])


def _from_arrays(
    x: np.ndarray,
    y: np.ndarray,
    class_names: tuple[str, ...],
    image_size: int,
    limit: int | None,
    seed: int,
    source: str,
) -> Dataset:
    """Subset (before resizing, so ``limit`` stays cheap), resize, package."""
    if limit is not None and limit < len(x):
        keep = np.sort(np.random.default_rng(seed).permutation(len(x))[:limit])
        x, y = x[keep], y[keep]
    x = _fit_array(np.ascontiguousarray(x), image_size)
    return Dataset(x, y.astype(np.int32), class_names, 0, source)


_NPZ_ARRAYS = ("x", "y", "class_names")


def _npz_headers(zf: zipfile.ZipFile, path: Path) -> dict[str, tuple[str, tuple[int, ...], np.dtype]]:
    """{array: (member, shape, dtype)} for the arrays we use, from their .npy headers alone."""
    names = set(zf.namelist())
    headers = {}
    for key in _NPZ_ARRAYS:
        member = next((m for m in (f"{key}.npy", key) if m in names), None)
        if member is None:
            continue
        try:
            shape, dtype = npy_header(zf, member)
        except ValueError as e:
            raise DataError(f"{path}: '{key}' is not a numpy array ({e})") from None
        if dtype.hasobject:
            raise DataError(f"{path} contains object arrays or pickled data, which are never "
                            "loaded (allow_pickle=False); save plain numeric arrays instead")
        headers[key] = (member, shape, dtype)
    return headers


def _check_npz_headers(headers: dict[str, tuple[str, tuple[int, ...], np.dtype]], path: Path) -> None:
    """Refuse, from the declared shapes and dtypes, every array we would not use, before any is read.

    So a small file declaring billions of labels, or a 30000x30000 image, is one line, not an allocation.
    """
    if "x" not in headers:
        raise DataError(f"{path} has no 'x' array (expected uint8 images of shape (N, H, W, 3))")
    _, shape, dtype = headers["x"]
    if dtype != np.uint8:
        raise DataError(f"{path}: 'x' has dtype {dtype}, expected uint8")
    if len(shape) not in (3, 4) or (len(shape) == 4 and shape[-1] not in (1, 3, 4)) or min(shape[1:3], default=0) < 1:
        raise DataError(f"{path}: 'x' has shape {shape}, expected (N, H, W[, 1|3|4])")
    n, h, w = shape[:3]
    if n == 0:
        raise DataError(f"{path}: 'x' holds no images")
    if h * w > MAX_PIXELS:
        raise DataError(f"{path}: 'x' declares images of {w}x{h} pixels, over the {MAX_PIXELS:,}-pixel limit")
    rgb = n * h * w * 3  # what the images take once grey is repeated to RGB
    if rgb > MAX_TOTAL_BYTES:
        raise DataError(f"{path}: 'x' declares {n:,} images of {w}x{h}, {rgb / 2**30:,.1f} GB as RGB, "
                        f"over the {MAX_TOTAL_BYTES // 2**30} GB limit")
    if "y" in headers:
        _, y_shape, y_dtype = headers["y"]
        if not np.issubdtype(y_dtype, np.integer):
            raise DataError(f"{path}: 'y' has dtype {y_dtype}, expected integers")
        if y_shape != (n,):
            raise DataError(f"{path}: 'y' has shape {y_shape} but 'x' has {n} images; expected ({n},)")
    if "class_names" in headers:
        _, c_shape, c_dtype = headers["class_names"]
        if c_dtype.kind != "U" or len(c_shape) != 1:
            raise DataError(f"{path}: 'class_names' must be a 1-D unicode string array")
        if c_shape[0] > MAX_CLASSES or c_dtype.itemsize > 4 * MAX_CLASS_NAME_CHARS:
            raise DataError(f"{path}: 'class_names' declares {c_shape[0]:,} names of up to "
                            f"{c_dtype.itemsize // 4:,} characters; at most {MAX_CLASSES:,} classes of "
                            f"{MAX_CLASS_NAME_CHARS:,} characters are supported")


def _load_npz(path: Path, image_size: int, limit: int | None, seed: int) -> Dataset:
    """``x`` uint8 (N,H,W[,1|3|4]); optional integer ``y`` (N,) and ``class_names``.

    Every array's declared shape and dtype is checked from its header first (`_check_npz_headers`).
    """
    try:
        with zipfile.ZipFile(path) as zf:
            headers = _npz_headers(zf, path)
        _check_npz_headers(headers, path)
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in headers}
    except DataError:
        raise
    except ValueError as e:
        raise DataError(f"{path} is not a valid .npz file ({e})") from e
    except Exception as e:  # BadZipFile, OSError, corrupt headers...
        raise DataError(f"{path} is not a valid .npz file ({type(e).__name__}: {e})") from e

    x = arrays["x"]
    if x.ndim == 3:
        x = x[..., None]
    # Grayscale -> RGB; alpha is dropped, as for image files.
    x = np.repeat(x, 3, axis=-1) if x.shape[-1] == 1 else x[..., :3]

    y = arrays.get("y")
    names = arrays.get("class_names")
    if y is None:
        return _from_arrays(x, np.zeros(len(x), np.int32), ("all",), image_size, limit, seed, str(path))
    if y.min() < 0:
        raise DataError(f"{path}: 'y' has negative labels")
    if y.max() >= MAX_CLASSES:
        raise DataError(f"{path}: labels go up to {int(y.max()):,}; at most {MAX_CLASSES:,} classes are supported")
    names = tuple(str(i) for i in range(int(y.max()) + 1)) if names is None else tuple(str(n) for n in names)
    if y.max() >= len(names):
        raise DataError(f"{path}: label {int(y.max())} out of range for {len(names)} class names")
    return _from_arrays(x, y, names, image_size, limit, seed, str(path))


CIFAR10_ENV = "GAN_CIFAR10"  # a local copy of CIFAR-10's training split, used for the source "cifar10"
RETRY_DOWNLOAD_S = 600  # after a failed download, "cifar10" fails at once for this long instead of retrying


def offline_help() -> str:
    """What to do when CIFAR-10 cannot be downloaded: the local copy, or Keras' own file where Keras looks."""
    folder = str(keras_datasets_dir())
    home = str(Path.home())
    shown = "~" + folder[len(home):] if folder.startswith(home + os.sep) else folder
    return (f"set {CIFAR10_ENV} to a local copy (a .zip or folder of <class>/<image> files, or an .npz) "
            f"and start again, or put Keras' cifar-10-python.tar.gz into {shown}/")


def _download_marker() -> Path:
    from gan.files import cache_dir

    return cache_dir() / "cifar10-download-failed"


def local_cifar10() -> Path | None:
    """The local copy of CIFAR-10 named by GAN_CIFAR10, when set."""
    value = os.environ.get(CIFAR10_ENV, "").strip()
    return Path(value).expanduser() if value else None


def recent_download_failure() -> str | None:
    """The one-line reason "cifar10" fails now, when its download failed less than RETRY_DOWNLOAD_S ago."""
    try:
        failed_at = _download_marker().stat().st_mtime
    except OSError:
        return None
    if time.time() - failed_at >= RETRY_DOWNLOAD_S:
        return None
    return (f"CIFAR-10 is not downloaded, and the download failed {time.time() - failed_at:.0f} s ago "
            f"(offline?); {offline_help()}")


def cifar10_unavailable() -> DataError | None:
    """Why the "cifar10" source cannot load here right now, as the error loading it would raise (with
    its advice), or None. Cheap (no download, no TensorFlow): the local copy, Keras' cache, the marker."""
    local = local_cifar10()
    if local is not None:
        return None if local.exists() else DataError(f"{CIFAR10_ENV} names {local}, which does not exist")
    if (keras_datasets_dir() / "cifar-10-batches-py").is_dir():
        return None
    problem = recent_download_failure()
    return DataError(problem.removesuffix(f"; {offline_help()}"), advice=offline_help()) if problem else None


def _load_cifar10(image_size: int, limit: int | None, seed: int) -> Dataset:
    """CIFAR-10's train split: the local copy in GAN_CIFAR10, else via Keras (downloaded once).

    A failed download is remembered for RETRY_DOWNLOAD_S (a marker file, so the app's reruns and
    the trainers it starts agree): offline, every page visit would otherwise wait on it again.
    """
    local = local_cifar10()
    if local is not None:
        if not local.exists():
            raise DataError(f"{CIFAR10_ENV} names {local}, which does not exist")
        data = load_dataset(str(local), image_size, limit, seed)
        if data.class_names != CIFAR10_CLASSES:
            raise DataError(f"{CIFAR10_ENV} names {local}, whose classes are not CIFAR-10's "
                            f"({', '.join(data.class_names[:4])}...)")
        return data
    problem = recent_download_failure()
    if problem:
        raise DataError(problem.removesuffix(f"; {offline_help()}"), advice=offline_help())
    marker = _download_marker()
    try:
        import keras  # lazy: pulls in TensorFlow/JAX, far too slow for app start-up

        (x, y), _ = keras.datasets.cifar10.load_data()
    except Exception as e:
        with contextlib.suppress(OSError):
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text(f"{type(e).__name__}: {e}\n")
        raise DataError(f"could not download CIFAR-10 ({type(e).__name__}; offline?)", advice=offline_help()) from e
    marker.unlink(missing_ok=True)
    y = np.asarray(y).reshape(-1)
    return _from_arrays(np.asarray(x, np.uint8), y, CIFAR10_CLASSES, image_size, limit, seed, "cifar10")
