"""Image readers: a folder of pictures, or one picture (texture synthesis).

Images become ``(N, C, H, W)`` float32 in ``[-1, 1]`` (model space). Every
failure is a one-line :class:`~ebm_engine.errors.DataError` naming the file:
user folders hold truncated downloads, mislabelled files and the odd
gigapixel scan, and none of them may crash the app or eat its memory.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from ebm_engine.config import DataConfig
from ebm_engine.data.catalogue import reader
from ebm_engine.data.dataset import Dataset
from ebm_engine.errors import DataError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")

# Refused before decoding (the header gives the size): a 50-megapixel RGB
# image is already 600 MB as float32, and a tiny "decompression bomb" file
# can declare far more.
MAX_IMAGE_PIXELS = 50_000_000

# Ceiling on the decoded dataset (float32 bytes); above it the user must
# shrink the images or take fewer.
MAX_DATASET_BYTES = 8 * 1024**3

_DECODE_ERRORS = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)


def list_images(folder: Path) -> list[Path]:
    """Image files under ``folder``, recursively, in sorted order.

    Hidden files and folders (``.git``, macOS ``._name.png`` resource forks)
    are skipped: they are never pictures the user meant.

    Parameters
    ----------
    folder : Path
        Folder to search.

    Returns
    -------
    list of Path
        Files whose extension is one of :data:`IMAGE_EXTENSIONS`.
    """
    found = []
    for p in folder.rglob("*"):
        rel = p.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file():
            found.append(p)
    return sorted(found)


def read_image(
    path: Path, image_size: int = 0, grayscale: bool = False, crop: bool = True
) -> np.ndarray:
    """Decode one image file into a ``(C, H, W)`` float32 array in ``[0, 1]``.

    Parameters
    ----------
    path : Path
        PNG, JPEG or BMP file.
    image_size : int
        Resize to ``image_size × image_size`` (0 keeps the file's size).
    grayscale : bool
        One channel (luma) instead of RGB.
    crop : bool
        Centre-crop to a square before resizing (otherwise the image is
        squashed). Only used when ``image_size > 0``.

    Returns
    -------
    numpy.ndarray
        ``(1 or 3, H, W)`` float32 in ``[0, 1]``; alpha is dropped.

    Raises
    ------
    DataError
        The file is not a readable image, is truncated, or is larger than
        :data:`MAX_IMAGE_PIXELS`.
    """
    try:
        with warnings.catch_warnings():
            # Pillow warns before it refuses; we refuse earlier ourselves.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                # Image.open only parsed the header: check the size before decoding.
                w, h = img.size
                if w * h > MAX_IMAGE_PIXELS:
                    raise DataError(
                        f"{path}: image is {w}x{h} ({w * h / 1e6:.0f} megapixels), more than the "
                        f"{MAX_IMAGE_PIXELS / 1e6:.0f}-megapixel limit"
                    )
                img.load()
                upright = ImageOps.exif_transpose(img)  # phone photos store rotation in EXIF
                bands, scale = _float_bands(upright, grayscale)
                if image_size > 0:
                    bands = _crop_resize(bands, image_size, crop)
                arr = np.stack([np.asarray(b, dtype=np.float32) for b in bands], axis=0) / scale
    except DataError:
        raise
    except _DECODE_ERRORS as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{path}: not a readable image ({reason})") from None
    return np.clip(arr, 0.0, 1.0)


def _float_bands(img: Image.Image, grayscale: bool) -> tuple[list[Image.Image], float]:
    """Split ``img`` into ``F``-mode bands, and the value that maps to white.

    Working in ``F`` keeps 16-bit PNGs at full precision (Pillow's own
    ``I;16 → L`` conversion clips instead of scaling) and lets the resize
    filter work on floats.
    """
    if img.mode.startswith("I"):  # 16-bit grayscale PNG
        band = img.convert("F")
        return ([band] if grayscale else [band, band, band]), 65535.0
    img = img.convert("L" if grayscale else "RGB")
    return [band.convert("F") for band in img.split()], 255.0


def _crop_resize(bands: list[Image.Image], size: int, crop: bool) -> list[Image.Image]:
    out = []
    for band in bands:
        w, h = band.size
        if crop and w != h:
            side = min(w, h)
            left, top = (w - side) // 2, (h - side) // 2
            band = band.crop((left, top, left + side, top + side))
        if band.size != (size, size):
            # Lanczos keeps downscaled textures sharp without aliasing.
            band = band.resize((size, size), Image.Resampling.LANCZOS)
        out.append(band)
    return out


def _image_dataset(name: str, arrays: np.ndarray, files: list[Path]) -> Dataset:
    items = torch.from_numpy(arrays * 2.0 - 1.0)
    return Dataset(
        name=name,
        kind="image",
        items=items,
        value_range=(-1.0, 1.0),
        meta={"files": [str(f) for f in files]},
    )


@reader("image-folder", ("",), label="images", folder_extensions=IMAGE_EXTENSIONS)
def read_image_folder(path: Path, cfg: DataConfig) -> Dataset:
    """Read every PNG/JPEG/BMP under a folder (recursively) as one image dataset.

    Parameters
    ----------
    path : Path
        The folder.
    cfg : DataConfig
        ``image_size``, ``grayscale``, ``crop`` and ``max_items`` apply.

    Returns
    -------
    Dataset
        ``kind="image"``, items ``(N, C, H, W)`` in ``[-1, 1]``,
        ``meta["files"]`` the files read, in order.

    Raises
    ------
    DataError
        No images, an unreadable image, or images of different sizes while
        ``image_size`` is 0.
    """
    files = list_images(path)
    if not files:
        raise DataError(
            f"{path}: no images found (looked for {' '.join(IMAGE_EXTENSIONS)} in all subfolders)"
        )
    if cfg.max_items:
        files = files[: cfg.max_items]  # don't decode what load_dataset would drop
    first = read_image(files[0], cfg.image_size, cfg.grayscale, cfg.crop)
    total = len(files) * first.nbytes
    if total > MAX_DATASET_BYTES:
        raise DataError(
            f"{path}: {len(files)} images of {first.shape[2]}x{first.shape[1]} need "
            f"{total / 1024**3:.1f} GiB; set data.image_size or data.max_items"
        )
    out = np.empty((len(files), *first.shape), dtype=np.float32)
    out[0] = first
    for i, f in enumerate(files[1:], start=1):
        arr = read_image(f, cfg.image_size, cfg.grayscale, cfg.crop)
        if arr.shape != first.shape:
            raise DataError(
                f"{f}: mixed image sizes ({arr.shape[2]}x{arr.shape[1]} vs "
                f"{first.shape[2]}x{first.shape[1]} of {files[0].name}); "
                "set data.image_size to resize"
            )
        out[i] = arr
    return _image_dataset(str(path), out, files)


@reader("image-file", IMAGE_EXTENSIONS, label="images", folder_extensions=())
def read_image_file(path: Path, cfg: DataConfig) -> Dataset:
    """Read one picture as a one-item image dataset (texture synthesis).

    Parameters
    ----------
    path : Path
        PNG, JPEG or BMP file.
    cfg : DataConfig
        ``image_size``, ``grayscale`` and ``crop`` apply.

    Returns
    -------
    Dataset
        ``kind="image"``, items ``(1, C, H, W)`` in ``[-1, 1]``.
    """
    arr = read_image(path, cfg.image_size, cfg.grayscale, cfg.crop)
    return _image_dataset(str(path), arr[None], [path])
