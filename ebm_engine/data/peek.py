"""What a file or folder holds, told cheaply: its reader, data kind and item size.

Used to choose a preset for a user's data (:func:`ebm_engine.presets.choose_preset`)
before anything is decoded: the folder is listed once and at most a few
headers are read (image sizes, a binvox ``dim`` line, an ``.npy`` header).
"""

from __future__ import annotations

import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ebm_engine.data._collect import sort_key, walk_files
from ebm_engine.data.detect import count_files, detect_reader, reader_info, reader_label
from ebm_engine.errors import DataError

# Images whose files looked at are all one of these modes are
# read as one channel (a folder of scans is not worth three copies of each).
_GRAY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")
#: Image headers read to tell a folder's sizes and colour, spread over its sorted files.
LOOKED_AT = 64


@dataclass(frozen=True)
class SourceSummary:
    """A data source at a glance.

    Attributes
    ----------
    reader : str
        The reader that would read it (``data.options.reader`` or detected).
    kind : str
        The data kind it yields (``image``, ``video``, ``voxel``,
        ``pointcloud``, ``points``).
    files : int
        Data files it holds.
    size : (int, int) or None
        Width and height of its images: the median one by area where they
        differ (up to :data:`LOOKED_AT` files spread over the folder are looked at).
    grayscale : bool
        Its images are one channel (every file looked at is).
    grid : int or None
        Side of its (first) voxel grid, when the file's header gives it.
    item_shape : tuple of int or None
        One item's shape, for arrays.
    """

    reader: str
    kind: str
    files: int
    size: tuple[int, int] | None = None
    grayscale: bool = False
    grid: int | None = None
    item_shape: tuple[int, ...] | None = None
    sizes: tuple[tuple[int, int], ...] = ()
    member: str = ""

    def phrase(self) -> str:
        """``5000 images of 64×64 RGB``, ``18 images of 10 sizes, 80×20 to 90×90
        (median 50×50) RGB``, ``12 meshes`` …"""
        what = reader_label(self.reader)
        count = f"{self.files} {what}" if self.files != 1 else f"1 file of {what}"
        if self.kind == "image" and self.size is not None:
            colour = "grayscale" if self.grayscale else "RGB"
            if len(self.sizes) > 1:
                small, large = min(self.sizes, key=_area), max(self.sizes, key=_area)
                return (f"{count} of {len(self.sizes)}{'+' if self.files > LOOKED_AT else ''} "
                        f"sizes, {small[0]}×{small[1]} to {large[0]}×{large[1]} (median "
                        f"{self.size[0]}×{self.size[1]}) {colour}")
            return f"{count} of {self.size[0]}×{self.size[1]} {colour}"
        if self.grid is not None:
            return f"{count} of {self.grid}³"
        if self.item_shape is not None:
            shape = "×".join(map(str, self.item_shape))
            member = f"; {self.member}" if self.member else ""
            return f"{count} ({self.kind} items of {shape}{member})"
        return count


def peek(path: str | Path, options: dict[str, Any] | None = None) -> SourceSummary:
    """Summarise the file or folder ``path`` without decoding it.

    Parameters
    ----------
    path : str or Path
        A data file or folder.
    options : dict, optional
        ``data.options``: ``reader`` forces a reader, ``as`` and ``kind``
        change what meshes and arrays become.

    Raises
    ------
    DataError
        What :func:`~ebm_engine.data.detect.detect_reader` raises (no such
        path, a mixed folder …) or an unreadable array header.
    """
    path = Path(path).expanduser()
    options = options or {}
    forced = options.get("reader") or None
    if isinstance(forced, str):
        info = reader_info(forced)
        name = info.name
        counts = {name: 1}
        if path.is_dir():  # the files it will read, not "1 file of meshes" for a folder
            found = count_files(path)
            counts = {name: found.get(name) or sum(found.values())}
    else:
        name, counts = detect_reader(path)
    files = counts.get(name, sum(counts.values()))
    if name in ("image-folder", "image-file"):
        sizes, gray = _image_facts(path)
        size = sorted(sizes, key=_area)[len(sizes) // 2] if sizes else None
        return SourceSummary(name, "image", files, size=size, grayscale=gray,
                             sizes=tuple(dict.fromkeys(sizes)))
    if name in ("video", "video-frames"):
        return SourceSummary(name, "video", files)
    if name == "voxels":
        return SourceSummary(name, "voxel", files, grid=_binvox_side(path))
    if name == "mesh":
        kind = "pointcloud" if options.get("as") == "pointcloud" else "voxel"
        if not path.is_dir() and path.suffix.lower() == ".ply":
            from ebm_engine.data.ply import ply_declares_faces

            kind = kind if ply_declares_faces(path) else "pointcloud"
        return SourceSummary(name, kind, files)
    if name == "pointcloud":
        return SourceSummary(name, "pointcloud", files)
    if name == "text-lines":
        return SourceSummary(name, "text", files)
    if name == "smiles":
        return SourceSummary(name, "molecule", files)
    if name == "trajectories":
        return SourceSummary(name, "trajectory", files)
    if name == "array":
        kind, shape, member = _array_facts(path, options)
        return SourceSummary(name, kind, files, item_shape=shape, member=member)
    return SourceSummary(name, "points", files)


def _spread_files(path: Path, extensions: tuple[str, ...], n: int) -> list[Path]:
    """Up to ``n`` of the sorted data files, evenly spread, the first always among them
    (``path`` itself for a file)."""
    if not path.is_dir():
        return [path]
    found = sorted(walk_files(path, extensions), key=sort_key)
    picks = np.unique(np.linspace(0, len(found) - 1, min(n, len(found))).astype(int))
    return [Path(found[i]) for i in picks] if found else []


def _area(size: tuple[int, int]) -> int:
    return size[0] * size[1]


def _image_facts(path: Path) -> tuple[list[tuple[int, int]], bool]:
    """Sizes of the images looked at (in file order) and whether all are one channel.

    Headers only, of up to :data:`LOOKED_AT` files spread over the folder: the
    first, middle and last alone called a folder of 18 pictures in 10 sizes
    "48×64", and one of red and grey pictures "grayscale".
    """
    from PIL import Image

    from ebm_engine.data.files import IMAGE_EXTENSIONS

    sizes, modes = [], []
    for f in _spread_files(path, IMAGE_EXTENSIONS, LOOKED_AT):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                with Image.open(f) as img:  # the header only
                    sizes.append(tuple(img.size))
                    modes.append(img.mode)
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
            continue  # the reader will name the bad file
    gray = bool(modes) and all(m in _GRAY_MODES for m in modes)
    return sizes, gray


def _binvox_side(path: Path) -> int | None:
    """The largest side in the first ``.binvox`` file's ``dim`` line."""
    for f in _spread_files(path, (".binvox",), 1):
        try:
            with open(f, "rb") as fh:
                head = fh.read(512)
        except OSError:
            return None
        for line in head.splitlines()[:8]:
            if line.startswith(b"dim"):
                try:
                    return max(int(t) for t in line.split()[1:4])
                except ValueError:
                    return None
    return None


def _array_facts(path: Path, options: dict[str, Any]) -> tuple[str, tuple[int, ...], str]:
    """Kind and item layout of the first array file, from its header, and which
    ``.npz`` member was taken where there was a choice (else "")."""
    from ebm_engine.data.arrays import (
        _CORRUPT,
        ARRAY_EXTENSIONS,
        _infer_layout,
        check_header,
        one_item_per_file,
        per_file_hint,
    )

    first = _spread_files(path, ARRAY_EXTENSIONS, 1)
    if not first:
        raise DataError(f"{path}: no array files")
    f = first[0]
    chosen = ""
    try:
        if f.suffix.lower() == ".npz":
            with zipfile.ZipFile(f) as zf:
                members = [n for n in zf.namelist() if n.endswith(".npy")]
                key = options.get("key")
                names = [f"{k}.npy" for k in ((key,) if key else ("x", "data"))]
                member = next((n for n in names if n in members), members[0] if members else None)
                if member is None:
                    raise DataError(f"{f}: .npz holds no arrays")
                if len(members) > 1 and not key:  # said: the other arrays are not used
                    chosen = (f"member {member[:-4]!r} of {', '.join(m[:-4] for m in members)}, "
                              f"another with --set data.options.key=NAME")
                with zf.open(member) as fp:
                    shape, _ = check_header(fp, f"{f}[{member}]")
        else:
            with open(f, "rb") as fp:
                shape, _ = check_header(fp, str(f), available=f.stat().st_size)
    except DataError:
        raise
    except _CORRUPT as exc:
        raise DataError(f"{f}: cannot read array header ({exc})") from None
    # The layout rules need only the shape: ask them about an empty array of it.
    n_files = len(walk_files(path, ARRAY_EXTENSIONS)) if path.is_dir() else 1
    chosen = "; ".join(x for x in (chosen, per_file_hint(n_files, tuple(shape), options)) if x)
    if one_item_per_file(n_files, tuple(shape), options):
        shape = (1, *shape)
    kind, layout = _infer_layout(np.empty((0, *shape[1:]), dtype=np.uint8),
                                 options.get("kind"), str(f))
    return kind, tuple(layout.shape[1:]), chosen
