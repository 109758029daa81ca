"""Image readers: a folder of pictures, or one picture (texture synthesis).

Images are ``(N, C, H, W)`` in ``[-1, 1]`` (model space), stored the way
they were decoded: 8-bit pictures as ``uint8`` (``value = 2 u / 255 - 1``),
16-bit ones as ``int16`` (``u - 32768``, full precision), so a folder takes a
quarter of its float32 size and can be cached as is
(:mod:`ebm_engine.data.cache`). A resized picture is resampled in float,
then rounded to its file's bit depth. The first picture's depth decides
the folder's (a later deeper one is rounded to it).

Every failure is a one-line :class:`~ebm_engine.errors.DataError` naming the
file: user folders hold truncated downloads, mislabelled files and the odd
gigapixel scan, and none of them may crash the app or eat its memory.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from ebm_engine.config import DataConfig
from ebm_engine.data import progress
from ebm_engine.data._collect import PathList, sorted_paths, walk_files
from ebm_engine.data.catalogue import reader
from ebm_engine.data.dataset import Dataset
from ebm_engine.data.sinks import ItemSink, MemorySink
from ebm_engine.errors import DataError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")

# Refused before decoding (the header gives the size): a 50-megapixel RGB
# image is already 600 MB as float32, and a tiny "decompression bomb" file
# can declare far more.
MAX_IMAGE_PIXELS = 50_000_000

# Ceiling on a dataset decoded into memory (stored bytes); above it the user
# must shrink the images or take fewer. The cache has no such ceiling: its
# file is mapped, and only the free disk space limits it.
MAX_DATASET_BYTES = 8 * 1024**3

# Stored dtype, scale and offset (value = stored * scale + offset) per bit depth.
ENCODINGS = {
    8: (np.dtype(np.uint8), 2.0 / 255.0, -1.0),
    16: (np.dtype(np.int16), 2.0 / 65535.0, 1.0 / 65535.0),
}

#: Said after an unreadable picture (the app says its own check box instead).
SKIP_HINT = "(--set data.options.skip_unreadable=true skips such files)"

# Items handed to a sink at once: few enough writes, little memory.
_CHUNK = 256

_DECODE_ERRORS = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)


def list_images(folder: Path) -> PathList:
    """Image files under ``folder``, recursively, in sorted order.

    Hidden files and folders (``.git``, macOS ``._name.png`` resource forks)
    are skipped: they are never pictures the user meant.

    Parameters
    ----------
    folder : Path
        Folder to search.

    Returns
    -------
    PathList
        Files whose extension is one of :data:`IMAGE_EXTENSIONS` (a sequence
        of Path that keeps strings: cheap for 100k files).
    """
    return sorted_paths(walk_files(folder, IMAGE_EXTENSIONS))


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
        ``(1 or 3, H, W)`` float32 in ``[0, 1]``; transparent pixels are
        composited on black.

    Raises
    ------
    DataError
        The file is not a readable image, is truncated, or is larger than
        :data:`MAX_IMAGE_PIXELS`.
    """
    arr, white = _decode(path, image_size, grayscale, crop)
    if arr.dtype == np.uint8:  # the 8-bit fast path skipped the float conversion
        return arr.astype(np.float32) / np.float32(white)
    return arr


def decode_image(
    path: Path, image_size: int = 0, grayscale: bool = False, crop: bool = True,
    depth: int | None = None,
) -> tuple[np.ndarray, int]:
    """Decode one image file into its stored form (see the module docstring).

    Parameters
    ----------
    path : Path
        PNG, JPEG or BMP file.
    image_size, grayscale, crop
        As for :func:`read_image`.
    depth : int, optional
        Bit depth to store (8 or 16); default the file's own.

    Returns
    -------
    stored : numpy.ndarray
        ``(C, H, W)`` of ``ENCODINGS[depth]``'s dtype.
    depth : int
        The bit depth used.

    Raises
    ------
    DataError
        As :func:`read_image`.
    """
    arr, white = _decode(path, image_size, grayscale, crop)
    depth = depth or (16 if white == 65535 else 8)
    if arr.dtype == np.uint8 and depth == 8:
        return arr, depth
    if arr.dtype == np.uint8:
        return (arr.astype(np.int32) * 257 - 32768).astype(np.int16), depth  # exact: 255 → 65535
    scaled = np.rint(arr * np.float32(255 if depth == 8 else 65535))
    if depth == 8:
        return scaled.astype(np.uint8), depth
    return (scaled.astype(np.int32) - 32768).astype(np.int16), depth


def _decode(path: Path, image_size: int, grayscale: bool, crop: bool) -> tuple[np.ndarray, int]:
    """``(C, H, W)`` pixels and the value that is white: ``uint8`` (0..255) when
    the file is 8-bit and needs no resampling, else float32 in ``[0, 1]``."""
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
                upright = _on_black(upright)
                if upright.mode[0] not in "IF" and not _resamples(upright, image_size):
                    # 8 bits in, 8 bits stored: the float round trip would give the same bytes.
                    arr = np.asarray(upright.convert("L" if grayscale else "RGB"), dtype=np.uint8)
                    arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
                    return np.ascontiguousarray(arr), 255
                bands, scale = _float_bands(upright, grayscale)
                if image_size > 0:
                    bands = _crop_resize(bands, image_size, crop)
                arr = np.stack([np.asarray(b, dtype=np.float32) for b in bands], axis=0) / scale
                # float pictures keep 16 bits; the others say their own white
                scale = 65535.0 if upright.mode == "F" else scale
    except DataError:
        raise
    except _DECODE_ERRORS as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{path}: not a readable image ({reason})") from None
    return np.clip(arr, 0.0, 1.0), int(scale)


def _on_black(img: Image.Image) -> Image.Image:
    """A picture with transparency, composited on black (premultiplied alpha): dropping
    the alpha channel trained on whatever colour hid under the transparent pixels."""
    if not (img.mode in ("RGBA", "LA", "PA", "RGBa", "La")
            or (img.mode == "P" and "transparency" in img.info)):
        return img
    rgba = img.convert("RGBA")
    return Image.alpha_composite(Image.new("RGBA", rgba.size, (0, 0, 0, 255)), rgba).convert("RGB")


def _resamples(img: Image.Image, size: int) -> bool:
    """Whether :func:`_crop_resize` would change ``img`` (crop or resize)."""
    return size > 0 and img.size != (size, size)


def _float_bands(img: Image.Image, grayscale: bool) -> tuple[list[Image.Image], float]:
    """Split ``img`` into ``F``-mode bands, and the value that maps to white.

    Working in ``F`` keeps 16-bit PNGs at full precision (Pillow's own
    ``I;16 → L`` conversion clips instead of scaling) and lets the resize
    filter work on floats.
    """
    if img.mode.startswith("I"):  # 16-bit grayscale PNG
        band = img.convert("F")
        return ([band] if grayscale else [band, band, band]), 65535.0
    if img.mode == "F":  # float TIFF: white is 1, 255 or 65535, whichever its values fit
        # (converting it to 8 bits would cut [0, 1] to black)
        top = float(img.getextrema()[1])
        white = 1.0 if top <= 1.0 else 255.0 if top <= 255.0 else 65535.0
        return ([img] if grayscale else [img, img, img]), white
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


def stream_image_folder(path: Path, cfg: DataConfig, sink: ItemSink,
                        max_bytes: int | None = None) -> Dataset:
    """Decode every picture under ``path`` into ``sink``, one at a time.

    Parameters
    ----------
    path : Path
        The folder.
    cfg : DataConfig
        ``image_size``, ``grayscale``, ``crop`` and ``max_items`` apply.
    sink : ItemSink
        Memory or a cache file.
    max_bytes : int, optional
        Refuse a dataset whose stored items exceed this, before decoding it.

    Returns
    -------
    Dataset
        What ``sink`` makes of the items (see :func:`read_image_folder`).
    """
    files = list_images(path)
    if not files:
        raise DataError(
            f"{path}: no images found (looked for {' '.join(IMAGE_EXTENSIONS)} in all subfolders)"
        )
    skip = cfg.options.get("skip_unreadable", False)
    if not isinstance(skip, bool):
        raise DataError(f"data.options.skip_unreadable must be true or false, got {skip!r}")
    if cfg.max_items:
        files = files[: cfg.max_items]  # don't decode what load_dataset would drop
    progress.expect(len(files))
    skipped: list[Path] = []

    def decode(f: Path, at_depth: int | None = None) -> tuple[np.ndarray, int] | None:
        try:
            return decode_image(f, cfg.image_size, cfg.grayscale, cfg.crop, at_depth)
        except DataError as exc:
            if not skip:  # one broken file in 100k scraped ones: say how to go past it
                raise DataError(f"{exc} {SKIP_HINT}") from None
            skipped.append(f)
            progress.advance()
            return None

    decoded = None
    while decoded is None and len(skipped) < len(files):
        decoded = decode(files[len(skipped)])
    if decoded is None:
        raise DataError(f"{path}: none of its {len(files)} images could be read")
    first, depth = decoded
    files = files[len(skipped):]
    total = len(files) * first.nbytes
    if max_bytes is not None and total > max_bytes:
        raise DataError(
            f"{path}: {len(files)} images of {first.shape[2]}x{first.shape[1]} need "
            f"{total / 1024**3:.1f} GiB; set data.image_size or data.max_items"
        )
    sink.begin(len(files), first.shape, first.dtype)
    chunk = np.empty((min(_CHUNK, len(files)), *first.shape), dtype=first.dtype)
    chunk[0], filled = first, 1
    progress.advance()
    for f in files[1:]:
        got = decode(f, depth)
        if got is None:
            continue
        arr = got[0]
        if arr.shape != first.shape:
            raise DataError(
                f"{f}: mixed image sizes ({arr.shape[2]}x{arr.shape[1]} vs "
                f"{first.shape[2]}x{first.shape[1]} of {files[0].name}); "
                "set data.image_size to resize"
            )
        if filled == len(chunk):
            sink.put(chunk)
            filled = 0
        chunk[filled] = arr
        filled += 1
        progress.advance()
    sink.put(chunk[:filled])
    _, scale, offset = ENCODINGS[depth]
    gone = set(skipped)
    meta: dict[str, object] = {"files": [str(f) for f in files if f not in gone]}
    if skipped:
        meta["skipped"] = [str(f) for f in skipped]
        total = len(meta["files"]) + len(skipped)
        warnings.warn(f"{path}: skipped {len(skipped)} unreadable of {total} images "
                      f"({skipped[0].name}{' …' if len(skipped) > 1 else ''})", stacklevel=2)
    return sink.finish(str(path), "image", (-1.0, 1.0), meta, scale, offset)


@reader("image-folder", ("",), label="images", folder_extensions=IMAGE_EXTENSIONS,
        cacheable=True, stream=stream_image_folder, options=("skip_unreadable",))
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
        ``kind="image"``, items ``(N, C, H, W)`` in ``[-1, 1]`` (stored as
        8- or 16-bit pixels), ``meta["files"]`` the files read, in order.

    Raises
    ------
    DataError
        No images, an unreadable image, images of different sizes while
        ``image_size`` is 0, or more than :data:`MAX_DATASET_BYTES` of pixels.
    """
    return stream_image_folder(path, cfg, MemorySink(), max_bytes=MAX_DATASET_BYTES)


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
    stored, depth = decode_image(path, cfg.image_size, cfg.grayscale, cfg.crop)
    _, scale, offset = ENCODINGS[depth]
    return Dataset(str(path), "image", stored[None], (-1.0, 1.0), {"files": [str(path)]},
                   scale=scale, offset=offset)
